//! The client against the sandbox model (and, for what the sandbox does not do, a fixed
//! answer served by a small axum route).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::sandbox_model::{Failure as Scripted, SandboxModel};

fn settings(base_url: &str, max_retries: u32) -> ModelSettings {
    ModelSettings {
        base_url: base_url.to_owned(),
        api_key: Some("sk-test".to_owned()),
        model: "sandbox".to_owned(),
        timeout: Duration::from_secs(10),
        max_retries,
        max_retry_wait: Duration::from_secs(5),
        max_tokens: 512,
    }
}

async fn sandbox(max_retries: u32) -> (std::sync::Arc<SandboxModel>, ModelClient) {
    let model = SandboxModel::new(Duration::ZERO);
    let url = model.serve().await.expect("sandbox serves");
    let client = ModelClient::new(&settings(&url, max_retries)).expect("client");
    (model, client)
}

fn user(text: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::System("You are the shopping assistant.".into()),
        ChatMessage::User(text.into()),
    ]
}

fn search_tool() -> ToolSpec {
    ToolSpec {
        name: "search_products",
        description: "Search the catalog.",
        parameters: json!({
            "type": "object",
            "properties": { "query": { "type": "string" } },
            "required": ["query"],
        }),
    }
}

/// Serves one fixed answer on `/v1/chat/completions`; the base URL.
async fn fixed(
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> String {
    let route = axum::routing::post(move || {
        let headers = headers.clone();
        async move {
            let mut response = axum::response::IntoResponse::into_response((status, body));
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header"));
            }
            response
        }
    });
    let app = axum::Router::new().route("/v1/chat/completions", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/v1")
}

fn unavailable(result: Result<ModelTurn, ModelError>) -> String {
    match result {
        Err(ModelError::Unavailable(detail)) => detail,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_streamed_text_reply_arrives_as_deltas_in_order() {
    let (model, client) = sandbox(0).await;
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let turn = client
        .complete(&user("hello"), &[search_tool()], Some(&sender))
        .await
        .expect("turn");
    let mut deltas = Vec::new();
    while let Ok(delta) = receiver.try_recv() {
        deltas.push(delta);
    }
    assert!(deltas.len() > 3, "one delta per word: {deltas:?}");
    assert_eq!(deltas.concat(), turn.text);
    assert!(turn.text.contains("shopping assistant"), "{}", turn.text);
    assert!(turn.tool_calls.is_empty());
    assert_eq!(turn.finish_reason.as_deref(), Some("stop"));
    assert_eq!(model.requests(), 1);
}

#[tokio::test]
async fn find_calls_the_search_tool_and_its_result_gets_a_text_answer() {
    let (_model, client) = sandbox(0).await;
    let mut messages = user("find phone");
    let turn = client
        .complete(&messages, &[search_tool()], None)
        .await
        .expect("turn");
    assert_eq!(turn.tool_calls.len(), 1, "{turn:?}");
    let call = &turn.tool_calls[0];
    assert_eq!(call.name, "search_products");
    assert!(!call.id.is_empty());
    let arguments: Value = serde_json::from_str(&call.arguments).expect("JSON arguments");
    assert_eq!(arguments, json!({ "query": "phone" }));
    assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"));
    assert!(turn.text.is_empty());

    // The call and its result go back; the answer is text.
    messages.push(ChatMessage::Assistant {
        text: String::new(),
        tool_calls: turn.tool_calls.clone(),
    });
    let result =
        json!({ "products": [{ "name": "Phone X", "price": "999.00", "in_stock": true }] });
    messages.push(ChatMessage::Tool {
        call_id: call.id.clone(),
        content: result.to_string(),
    });
    let answer = client
        .complete(&messages, &[search_tool()], None)
        .await
        .expect("answer");
    assert!(answer.tool_calls.is_empty(), "{answer:?}");
    assert!(!answer.text.is_empty());
}

#[tokio::test]
async fn usage_is_the_endpoints_and_estimated_when_it_reports_none() {
    let (_model, client) = sandbox(0).await;
    let turn = client
        .complete(&user("hello"), &[], None)
        .await
        .expect("turn");
    assert!(
        turn.usage.prompt_tokens > 0 && turn.usage.completion_tokens > 0,
        "{:?}",
        turn.usage
    );

    // No usage chunk, no [DONE]: complete by its finish_reason, 4 characters a token.
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"12345678\"}}]}\n\n\
                data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let url = fixed(
        StatusCode::OK,
        vec![("content-type", "text/event-stream")],
        body,
    )
    .await;
    let client = ModelClient::new(&settings(&url, 0)).expect("client");
    let messages = vec![ChatMessage::User("abcdefghij".into())];
    let turn = client.complete(&messages, &[], None).await.expect("turn");
    assert_eq!(turn.text, "12345678");
    assert_eq!(
        turn.usage,
        Usage {
            prompt_tokens: 3,
            completion_tokens: 2
        }
    );
}

#[tokio::test]
async fn a_429_waits_its_retry_after_then_succeeds() {
    let (model, client) = sandbox(2).await;
    model.fail_next(Scripted::TooManyRequests {
        retry_after_seconds: 1,
    });
    let started = Instant::now();
    let turn = client
        .complete(&user("hello"), &[], None)
        .await
        .expect("turn after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert!(!turn.text.is_empty());
    assert_eq!(model.requests(), 2);
}

#[tokio::test]
async fn a_429_still_after_the_retries_is_unavailable_and_no_breaker_failure() {
    let url = fixed(
        StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "0")],
        "{}",
    )
    .await;
    let client = ModelClient::new(&settings(&url, 1)).expect("client");
    for _ in 0..6 {
        let detail = unavailable(client.complete(&user("hello"), &[], None).await);
        assert!(detail.contains("429"), "{detail}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_unavailable_beyond_the_retries() {
    let (model, client) = sandbox(2).await;
    model.fail_next(Scripted::ServerError);
    model.fail_next(Scripted::ServerError);
    client
        .complete(&user("hello"), &[], None)
        .await
        .expect("third try answers");
    assert_eq!(model.requests(), 3);

    for _ in 0..3 {
        model.fail_next(Scripted::ServerError);
    }
    let detail = unavailable(client.complete(&user("hello"), &[], None).await);
    assert!(detail.contains("500"), "{detail}");
    assert_eq!(model.requests(), 6);
}

#[tokio::test]
async fn a_cut_stream_is_unavailable_and_retried_only_while_nothing_was_shown() {
    let (model, client) = sandbox(0).await;
    model.fail_next(Scripted::CutStream { after_chunks: 3 });
    unavailable(client.complete(&user("hello"), &[], None).await);

    // Text already went to the caller: no retry.
    let (model, client) = sandbox(2).await;
    model.fail_next(Scripted::CutStream { after_chunks: 3 });
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let detail = unavailable(client.complete(&user("hello"), &[], Some(&sender)).await);
    assert!(detail.contains("after text was streamed"), "{detail}");
    assert!(receiver.try_recv().is_ok(), "some text was shown");
    assert_eq!(model.requests(), 1);

    // Nothing shown (no `deltas`): retried.
    model.fail_next(Scripted::CutStream { after_chunks: 3 });
    client
        .complete(&user("hello"), &[], None)
        .await
        .expect("retried");
    assert_eq!(model.requests(), 3);
}

#[tokio::test]
async fn a_closed_port_is_unavailable_quickly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let client =
        ModelClient::new(&settings(&format!("http://127.0.0.1:{port}/v1"), 1)).expect("client");
    let started = Instant::now();
    unavailable(client.complete(&user("hello"), &[], None).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_attempt_is_bounded_by_the_timeout() {
    let model = SandboxModel::new(Duration::from_secs(5));
    let url = model.serve().await.expect("sandbox serves");
    let mut settings = settings(&url, 0);
    settings.timeout = Duration::from_millis(300);
    let client = ModelClient::new(&settings).expect("client");
    let started = Instant::now();
    let detail = unavailable(client.complete(&user("hello"), &[], None).await);
    assert!(detail.contains("within"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn consecutive_failures_open_the_breaker_for_every_clone() {
    let model = SandboxModel::new(Duration::ZERO);
    let url = model.serve().await.expect("sandbox serves");
    let short_waits = ModelSettings {
        max_retry_wait: Duration::from_millis(20),
        ..settings(&url, 4)
    };
    let client = ModelClient::new(&short_waits).expect("client");
    for _ in 0..5 {
        model.fail_next(Scripted::ServerError);
    }
    unavailable(client.complete(&user("hello"), &[], None).await);
    assert_eq!(model.requests(), 5);
    let clone = client.clone();
    for client in [&client, &clone] {
        let detail = unavailable(client.complete(&user("hello"), &[], None).await);
        assert_eq!(detail, "circuit open");
    }
    assert_eq!(model.requests(), 5, "the open breaker let nothing through");
    let error: ApiError = ModelError::Unavailable(String::new()).into();
    assert!(matches!(error, ApiError::Unavailable("the language model")));
}

#[tokio::test]
async fn a_4xx_is_refused_at_once_and_never_opens_the_breaker() {
    let body = r#"{"error":{"message":"The API key is invalid.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let url = fixed(
        StatusCode::UNAUTHORIZED,
        vec![("content-type", "application/json")],
        body,
    )
    .await;
    let client = ModelClient::new(&settings(&url, 3)).expect("client");
    for _ in 0..7 {
        match client.complete(&user("hello"), &[], None).await {
            Err(ModelError::Refused(detail)) => {
                assert_eq!(detail, "401 Unauthorized: The API key is invalid.");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
    }
    let error: ApiError = ModelError::Refused(String::new()).into();
    assert!(matches!(error, ApiError::Unavailable("the language model")));
}

#[test]
fn retry_after_reads_seconds_or_milliseconds_and_defaults_to_a_second() {
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("value"));
        }
        map
    };
    assert_eq!(
        retry_after(&headers(&[("retry-after", "3")])),
        Duration::from_secs(3)
    );
    assert_eq!(
        retry_after(&headers(&[("retry-after", "3"), ("retry-after-ms", "250")])),
        Duration::from_millis(250)
    );
    let date = [("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")];
    assert_eq!(retry_after(&headers(&date)), Duration::from_secs(1));
    assert_eq!(
        retry_after(&headers(&[("retry-after", "-4")])),
        Duration::from_secs(1)
    );
    assert_eq!(retry_after(&headers(&[])), Duration::from_secs(1));
}

#[test]
fn settings_and_clients_never_show_the_key() {
    let settings = settings("https://ark.cn-beijing.volces.com/api/v3/", 2);
    assert!(!format!("{settings:?}").contains("sk-test"));
    let client = ModelClient::new(&settings).expect("client");
    let shown = format!("{client:?}");
    assert!(
        shown.contains("https://ark.cn-beijing.volces.com/api/v3/chat/completions"),
        "{shown}"
    );
    assert!(!shown.contains("sk-test"));
    assert!(
        ModelClient::new(&ModelSettings {
            model: String::new(),
            ..settings.clone()
        })
        .is_err()
    );
    assert!(
        ModelClient::new(&ModelSettings {
            base_url: "not a url".into(),
            ..settings
        })
        .is_err()
    );
}
