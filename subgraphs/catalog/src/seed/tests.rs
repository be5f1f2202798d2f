use std::collections::{HashMap, HashSet};

use super::*;
use crate::db::{products, variants};
use crate::domain::variants::{VariantInput, check_sku, check_variants};

fn leaf_of(product: &ProductRow) -> String {
    let categories = demo_categories();
    let category = product.category_id.unwrap();
    categories
        .iter()
        .find(|c| c.id == category)
        .map(|c| c.name.clone())
        .unwrap()
}

#[test]
fn demo_catalog_is_large_and_unique() {
    let products = demo_products();
    assert!(products.len() >= 200, "{} products", products.len());
    let ids: HashSet<_> = products.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), products.len(), "product ids collide");
    let categories = demo_categories();
    assert!(categories.iter().any(|c| c.parent_id.is_some()));
    assert!(products.iter().any(|p| p.stock == 0));
    assert!(products.iter().any(|p| p.status != "ACTIVE"));
    let branded = products.iter().filter(|p| p.brand_id.is_some()).count();
    assert!(
        branded >= 40 && branded < products.len(),
        "{branded} branded"
    );
    let brand_ids: HashSet<_> = demo_brands().iter().map(|(b, _)| b.id).collect();
    assert!(
        products
            .iter()
            .filter_map(|p| p.brand_id)
            .all(|b| brand_ids.contains(&b))
    );
    let category_ids: HashSet<_> = categories.iter().map(|c| c.id).collect();
    for (brand, offered_in) in demo_brands() {
        assert!(
            offered_in.iter().all(|c| category_ids.contains(c)),
            "{} is offered in a category that is not in the demo tree",
            brand.name
        );
    }
    // What other subgraphs' demo data names (the demo cart) is still a product of its own.
    for slug in [
        "iphone-15-pro-256gb",
        "silicone-phone-case-for-iphone-15-blue",
        "西湖龙井-longjing-green-tea-250g",
    ] {
        assert!(ids.contains(&demo_id("product", slug)), "{slug}");
    }
}

#[test]
fn every_category_has_a_brand_and_every_brand_is_offered_where_its_products_are() {
    let categories = demo_categories();
    let brands = demo_brands();
    let offered: HashSet<(Uuid, Uuid)> = brands
        .iter()
        .flat_map(|(brand, categories)| categories.iter().map(|c| (brand.id, *c)))
        .collect();
    let with_brand: HashSet<Uuid> = offered.iter().map(|(_, c)| *c).collect();
    for category in &categories {
        let has_brand = with_brand.contains(&category.id)
            || categories.iter().any(|child| {
                child.parent_id == Some(category.id) && with_brand.contains(&child.id)
            });
        assert!(has_brand, "{} has no brand", category.name);
    }
    for product in demo_products() {
        if let Some(brand) = product.brand_id {
            assert!(
                offered.contains(&(brand, product.category_id.unwrap())),
                "{}'s brand is not offered in its category",
                product.name
            );
        }
    }
    // Existing brands keep their ids (derived from their names).
    let ids: HashSet<Uuid> = brands.iter().map(|(b, _)| b.id).collect();
    for name in [
        "Apple",
        "Xiaomi 小米",
        "Huawei 华为",
        "OPPO",
        "vivo",
        "Sony",
        "Li-Ning 李宁",
    ] {
        assert!(ids.contains(&demo_id("brand", &slug(name))), "{name}");
    }
    let names: HashSet<String> = brands.iter().map(|(b, _)| b.name.to_lowercase()).collect();
    assert_eq!(names.len(), brands.len(), "brand names are unique");
}

#[test]
fn variants_have_distinct_values_unique_skus_and_their_products_summary() {
    let products = demo_products();
    let options = demo_options();
    let variants = demo_variants();
    assert!(
        options.len() >= 10,
        "{} products with options",
        options.len()
    );
    let mut skus = HashSet::new();
    let mut ids: HashSet<Uuid> = products.iter().map(|p| p.id).collect();
    for (product, product_options) in &options {
        let row = products.iter().find(|p| p.id == *product).unwrap();
        let mine: Vec<&VariantSeed> = variants
            .iter()
            .filter(|v| v.product_id == *product)
            .collect();
        assert!(mine.len() >= 4, "{}: {} variants", row.name, mine.len());
        // The rules a createProduct would apply: one value per option, spelt as the
        // product's, no values twice, no SKU twice.
        let given: Vec<VariantInput> = mine
            .iter()
            .map(|v| VariantInput {
                sku: v.variant.sku.clone(),
                options: Some(
                    v.variant
                        .options
                        .iter()
                        .map(|o| (o.name.clone(), o.value.clone()))
                        .collect(),
                ),
                price: i32::try_from(v.variant.price).unwrap(),
                stock: v.variant.stock,
                image_url: v.variant.image_url.clone(),
            })
            .collect();
        let checked = check_variants("variants", product_options, &given).unwrap();
        let combinations: usize = product_options.iter().map(|o| o.values.len()).product();
        assert_eq!(
            checked.len(),
            combinations,
            "{}: every combination",
            row.name
        );
        for (variant, checked) in mine.iter().zip(&checked) {
            assert_eq!(&variant.variant, checked, "{}", row.name);
            assert_eq!(
                check_sku("sku", &variant.variant.sku).unwrap(),
                variant.variant.sku
            );
            assert!(
                !variant.variant.sku.starts_with("SKU-"),
                "not a default SKU"
            );
            assert!(
                skus.insert(variant.variant.sku.to_uppercase()),
                "{} twice",
                variant.variant.sku
            );
            assert!(ids.insert(variant.id), "variant id {} is taken", variant.id);
        }
        let positions: Vec<i32> = mine.iter().map(|v| v.position).collect();
        assert_eq!(positions, (0..mine.len() as i32).collect::<Vec<_>>());
        // The product row is its variants' summary (all of them are active).
        let lowest = mine.iter().map(|v| v.variant.price).min().unwrap();
        let total: i32 = mine.iter().map(|v| v.variant.stock).sum();
        assert_eq!(
            (row.price_amount, row.stock),
            (lowest, total),
            "{}",
            row.name
        );
        assert!(row.stock > 0 && row.status == "ACTIVE", "{}", row.name);
        assert!(mine.iter().any(|v| v.variant.stock == 0) || mine.len() < 7);
        // The listing's price bounds pick a product by its lowest price or by any variant:
        // the two agree for the demo (the schema tests filter 100 to 3000 yuan).
        let within = |price: i64| (10_000..=300_000).contains(&price);
        assert_eq!(
            within(row.price_amount),
            mine.iter().any(|v| within(v.variant.price)),
            "{}",
            row.name
        );
    }
    let varied: HashSet<Uuid> = options.iter().map(|(id, _)| *id).collect();
    assert!(variants.iter().all(|v| varied.contains(&v.product_id)));
}

#[test]
fn phones_vary_in_storage_and_colour_clothes_and_shoes_in_size_and_colour() {
    let products = demo_products();
    let options = demo_options();
    let variants = demo_variants();
    let names = |id: &Uuid| -> Vec<String> {
        let (_, product_options) = options.iter().find(|(p, _)| p == id).unwrap();
        product_options.iter().map(|o| o.name.clone()).collect()
    };
    let mut seen = HashMap::<String, usize>::new();
    for (id, _) in &options {
        let product = products.iter().find(|p| p.id == *id).unwrap();
        let leaf = leaf_of(product);
        let expected = match leaf.as_str() {
            "Phones 手机" | "Tablets 平板" => ["Storage", "Color"],
            "Clothing 服装" | "Sneakers 运动鞋" => ["Size", "Color"],
            other => panic!("{}: options in {other}", product.name),
        };
        assert_eq!(names(id), expected, "{}", product.name);
        *seen.entry(leaf).or_default() += 1;
        if expected[0] == "Storage" {
            // More storage costs more, whatever the colour.
            let (_, product_options) = options.iter().find(|(p, _)| p == id).unwrap();
            for colour in &product_options[1].values {
                let prices: Vec<i64> = product_options[0]
                    .values
                    .iter()
                    .map(|storage| {
                        variants
                            .iter()
                            .find(|v| {
                                v.product_id == *id
                                    && v.variant.options[0].value == *storage
                                    && v.variant.options[1].value == *colour
                            })
                            .unwrap()
                            .variant
                            .price
                    })
                    .collect();
                assert!(
                    prices.windows(2).all(|w| w[0] < w[1]),
                    "{}: {prices:?}",
                    product.name
                );
            }
        }
    }
    for leaf in [
        "Phones 手机",
        "Tablets 平板",
        "Clothing 服装",
        "Sneakers 运动鞋",
    ] {
        assert!(
            seen.get(leaf).copied().unwrap_or(0) >= 2,
            "{leaf}: {seen:?}"
        );
    }
}

#[test]
fn attributes_give_the_facets_something_to_count() {
    let products = demo_products();
    let attributes = demo_attributes();
    let options = demo_options();
    let mut by_product: HashMap<Uuid, Vec<&AttributeRow>> = HashMap::new();
    for attribute in &attributes {
        by_product
            .entry(attribute.product_id)
            .or_default()
            .push(attribute);
    }
    for product in &products {
        let mine = by_product.get(&product.id).cloned().unwrap_or_default();
        assert!(!mine.is_empty(), "{} has no attribute", product.name);
        let positions: Vec<i32> = mine.iter().map(|a| a.position).collect();
        assert_eq!(positions, (0..mine.len() as i32).collect::<Vec<_>>());
        let mut names: HashSet<String> = mine.iter().map(|a| a.name.to_lowercase()).collect();
        assert_eq!(names.len(), mine.len(), "{}: a name twice", product.name);
        // An option is not an attribute too.
        if let Some((_, product_options)) = options.iter().find(|(id, _)| *id == product.id) {
            for option in product_options {
                assert!(
                    !names.contains(&option.name.to_lowercase()),
                    "{}",
                    product.name
                );
            }
        }
        for attribute in &mine {
            assert!((1..=50).contains(&attribute.name.chars().count()));
            assert!((1..=200).contains(&attribute.value.chars().count()));
        }
        let wanted: &[&str] = match leaf_of(product).as_str() {
            "Clothing 服装" => &["material", "gender"],
            "Sneakers 运动鞋" => &["gender"],
            "Phones 手机" | "Tablets 平板" | "Laptops 笔记本" => &["screen size"],
            _ => &[],
        };
        names.retain(|name| wanted.contains(&name.as_str()));
        assert_eq!(names.len(), wanted.len(), "{}: {wanted:?}", product.name);
    }
    // Values to choose between.
    let values = |name: &str| -> HashSet<&str> {
        attributes
            .iter()
            .filter(|a| a.name == name)
            .map(|a| a.value.as_str())
            .collect()
    };
    assert!(values("Material").len() >= 5);
    assert_eq!(values("Gender"), HashSet::from(["Men", "Women", "Unisex"]));
    assert!(values("Screen size").len() >= 5);
}

/// A fresh database gets every demo row once; a second run adds nothing; a product an older
/// seed gave only its default variant keeps it.
#[tokio::test]
async fn seeding_writes_the_variants_once_and_leaves_older_products_alone() {
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    let mut conn = test.stores.db.get().await.unwrap();
    // An older seed's product: the row and its default variant, no options.
    let options = demo_options();
    let (older, _) = &options[0];
    categories::insert_missing(&mut conn, demo_categories())
        .await
        .unwrap();
    let brands: Vec<BrandRow> = demo_brands().into_iter().map(|(b, _)| b).collect();
    crate::db::brands::insert_missing(&mut conn, &brands)
        .await
        .unwrap();
    let old_row = demo_products()
        .into_iter()
        .find(|p| p.id == *older)
        .unwrap();
    products::insert_missing(&mut conn, vec![old_row.clone()])
        .await
        .unwrap();
    variants::insert_defaults(&mut conn, &[*older])
        .await
        .unwrap();
    drop(conn);

    seed_demo_data(&test.stores.db).await.unwrap();
    seed_demo_data(&test.stores.db).await.unwrap();

    let mut conn = test.stores.db.get().await.unwrap();
    let products = demo_products();
    let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
    let stored = products::by_ids(&mut conn, &ids).await.unwrap();
    assert_eq!(stored.len(), products.len());
    let stored_variants = variants::of_products(&mut conn, &ids).await.unwrap();
    let expected_variants: Vec<VariantSeed> = demo_variants()
        .into_iter()
        .filter(|v| v.product_id != *older)
        .collect();
    assert_eq!(
        stored_variants.len(),
        expected_variants.len() + (products.len() - options.len()) + 1,
        "the variants of products with options, one for every other product"
    );
    for product in &stored {
        let mine: Vec<_> = stored_variants
            .iter()
            .filter(|v| v.product_id == product.id)
            .collect();
        let active = mine.iter().filter(|v| v.status == "ACTIVE");
        let lowest = active
            .map(|v| v.price_amount)
            .min()
            .unwrap_or(product.price_amount);
        let total: i32 = mine.iter().map(|v| v.stock).sum();
        assert_eq!(
            (product.price_amount, product.stock),
            (lowest, total),
            "{}",
            product.name
        );
        let demo = products.iter().find(|p| p.id == product.id).unwrap();
        assert_eq!(product.version, 1, "{}: untouched", product.name);
        assert_eq!(
            (product.price_amount, product.stock),
            (demo.price_amount, demo.stock),
            "{}",
            product.name
        );
    }
    for seed in &expected_variants {
        let row = stored_variants.iter().find(|v| v.id == seed.id).unwrap();
        assert_eq!(
            (row.sku.as_str(), row.price_amount),
            (seed.variant.sku.as_str(), seed.variant.price)
        );
        assert_eq!(row.selected_options(), seed.variant.options);
    }
    // The older product: its default variant only, no options.
    let olders: Vec<_> = stored_variants
        .iter()
        .filter(|v| v.product_id == *older)
        .collect();
    assert_eq!(olders.len(), 1);
    assert_eq!(olders[0].id, *older);
    let stored_options = variants::options_of(&mut conn, &ids).await.unwrap();
    assert!(stored_options.iter().all(|o| o.product_id != *older));
    let expected_options: usize = options[1..].iter().map(|(_, o)| o.len()).sum();
    assert_eq!(stored_options.len(), expected_options);
    let stored_attributes = crate::db::details::attributes_of(&mut conn, &ids)
        .await
        .unwrap();
    assert_eq!(stored_attributes.len(), demo_attributes().len());
}

/// A product with options left without variants (a start interrupted by an older seed, say)
/// gets them, and its summary follows what was stored.
#[tokio::test]
async fn a_product_without_variants_gets_them_and_their_summary() {
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    let mut conn = test.stores.db.get().await.unwrap();
    categories::insert_missing(&mut conn, demo_categories())
        .await
        .unwrap();
    let brands: Vec<BrandRow> = demo_brands().into_iter().map(|(b, _)| b).collect();
    crate::db::brands::insert_missing(&mut conn, &brands)
        .await
        .unwrap();
    let (bare, _) = demo_options()[1].clone();
    let demo = demo_products().into_iter().find(|p| p.id == bare).unwrap();
    let wrong = ProductRow {
        price_amount: 1,
        stock: 0,
        ..demo.clone()
    };
    products::insert_missing(&mut conn, vec![wrong])
        .await
        .unwrap();
    drop(conn);

    seed_demo_data(&test.stores.db).await.unwrap();

    let mut conn = test.stores.db.get().await.unwrap();
    let stored = products::find(&mut conn, bare).await.unwrap();
    assert_eq!(
        (stored.price_amount, stored.stock),
        (demo.price_amount, demo.stock)
    );
    let expected = demo_variants()
        .iter()
        .filter(|v| v.product_id == bare)
        .count();
    let stored_variants = variants::of_products(&mut conn, &[bare]).await.unwrap();
    assert_eq!(stored_variants.len(), expected);
}
