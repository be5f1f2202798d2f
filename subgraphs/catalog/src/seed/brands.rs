//! The demo brands: every leaf category of the demo tree has at least one.

/// A demo brand: its name (its id derives from it, so a name is never changed), the words
/// a family's name may start with to be this brand's besides the brand's own words
/// (`iPhone` is Apple's), and the leaf categories it is offered in.
pub(super) struct Brand {
    pub name: &'static str,
    pub marks: &'static [&'static str],
    pub leaves: &'static [&'static str],
}

const fn brand(
    name: &'static str,
    marks: &'static [&'static str],
    leaves: &'static [&'static str],
) -> Brand {
    Brand {
        name,
        marks,
        leaves,
    }
}

pub(super) const BRANDS: &[Brand] = &[
    brand(
        "Apple",
        &["iPhone", "iPad", "AirPods", "MacBook"],
        &[
            "Phones 手机",
            "Audio 影音",
            "Laptops 笔记本",
            "Tablets 平板",
        ],
    ),
    brand(
        "Xiaomi 小米",
        &["小米笔记本"],
        &["Phones 手机", "Tablets 平板", "Laptops 笔记本"],
    ),
    brand(
        "Huawei 华为",
        &[],
        &["Phones 手机", "Audio 影音", "Tablets 平板"],
    ),
    brand("OPPO", &[], &["Phones 手机"]),
    brand("vivo", &[], &["Phones 手机"]),
    brand("Sony", &[], &["Audio 影音"]),
    brand("Li-Ning 李宁", &[], &["Sneakers 运动鞋", "Clothing 服装"]),
    brand("Samsung 三星", &[], &["Phones 手机"]),
    brand("Ugreen 绿联", &[], &["Phone Accessories 手机配件"]),
    brand(
        "Lenovo 联想",
        &["ThinkPad"],
        &["Laptops 笔记本", "Tablets 平板"],
    ),
    brand("Dell 戴尔", &[], &["Laptops 笔记本"]),
    brand("Logitech 罗技", &[], &["Keyboards & Mice 键鼠"]),
    brand("Midea 美的", &[], &["Kitchen Appliances 厨房电器"]),
    brand("Dyson 戴森", &[], &["Cleaning 清洁电器"]),
    brand("Nike 耐克", &[], &["Sneakers 运动鞋", "Clothing 服装"]),
    brand("Anta 安踏", &[], &["Sneakers 运动鞋"]),
    brand("Uniqlo 优衣库", &[], &["Clothing 服装"]),
    brand("Bosideng 波司登", &[], &["Clothing 服装"]),
    brand("Three Squirrels 三只松鼠", &[], &["Snacks 零食"]),
    brand("Zhang Yiyuan 张一元", &[], &["Tea & Coffee 茶咖"]),
    brand("Pechoin 百雀羚", &[], &["Skincare 护肤"]),
];

/// The demo brand of a family of the tree: the one whose name has, or whose marks are, the
/// first word of the family's name (a case "for iPhone" is nobody's), if any.
pub(super) fn brand_of(family: &str) -> Option<&'static str> {
    let first = family.split(' ').next()?;
    BRANDS
        .iter()
        .find(|brand| brand.marks.contains(&first) || brand.name.split(' ').any(|w| w == first))
        .map(|brand| brand.name)
}
