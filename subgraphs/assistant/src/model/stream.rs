//! The streamed answer: server-sent events, each chunk read as async-openai's
//! `CreateChatCompletionStreamResponse`, text deltas passed on as they come and tool-call
//! fragments joined by index.
//!
//! A chunk is read leniently, since servers differ a little: fields some leave out (`id`,
//! `created`, `model`, `object`, a choice's `index`/`delta`, a tool call's `index`, the
//! usage's `total_tokens`) get neutral values, and `finish_reason` is taken as written (an
//! unknown reason would otherwise make the whole chunk unreadable). An `{"error": …}` event
//! is a failure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::request::tokens;
use super::{ModelTurn, ToolCall, Usage};

/// Reads the answer to its end: the turn and the usage the endpoint reported, or what went
/// wrong. Each text delta goes to `deltas` at once (and sets `shown`).
pub(super) async fn read(
    mut response: reqwest::Response,
    deltas: Option<&UnboundedSender<String>>,
    shown: &AtomicBool,
) -> Result<(ModelTurn, Option<Usage>), String> {
    let mut events = SseDecoder::default();
    let mut turn = TurnBuilder::default();
    let take = |data: String, turn: &mut TurnBuilder| -> Result<bool, String> {
        if data.trim() == "[DONE]" {
            return Ok(true);
        }
        if let Some(text) = turn.apply(&data)?
            && let Some(deltas) = deltas
        {
            // A caller that stopped listening still gets the whole turn.
            let _ = deltas.send(text);
            shown.store(true, Ordering::Relaxed);
        }
        Ok(false)
    };
    while let Some(bytes) = response
        .chunk()
        .await
        .map_err(|e| format!("stream broken: {}", describe(&e)))?
    {
        for data in events.feed(&bytes) {
            if take(data, &mut turn)? {
                return turn.finish(true);
            }
        }
    }
    if let Some(data) = events.finish()
        && take(data, &mut turn)?
    {
        return turn.finish(true);
    }
    turn.finish(false)
}

/// An error and its causes, one line (reqwest's own text omits the cause: "error sending
/// request" without "connection refused").
pub(super) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Completion tokens when the endpoint reports none: 4 characters a token.
pub(super) fn estimate_completion_tokens(turn: &ModelTurn) -> u32 {
    let calls: usize = turn
        .tool_calls
        .iter()
        .map(|call| call.name.chars().count() + call.arguments.chars().count())
        .sum();
    tokens(turn.text.chars().count() + calls)
}

/// Splits a byte stream into the `data` of its server-sent events.
#[derive(Default)]
pub(super) struct SseDecoder {
    /// Bytes after the last whole line.
    pending: Vec<u8>,
    /// The `data` lines of the event being read.
    data: Option<String>,
}

impl SseDecoder {
    /// The events that `bytes` completes.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let buffer = std::mem::take(&mut self.pending);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(end) = buffer[start..].iter().position(|&b| b == b'\n') {
            self.line(&buffer[start..start + end], &mut events);
            start += end + 1;
        }
        self.pending = buffer[start..].to_vec();
        events
    }

    /// The event left at the end of the stream, if it was not closed by an empty line.
    pub(super) fn finish(&mut self) -> Option<String> {
        let mut events = Vec::new();
        let rest = std::mem::take(&mut self.pending);
        self.line(&rest, &mut events);
        self.line(b"", &mut events);
        events.pop()
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<String>) {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        // Comments (`: keep-alive`) have an empty field; `event:`, `id:`, `retry:` say
        // nothing a chat completion needs.
        if field == "data" {
            let data = self.data.get_or_insert_with(String::new);
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value);
        }
    }
}

/// The turn as its chunks arrive.
#[derive(Default)]
pub(super) struct TurnBuilder {
    text: String,
    /// Tool calls by their `index`.
    calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    chunks: usize,
}

impl TurnBuilder {
    /// Takes one event's data; the text it adds, if any.
    pub(super) fn apply(&mut self, data: &str) -> Result<Option<String>, String> {
        let mut value: Value =
            serde_json::from_str(data).map_err(|e| format!("unreadable chunk: {e}"))?;
        if let Some(error) = value.get("error") {
            let message = error.get("message").and_then(Value::as_str);
            return Err(format!(
                "error in the stream: {}",
                message.map_or_else(|| error.to_string(), str::to_owned)
            ));
        }
        let finish_reason = lenient(&mut value)?;
        let chunk: CreateChatCompletionStreamResponse =
            serde_json::from_value(value).map_err(|e| format!("unreadable chunk: {e}"))?;
        self.chunks += 1;
        if let Some(usage) = chunk.usage {
            self.usage = Some(Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            });
        }
        let mut text = String::new();
        // One choice is asked for (`n` unset); any other would be a server's error.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let delta = choice.delta;
            for piece in [delta.content, delta.refusal].into_iter().flatten() {
                text.push_str(&piece);
            }
            for fragment in delta.tool_calls.into_iter().flatten() {
                let call = self
                    .calls
                    .entry(fragment.index)
                    .or_insert_with(|| ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
                    call.id = id;
                }
                if let Some(function) = fragment.function {
                    // The name comes whole in the first fragment; a server that repeats it
                    // is not taken as one sending it in pieces.
                    if let Some(name) = function.name.filter(|n| !n.is_empty() && *n != call.name) {
                        call.name.push_str(&name);
                    }
                    call.arguments
                        .push_str(function.arguments.as_deref().unwrap_or_default());
                }
            }
        }
        if finish_reason.is_some() {
            self.finish_reason = finish_reason;
        }
        self.text.push_str(&text);
        Ok((!text.is_empty()).then_some(text))
    }

    /// The whole turn: complete when `done` (`[DONE]` came) or a `finish_reason` did.
    pub(super) fn finish(self, done: bool) -> Result<(ModelTurn, Option<Usage>), String> {
        if !done && self.finish_reason.is_none() {
            return Err(format!(
                "the stream ended before the answer was complete ({} chunks)",
                self.chunks
            ));
        }
        let tool_calls = self
            .calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".to_owned();
                }
                call
            })
            .collect();
        let turn = ModelTurn {
            text: self.text,
            tool_calls,
            finish_reason: self.finish_reason,
            usage: Usage::default(),
        };
        Ok((turn, self.usage))
    }
}

/// Fills what a server may leave out of a chunk and takes its `finish_reason` out (as
/// written).
fn lenient(value: &mut Value) -> Result<Option<String>, String> {
    let chunk = value
        .as_object_mut()
        .ok_or("unreadable chunk: not a JSON object")?;
    for (key, default) in [
        ("id", json!("")),
        ("created", json!(0)),
        ("model", json!("")),
        ("object", json!("chat.completion.chunk")),
        ("choices", json!([])),
    ] {
        fill(chunk, key, default);
    }
    if let Some(usage) = chunk.get_mut("usage").and_then(Value::as_object_mut) {
        fill(usage, "total_tokens", json!(0));
    }
    let mut finish_reason = None;
    for (position, choice) in chunk["choices"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(choice) = choice.as_object_mut() else {
            continue;
        };
        fill(choice, "index", json!(position));
        fill(choice, "delta", json!({}));
        if let Some(reason) = choice.remove("finish_reason")
            && let Some(reason) = reason.as_str()
            && choice["index"] == json!(0)
        {
            finish_reason = Some(reason.to_owned());
        }
        let calls = choice["delta"].get_mut("tool_calls");
        for (position, call) in calls
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(call) = call.as_object_mut() {
                fill(call, "index", json!(position));
            }
        }
    }
    Ok(finish_reason)
}

/// Sets `key` to `default` when it is missing or null.
fn fill(object: &mut serde_json::Map<String, Value>, key: &str, default: Value) {
    let slot = object.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = default;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_at_empty_lines_whatever_the_byte_boundaries() {
        let stream = "data: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: chunk\ndata: one\ndata: two\n\ndata:[DONE]\n\n";
        for size in 1..stream.len() {
            let mut decoder = SseDecoder::default();
            let mut events = Vec::new();
            for piece in stream.as_bytes().chunks(size) {
                events.extend(decoder.feed(piece));
            }
            events.extend(decoder.finish());
            assert_eq!(
                events,
                ["{\"a\":1}", "one\ntwo", "[DONE]"],
                "pieces of {size}"
            );
        }
        let mut decoder = SseDecoder::default();
        assert!(decoder.feed("data: 终于".as_bytes()).is_empty());
        assert_eq!(
            decoder.finish().as_deref(),
            Some("终于"),
            "a last event without its empty line"
        );
    }

    #[test]
    fn tool_call_fragments_are_joined_by_index() {
        let mut turn = TurnBuilder::default();
        let chunks = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"search_products","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"view_cart"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"search_products","arguments":"{\"query\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"phone\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#,
        ];
        for chunk in chunks {
            assert_eq!(turn.apply(chunk).expect("chunk"), None);
        }
        let (turn, usage) = turn.finish(false).expect("complete");
        assert_eq!(
            turn.tool_calls,
            [
                ToolCall {
                    id: "call_a".into(),
                    name: "search_products".into(),
                    arguments: "{\"query\": \"phone\"}".into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "view_cart".into(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            usage,
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 7
            })
        );
    }

    #[test]
    fn unknown_finish_reasons_are_kept_and_error_events_fail() {
        let mut turn = TurnBuilder::default();
        let text = turn.apply(r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":"insufficient_system_resource"}]}"#);
        assert_eq!(text.expect("chunk").as_deref(), Some("Hi"));
        let (turn, usage) = turn.finish(false).expect("complete");
        assert_eq!(
            turn.finish_reason.as_deref(),
            Some("insufficient_system_resource")
        );
        assert_eq!(usage, None);

        let mut turn = TurnBuilder::default();
        let error = turn.apply(r#"{"error":{"message":"overloaded","type":"server_error"}}"#);
        assert_eq!(error.unwrap_err(), "error in the stream: overloaded");
        assert!(turn.apply("not json").is_err());
        assert!(
            turn.apply(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#)
                .is_ok()
        );
        let cut = turn.finish(false).unwrap_err();
        assert!(
            cut.contains("before the answer was complete (1 chunks)"),
            "{cut}"
        );
    }
}
