use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse, FinishReason, Role,
};
use serde_json::{Value, json};

use super::{parse_sse, reassemble};
use crate::sandbox_model::broken_arguments;
use crate::sandbox_model::wire::{
    Completion, WireToolCall, completion_body, estimate_tokens, split_arguments, split_text,
    stream_events,
};

fn completion(content: Option<&str>, tool_calls: Vec<WireToolCall>) -> Completion {
    Completion {
        id: "chatcmpl-sandbox-1".to_string(),
        created: 1_765_000_000,
        model: "sandbox".to_string(),
        content: content.map(str::to_string),
        tool_calls,
        prompt_tokens: 12,
        completion_tokens: 5,
    }
}

fn search_call() -> WireToolCall {
    WireToolCall {
        id: "call_7".to_string(),
        name: "search_products".to_string(),
        arguments: json!({ "query": "wireless earbuds" }).to_string(),
    }
}

#[test]
fn text_splits_word_by_word_and_joins_back() {
    assert_eq!(
        split_text("I found 2 products"),
        ["I ", "found ", "2 ", "products"]
    );
    for text in [
        "为您找到 3 件商品：\n1. 无线耳机 — ¥199.00（有货）",
        "  a\n\nb  ",
        "",
    ] {
        let pieces = split_text(text);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.chars().count() <= 8), "{pieces:?}");
    }
}

#[test]
fn arguments_split_in_at_least_two_pieces() {
    for arguments in ["{}", r#"{"query":"x"}"#, &"x".repeat(100)] {
        let pieces = split_arguments(arguments);
        assert!(pieces.len() >= 2, "{pieces:?}");
        assert_eq!(pieces.concat(), arguments);
    }
}

#[test]
fn tokens_are_a_quarter_of_the_characters() {
    assert_eq!(estimate_tokens(0), 1);
    assert_eq!(estimate_tokens(4), 1);
    assert_eq!(estimate_tokens(5), 2);
}

#[test]
fn broken_arguments_are_not_json() {
    assert_eq!(broken_arguments(r#"{"query":"mugs"}"#), r#"{"query": "#);
    assert_eq!(broken_arguments("{}"), "{");
    for arguments in [r#"{"query":"mugs"}"#, "{}"] {
        assert!(serde_json::from_str::<Value>(&broken_arguments(arguments)).is_err());
    }
}

#[test]
fn whole_completions_parse_as_async_openai_types() {
    let text = completion_body(&completion(Some("Hello there"), Vec::new()));
    let text: CreateChatCompletionResponse = serde_json::from_value(text).expect("parses");
    assert_eq!(text.object, "chat.completion");
    let choice = &text.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(choice.message.content.as_deref(), Some("Hello there"));
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(text.usage.as_ref().map(|u| u.total_tokens), Some(17));

    let call = completion_body(&completion(None, vec![search_call()]));
    assert!(call["choices"][0]["message"]["content"].is_null());
    let call: CreateChatCompletionResponse = serde_json::from_value(call).expect("parses");
    assert_eq!(call.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    let calls = call.choices[0]
        .message
        .tool_calls
        .as_ref()
        .expect("tool calls");
    let ChatCompletionMessageToolCalls::Function(function) = &calls[0] else {
        panic!("not a function call");
    };
    assert_eq!(function.id, "call_7");
    assert_eq!(function.function.name, "search_products");
    assert_eq!(
        function.function.arguments,
        r#"{"query":"wireless earbuds"}"#
    );
}

#[test]
fn a_streamed_tool_call_reassembles_to_valid_arguments() {
    let events = stream_events(&completion(None, vec![search_call()]), true);
    assert!(
        events
            .events
            .iter()
            .all(|e| e.starts_with("data: ") && e.ends_with("\n\n"))
    );
    assert_eq!(
        events.events.last().map(String::as_str),
        Some("data: [DONE]\n\n")
    );
    let (chunks, done) = parse_sse(&events.events.concat());
    assert!(done);
    for chunk in &chunks {
        let parsed: CreateChatCompletionStreamResponse =
            serde_json::from_value(chunk.clone()).expect("a chunk async-openai parses");
        assert_eq!(parsed.object, "chat.completion.chunk");
        assert_eq!(parsed.id, "chatcmpl-sandbox-1");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let pieces: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(pieces[0]["id"], "call_7");
    assert_eq!(pieces[0]["type"], "function");
    assert_eq!(pieces[0]["function"]["name"], "search_products");
    for piece in &pieces[1..] {
        assert_eq!(piece["index"], 0);
        assert!(piece.get("id").is_none() && piece["function"].get("name").is_none());
    }
    let (text, calls) = reassemble(&chunks);
    assert_eq!(text, "");
    assert_eq!(calls.len(), 1);
    let (id, name, arguments) = &calls[0];
    assert_eq!((id.as_str(), name.as_str()), ("call_7", "search_products"));
    let arguments: Value = serde_json::from_str(arguments).expect("valid JSON arguments");
    assert_eq!(arguments, json!({ "query": "wireless earbuds" }));

    let finish = &chunks[events.finish_at];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage = chunks.last().expect("a usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 17);
    assert!(
        chunks[..events.finish_at]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
}

#[test]
fn a_streamed_text_comes_word_by_word_without_usage_unless_asked() {
    let events = stream_events(&completion(Some("Your cart is empty."), Vec::new()), false);
    let (chunks, done) = parse_sse(&events.events.concat());
    assert!(done);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "" })
    );
    let contents: Vec<&str> = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(contents, ["Your ", "cart ", "is ", "empty."]);
    assert_eq!(reassemble(&chunks).0, "Your cart is empty.");
    assert_eq!(events.finish_at, chunks.len() - 1);
    let last = chunks.last().expect("the finish chunk");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}
