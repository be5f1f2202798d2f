//! The demo category tree and its first products: families of four products each, one per
//! value of what the family's products differ in ("iPhone 15 Pro 256GB"). These ids are
//! what other subgraphs' demo data points at (the demo cart), and each of these products
//! has a single variant; the products with options are in `super::lines`.

/// A product family: one product per value of its dimension.
pub(super) struct Family {
    pub name: &'static str,
    /// Price of the first product in yuan; later ones cost more.
    pub base_price_yuan: i64,
    /// What the family's products differ in; each product has its value as an attribute.
    pub dimension: Dimension,
    /// Specification attributes every product of the family has.
    pub specs: &'static [(&'static str, &'static str)],
}

/// An attribute name and the four values a family's products take.
#[derive(Clone, Copy)]
pub(super) struct Dimension {
    pub name: &'static str,
    pub values: [&'static str; 4],
}

const fn family(
    name: &'static str,
    base_price_yuan: i64,
    dimension: Dimension,
    specs: &'static [(&'static str, &'static str)],
) -> Family {
    Family {
        name,
        base_price_yuan,
        dimension,
        specs,
    }
}

const fn dimension(name: &'static str, values: [&'static str; 4]) -> Dimension {
    Dimension { name, values }
}

const STORAGE: Dimension = dimension("Storage", ["64GB", "128GB", "256GB", "512GB"]);
const COLORS: Dimension = dimension("Color", ["Black", "White", "Blue", "Silver"]);
const SIZES: Dimension = dimension("Size", ["S", "M", "L", "XL"]);
const SHOE_SIZES: Dimension = dimension("Size", ["39", "41", "43", "45"]);
const WEIGHTS: Dimension = dimension("Weight", ["100g", "250g", "500g", "1kg"]);
const VOLUMES: Dimension = dimension("Volume", ["15ml", "30ml", "50ml", "100ml"]);
const EDITIONS: Dimension = dimension("Edition", ["Lite", "Standard", "Pro", "Max"]);

const fn configurations(values: [&'static str; 4]) -> Dimension {
    dimension("Configuration", values)
}

const fn capacities(values: [&'static str; 4]) -> Dimension {
    dimension("Capacity", values)
}

const IOS: (&str, &str) = ("Operating system", "iOS");
const ANDROID: (&str, &str) = ("Operating system", "Android");
const HARMONY: (&str, &str) = ("Operating system", "HarmonyOS");
const WINDOWS: (&str, &str) = ("Operating system", "Windows");
const BLUETOOTH: (&str, &str) = ("Connectivity", "Bluetooth");
const UNISEX: (&str, &str) = ("Gender", "Unisex");
const MEN: (&str, &str) = ("Gender", "Men");
const WOMEN: (&str, &str) = ("Gender", "Women");

/// (top-level category, [(leaf category, families)]).
pub(super) type Tree = [(&'static str, &'static [(&'static str, &'static [Family])])];

pub(super) const TREE: &Tree = &[
    (
        "Phones & Digital 手机数码",
        &[
            (
                "Phones 手机",
                &[
                    family(
                        "iPhone 15 Pro",
                        7999,
                        STORAGE,
                        &[("Screen size", "6.1 inch"), IOS],
                    ),
                    family(
                        "iPhone 15",
                        5999,
                        STORAGE,
                        &[("Screen size", "6.1 inch"), IOS],
                    ),
                    family(
                        "Xiaomi 14 Ultra Phone",
                        5499,
                        STORAGE,
                        &[("Screen size", "6.73 inch"), ANDROID],
                    ),
                    family(
                        "华为 Mate 60 Pro 手机",
                        6499,
                        STORAGE,
                        &[("Screen size", "6.82 inch"), HARMONY],
                    ),
                    family(
                        "OPPO Find X7 Phone",
                        3999,
                        STORAGE,
                        &[("Screen size", "6.78 inch"), ANDROID],
                    ),
                    family(
                        "vivo X100 手机",
                        3699,
                        STORAGE,
                        &[("Screen size", "6.78 inch"), ANDROID],
                    ),
                ],
            ),
            (
                "Phone Accessories 手机配件",
                &[
                    family(
                        "Silicone Phone Case for iPhone 15",
                        49,
                        COLORS,
                        &[("Material", "Silicone")],
                    ),
                    family(
                        "Leather Phone Case 真皮手机壳",
                        99,
                        COLORS,
                        &[("Material", "Leather")],
                    ),
                    family(
                        "Tempered Glass Screen Protector",
                        29,
                        COLORS,
                        &[("Material", "Tempered glass")],
                    ),
                    family("65W USB-C Phone Charger", 129, COLORS, &[("Power", "65W")]),
                    family(
                        "Magnetic Phone Stand",
                        59,
                        COLORS,
                        &[("Material", "Aluminium")],
                    ),
                ],
            ),
            (
                "Audio 影音",
                &[
                    family(
                        "AirPods Pro 2 Earbuds",
                        1899,
                        COLORS,
                        &[("Type", "In-ear"), BLUETOOTH],
                    ),
                    family(
                        "Sony WH-1000XM5 Headphones",
                        2499,
                        COLORS,
                        &[("Type", "Over-ear"), BLUETOOTH],
                    ),
                    family(
                        "华为 FreeBuds 蓝牙耳机",
                        999,
                        COLORS,
                        &[("Type", "In-ear"), BLUETOOTH],
                    ),
                    family(
                        "Portable Bluetooth Speaker",
                        299,
                        COLORS,
                        &[("Type", "Speaker"), BLUETOOTH],
                    ),
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
                        configurations(["8GB/256GB", "16GB/512GB", "24GB/1TB", "32GB/2TB"]),
                        &[("Screen size", "13.6 inch"), ("Operating system", "macOS")],
                    ),
                    family(
                        "ThinkPad X1 Carbon Laptop",
                        9999,
                        configurations(["16GB/512GB", "32GB/1TB", "32GB/2TB", "64GB/2TB"]),
                        &[("Screen size", "14 inch"), WINDOWS],
                    ),
                    family(
                        "小米笔记本 Pro 14",
                        4999,
                        configurations(["16GB/512GB", "16GB/1TB", "32GB/1TB", "32GB/2TB"]),
                        &[("Screen size", "14 inch"), WINDOWS],
                    ),
                    family(
                        "Dell XPS 14 Laptop",
                        8999,
                        configurations(["16GB/512GB", "32GB/1TB", "32GB/2TB", "64GB/4TB"]),
                        &[("Screen size", "14.5 inch"), WINDOWS],
                    ),
                ],
            ),
            (
                "Tablets 平板",
                &[
                    family(
                        "iPad Air Tablet",
                        4799,
                        STORAGE,
                        &[("Screen size", "11 inch"), ("Operating system", "iPadOS")],
                    ),
                    family(
                        "华为 MatePad 平板电脑",
                        2299,
                        STORAGE,
                        &[("Screen size", "11.5 inch"), HARMONY],
                    ),
                    family(
                        "Xiaomi Pad 6 Tablet",
                        1999,
                        STORAGE,
                        &[("Screen size", "11 inch"), ANDROID],
                    ),
                ],
            ),
            (
                "Keyboards & Mice 键鼠",
                &[
                    family(
                        "Mechanical Keyboard 87-key",
                        399,
                        COLORS,
                        &[("Connectivity", "Wired")],
                    ),
                    family(
                        "Wireless Mouse",
                        99,
                        COLORS,
                        &[("Connectivity", "2.4 GHz wireless")],
                    ),
                    family("机械键盘 青轴", 299, COLORS, &[("Connectivity", "Wired")]),
                    family("Ergonomic Vertical Mouse", 159, COLORS, &[BLUETOOTH]),
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
                    family(
                        "Rice Cooker 电饭煲",
                        399,
                        capacities(["2L", "3L", "4L", "5L"]),
                        &[],
                    ),
                    family(
                        "Air Fryer 空气炸锅",
                        499,
                        capacities(["3L", "4L", "5L", "6L"]),
                        &[],
                    ),
                    family(
                        "Electric Kettle",
                        129,
                        capacities(["1.0L", "1.5L", "1.7L", "2.0L"]),
                        &[("Material", "Stainless steel")],
                    ),
                    family(
                        "豆浆机 Soymilk Maker",
                        359,
                        dimension("Edition", ["Standard", "Quiet", "Deluxe", "Family"]),
                        &[],
                    ),
                ],
            ),
            (
                "Cleaning 清洁电器",
                &[
                    family("Robot Vacuum Cleaner", 1999, EDITIONS, &[]),
                    family("Cordless Stick Vacuum", 1299, EDITIONS, &[]),
                    family("扫地机器人 自动集尘", 2999, EDITIONS, &[]),
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
                    family(
                        "Running Shoes Air Cushion",
                        599,
                        SHOE_SIZES,
                        &[("Material", "Mesh"), UNISEX],
                    ),
                    family("李宁 运动鞋", 499, SHOE_SIZES, &[("Material", "Mesh"), MEN]),
                    family(
                        "Canvas Sneakers Classic",
                        199,
                        SHOE_SIZES,
                        &[("Material", "Canvas"), UNISEX],
                    ),
                    family(
                        "Basketball Shoes High-top",
                        799,
                        SHOE_SIZES,
                        &[("Material", "Leather"), MEN],
                    ),
                ],
            ),
            (
                "Clothing 服装",
                &[
                    family(
                        "Cotton T-Shirt",
                        79,
                        SIZES,
                        &[("Material", "Cotton"), UNISEX],
                    ),
                    family(
                        "羽绒服 Down Jacket",
                        899,
                        SIZES,
                        &[("Material", "Duck down"), WOMEN],
                    ),
                    family(
                        "Slim Denim Jeans",
                        259,
                        SIZES,
                        &[("Material", "Denim"), MEN],
                    ),
                    family(
                        "Oversized Hoodie",
                        199,
                        SIZES,
                        &[("Material", "Cotton"), UNISEX],
                    ),
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
                    family("坚果礼盒 Mixed Nuts Gift Box", 128, WEIGHTS, &[]),
                    family("Dried Mango Slices", 29, WEIGHTS, &[]),
                    family("麻辣牛肉干 Spicy Beef Jerky", 59, WEIGHTS, &[]),
                    family("Crispy Seaweed Snack", 19, WEIGHTS, &[]),
                ],
            ),
            (
                "Tea & Coffee 茶咖",
                &[
                    family(
                        "西湖龙井 Longjing Green Tea",
                        199,
                        WEIGHTS,
                        &[("Origin", "Hangzhou")],
                    ),
                    family(
                        "普洱茶饼 Pu'er Tea Cake",
                        299,
                        WEIGHTS,
                        &[("Origin", "Yunnan")],
                    ),
                    family("Arabica Coffee Beans", 89, WEIGHTS, &[("Origin", "Yunnan")]),
                    family("Instant Coffee Sticks", 49, WEIGHTS, &[]),
                ],
            ),
        ],
    ),
    (
        "Beauty 美妆个护",
        &[(
            "Skincare 护肤",
            &[
                family("Hydrating Face Cream 保湿面霜", 259, VOLUMES, &[]),
                family("Sunscreen SPF50 防晒霜", 129, VOLUMES, &[]),
                family("Vitamin C Serum", 199, VOLUMES, &[]),
                family("Gentle Cleansing Foam 洁面乳", 89, VOLUMES, &[]),
            ],
        )],
    ),
];
