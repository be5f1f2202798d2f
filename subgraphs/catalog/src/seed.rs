//! The demo catalog: a two-level category tree, 212 products (English and Chinese names, a
//! few drafts, archived and sold-out items) and a few brands. Ids derive from names, so
//! inserting twice changes nothing and other subgraphs' demo data can point at these
//! products.

use chrono::{DateTime, Duration, TimeZone, Utc};
use service_kit::DbPool;
use service_kit::demo::{demo_id, slug};
use uuid::Uuid;

use crate::db::brands::{self, BrandRow};
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::{categories, products};

/// A product family: one product per variant.
struct Family {
    name: &'static str,
    /// Price of the first variant in yuan; later variants cost more.
    base_price_yuan: i64,
    variants: [&'static str; 4],
}

const fn family(name: &'static str, base_price_yuan: i64, variants: [&'static str; 4]) -> Family {
    Family {
        name,
        base_price_yuan,
        variants,
    }
}

const STORAGE: [&str; 4] = ["64GB", "128GB", "256GB", "512GB"];
const COLORS: [&str; 4] = ["Black", "White", "Blue", "Silver"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];
const SHOE_SIZES: [&str; 4] = ["39", "41", "43", "45"];
const WEIGHTS: [&str; 4] = ["100g", "250g", "500g", "1kg"];
const VOLUMES: [&str; 4] = ["15ml", "30ml", "50ml", "100ml"];

/// (top-level category, [(leaf category, families)]).
type Tree = [(&'static str, &'static [(&'static str, &'static [Family])])];

const TREE: &Tree = &[
    (
        "Phones & Digital 手机数码",
        &[
            (
                "Phones 手机",
                &[
                    family("iPhone 15 Pro", 7999, STORAGE),
                    family("iPhone 15", 5999, STORAGE),
                    family("Xiaomi 14 Ultra Phone", 5499, STORAGE),
                    family("华为 Mate 60 Pro 手机", 6499, STORAGE),
                    family("OPPO Find X7 Phone", 3999, STORAGE),
                    family("vivo X100 手机", 3699, STORAGE),
                ],
            ),
            (
                "Phone Accessories 手机配件",
                &[
                    family("Silicone Phone Case for iPhone 15", 49, COLORS),
                    family("Leather Phone Case 真皮手机壳", 99, COLORS),
                    family("Tempered Glass Screen Protector", 29, COLORS),
                    family("65W USB-C Phone Charger", 129, COLORS),
                    family("Magnetic Phone Stand", 59, COLORS),
                ],
            ),
            (
                "Audio 影音",
                &[
                    family("AirPods Pro 2 Earbuds", 1899, COLORS),
                    family("Sony WH-1000XM5 Headphones", 2499, COLORS),
                    family("华为 FreeBuds 蓝牙耳机", 999, COLORS),
                    family("Portable Bluetooth Speaker", 299, COLORS),
                ],
            ),
        ],
    ),
    (
        "Computers 电脑办公",
        &[
            (
                "Laptops 笔记本",
                &[
                    family(
                        "MacBook Air 13 Laptop",
                        7999,
                        ["8GB/256GB", "16GB/512GB", "24GB/1TB", "32GB/2TB"],
                    ),
                    family(
                        "ThinkPad X1 Carbon Laptop",
                        9999,
                        ["16GB/512GB", "32GB/1TB", "32GB/2TB", "64GB/2TB"],
                    ),
                    family(
                        "小米笔记本 Pro 14",
                        4999,
                        ["16GB/512GB", "16GB/1TB", "32GB/1TB", "32GB/2TB"],
                    ),
                    family(
                        "Dell XPS 14 Laptop",
                        8999,
                        ["16GB/512GB", "32GB/1TB", "32GB/2TB", "64GB/4TB"],
                    ),
                ],
            ),
            (
                "Tablets 平板",
                &[
                    family("iPad Air Tablet", 4799, STORAGE),
                    family("华为 MatePad 平板电脑", 2299, STORAGE),
                    family("Xiaomi Pad 6 Tablet", 1999, STORAGE),
                ],
            ),
            (
                "Keyboards & Mice 键鼠",
                &[
                    family("Mechanical Keyboard 87-key", 399, COLORS),
                    family("Wireless Mouse", 99, COLORS),
                    family("机械键盘 青轴", 299, COLORS),
                    family("Ergonomic Vertical Mouse", 159, COLORS),
                ],
            ),
        ],
    ),
    (
        "Home Appliances 家用电器",
        &[
            (
                "Kitchen Appliances 厨房电器",
                &[
                    family("Rice Cooker 电饭煲", 399, ["2L", "3L", "4L", "5L"]),
                    family("Air Fryer 空气炸锅", 499, ["3L", "4L", "5L", "6L"]),
                    family("Electric Kettle", 129, ["1.0L", "1.5L", "1.7L", "2.0L"]),
                    family(
                        "豆浆机 Soymilk Maker",
                        359,
                        ["Standard", "Quiet", "Deluxe", "Family"],
                    ),
                ],
            ),
            (
                "Cleaning 清洁电器",
                &[
                    family(
                        "Robot Vacuum Cleaner",
                        1999,
                        ["Lite", "Standard", "Pro", "Max"],
                    ),
                    family(
                        "Cordless Stick Vacuum",
                        1299,
                        ["Lite", "Standard", "Pro", "Max"],
                    ),
                    family(
                        "扫地机器人 自动集尘",
                        2999,
                        ["Lite", "Standard", "Pro", "Max"],
                    ),
                ],
            ),
        ],
    ),
    (
        "Fashion 服饰鞋包",
        &[
            (
                "Sneakers 运动鞋",
                &[
                    family("Running Shoes Air Cushion", 599, SHOE_SIZES),
                    family("李宁 运动鞋", 499, SHOE_SIZES),
                    family("Canvas Sneakers Classic", 199, SHOE_SIZES),
                    family("Basketball Shoes High-top", 799, SHOE_SIZES),
                ],
            ),
            (
                "Clothing 服装",
                &[
                    family("Cotton T-Shirt", 79, SIZES),
                    family("羽绒服 Down Jacket", 899, SIZES),
                    family("Slim Denim Jeans", 259, SIZES),
                    family("Oversized Hoodie", 199, SIZES),
                ],
            ),
        ],
    ),
    (
        "Food & Drinks 食品饮料",
        &[
            (
                "Snacks 零食",
                &[
                    family("坚果礼盒 Mixed Nuts Gift Box", 128, WEIGHTS),
                    family("Dried Mango Slices", 29, WEIGHTS),
                    family("麻辣牛肉干 Spicy Beef Jerky", 59, WEIGHTS),
                    family("Crispy Seaweed Snack", 19, WEIGHTS),
                ],
            ),
            (
                "Tea & Coffee 茶咖",
                &[
                    family("西湖龙井 Longjing Green Tea", 199, WEIGHTS),
                    family("普洱茶饼 Pu'er Tea Cake", 299, WEIGHTS),
                    family("Arabica Coffee Beans", 89, WEIGHTS),
                    family("Instant Coffee Sticks", 49, WEIGHTS),
                ],
            ),
        ],
    ),
    (
        "Beauty 美妆个护",
        &[(
            "Skincare 护肤",
            &[
                family("Hydrating Face Cream 保湿面霜", 259, VOLUMES),
                family("Sunscreen SPF50 防晒霜", 129, VOLUMES),
                family("Vitamin C Serum", 199, VOLUMES),
                family("Gentle Cleansing Foam 洁面乳", 89, VOLUMES),
            ],
        )],
    ),
];

/// The demo brands and the leaf categories each is offered in.
const BRANDS: &[(&str, &[&str])] = &[
    (
        "Apple",
        &[
            "Phones 手机",
            "Audio 影音",
            "Laptops 笔记本",
            "Tablets 平板",
        ],
    ),
    ("Xiaomi 小米", &["Phones 手机", "Tablets 平板"]),
    (
        "Huawei 华为",
        &["Phones 手机", "Audio 影音", "Tablets 平板"],
    ),
    ("OPPO", &["Phones 手机"]),
    ("vivo", &["Phones 手机"]),
    ("Sony", &["Audio 影音"]),
    ("Li-Ning 李宁", &["Sneakers 运动鞋"]),
];

/// The demo brand of a family: the one a word of whose name the family's name starts with
/// (`iPhone` and the like are Apple's; a case "for iPhone" is nobody's), if any.
fn brand_of(family: &str) -> Option<Uuid> {
    let first = family.split(' ').next()?;
    let brand = if ["iPhone", "iPad", "AirPods", "MacBook"].contains(&first) {
        "Apple"
    } else {
        BRANDS
            .iter()
            .map(|(name, _)| *name)
            .find(|brand| brand.split(' ').any(|word| word == first))?
    };
    Some(demo_id("brand", &slug(brand)))
}

/// The demo brand rows, with the (brand, category) pairs they are offered in. Ids derive
/// from names (`demo_id("brand", slug(name))`).
pub fn demo_brands() -> Vec<(BrandRow, Vec<Uuid>)> {
    BRANDS
        .iter()
        .map(|(name, leaves)| {
            let row = BrandRow {
                id: demo_id("brand", &slug(name)),
                name: (*name).to_owned(),
                logo_url: None,
                created_at: epoch(),
            };
            let categories = leaves
                .iter()
                .map(|leaf| demo_id("category", &slug(leaf)))
                .collect();
            (row, categories)
        })
        .collect()
}

/// The demo category rows, parents before children.
pub fn demo_categories() -> Vec<CategoryRow> {
    let created_at = epoch();
    let mut rows = Vec::new();
    for (top_position, (top, leaves)) in TREE.iter().enumerate() {
        let top_id = demo_id("category", &slug(top));
        rows.push(CategoryRow {
            id: top_id,
            parent_id: None,
            name: (*top).to_owned(),
            position: top_position as i32,
            created_at,
        });
        for (leaf_position, (leaf, _)) in leaves.iter().enumerate() {
            rows.push(CategoryRow {
                id: demo_id("category", &slug(leaf)),
                parent_id: Some(top_id),
                name: (*leaf).to_owned(),
                position: leaf_position as i32,
                created_at,
            });
        }
    }
    rows
}

/// The demo product rows. Names are "<family> <variant>"; the id is `demo_id("product",
/// slug(name))`.
pub fn demo_products() -> Vec<ProductRow> {
    let mut rows = Vec::new();
    for (_, leaves) in TREE {
        for (leaf, families) in leaves.iter() {
            let category_id = demo_id("category", &slug(leaf));
            for family in families.iter() {
                for (v, variant) in family.variants.iter().enumerate() {
                    let n = rows.len() as i64;
                    let name = format!("{} {variant}", family.name);
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
                    let created_at = epoch() + Duration::hours(n);
                    rows.push(ProductRow {
                        id: demo_id("product", &slug(&name)),
                        category_id: Some(category_id),
                        description: format!("{} ({variant}). Listed under {leaf}.", family.name),
                        image_url: Some(format!(
                            "https://img.douyin-mall.dev/products/{}.jpg",
                            slug(&name)
                        )),
                        name,
                        price_amount: price_yuan * 100 + 90 * (v as i64 % 2),
                        currency: "CNY".to_owned(),
                        status: status.to_owned(),
                        stock,
                        sales_count: ((n * 7919) % 5000) as i32,
                        created_at,
                        updated_at: created_at,
                        version: 1,
                        brand_id: brand_of(family.name),
                    });
                }
            }
        }
    }
    rows
}

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// Inserts the demo catalog; rows that already exist are left as they are.
pub async fn seed_demo_data(db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    let inserted_categories = categories::insert_missing(&mut conn, demo_categories()).await?;
    // Brands before the products that name them.
    let brands = demo_brands();
    let rows: Vec<BrandRow> = brands.iter().map(|(row, _)| row.clone()).collect();
    let inserted_brands = brands::insert_missing(&mut conn, &rows).await?;
    for (brand, categories) in &brands {
        brands::offer_in(&mut conn, brand.id, categories).await?;
    }
    let inserted_products = products::insert_missing(&mut conn, demo_products()).await?;
    if inserted_categories + inserted_products + inserted_brands > 0 {
        tracing::info!(
            categories = inserted_categories,
            products = inserted_products,
            brands = inserted_brands,
            "seeded demo catalog"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

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
    }
}
