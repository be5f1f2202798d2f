//! The script: from the conversation so far to the next assistant message.
//!
//! It reads the last user message (the intent) and the tool results that follow it (the
//! current turn), and either calls the next tool or answers in text. It acts only on the
//! user's words: tool results are read for named fields, never obeyed.

use serde_json::{Value, json};

use super::intent::{self, Intent, Lang};
use super::replies;

/// One function call the script makes (the id is given by the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as a JSON text.
    pub arguments: String,
}

/// The next assistant message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    ToolCalls(Vec<ToolCall>),
}

impl Reply {
    pub fn is_tool_call(&self) -> bool {
        matches!(self, Reply::ToolCalls(_))
    }
}

/// What a tool answered.
#[derive(Clone, Debug)]
enum Outcome {
    Data(Value),
    Error(String),
}

/// A tool result of the current turn, with the name of the function it answers.
#[derive(Clone, Debug)]
struct ToolResult {
    name: Option<String>,
    outcome: Outcome,
}

/// The last user message and the tool results after it.
struct Turn {
    user_text: String,
    results: Vec<ToolResult>,
}

/// The text of a message's `content`: a string, or the `text` of its parts.
pub fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(s) => Some(s.as_str()),
                _ => part.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

fn read_turn(messages: &[Value]) -> Turn {
    let start = messages.iter().rposition(|m| role(m) == "user");
    let user_text = start.map_or(String::new(), |at| {
        content_text(messages[at].get("content"))
    });
    let mut names = Vec::<(String, String)>::new();
    let mut results = Vec::new();
    for message in &messages[start.map_or(messages.len(), |at| at + 1)..] {
        match role(message) {
            "assistant" => {
                let calls = message.get("tool_calls").and_then(Value::as_array);
                for call in calls.into_iter().flatten() {
                    let id = call.get("id").and_then(Value::as_str).unwrap_or("");
                    let name = call.pointer("/function/name").and_then(Value::as_str);
                    names.push((id.to_string(), name.unwrap_or("").to_string()));
                }
            }
            "tool" => {
                let id = message.get("tool_call_id").and_then(Value::as_str);
                let name = id.and_then(|id| names.iter().find(|(i, _)| i == id));
                results.push(ToolResult {
                    name: name.map(|(_, n)| n.clone()),
                    outcome: outcome(&content_text(message.get("content"))),
                });
            }
            _ => {}
        }
    }
    Turn { user_text, results }
}

/// `{"data": …}` is data, `{"error": {"message": …}}` an error; other JSON counts as data,
/// text that is not JSON as an error.
fn outcome(content: &str) -> Outcome {
    match serde_json::from_str::<Value>(content) {
        Ok(value) => match (value.get("error"), value.get("data")) {
            (Some(error), _) if !error.is_null() => Outcome::Error(match error {
                Value::String(s) => s.clone(),
                _ => replies::field(error, "message"),
            }),
            (_, Some(data)) => Outcome::Data(data.clone()),
            _ => Outcome::Data(value),
        },
        Err(_) => Outcome::Error(content.trim().to_string()),
    }
}

/// Whether a result answers the function `name`: by the name of its call, or, when the
/// call is unknown, by the shape of its data.
fn answers(result: &ToolResult, name: &str) -> bool {
    match (&result.name, &result.outcome) {
        (Some(n), _) if !n.is_empty() => n == name,
        (_, Outcome::Data(data)) => {
            let key = match name {
                "search_products" => "products",
                "get_product" => "product",
                "list_my_orders" => "orders",
                "get_order" => "order",
                "view_cart" => "cart",
                _ => "action",
            };
            data.get(key).is_some()
        }
        _ => false,
    }
}

/// The data of the latest result of `name` in the turn.
fn latest<'a>(turn: &'a Turn, name: &str) -> Option<&'a Value> {
    turn.results.iter().rev().find_map(|r| match &r.outcome {
        Outcome::Data(data) if answers(r, name) => Some(data),
        _ => None,
    })
}

fn call(name: &str, arguments: Value) -> Reply {
    Reply::ToolCalls(vec![ToolCall {
        name: name.to_string(),
        arguments: arguments.to_string(),
    }])
}

/// The next assistant message for this conversation.
pub fn respond(messages: &[Value]) -> Reply {
    let turn = read_turn(messages);
    let (intent, lang) = intent::parse(&turn.user_text);
    let error = turn.results.iter().rev().find_map(|r| match &r.outcome {
        Outcome::Error(message) => Some(message),
        Outcome::Data(_) => None,
    });
    if let Some(message) = error {
        return Reply::Text(replies::sorry(lang, message));
    }
    match intent {
        Intent::Help => Reply::Text(replies::help(lang)),
        Intent::Find { query } => match latest(&turn, "search_products") {
            Some(data) => Reply::Text(replies::products(lang, &query, data)),
            None => call("search_products", json!({ "query": query })),
        },
        Intent::Buy { query, quantity } => {
            purchase(&turn, lang, &query, quantity, "propose_place_order")
        }
        Intent::AddToCart { query, quantity } => {
            purchase(&turn, lang, &query, quantity, "propose_add_to_cart")
        }
        Intent::OrderStatus {
            number: Some(number),
        } => match latest(&turn, "get_order") {
            Some(data) => Reply::Text(replies::order(lang, data)),
            None => call("get_order", json!({ "order_number": number })),
        },
        Intent::OrderStatus { number: None } => match latest(&turn, "list_my_orders") {
            Some(data) => Reply::Text(replies::orders(lang, data)),
            None => call("list_my_orders", json!({})),
        },
        Intent::Cancel { number: None } => Reply::Text(replies::ask_order_number(lang)),
        Intent::Cancel {
            number: Some(number),
        } => match latest(&turn, "propose_cancel_order") {
            Some(data) => Reply::Text(replies::action(lang, data)),
            None => call("propose_cancel_order", json!({ "order_number": number })),
        },
        Intent::Cart => match latest(&turn, "view_cart") {
            Some(data) => Reply::Text(replies::cart(lang, data)),
            None => call("view_cart", json!({})),
        },
    }
}

/// Buy or add to cart: search, then propose the first thing in stock, then quote the
/// proposal.
fn purchase(turn: &Turn, lang: Lang, query: &str, quantity: u32, propose: &str) -> Reply {
    if let Some(data) = latest(turn, propose) {
        return Reply::Text(replies::action(lang, data));
    }
    let Some(found) = latest(turn, "search_products") else {
        return call("search_products", json!({ "query": query }));
    };
    let no_products = found
        .get("products")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_products {
        return Reply::Text(replies::no_products(lang, query));
    }
    let Some((product_id, variant_id)) = replies::pick_in_stock(found) else {
        return Reply::Text(replies::none_in_stock(lang, query));
    };
    let mut line = json!({ "product_id": product_id, "quantity": quantity });
    if let Some(variant_id) = variant_id {
        line["variant_id"] = variant_id;
    }
    if propose == "propose_place_order" {
        call(propose, json!({ "items": [line] }))
    } else {
        call(propose, line)
    }
}
