//! The sandbox's text replies, in English and Chinese. They quote only named fields of tool
//! results (names, prices, statuses, summaries), never free text such as descriptions.

use serde_json::Value;

use super::intent::Lang;

/// How many products a search reply lists.
pub const MAX_PRODUCTS: usize = 5;
/// How many orders an order list reply lists.
const MAX_ORDERS: usize = 10;

/// A field as text: strings as they are, numbers and booleans printed, anything else "?".
pub fn field(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        _ => "?".to_string(),
    }
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn in_stock(value: &Value) -> bool {
    value.get("in_stock").and_then(Value::as_bool) == Some(true)
}

pub fn help(lang: Lang) -> String {
    match lang {
        Lang::En => "I'm the Douyin Mall shopping assistant. I can:\n\
            - find products (\"find wireless earbuds\")\n\
            - check orders (\"where is my order DM2026120600001\", \"my orders\")\n\
            - show your cart (\"what is in my cart\")\n\
            - add to your cart (\"add 2 USB-C cables to my cart\")\n\
            - buy (\"buy 1 iPhone 15\")\n\
            - cancel an order (\"cancel order DM2026120600001\")\n\
            Purchases and cancellations only happen after you press Confirm."
            .to_string(),
        Lang::Zh => "我是抖音商城购物助手，可以帮您：\n\
            - 找商品（“找 无线耳机”）\n\
            - 查订单（“我的订单 DM2026120600001 到哪了”、“我的订单”）\n\
            - 看购物车（“我的购物车”）\n\
            - 加购（“把 2 个 数据线 加入购物车”）\n\
            - 购买（“买一台 iPhone 15”）\n\
            - 取消订单（“取消订单 DM2026120600001”）\n\
            下单和取消都要在您点击“确认”之后才会执行。"
            .to_string(),
    }
}

pub fn sorry(lang: Lang, message: &str) -> String {
    match lang {
        Lang::En => format!("Sorry, I couldn't do that: {message}"),
        Lang::Zh => format!("抱歉，没能完成：{message}"),
    }
}

pub fn no_products(lang: Lang, query: &str) -> String {
    match lang {
        Lang::En => format!("I found no products for “{query}”."),
        Lang::Zh => format!("没有找到与“{query}”相关的商品。"),
    }
}

pub fn none_in_stock(lang: Lang, query: &str) -> String {
    match lang {
        Lang::En => format!("Sorry, nothing I found for “{query}” is in stock right now."),
        Lang::Zh => format!("抱歉，与“{query}”相关的商品目前都没有库存。"),
    }
}

pub fn ask_order_number(lang: Lang) -> String {
    match lang {
        Lang::En => "Which order should I cancel? Tell me its number, \
            e.g. “cancel order DM2026120600001”."
            .to_string(),
        Lang::Zh => "请告诉我要取消的订单号，例如“取消订单 DM2026120600001”。".to_string(),
    }
}

/// The result of `search_products` (its `data`) as a list of at most five products.
pub fn products(lang: Lang, query: &str, data: &Value) -> String {
    let found = list(data, "products");
    if found.is_empty() {
        return no_products(lang, query);
    }
    let mut text = match lang {
        Lang::En if found.len() == 1 => format!("I found 1 product for “{query}”:"),
        Lang::En => format!("I found {} products for “{query}”:", found.len()),
        Lang::Zh => format!("为您找到 {} 件商品：", found.len()),
    };
    for (n, product) in found.iter().take(MAX_PRODUCTS).enumerate() {
        let stock = match (lang, in_stock(product)) {
            (Lang::En, true) => "(in stock)",
            (Lang::En, false) => "(sold out)",
            (Lang::Zh, true) => "（有货）",
            (Lang::Zh, false) => "（已售罄）",
        };
        let (name, price) = (field(product, "name"), field(product, "price"));
        let sep = if lang == Lang::En { " " } else { "" };
        text.push_str(&format!("\n{}. {name} — {price}{sep}{stock}", n + 1));
    }
    if found.len() > MAX_PRODUCTS {
        let more = found.len() - MAX_PRODUCTS;
        text.push_str(&match lang {
            Lang::En => format!("\n…and {more} more."),
            Lang::Zh => format!("\n……还有 {more} 件。"),
        });
    }
    text
}

/// The first product in stock and, within it, its first variant in stock (none when the
/// product has no variants). A product whose variants are all sold out is skipped.
pub fn pick_in_stock(data: &Value) -> Option<(Value, Option<Value>)> {
    list(data, "products").iter().find_map(|product| {
        let id = product.get("id").filter(|_| in_stock(product))?;
        let variants = list(product, "variants");
        if variants.is_empty() {
            return Some((id.clone(), None));
        }
        let variant = variants.iter().find(|v| in_stock(v))?;
        Some((id.clone(), Some(variant.get("id")?.clone())))
    })
}

/// The result of a `propose_*` tool: the action's summary and the Confirm reminder.
pub fn action(lang: Lang, data: &Value) -> String {
    let summary = data
        .get("action")
        .map_or("?".to_string(), |a| field(a, "summary"));
    match lang {
        Lang::En => format!(
            "Ready for your confirmation: {summary}\nNothing happens until you press Confirm."
        ),
        Lang::Zh => format!("已为您准备好：{summary}\n在您点击“确认”之前不会执行任何操作。"),
    }
}

fn order_line(lang: Lang, order: &Value) -> String {
    let (number, status, total) = (
        field(order, "number"),
        field(order, "status"),
        field(order, "total"),
    );
    match lang {
        Lang::En => format!("Order {number} is {status}, total {total}."),
        Lang::Zh => format!("订单 {number} 状态：{status}，合计 {total}。"),
    }
}

/// The result of `get_order`: number, status, total and the items.
pub fn order(lang: Lang, data: &Value) -> String {
    let Some(order) = data.get("order") else {
        return sorry(lang, "no order in the result");
    };
    let mut text = order_line(lang, order);
    let items: Vec<String> = list(order, "items")
        .iter()
        .map(|i| format!("{} × {}", field(i, "name"), field(i, "quantity")))
        .collect();
    if !items.is_empty() {
        text.push_str(&match lang {
            Lang::En => format!("\nItems: {}", items.join(", ")),
            Lang::Zh => format!("\n商品：{}", items.join("、")),
        });
    }
    text
}

/// The result of `list_my_orders`: one line per order.
pub fn orders(lang: Lang, data: &Value) -> String {
    let all = list(data, "orders");
    let mut text = match (lang, all.len()) {
        (Lang::En, 0) => return "You have no orders yet.".to_string(),
        (Lang::Zh, 0) => return "您还没有订单。".to_string(),
        (Lang::En, 1) => "You have 1 order:".to_string(),
        (Lang::En, n) => format!("You have {n} orders:"),
        (Lang::Zh, n) => format!("您共有 {n} 个订单："),
    };
    for order in all.iter().take(MAX_ORDERS) {
        text.push_str("\n- ");
        text.push_str(&order_line(lang, order));
    }
    if all.len() > MAX_ORDERS {
        let more = all.len() - MAX_ORDERS;
        text.push_str(&match lang {
            Lang::En => format!("\n…and {more} more."),
            Lang::Zh => format!("\n……还有 {more} 个。"),
        });
    }
    text
}

/// The result of `view_cart`: its lines and subtotal.
pub fn cart(lang: Lang, data: &Value) -> String {
    let cart = data.get("cart").unwrap_or(&Value::Null);
    let items = list(cart, "items");
    if items.is_empty() {
        return match lang {
            Lang::En => "Your cart is empty.".to_string(),
            Lang::Zh => "您的购物车是空的。".to_string(),
        };
    }
    let mut text = match lang {
        Lang::En => "Your cart:".to_string(),
        Lang::Zh => "您的购物车：".to_string(),
    };
    for item in items {
        let (name, quantity, total) = (
            field(item, "name"),
            field(item, "quantity"),
            field(item, "line_total"),
        );
        text.push_str(&format!("\n- {name} × {quantity} — {total}"));
    }
    let subtotal = field(cart, "subtotal");
    text.push_str(&match lang {
        Lang::En => format!("\nSubtotal: {subtotal}"),
        Lang::Zh => format!("\n小计：{subtotal}"),
    });
    text
}
