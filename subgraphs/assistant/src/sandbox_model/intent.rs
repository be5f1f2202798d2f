//! What the last user message asks for: the sandbox's fixed phrase book (English and Chinese).
//!
//! Matching is case-insensitive (ASCII), ignores punctuation at both ends and runs of
//! whitespace; the query and the order number keep the user's own spelling.

/// The language a reply is written in: Chinese when the user's message holds CJK characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

/// One request of the user, as the script understands it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Find { query: String },
    OrderStatus { number: Option<String> },
    Buy { query: String, quantity: u32 },
    AddToCart { query: String, quantity: u32 },
    Cancel { number: Option<String> },
    Cart,
    Help,
}

/// The user's text, trimmed, and its ASCII-lowercased twin (same byte offsets).
#[derive(Clone, Copy)]
struct Text<'a> {
    orig: &'a str,
    low: &'a str,
}

impl<'a> Text<'a> {
    /// The rest after `prefix` (matched case-insensitively), trimmed at the start.
    fn after(self, prefix: &str) -> Option<Text<'a>> {
        self.low
            .starts_with(prefix)
            .then(|| self.from(prefix.len()))
    }

    /// The part before `suffix`, trimmed at the end.
    fn before(self, suffix: &str) -> Option<Text<'a>> {
        self.low
            .ends_with(suffix)
            .then(|| self.to(self.low.len() - suffix.len()))
    }

    fn from(self, at: usize) -> Text<'a> {
        let orig =
            self.orig[at..].trim_start_matches(|c: char| c.is_whitespace() || TRIM.contains(&c));
        let low = &self.low[self.low.len() - orig.len()..];
        Text { orig, low }
    }

    fn to(self, at: usize) -> Text<'a> {
        let orig =
            self.orig[..at].trim_end_matches(|c: char| c.is_whitespace() || TRIM.contains(&c));
        Text {
            orig,
            low: &self.low[..orig.len()],
        }
    }

    fn first_after(self, prefixes: &[&str]) -> Option<Text<'a>> {
        prefixes.iter().find_map(|p| self.after(p))
    }

    fn first_before(self, suffixes: &[&str]) -> Option<Text<'a>> {
        suffixes.iter().find_map(|s| self.before(s))
    }
}

/// Reads the intent and the reply language of a user message.
pub fn parse(message: &str) -> (Intent, Lang) {
    let cleaned = clean(message);
    let lowered = cleaned.to_ascii_lowercase();
    let text = Text {
        orig: &cleaned,
        low: &lowered,
    };
    if has_cjk(message) {
        (parse_zh(text), Lang::Zh)
    } else {
        (parse_en(text), Lang::En)
    }
}

/// Whether the text holds CJK characters (Han, kana, hangul, CJK punctuation).
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32,
            0x3000..=0x303F | 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
            | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
    })
}

/// The first order number in the text: `DM` and digits (upper-cased), or a UUID.
pub fn order_number(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find_map(|token| {
            let digits = token
                .get(..2)
                .filter(|p| p.eq_ignore_ascii_case("dm"))
                .map(|_| &token[2..]);
            if let Some(digits) = digits
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Some(format!("DM{digits}"));
            }
            (token.len() == 36)
                .then(|| uuid::Uuid::parse_str(token).ok())
                .flatten()
                .map(|id| id.to_string())
        })
}

const TRIM: &[char] = &[
    '.', ',', '!', '?', ';', ':', '"', '\'', '。', '，', '！', '？', '；', '：', '、', '“', '”',
    '‘', '’', '…', '～', '~',
];

/// Punctuation and whitespace off both ends, inner whitespace runs made single spaces.
fn clean(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .trim_matches(|c: char| c.is_whitespace() || TRIM.contains(&c))
        .to_string()
}

fn parse_en(text: Text) -> Intent {
    let text = strip_politeness(text);
    let low = text.low;
    if low == "cancel" || low.starts_with("cancel ") {
        return Intent::Cancel {
            number: order_number(text.orig),
        };
    }
    if let Some(item) = add_to_cart_en(text) {
        let (quantity, query) = quantity_en(item);
        return item_intent(query, |query| Intent::AddToCart { query, quantity });
    }
    const CART: &[&str] = &["cart", "my cart", "show cart", "view cart", "the cart"];
    if CART.contains(&low) || low.contains("my cart") || low.contains("in the cart") {
        return Intent::Cart;
    }
    if let Some(intent) = order_status_en(text) {
        return intent;
    }
    const BUY: &[&str] = &[
        "i want to buy ",
        "i'd like to buy ",
        "i would like to buy ",
        "i want to order ",
        "i'd like to order ",
        "buy me ",
        "buy ",
        "purchase ",
        "order ",
        "get me ",
    ];
    let want = text
        .first_after(&["i want ", "i'd like ", "i would like "])
        .filter(|rest| !rest.low.starts_with("to "));
    if let Some(item) = text.first_after(BUY).or(want) {
        let (quantity, query) = quantity_en(item);
        return item_intent(query, |query| Intent::Buy { query, quantity });
    }
    const FIND: &[&str] = &[
        "search for ",
        "search ",
        "find me ",
        "find ",
        "show me ",
        "do you have ",
        "do you sell ",
        "looking for ",
        "i'm looking for ",
        "i am looking for ",
        "im looking for ",
        "i want to find ",
        "i want to see ",
        "i'd like to see ",
        "look for ",
    ];
    if let Some(rest) = text.first_after(FIND) {
        let rest = rest
            .first_after(&["any ", "some ", "a ", "an ", "the "])
            .unwrap_or(rest);
        return item_intent(tail_en(rest), |query| Intent::Find { query });
    }
    Intent::Help
}

fn strip_politeness(mut text: Text) -> Text {
    const POLITE: &[&str] = &[
        "please ",
        "can you ",
        "could you ",
        "would you ",
        "hi ",
        "hi, ",
        "hello ",
        "hello, ",
        "hey ",
        "hey, ",
    ];
    while let Some(rest) = text.first_after(POLITE) {
        text = rest;
    }
    text
}

/// "add N X to (my) cart", "put N X in my cart": the "N X" part.
fn add_to_cart_en(text: Text) -> Option<Text> {
    const ENDS: &[&str] = &[
        " to my cart",
        " to the cart",
        " to cart",
        " into my cart",
        " in my cart",
        " in the cart",
        " into the cart",
        " in cart",
    ];
    let item = text.first_after(&["add ", "put "])?.first_before(ENDS)?;
    Some(item)
}

fn order_status_en(text: Text) -> Option<Intent> {
    let low = text.low;
    if let Some(number) = order_number(text.orig) {
        let about_order = ["order", "where is", "where's", "status", "track"]
            .iter()
            .any(|w| low.contains(w));
        return about_order.then_some(Intent::OrderStatus {
            number: Some(number),
        });
    }
    const LIST: &[&str] = &[
        "orders",
        "my orders",
        "my order",
        "order status",
        "where are my orders",
        "where is my order",
        "where's my order",
        "show my orders",
        "show me my orders",
        "list my orders",
        "track my order",
        "track my orders",
    ];
    (LIST.contains(&low) || low.contains("my orders"))
        .then_some(Intent::OrderStatus { number: None })
}

/// "N X", "N of X", "a X", "X": the quantity (1 when none) and the rest.
fn quantity_en(item: Text) -> (u32, Text) {
    const WORDS: &[&str] = &[
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    let (first, rest) = match item.low.split_once(' ') {
        Some((first, _)) => (first, item.from(first.len())),
        None => return (1, item),
    };
    let quantity = if first == "a" || first == "an" {
        Some(1)
    } else if let Some(n) = WORDS.iter().position(|w| *w == first) {
        Some(n as u32 + 1)
    } else {
        first.parse::<u32>().ok()
    };
    match quantity {
        Some(n) => (n, rest.after("of ").unwrap_or(rest)),
        None => (1, item),
    }
}

/// The query without trailing courtesy ("please", "for me").
fn tail_en(text: Text) -> Text {
    let mut text = text;
    while let Some(rest) = text.first_before(&[" please", " for me", " now", " today"]) {
        text = rest;
    }
    text
}

fn item_intent(query: Text, make: impl FnOnce(String) -> Intent) -> Intent {
    let query = tail_en(query).orig.trim();
    if query.is_empty() {
        Intent::Help
    } else {
        make(query.to_string())
    }
}

fn parse_zh(text: Text) -> Intent {
    let mut text = text;
    while let Some(rest) = text.first_after(&["请", "麻烦", "帮我", "你好", "您好"]) {
        text = rest;
    }
    let low = text.low;
    if low.contains("取消") {
        return Intent::Cancel {
            number: order_number(text.orig),
        };
    }
    const INTO_CART: &[&str] = &[
        "加入购物车",
        "加到购物车",
        "放进购物车",
        "放入购物车",
        "添加到购物车",
    ];
    let added = INTO_CART.iter().find_map(|k| {
        low.find(k)
            .map(|at| text.to(at).after("把").unwrap_or(text.to(at)))
    });
    if let Some(item) = added.or_else(|| text.after("加购")) {
        let (quantity, query) = quantity_zh(item);
        return zh_item(query, |query| Intent::AddToCart { query, quantity });
    }
    if low.contains("购物车") {
        return Intent::Cart;
    }
    let number = order_number(text.orig);
    let asks_where = ["到哪", "物流", "状态", "发货", "进度"]
        .iter()
        .any(|w| low.contains(w));
    if low.contains("订单") || (number.is_some() && asks_where) {
        return Intent::OrderStatus { number };
    }
    let wants = text
        .first_after(&["我想", "我要", "给我", "想"])
        .unwrap_or(text);
    if let Some(item) = wants.first_after(&["购买", "下单", "买"]) {
        let (quantity, query) = quantity_zh(item);
        return zh_item(query, |query| Intent::Buy { query, quantity });
    }
    const FIND: &[&str] = &[
        "我想看看",
        "我想找",
        "我要找",
        "想看看",
        "看看",
        "找一下",
        "找找",
        "查找",
        "找",
        "搜索一下",
        "搜索",
        "搜一下",
        "搜",
        "有没有",
    ];
    if let Some(rest) = text.first_after(FIND) {
        return zh_item(rest, |query| Intent::Find { query });
    }
    Intent::Help
}

fn zh_item(query: Text, make: impl FnOnce(String) -> Intent) -> Intent {
    let mut query = query;
    while let Some(rest) = query.first_before(&["吗", "呢", "嘛", "吧"]) {
        query = rest;
    }
    item_intent(query, make)
}

/// Chinese numerals (一 … 十, 两, up to 九十九) or digits, then a measure word or a space
/// ("买三星手机" is a query, not three of "星手机").
fn quantity_zh(item: Text) -> (u32, Text) {
    const MEASURES: &[char] = &[
        '个', '件', '台', '部', '只', '双', '份', '瓶', '本', '支', '套', '条', '张', '盒', '包',
        '块', '副', '箱', '把',
    ];
    let digits: String = item
        .orig
        .chars()
        .take_while(|c| c.is_ascii_digit() || zh_digit(*c).is_some() || *c == '十')
        .collect();
    let Some(quantity) = zh_number(&digits) else {
        return (1, item);
    };
    let spaced = item.orig[digits.len()..].starts_with(' ');
    let rest = item.from(digits.len());
    match rest.orig.chars().next() {
        Some(c) if MEASURES.contains(&c) => (quantity, rest.from(c.len_utf8())),
        Some(_) if spaced => (quantity, rest),
        _ => (1, item),
    }
}

fn zh_digit(c: char) -> Option<u32> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|n| n as u32)
        .or((c == '两').then_some(2))
}

/// "3", "三", "十", "十二", "二十", "二十五".
fn zh_number(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let chars: Vec<char> = text.chars().collect();
    match chars.iter().position(|c| *c == '十') {
        None if chars.len() == 1 => zh_digit(chars[0]),
        None => None,
        Some(at) => {
            let tens = match &chars[..at] {
                [] => 1,
                [d] => zh_digit(*d)?,
                _ => return None,
            };
            let ones = match &chars[at + 1..] {
                [] => 0,
                [d] => zh_digit(*d)?,
                _ => return None,
            };
            Some(tens * 10 + ones)
        }
    }
}
