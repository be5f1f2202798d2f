//! The demo catalog: a two-level category tree, 212 single-variant products in families
//! (English and Chinese names, a few drafts, archived and sold-out items; `seed::tree`),
//! 22 products of catalog v2 (`seed::lines`: phones and tablets with Storage × Color
//! variants, clothes and shoes with Size × Color, and single-variant goods), 21 brands
//! (every leaf category has one) and specification attributes a storefront filters by
//! (Screen size, Material, Gender …). Ids derive from names and SKUs, so inserting twice
//! changes nothing and other subgraphs' demo data can point at these products.

mod brands;
mod lines;
mod tree;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use peer_api::SelectedOption;
use service_kit::DbPool;
use service_kit::demo::{demo_id, slug};
use uuid::Uuid;

use crate::db::brands::BrandRow;
use crate::db::categories;
use crate::db::details::AttributeRow;
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::seed::VariantSeed;
use crate::domain::variants::{NewVariant, ProductOption};

/// The demo brand rows, with the (brand, category) pairs they are offered in. Ids derive
/// from names (`demo_id("brand", slug(name))`).
pub fn demo_brands() -> Vec<(BrandRow, Vec<Uuid>)> {
    brands::BRANDS
        .iter()
        .map(|brand| {
            let row = BrandRow {
                id: brand_id(brand.name),
                name: brand.name.to_owned(),
                logo_url: None,
                created_at: epoch(),
            };
            let categories = brand.leaves.iter().map(|leaf| category_id(leaf)).collect();
            (row, categories)
        })
        .collect()
}

/// The demo category rows, parents before children.
pub fn demo_categories() -> Vec<CategoryRow> {
    let created_at = epoch();
    let mut rows = Vec::new();
    for (top_position, (top, leaves)) in tree::TREE.iter().enumerate() {
        let top_id = category_id(top);
        rows.push(CategoryRow {
            id: top_id,
            parent_id: None,
            name: (*top).to_owned(),
            position: top_position as i32,
            created_at,
        });
        for (leaf_position, (leaf, _)) in leaves.iter().enumerate() {
            rows.push(CategoryRow {
                id: category_id(leaf),
                parent_id: Some(top_id),
                name: (*leaf).to_owned(),
                position: leaf_position as i32,
                created_at,
            });
        }
    }
    rows
}

/// The demo product rows: the families' products first ("<family> <value>"), then those of
/// catalog v2; the id is `demo_id("product", slug(name))`. A product with options carries
/// its variants' summary: the lowest price and the total stock.
pub fn demo_products() -> Vec<ProductRow> {
    demo().products
}

/// The options of the demo products that have them, in display order.
pub fn demo_options() -> Vec<(Uuid, Vec<ProductOption>)> {
    demo().options
}

/// The variants of the demo products with options (every other product has its single
/// default variant: the product's id, SKU `default_sku`). A variant's id is
/// `demo_id("variant", slug(sku))`.
pub fn demo_variants() -> Vec<VariantSeed> {
    demo().variants
}

/// The specification attributes of the demo products, each product's in display order.
pub fn demo_attributes() -> Vec<AttributeRow> {
    demo().attributes
}

/// Everything the demo catalog holds besides categories and brands.
#[derive(Default)]
struct Demo {
    products: Vec<ProductRow>,
    options: Vec<(Uuid, Vec<ProductOption>)>,
    variants: Vec<VariantSeed>,
    attributes: Vec<AttributeRow>,
}

impl Demo {
    fn attribute(&mut self, product: Uuid, (name, value): (&str, &str)) {
        let position = self
            .attributes
            .iter()
            .filter(|a| a.product_id == product)
            .count();
        self.attributes.push(AttributeRow {
            product_id: product,
            position: position as i32,
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
}

fn demo() -> Demo {
    let mut demo = Demo::default();
    for (_, leaves) in tree::TREE {
        for (leaf, families) in leaves.iter() {
            for family in families.iter() {
                for (v, value) in family.dimension.values.iter().enumerate() {
                    add_family_product(&mut demo, leaf, family, v, value);
                }
            }
        }
    }
    for line in lines::LINES {
        add_line(&mut demo, line);
    }
    demo
}

/// The product of `family` with the `v`th value of its dimension.
fn add_family_product(demo: &mut Demo, leaf: &str, family: &tree::Family, v: usize, value: &str) {
    let n = demo.products.len() as i64;
    let name = format!("{} {value}", family.name);
    let price_yuan = family.base_price_yuan + family.base_price_yuan * v as i64 / 5;
    // Deterministic variety: some sold out, a few drafts and archived items.
    let stock = if n % 13 == 5 {
        0
    } else {
        ((n * 37) % 200 + 1) as i32
    };
    let status = match n {
        _ if n % 53 == 17 => "DRAFT",
        _ if n % 61 == 29 => "ARCHIVED",
        _ => "ACTIVE",
    };
    let mut row = product_row(n, &name, leaf, brands::brand_of(family.name));
    row.description = format!("{} ({value}). Listed under {leaf}.", family.name);
    row.price_amount = price_yuan * 100 + 90 * (v as i64 % 2);
    row.stock = stock;
    row.status = status.to_owned();
    demo.attribute(row.id, (family.dimension.name, value));
    for spec in family.specs {
        demo.attribute(row.id, *spec);
    }
    demo.products.push(row);
}

/// A product of catalog v2 with its options, variants and attributes.
fn add_line(demo: &mut Demo, line: &lines::Line) {
    let n = demo.products.len() as i64;
    let mut row = product_row(n, line.name, line.leaf, Some(line.brand));
    row.price_amount = line.base_price_yuan * 100;
    row.stock = ((n * 37) % 200 + 1) as i32;
    if line.axes.is_empty() {
        row.description = format!("{}. Listed under {}.", line.name, line.leaf);
    } else {
        let axes: Vec<String> = line
            .axes
            .iter()
            .map(|axis| {
                let values: Vec<&str> = axis.choices.iter().map(|c| c.value).collect();
                format!("{} {}", axis.name, values.join(", "))
            })
            .collect();
        row.description = format!(
            "{} ({}). Listed under {}.",
            line.name,
            axes.join("; "),
            line.leaf
        );
        let options = line
            .axes
            .iter()
            .map(|axis| ProductOption {
                name: axis.name.to_owned(),
                values: axis.choices.iter().map(|c| c.value.to_owned()).collect(),
            })
            .collect();
        demo.options.push((row.id, options));
        let variants = line_variants(line, row.id, n, row.created_at);
        row.price_amount = variants.iter().map(|v| v.variant.price).min().unwrap_or(0);
        row.stock = variants.iter().map(|v| v.variant.stock).sum();
        demo.variants.extend(variants);
    }
    for spec in line.specs {
        demo.attribute(row.id, *spec);
    }
    demo.products.push(row);
}

/// A variant for each combination of the line's option values, the first option's values
/// outermost.
fn line_variants(
    line: &lines::Line,
    product: Uuid,
    n: i64,
    created_at: DateTime<Utc>,
) -> Vec<VariantSeed> {
    let mut combinations: Vec<Vec<(&lines::Axis, &lines::Choice)>> = vec![Vec::new()];
    for axis in line.axes {
        combinations = combinations
            .into_iter()
            .flat_map(|chosen| {
                axis.choices.iter().map(move |choice| {
                    let mut chosen = chosen.clone();
                    chosen.push((axis, choice));
                    chosen
                })
            })
            .collect();
    }
    combinations
        .into_iter()
        .enumerate()
        .map(|(k, chosen)| {
            let k = k as i64;
            let codes: Vec<&str> = chosen.iter().map(|(_, c)| c.code).collect();
            let sku = format!("{}-{}", line.sku_prefix, codes.join("-"));
            let extra: i64 = chosen.iter().map(|(_, c)| c.extra_yuan).sum();
            // Deterministic variety: now and then a combination is sold out.
            let stock = if (n + k) % 7 == 3 {
                0
            } else {
                ((n * 31 + k * 17) % 60 + 1) as i32
            };
            let image_url =
                chosen
                    .iter()
                    .find(|(axis, _)| axis.name == "Color")
                    .map(|(_, colour)| {
                        format!(
                            "https://img.douyin-mall.dev/products/{}-{}.jpg",
                            slug(line.name),
                            slug(colour.value)
                        )
                    });
            VariantSeed {
                id: demo_id("variant", &slug(&sku)),
                product_id: product,
                position: k as i32,
                variant: NewVariant {
                    options: chosen
                        .iter()
                        .map(|(axis, choice)| SelectedOption {
                            name: axis.name.to_owned(),
                            value: choice.value.to_owned(),
                        })
                        .collect(),
                    sku,
                    price: (line.base_price_yuan + extra) * 100,
                    stock,
                    image_url,
                },
                created_at,
            }
        })
        .collect()
}

/// The `n`th demo product's row, named `name` in `leaf`, priced and stocked by the caller.
fn product_row(n: i64, name: &str, leaf: &str, brand: Option<&str>) -> ProductRow {
    let created_at = epoch() + Duration::hours(n);
    ProductRow {
        id: demo_id("product", &slug(name)),
        category_id: Some(category_id(leaf)),
        name: name.to_owned(),
        description: String::new(),
        image_url: Some(format!(
            "https://img.douyin-mall.dev/products/{}.jpg",
            slug(name)
        )),
        price_amount: 0,
        currency: "CNY".to_owned(),
        status: "ACTIVE".to_owned(),
        stock: 0,
        sales_count: ((n * 7919) % 5000) as i32,
        created_at,
        updated_at: created_at,
        version: 1,
        brand_id: brand.map(brand_id),
    }
}

fn brand_id(name: &str) -> Uuid {
    demo_id("brand", &slug(name))
}

fn category_id(name: &str) -> Uuid {
    demo_id("category", &slug(name))
}

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// The stored id of each demo brand: its own, or, when another brand took its name (an
/// administrator created it before the demo did), that brand's.
async fn stored_brand_ids(
    conn: &mut diesel_async::AsyncPgConnection,
    demo: &[(BrandRow, Vec<Uuid>)],
) -> anyhow::Result<HashMap<Uuid, Uuid>> {
    let stored = crate::db::brands::all(conn).await?;
    Ok(demo
        .iter()
        .map(|(brand, _)| {
            let id = if stored.iter().any(|s| s.id == brand.id) {
                brand.id
            } else {
                stored
                    .iter()
                    .find(|s| s.name.to_lowercase() == brand.name.to_lowercase())
                    .map_or(brand.id, |s| s.id)
            };
            (brand.id, id)
        })
        .collect())
}

/// Inserts the demo catalog; rows that already exist are left as they are (a product that
/// has variants keeps them, one that has attributes keeps them).
pub async fn seed_demo_data(db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    let inserted_categories = categories::insert_missing(&mut conn, demo_categories()).await?;
    // Brands before the products that name them.
    let brands = demo_brands();
    let rows: Vec<BrandRow> = brands.iter().map(|(row, _)| row.clone()).collect();
    let inserted_brands = crate::db::brands::insert_missing(&mut conn, &rows).await?;
    let brand_ids = stored_brand_ids(&mut conn, &brands).await?;
    for (brand, categories) in &brands {
        crate::db::brands::offer_in(&mut conn, brand_ids[&brand.id], categories).await?;
    }
    let Demo {
        products: rows,
        options,
        variants: new_variants,
        attributes,
    } = demo();
    let (varied, plain): (Vec<ProductRow>, Vec<ProductRow>) = rows
        .into_iter()
        .map(|mut row| {
            row.brand_id = row
                .brand_id
                .map(|id| brand_ids.get(&id).copied().unwrap_or(id));
            row
        })
        .partition(|row| options.iter().any(|(id, _)| *id == row.id));
    let inserted_plain = crate::db::seed::insert_plain(&mut conn, plain)
        .await
        .map_err(|error| anyhow::anyhow!("seeding the demo products: {error:?}"))?;
    // Those with options get theirs in the transaction that adds them.
    let added = crate::db::seed::insert_with_variants(&mut conn, varied, &options, &new_variants)
        .await
        .map_err(|error| anyhow::anyhow!("seeding the demo variants: {error:?}"))?;
    let inserted_attributes = crate::db::seed::insert_attributes(&mut conn, &attributes)
        .await
        .map_err(|error| anyhow::anyhow!("seeding the demo attributes: {error:?}"))?;
    let inserted_products = inserted_plain + added.products;
    if inserted_categories
        + inserted_brands
        + inserted_products
        + added.variants
        + inserted_attributes
        > 0
    {
        tracing::info!(
            categories = inserted_categories,
            products = inserted_products,
            variants = added.variants,
            attributes = inserted_attributes,
            brands = inserted_brands,
            "seeded demo catalog"
        );
    }
    Ok(())
}
