//! The sandbox model: "sandbox (scripted, not a language model)".
//!
//! Our own OpenAI-compatible Chat Completions server for development, tests and the offline
//! demo, as the sandbox payment gateway is for payments. It is not a language model: a fixed,
//! deterministic script reads the last user message (a small phrase book in English and
//! Chinese, see `intent`) and the tool results after it, and either calls the shopping
//! assistant's next tool or answers in text. It acts only on the user's words, never on
//! text inside tool results.
//!
//! It speaks the wire protocol as OpenAI does (what `async-openai` parses):
//! `POST <base>/chat/completions`, whole (`chat.completion`) or streamed
//! (`chat.completion.chunk` server-sent events, usage when `stream_options.include_usage`,
//! then `[DONE]`), and `GET <base>/models`. Any `Authorization` is accepted. Tests queue
//! failures (rate limits, server errors, cut streams, broken tool arguments) with
//! [`SandboxModel::fail_next`].

mod intent;
mod replies;
mod script;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};

use script::Reply;
use wire::{Completion, WireToolCall};

/// The model name the sandbox lists (it answers to any name it is asked for).
pub const SANDBOX_MODEL_NAME: &str = "sandbox";

/// What the sandbox says it is, in `/v1/models`.
const DESCRIPTION: &str = "sandbox (scripted, not a language model)";

/// How long a cut response waits after its last bytes before the connection drops.
const CUT_DELAY: Duration = Duration::from_millis(20);

/// How one response fails, for tests (taken from a FIFO queue, one per request).
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 with `Retry-After: <secs>` and an OpenAI-style error body.
    TooManyRequests { retry_after_seconds: u64 },
    /// 500 with an OpenAI-style error body.
    ServerError,
    /// A streamed reply whose connection ends (no finish_reason, no [DONE]) after this many
    /// chunks (non-streaming requests: the body is cut in the middle).
    CutStream { after_chunks: usize },
    /// The next tool call the script makes carries arguments that are not valid JSON (e.g.
    /// `{"query": `) — if the script would answer with text instead, this failure waits for
    /// the next request that makes a tool call.
    InvalidToolArguments,
}

/// The scripted Chat Completions server (see the module docs).
#[derive(Debug)]
pub struct SandboxModel {
    latency: Duration,
    failures: Mutex<VecDeque<Failure>>,
    requests: AtomicU64,
    tool_calls: AtomicU64,
}

impl SandboxModel {
    /// `latency`: waited before the first byte of every response (benchmarks use 200 ms).
    pub fn new(latency: Duration) -> Arc<Self> {
        Arc::new(SandboxModel {
            latency,
            failures: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            tool_calls: AtomicU64::new(0),
        })
    }

    /// Queues a failure for a coming request.
    pub fn fail_next(&self, failure: Failure) {
        self.queue().push_back(failure);
    }

    /// Requests answered so far (any outcome).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Routes serving `POST /v1/chat/completions` (and `GET /v1/models` listing one model
    /// "sandbox"): mount under any prefix; the base URL clients use is `<that prefix>/v1`.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(self))
    }

    /// Serves `routes()` on 127.0.0.1:0 in a spawned task; returns the base URL
    /// `http://127.0.0.1:<port>/v1`.
    pub async fn serve(self: &Arc<Self>) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = self.routes();
        // Streamed chunks go out at once, as a model's API sends them (Nagle would hold each
        // behind the client's delayed ACK).
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "the sandbox model stopped serving");
            }
        });
        Ok(format!("http://{address}/v1"))
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Failure>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The failure for this request, if one is queued and applies (an invalid-arguments
    /// failure at the head waits for a reply that calls a tool).
    fn take_failure(&self, calls_tool: bool) -> Option<Failure> {
        let mut queue = self.queue();
        match queue.front()? {
            Failure::InvalidToolArguments if !calls_tool => None,
            _ => queue.pop_front(),
        }
    }

    fn answer(&self, number: u64, body: &[u8]) -> Response {
        let request = match serde_json::from_slice::<Value>(body) {
            Ok(request @ Value::Object(_)) => request,
            Ok(_) => return bad_request("The request body must be a JSON object."),
            Err(error) => {
                return bad_request(&format!(
                    "We could not parse the JSON body of your request: {error}"
                ));
            }
        };
        let Some(messages) = request.get("messages").and_then(Value::as_array) else {
            return bad_request("'messages' is a required property and must be an array.");
        };
        let reply = script::respond(messages);
        let failure = self.take_failure(reply.is_tool_call());
        tracing::debug!(request = number, ?reply, ?failure, "sandbox model answers");
        let after_chunks = match failure {
            Some(Failure::TooManyRequests {
                retry_after_seconds,
            }) => return too_many_requests(retry_after_seconds),
            Some(Failure::ServerError) => return server_error(),
            Some(Failure::CutStream { after_chunks }) => Some(after_chunks),
            Some(Failure::InvalidToolArguments) | None => None,
        };
        let broken = matches!(failure, Some(Failure::InvalidToolArguments));
        let completion = self.completion(number, &request, messages, reply, broken);
        if request.get("stream").and_then(Value::as_bool) == Some(true) {
            let include_usage =
                request.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
            let mut events = wire::stream_events(&completion, include_usage);
            if let Some(after) = after_chunks {
                events.events.truncate(after.min(events.finish_at));
            }
            let body = body_of(events.events, after_chunks.is_some());
            let headers = [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ];
            (headers, body).into_response()
        } else {
            let mut text = wire::completion_body(&completion).to_string();
            if after_chunks.is_some() {
                let mut at = text.len() / 2;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            let body = body_of(vec![text], after_chunks.is_some());
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }

    fn completion(
        &self,
        number: u64,
        request: &Value,
        messages: &[Value],
        reply: Reply,
        broken: bool,
    ) -> Completion {
        let (content, mut tool_calls) = match reply {
            Reply::Text(text) => (Some(text), Vec::new()),
            Reply::ToolCalls(calls) => {
                let calls = calls.into_iter().map(|call| WireToolCall {
                    id: format!(
                        "call_{}",
                        self.tool_calls.fetch_add(1, Ordering::SeqCst) + 1
                    ),
                    name: call.name,
                    arguments: call.arguments,
                });
                (None, calls.collect::<Vec<_>>())
            }
        };
        if broken && let Some(call) = tool_calls.first_mut() {
            call.arguments = broken_arguments(&call.arguments);
        }
        let reply_chars = content.as_deref().map_or(0, |t| t.chars().count())
            + tool_calls
                .iter()
                .map(|c| c.name.chars().count() + c.arguments.chars().count())
                .sum::<usize>();
        let model = request
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(SANDBOX_MODEL_NAME);
        Completion {
            id: format!("chatcmpl-sandbox-{number}"),
            created: u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0),
            model: model.to_string(),
            content,
            tool_calls,
            prompt_tokens: wire::estimate_tokens(prompt_chars(messages)),
            completion_tokens: wire::estimate_tokens(reply_chars),
        }
    }
}

/// The characters of the prompt: every message's text and tool call arguments.
fn prompt_chars(messages: &[Value]) -> usize {
    messages
        .iter()
        .map(|message| {
            let calls = message.get("tool_calls").and_then(Value::as_array);
            let arguments: usize = calls
                .into_iter()
                .flatten()
                .filter_map(|c| c.pointer("/function/arguments").and_then(Value::as_str))
                .map(|a| a.chars().count())
                .sum();
            script::content_text(message.get("content")).chars().count() + arguments
        })
        .sum()
}

/// Valid arguments made invalid: cut after the first key (`{"query": `), or `{`.
fn broken_arguments(arguments: &str) -> String {
    match arguments.find(':') {
        Some(at) => format!("{} ", &arguments[..=at]),
        None => "{".to_string(),
    }
}

/// A body of these pieces; when `cut`, the connection then drops (no clean end).
fn body_of(pieces: Vec<String>, cut: bool) -> Body {
    let pieces = futures::stream::iter(
        pieces
            .into_iter()
            .map(|piece| Ok::<_, std::io::Error>(Bytes::from(piece))),
    );
    if !cut {
        return Body::from_stream(pieces);
    }
    let drop = futures::stream::once(async {
        tokio::time::sleep(CUT_DELAY).await;
        Err(std::io::Error::other(
            "the sandbox model cut this response (a scripted failure)",
        ))
    });
    Body::from_stream(pieces.chain(drop))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    let body = wire::error_body(message, "invalid_request_error", None);
    json_response(StatusCode::BAD_REQUEST, body)
}

fn too_many_requests(retry_after_seconds: u64) -> Response {
    let message = format!(
        "Rate limit reached for model `{SANDBOX_MODEL_NAME}` (a scripted failure of the \
         sandbox). Please try again in {retry_after_seconds}s."
    );
    let body = wire::error_body(&message, "requests", Some("rate_limit_exceeded"));
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_seconds.into());
    response
}

fn server_error() -> Response {
    let message = "The sandbox model failed on purpose (a scripted server error).";
    let body = wire::error_body(message, "server_error", None);
    json_response(StatusCode::INTERNAL_SERVER_ERROR, body)
}

async fn chat_completions(State(model): State<Arc<SandboxModel>>, body: Bytes) -> Response {
    if !model.latency.is_zero() {
        tokio::time::sleep(model.latency).await;
    }
    let number = model.requests.fetch_add(1, Ordering::SeqCst) + 1;
    model.answer(number, &body)
}

async fn models(State(model): State<Arc<SandboxModel>>) -> Response {
    if !model.latency.is_zero() {
        tokio::time::sleep(model.latency).await;
    }
    let body = json!({
        "object": "list",
        "data": [{
            "id": SANDBOX_MODEL_NAME,
            "object": "model",
            "created": 0,
            "owned_by": DESCRIPTION,
            "description": DESCRIPTION,
        }],
    });
    json_response(StatusCode::OK, body)
}
