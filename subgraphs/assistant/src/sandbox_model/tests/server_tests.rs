use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{ChatCompletionMessageToolCalls, CreateChatCompletionRequest};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{parse_sse, reassemble, user};
use crate::sandbox_model::{Failure, SANDBOX_MODEL_NAME, SandboxModel};

fn request(text: &str, stream: bool) -> Value {
    json!({
        "model": SANDBOX_MODEL_NAME,
        "messages": [
            { "role": "system", "content": "You are the Douyin Mall shopping assistant." },
            user(text),
        ],
        "tools": [{ "type": "function", "function": {
            "name": "search_products",
            "description": "Searches the catalog.",
            "parameters": { "type": "object", "properties": { "query": { "type": "string" } } },
        }}],
        "stream": stream,
        "stream_options": if stream { json!({ "include_usage": true }) } else { Value::Null },
        "temperature": 0.2,
    })
}

async fn post(http: &reqwest::Client, base: &str, body: &Value) -> reqwest::Response {
    http.post(format!("{base}/chat/completions"))
        .bearer_auth("sk-anything")
        .json(body)
        .send()
        .await
        .expect("the sandbox answers")
}

#[tokio::test]
async fn serves_whole_and_streamed_replies_and_scripted_failures() {
    let model = SandboxModel::new(Duration::from_millis(5));
    let base = model.serve().await.expect("serves");
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"),
        "{base}"
    );
    let http = reqwest::Client::new();

    // Whole.
    let response = post(&http, &base, &request("find wireless earbuds", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "sandbox");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &message["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "search_products");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("a string"))
            .expect("JSON arguments");
    assert_eq!(arguments, json!({ "query": "wireless earbuds" }));
    assert!(body["usage"]["prompt_tokens"].as_u64() > Some(0));

    // Streamed, with usage.
    let response = post(&http, &base, &request("what is in my cart", true)).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ASCII");
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let (chunks, done) = parse_sse(&response.text().await.expect("text"));
    assert!(done);
    let (_, calls) = reassemble(&chunks);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, "view_cart");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].2).ok(),
        Some(json!({}))
    );
    assert_ne!(
        calls[0].0, message["tool_calls"][0]["id"],
        "tool call ids are unique"
    );
    assert!(chunks.last().expect("usage")["usage"]["total_tokens"].as_u64() > Some(1));

    // 429, then 500, then back to normal.
    model.fail_next(Failure::TooManyRequests {
        retry_after_seconds: 7,
    });
    model.fail_next(Failure::ServerError);
    let response = post(&http, &base, &request("my cart", false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let response = post(&http, &base, &request("my cart", false)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["type"], "server_error");
    let response = post(&http, &base, &request("my cart", false)).await;
    assert_eq!(response.status(), 200);

    // Bad JSON.
    let response = http
        .post(format!("{base}/chat/completions"))
        .body("{not json")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    assert_eq!(model.requests(), 6);

    // The model list.
    let models: Value = http
        .get(format!("{base}/models"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(models["data"][0]["id"], "sandbox");
    assert_eq!(
        models["data"][0]["owned_by"],
        "sandbox (scripted, not a language model)"
    );
}

/// Reads a response chunk by chunk until it ends or breaks: the bytes and whether it broke.
async fn read_all(mut response: reqwest::Response) -> (String, bool) {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8_lossy(&bytes).into_owned(), false),
            Err(_) => return (String::from_utf8_lossy(&bytes).into_owned(), true),
        }
    }
}

#[tokio::test]
async fn cut_streams_and_broken_arguments() {
    let model = SandboxModel::new(Duration::ZERO);
    let base = model.serve().await.expect("serves");
    let http = reqwest::Client::new();

    model.fail_next(Failure::CutStream { after_chunks: 2 });
    let response = post(&http, &base, &request("find wireless earbuds", true)).await;
    assert_eq!(response.status(), 200);
    let (text, broke) = read_all(response).await;
    assert!(broke, "the connection drops");
    let (chunks, done) = parse_sse(&text);
    assert!(!done);
    assert_eq!(chunks.len(), 2);
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );

    model.fail_next(Failure::CutStream { after_chunks: 1 });
    let response = post(&http, &base, &request("hello", false)).await;
    let (text, broke) = read_all(response).await;
    assert!(broke && !text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    // Waits through a text reply, then breaks the next tool call.
    model.fail_next(Failure::InvalidToolArguments);
    let body: Value = post(&http, &base, &request("hello", false))
        .await
        .json()
        .await
        .expect("JSON");
    assert!(body["choices"][0]["message"]["content"].is_string());
    let body: Value = post(&http, &base, &request("find mugs", false))
        .await
        .json()
        .await
        .expect("JSON");
    let arguments = body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .expect("arguments");
    assert_eq!(arguments, r#"{"query": "#);
    let body: Value = post(&http, &base, &request("find mugs", false))
        .await
        .json()
        .await
        .expect("JSON");
    let arguments = body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .expect("arguments");
    assert_eq!(arguments, r#"{"query":"mugs"}"#);
    assert_eq!(model.requests(), 5);
}

#[tokio::test]
async fn async_openai_reads_the_sandbox() {
    let model = SandboxModel::new(Duration::ZERO);
    let base = model.serve().await.expect("serves");
    let config = OpenAIConfig::new()
        .with_api_base(base)
        .with_api_key("sk-sandbox");
    let client = Client::with_config(config);

    let whole: CreateChatCompletionRequest =
        serde_json::from_value(request("buy 2 iPhone 15", false)).expect("a request");
    let response = client.chat().create(whole).await.expect("a completion");
    let calls = response.choices[0]
        .message
        .tool_calls
        .clone()
        .expect("tool calls");
    let ChatCompletionMessageToolCalls::Function(call) = &calls[0] else {
        panic!("not a function call");
    };
    assert_eq!(call.function.name, "search_products");
    assert!(response.usage.is_some());

    let streamed: CreateChatCompletionRequest =
        serde_json::from_value(request("我的订单", true)).expect("a request");
    let mut stream = client
        .chat()
        .create_stream(streamed)
        .await
        .expect("a stream");
    let (mut name, mut arguments, mut finish, mut usage) = (None, String::new(), None, None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a chunk");
        usage = usage.or(chunk.usage);
        for choice in chunk.choices {
            finish = finish.or(choice.finish_reason);
            for piece in choice.delta.tool_calls.unwrap_or_default() {
                let function = piece.function.expect("a function piece");
                name = name.or(function.name);
                arguments.push_str(&function.arguments.unwrap_or_default());
            }
        }
    }
    assert_eq!(name.as_deref(), Some("list_my_orders"));
    assert_eq!(arguments, "{}");
    assert!(finish.is_some() && usage.is_some());

    // A cut stream: the chunks before the cut, then an error, and no finish reason.
    model.fail_next(Failure::CutStream { after_chunks: 2 });
    let streamed: CreateChatCompletionRequest =
        serde_json::from_value(request("find mugs", true)).expect("a request");
    let mut stream = client
        .chat()
        .create_stream(streamed)
        .await
        .expect("a stream");
    let (mut chunks, mut broke) = (0, false);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                assert!(chunk.choices.iter().all(|c| c.finish_reason.is_none()));
                chunks += 1;
            }
            Err(_) => broke = true,
        }
    }
    assert_eq!((chunks, broke), (2, true));

    // The default client retries a 429 after its Retry-After (and 5xx): one more request.
    model.fail_next(Failure::TooManyRequests {
        retry_after_seconds: 1,
    });
    let before = model.requests();
    let started = std::time::Instant::now();
    let whole: CreateChatCompletionRequest =
        serde_json::from_value(request("my cart", false)).expect("a request");
    let response = client.chat().create(whole).await.expect("retried");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(model.requests(), before + 2);
    assert!(response.choices[0].message.tool_calls.is_some());

    // Past its retries, the client reports the error.
    for _ in 0..4 {
        model.fail_next(Failure::TooManyRequests {
            retry_after_seconds: 0,
        });
    }
    let whole: CreateChatCompletionRequest =
        serde_json::from_value(request("my cart", false)).expect("a request");
    match client.chat().create(whole).await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.status_code, 429);
            assert_eq!(error.api_error.code.as_deref(), Some("rate_limit_exceeded"));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
}
