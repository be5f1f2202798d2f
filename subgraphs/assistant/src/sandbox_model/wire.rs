//! The OpenAI Chat Completions wire format: `chat.completion` objects, the
//! `chat.completion.chunk` server-sent events of a streamed reply, and error bodies.

use serde_json::{Value, json};

/// Reported as `system_fingerprint`.
const FINGERPRINT: &str = "fp_sandbox";

/// A function call as sent: with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One answer, before it is encoded whole or as a stream.
#[derive(Clone, Debug)]
pub struct Completion {
    pub id: String,
    pub created: u32,
    pub model: String,
    /// The text, when the reply is text.
    pub content: Option<String>,
    pub tool_calls: Vec<WireToolCall>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Completion {
    fn finish_reason(&self) -> &'static str {
        if self.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        })
    }

    fn delta_chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        self.chunk(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]))
    }
}

/// Tokens of a text of `chars` characters: a quarter, rounded up, at least one.
pub fn estimate_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4).max(1)).unwrap_or(u32::MAX)
}

/// The non-streamed `chat.completion` object.
pub fn completion_body(completion: &Completion) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": completion.content,
        "refusal": null,
    });
    if !completion.tool_calls.is_empty() {
        let calls: Vec<Value> = completion
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": call.arguments },
                })
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": completion.finish_reason(),
        }],
        "usage": completion.usage(),
    })
}

/// A streamed reply: its server-sent events in order, each `data: …\n\n`.
#[derive(Clone, Debug)]
pub struct Events {
    pub events: Vec<String>,
    /// The index of the event carrying `finish_reason` (a cut stream stops before it).
    pub finish_at: usize,
}

fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The chunks of a streamed reply: the role, the text word by word or the tool calls
/// piece by piece, the finish reason, the usage when asked, and `[DONE]`.
pub fn stream_events(completion: &Completion, include_usage: bool) -> Events {
    let mut deltas = Vec::new();
    if completion.tool_calls.is_empty() {
        deltas.push(json!({ "role": "assistant", "content": "" }));
        let text = completion.content.as_deref().unwrap_or("");
        for piece in split_text(text) {
            deltas.push(json!({ "content": piece }));
        }
    } else {
        for (index, call) in completion.tool_calls.iter().enumerate() {
            for (n, piece) in split_arguments(&call.arguments).into_iter().enumerate() {
                let tool_call = if n == 0 {
                    json!({
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": { "name": call.name, "arguments": piece },
                    })
                } else {
                    json!({ "index": index, "function": { "arguments": piece } })
                };
                let mut delta = json!({ "tool_calls": [tool_call] });
                if deltas.is_empty() {
                    delta["role"] = json!("assistant");
                    delta["content"] = Value::Null;
                }
                deltas.push(delta);
            }
        }
    }
    let mut events: Vec<String> = deltas
        .into_iter()
        .map(|delta| event(&completion.delta_chunk(delta, None)))
        .collect();
    let finish_at = events.len();
    let finish = completion.delta_chunk(json!({}), Some(completion.finish_reason()));
    events.push(event(&finish));
    if include_usage {
        let mut last = completion.chunk(json!([]));
        last["usage"] = completion.usage();
        events.push(event(&last));
    }
    events.push("data: [DONE]\n\n".to_string());
    Events { events, finish_at }
}

/// The text in pieces of one word each (with the whitespace after it); runs without
/// spaces (Chinese) in pieces of about four characters. The pieces join to the text.
pub fn split_text(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut run = 0;
    let mut after_space = false;
    for c in text.chars() {
        let space = c.is_whitespace();
        if !piece.is_empty() && !space && (after_space || (run >= 4 && !c.is_ascii())) {
            pieces.push(std::mem::take(&mut piece));
            run = 0;
        }
        piece.push(c);
        after_space = space;
        if !space {
            run += 1;
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The arguments in at least two pieces (when they have two characters) of at most
/// sixteen characters.
pub fn split_arguments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(3).clamp(1, 16);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// An OpenAI-style error body.
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({
        "error": {
            "message": message,
            "type": kind,
            "param": null,
            "code": code,
        }
    })
}
