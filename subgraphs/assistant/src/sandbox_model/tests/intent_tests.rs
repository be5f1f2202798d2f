use crate::sandbox_model::intent::{Intent, Lang, order_number, parse};

fn find(query: &str) -> Intent {
    Intent::Find {
        query: query.to_string(),
    }
}

fn buy(quantity: u32, query: &str) -> Intent {
    Intent::Buy {
        query: query.to_string(),
        quantity,
    }
}

fn add(quantity: u32, query: &str) -> Intent {
    Intent::AddToCart {
        query: query.to_string(),
        quantity,
    }
}

fn status(number: Option<&str>) -> Intent {
    Intent::OrderStatus {
        number: number.map(str::to_string),
    }
}

fn cancel(number: Option<&str>) -> Intent {
    Intent::Cancel {
        number: number.map(str::to_string),
    }
}

fn check(lang: Lang, cases: &[(&str, Intent)]) {
    for (message, expected) in cases {
        assert_eq!(parse(message), (expected.clone(), lang), "for {message:?}");
    }
}

const UUID: &str = "0b5c8f7e-2a4d-4c1e-9f3a-6d2b1e8c7a90";

#[test]
fn english_find() {
    check(
        Lang::En,
        &[
            ("Find wireless earbuds", find("wireless earbuds")),
            ("search for iPhone 15?", find("iPhone 15")),
            ("Search laptops", find("laptops")),
            ("show me running shoes!", find("running shoes")),
            ("Do you have any headphones?", find("headphones")),
            ("do you have a USB-C cable", find("USB-C cable")),
            ("I'm looking for a phone case.", find("phone case")),
            ("looking for mugs", find("mugs")),
            ("Please find   red  socks please", find("red socks")),
            ("find", Intent::Help),
        ],
    );
}

#[test]
fn english_orders() {
    check(
        Lang::En,
        &[
            (
                "Where is my order DM2026120600001?",
                status(Some("DM2026120600001")),
            ),
            (
                "status of order dm2026120600001",
                status(Some("DM2026120600001")),
            ),
            ("order DM2026120600001", status(Some("DM2026120600001"))),
            (&format!("where is my order {UUID}"), status(Some(UUID))),
            ("Where are my orders?", status(None)),
            ("my orders", status(None)),
            ("show me my orders", status(None)),
        ],
    );
}

#[test]
fn english_buy_and_cart() {
    check(
        Lang::En,
        &[
            ("buy 2 iPhone 15", buy(2, "iPhone 15")),
            ("Buy 3 of USB-C cable.", buy(3, "USB-C cable")),
            ("buy AirPods Pro", buy(1, "AirPods Pro")),
            ("buy a mug", buy(1, "mug")),
            ("buy two mugs", buy(2, "mugs")),
            ("order 2 phone cases", buy(2, "phone cases")),
            ("I want 4 socks", buy(4, "socks")),
            ("I want to buy 5 pens", buy(5, "pens")),
            ("add 2 USB-C cables to my cart", add(2, "USB-C cables")),
            ("Add a charger to cart", add(1, "charger")),
            ("put 1 mug in my cart", add(1, "mug")),
            ("put three mugs into my cart", add(3, "mugs")),
            ("What is in my cart?", Intent::Cart),
            ("show my cart", Intent::Cart),
            ("show me my cart", Intent::Cart),
            ("My cart", Intent::Cart),
        ],
    );
}

#[test]
fn english_cancel_and_help() {
    check(
        Lang::En,
        &[
            (
                "cancel order DM2026120600001",
                cancel(Some("DM2026120600001")),
            ),
            ("Cancel DM2026120600001.", cancel(Some("DM2026120600001"))),
            ("cancel my order", cancel(None)),
            ("hello", Intent::Help),
            ("tell me a joke", Intent::Help),
            ("", Intent::Help),
        ],
    );
}

#[test]
fn chinese_find_and_orders() {
    check(
        Lang::Zh,
        &[
            ("找 无线耳机", find("无线耳机")),
            ("搜索iPhone", find("iPhone")),
            ("有没有蓝牙音箱？", find("蓝牙音箱")),
            ("我想看看 运动鞋", find("运动鞋")),
            ("帮我找一下 保温杯", find("保温杯")),
            (
                "我的订单 DM2026120600001 到哪了？",
                status(Some("DM2026120600001")),
            ),
            ("订单DM2026120600001", status(Some("DM2026120600001"))),
            ("DM2026120600001 到哪了", status(Some("DM2026120600001"))),
            ("我的订单", status(None)),
            ("你好", Intent::Help),
            ("讲个笑话", Intent::Help),
        ],
    );
}

#[test]
fn chinese_buy_with_numerals() {
    check(
        Lang::Zh,
        &[
            ("买两台 MacBook Air", buy(2, "MacBook Air")),
            ("买 3 个 数据线", buy(3, "数据线")),
            ("买一部手机", buy(1, "手机")),
            ("买十件T恤", buy(10, "T恤")),
            ("买十二件T恤", buy(12, "T恤")),
            ("买二十五个杯子", buy(25, "杯子")),
            ("我想买九台电视", buy(9, "电视")),
            ("买 iPhone 15", buy(1, "iPhone 15")),
            ("买三星手机", buy(1, "三星手机")),
            ("我要买 4 个 苹果", buy(4, "苹果")),
            ("买八 耳机", buy(8, "耳机")),
        ],
    );
}

#[test]
fn chinese_cart_and_cancel() {
    check(
        Lang::Zh,
        &[
            ("把 2 个 数据线 加入购物车", add(2, "数据线")),
            ("把五个杯子加入购物车", add(5, "杯子")),
            ("把耳机加入购物车", add(1, "耳机")),
            ("加购 3 耳机", add(3, "耳机")),
            ("加购两个耳机", add(2, "耳机")),
            ("加购六双袜子", add(6, "袜子")),
            ("购物车", Intent::Cart),
            ("我的购物车", Intent::Cart),
            ("取消订单 DM2026120600001", cancel(Some("DM2026120600001"))),
            ("取消订单", cancel(None)),
        ],
    );
}

#[test]
fn order_numbers() {
    assert_eq!(
        order_number("订单DM2026120600001到哪了").as_deref(),
        Some("DM2026120600001")
    );
    assert_eq!(order_number("dm42").as_deref(), Some("DM42"));
    assert_eq!(order_number("DMX42 and DM"), None);
    assert_eq!(
        order_number(&format!("order {}", UUID.to_uppercase())).as_deref(),
        Some(UUID)
    );
    assert_eq!(order_number("no number here"), None);
}
