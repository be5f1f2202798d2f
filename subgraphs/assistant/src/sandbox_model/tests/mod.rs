//! Tests of the sandbox model: the phrase book, the script, the wire format and the server.

mod intent_tests;
mod script_tests;
mod server_tests;
mod wire_tests;

use serde_json::{Value, json};

/// SSE text as the JSON of its `data:` events, and whether it ended with `[DONE]`.
pub fn parse_sse(text: &str) -> (Vec<Value>, bool) {
    let mut chunks = Vec::new();
    let mut done = false;
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not a data event: {event:?}"));
        assert!(!done, "an event after [DONE]");
        if data == "[DONE]" {
            done = true;
        } else {
            chunks.push(serde_json::from_str(data).expect("a chunk is JSON"));
        }
    }
    (chunks, done)
}

/// The text and the tool calls (id, name, arguments) a stream of chunks adds up to.
pub fn reassemble(chunks: &[Value]) -> (String, Vec<(String, String, String)>) {
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in chunks {
        let Some(delta) = chunk.pointer("/choices/0/delta") else {
            continue;
        };
        if let Some(content) = delta.get("content").and_then(Value::as_str) {
            text.push_str(content);
        }
        for piece in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = piece["index"].as_u64().expect("a tool call index") as usize;
            if index == calls.len() {
                calls.push(Default::default());
            }
            let call = &mut calls[index];
            if let Some(id) = piece.get("id").and_then(Value::as_str) {
                call.0 = id.to_string();
            }
            if let Some(name) = piece.pointer("/function/name").and_then(Value::as_str) {
                call.1 = name.to_string();
            }
            if let Some(arguments) = piece.pointer("/function/arguments").and_then(Value::as_str) {
                call.2.push_str(arguments);
            }
        }
    }
    (text, calls)
}

pub fn user(text: &str) -> Value {
    json!({ "role": "user", "content": text })
}

pub fn system() -> Value {
    json!({ "role": "system", "content": "You are the Douyin Mall shopping assistant." })
}

/// An assistant message calling one tool.
pub fn calls(id: &str, name: &str, arguments: Value) -> Value {
    json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{
            "id": id,
            "type": "function",
            "function": { "name": name, "arguments": arguments.to_string() },
        }],
    })
}

/// A tool message answering `id` with `{"data": data, "note": …}`.
pub fn data(id: &str, data: Value) -> Value {
    let content = json!({ "data": data, "note": "Prices are in CNY." });
    json!({ "role": "tool", "tool_call_id": id, "content": content.to_string() })
}

/// A tool message answering `id` with a NOT_FOUND error.
pub fn error(id: &str, message: &str) -> Value {
    let content = json!({ "error": { "code": "NOT_FOUND", "message": message } });
    json!({ "role": "tool", "tool_call_id": id, "content": content.to_string() })
}

pub fn product(id: &str, name: &str, price: &str, in_stock: bool, variants: Value) -> Value {
    json!({
        "id": id,
        "name": name,
        "price": price,
        "price_amount": 899900,
        "in_stock": in_stock,
        "variants": variants,
    })
}
