//! The demo products of catalog v2: each a product of its own brand, phones and tablets
//! with Storage × Color variants, clothes and shoes with Size × Color, and single-variant
//! goods for the categories that had no brand yet.

/// A value of a sales option: as shown, its part of a SKU, and what it adds to the price
/// (yuan).
pub(super) struct Choice {
    pub value: &'static str,
    pub code: &'static str,
    pub extra_yuan: i64,
}

const fn choice(value: &'static str, code: &'static str) -> Choice {
    Choice {
        value,
        code,
        extra_yuan: 0,
    }
}

const fn costs(extra_yuan: i64, value: &'static str, code: &'static str) -> Choice {
    Choice {
        value,
        code,
        extra_yuan,
    }
}

/// A sales option and its values, in display order.
pub(super) struct Axis {
    pub name: &'static str,
    pub choices: &'static [Choice],
}

const fn storage(choices: &'static [Choice]) -> Axis {
    Axis {
        name: "Storage",
        choices,
    }
}

const fn color(choices: &'static [Choice]) -> Axis {
    Axis {
        name: "Color",
        choices,
    }
}

const fn size(choices: &'static [Choice]) -> Axis {
    Axis {
        name: "Size",
        choices,
    }
}

/// A demo product of catalog v2. With `axes`, one variant per combination of their values
/// (SKU: the prefix, then each value's code); without, its single default variant.
pub(super) struct Line {
    pub name: &'static str,
    pub leaf: &'static str,
    pub brand: &'static str,
    pub sku_prefix: &'static str,
    pub base_price_yuan: i64,
    pub axes: &'static [Axis],
    pub specs: &'static [(&'static str, &'static str)],
}

const STORAGE_128: &[Choice] = &[
    choice("128GB", "128"),
    costs(1000, "256GB", "256"),
    costs(2500, "512GB", "512"),
];
const STORAGE_256: &[Choice] = &[
    choice("256GB", "256"),
    costs(1500, "512GB", "512"),
    costs(3000, "1TB", "1T"),
];
const LETTER_SIZES: &[Choice] = &[
    choice("S", "S"),
    choice("M", "M"),
    choice("L", "L"),
    choice("XL", "XL"),
];
const BLACK: Choice = choice("Black", "BLK");
const WHITE: Choice = choice("White", "WHT");
const NAVY: Choice = choice("Navy", "NVY");
const GREY: Choice = choice("Grey", "GRY");

const PHONES: &str = "Phones 手机";
const TABLETS: &str = "Tablets 平板";
const SNEAKERS: &str = "Sneakers 运动鞋";
const CLOTHING: &str = "Clothing 服装";
const MEN: (&str, &str) = ("Gender", "Men");
const WOMEN: (&str, &str) = ("Gender", "Women");
const UNISEX: (&str, &str) = ("Gender", "Unisex");

/// A product with `axes`.
const fn varied(
    name: &'static str,
    leaf: &'static str,
    brand: &'static str,
    sku_prefix: &'static str,
    base_price_yuan: i64,
    axes: &'static [Axis],
    specs: &'static [(&'static str, &'static str)],
) -> Line {
    Line {
        name,
        leaf,
        brand,
        sku_prefix,
        base_price_yuan,
        axes,
        specs,
    }
}

/// A product with a single variant.
const fn single(
    name: &'static str,
    leaf: &'static str,
    brand: &'static str,
    base_price_yuan: i64,
    specs: &'static [(&'static str, &'static str)],
) -> Line {
    varied(name, leaf, brand, "", base_price_yuan, &[], specs)
}

/// In creation order: the single-variant goods last, so that the newest products (what the
/// playground's examples pick for `productId`) are bought without naming a variant.
pub(super) const LINES: &[Line] = &[
    varied(
        "iPhone 16 Pro",
        PHONES,
        "Apple",
        "IP16P",
        7999,
        &[
            storage(STORAGE_256),
            color(&[
                choice("Black Titanium", "BLK"),
                choice("White Titanium", "WHT"),
                choice("Desert Titanium", "DST"),
            ]),
        ],
        &[("Screen size", "6.3 inch"), ("Operating system", "iOS")],
    ),
    varied(
        "iPhone 16",
        PHONES,
        "Apple",
        "IP16",
        5999,
        &[
            storage(STORAGE_128),
            color(&[BLACK, choice("Pink", "PNK"), choice("Teal", "TEL")]),
        ],
        &[("Screen size", "6.1 inch"), ("Operating system", "iOS")],
    ),
    varied(
        "Xiaomi 15 Pro Phone",
        PHONES,
        "Xiaomi 小米",
        "XM15P",
        5299,
        &[
            storage(STORAGE_256),
            color(&[BLACK, WHITE, choice("Green", "GRN")]),
        ],
        &[
            ("Screen size", "6.73 inch"),
            ("Operating system", "Android"),
        ],
    ),
    varied(
        "华为 Pura 70 Pro 手机",
        PHONES,
        "Huawei 华为",
        "HWP70P",
        6499,
        &[storage(STORAGE_256), color(&[BLACK, WHITE])],
        &[
            ("Screen size", "6.8 inch"),
            ("Operating system", "HarmonyOS"),
        ],
    ),
    varied(
        "Samsung Galaxy S24 Phone 三星手机",
        PHONES,
        "Samsung 三星",
        "SGS24",
        5999,
        &[
            storage(STORAGE_128),
            color(&[BLACK, choice("Violet", "VIO"), choice("Yellow", "YEL")]),
        ],
        &[("Screen size", "6.2 inch"), ("Operating system", "Android")],
    ),
    varied(
        "iPad Pro 11 Tablet",
        TABLETS,
        "Apple",
        "IPDP11",
        7999,
        &[
            storage(STORAGE_256),
            color(&[choice("Space Black", "BLK"), choice("Silver", "SLV")]),
        ],
        &[("Screen size", "11 inch"), ("Operating system", "iPadOS")],
    ),
    varied(
        "Lenovo Xiaoxin Pad Pro 联想平板",
        TABLETS,
        "Lenovo 联想",
        "LNXPP",
        1599,
        &[
            storage(&[choice("128GB", "128"), costs(300, "256GB", "256")]),
            color(&[GREY, choice("Green", "GRN")]),
        ],
        &[
            ("Screen size", "12.7 inch"),
            ("Operating system", "Android"),
        ],
    ),
    varied(
        "Nike Air Zoom Pegasus 41 Running Shoes",
        SNEAKERS,
        "Nike 耐克",
        "NKPG41",
        899,
        &[
            size(&[
                choice("40", "40"),
                choice("41", "41"),
                choice("42", "42"),
                choice("43", "43"),
                choice("44", "44"),
            ]),
            color(&[BLACK, WHITE]),
        ],
        &[("Material", "Mesh"), MEN],
    ),
    varied(
        "李宁飞电 Li-Ning Feidian Running Shoes",
        SNEAKERS,
        "Li-Ning 李宁",
        "LNFD",
        999,
        &[
            size(&[
                choice("36", "36"),
                choice("37", "37"),
                choice("38", "38"),
                choice("39", "39"),
            ]),
            color(&[WHITE, choice("Pink", "PNK")]),
        ],
        &[("Material", "Mesh"), WOMEN],
    ),
    varied(
        "安踏 Anta KT Basketball Shoes",
        SNEAKERS,
        "Anta 安踏",
        "ATKT",
        1099,
        &[
            size(&[
                choice("41", "41"),
                choice("42", "42"),
                choice("43", "43"),
                choice("44", "44"),
                choice("45", "45"),
            ]),
            color(&[BLACK, choice("Orange", "ORG")]),
        ],
        &[("Material", "Leather"), MEN],
    ),
    varied(
        "Uniqlo Supima Cotton Crew Neck T-Shirt 优衣库",
        CLOTHING,
        "Uniqlo 优衣库",
        "UQSUP",
        99,
        &[size(LETTER_SIZES), color(&[WHITE, BLACK, NAVY])],
        &[("Material", "Cotton"), UNISEX],
    ),
    varied(
        "Uniqlo Merino Wool Cardigan 羊毛开衫",
        CLOTHING,
        "Uniqlo 优衣库",
        "UQMWC",
        399,
        &[
            size(&[
                choice("XS", "XS"),
                choice("S", "S"),
                choice("M", "M"),
                choice("L", "L"),
            ]),
            color(&[choice("Beige", "BEI"), GREY]),
        ],
        &[("Material", "Wool"), WOMEN],
    ),
    varied(
        "波司登 Bosideng Hooded Down Jacket",
        CLOTHING,
        "Bosideng 波司登",
        "BSDHDJ",
        1299,
        &[
            size(LETTER_SIZES),
            color(&[BLACK, NAVY, choice("Khaki", "KHK")]),
        ],
        &[("Material", "Goose down"), MEN],
    ),
    varied(
        "Nike Dri-FIT Training Shorts",
        CLOTHING,
        "Nike 耐克",
        "NKDFS",
        249,
        &[size(LETTER_SIZES), color(&[BLACK, GREY])],
        &[("Material", "Polyester"), MEN],
    ),
    varied(
        "李宁 Li-Ning Sports Hoodie 卫衣",
        CLOTHING,
        "Li-Ning 李宁",
        "LNHD",
        329,
        &[
            size(LETTER_SIZES),
            color(&[BLACK, WHITE, choice("Red", "RED")]),
        ],
        &[("Material", "Cotton"), UNISEX],
    ),
    single(
        "Ugreen 绿联 Magnetic Power Bank 10000mAh",
        "Phone Accessories 手机配件",
        "Ugreen 绿联",
        199,
        &[("Battery capacity", "10000mAh")],
    ),
    single(
        "Logitech MX Master 3S Mouse 罗技鼠标",
        "Keyboards & Mice 键鼠",
        "Logitech 罗技",
        749,
        &[("Connectivity", "Bluetooth")],
    ),
    single(
        "Midea 美的 Induction Cooker 电磁炉",
        "Kitchen Appliances 厨房电器",
        "Midea 美的",
        299,
        &[("Power", "2200W")],
    ),
    single(
        "Dyson V12 Detect Slim Vacuum 戴森吸尘器",
        "Cleaning 清洁电器",
        "Dyson 戴森",
        4490,
        &[("Type", "Cordless")],
    ),
    single(
        "三只松鼠 Three Squirrels Daily Nuts 每日坚果",
        "Snacks 零食",
        "Three Squirrels 三只松鼠",
        139,
        &[("Weight", "750g")],
    ),
    single(
        "张一元 Zhang Yiyuan Jasmine Tea 茉莉花茶",
        "Tea & Coffee 茶咖",
        "Zhang Yiyuan 张一元",
        88,
        &[("Weight", "200g"), ("Origin", "Fujian")],
    ),
    single(
        "百雀羚 Pechoin Hydrating Toner 爽肤水",
        "Skincare 护肤",
        "Pechoin 百雀羚",
        99,
        &[("Volume", "100ml")],
    ),
];
