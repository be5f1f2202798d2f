//! The language model client: one streamed Chat Completions call at a time against an
//! OpenAI-compatible endpoint (Volcengine Ark/Doubao, OpenAI, a llama.cpp server, the
//! [sandbox model](crate::sandbox_model)), with tools.
//!
//! The request and the stream's chunks are async-openai's types, but the HTTP exchange is our
//! own (reqwest + a small SSE reader, [`stream`]): async-openai 0.43 drops the headers of an
//! error answer (so a 429's `Retry-After` is lost) and ends its stream the same way on
//! `[DONE]` and on a connection cut mid-answer. It has no retries of its own without its
//! `middleware` feature; the retries here are the only ones.
//!
//! Each completion is tried up to `1 + max_retries` times:
//! - a 429 waits `Retry-After` (or `retry-after-ms`; 1 s when neither is given), at most
//!   `max_retry_wait`, then tries again;
//! - no connection, a timeout (`timeout` bounds one attempt, connect and whole stream), a 5xx,
//!   an unreadable chunk or a stream that ends before its `finish_reason`/`[DONE]` is tried
//!   again after a short back-off, but only while no text has been sent to the caller's
//!   `deltas` (the user already saw it: the caller decides);
//! - any other 4xx is [`ModelError::Refused`] at once.
//!
//! Every attempt goes through one circuit breaker ([`service_kit::calls::Target`], "the
//! language model", shared by the clones of a client): consecutive failures (not 4xx answers,
//! not 429s) open it, and while it is open a call is `Unavailable("circuit open")` at once.
//!
//! Metrics: `assistant_model_seconds{outcome}` per completion (retries included),
//! `assistant_model_tokens_total{direction="in"|"out"}` (estimated at 4 characters a token
//! when the endpoint reports no usage), `assistant_model_retries_total{reason}`. Traces: the
//! span `model.complete`. Message contents and the API key are never logged.

mod request;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use service_kit::ApiError;
use service_kit::calls::{Attempt, Target};
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument as _;

/// The breaker's name, as clients see it in `UNAVAILABLE` errors.
const TARGET: &str = "the language model";
/// The wait after a 429 without `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The first back-off after a failed attempt (doubling, capped at `max_retry_wait`).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// How much of an error answer's body is kept for the log.
const DETAIL_CHARS: usize = 300;

/// Where and how to call the model.
#[derive(Clone)]
pub struct ModelSettings {
    /// Base URL of the OpenAI-compatible API, e.g. `https://ark.cn-beijing.volces.com/api/v3`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Model or endpoint id (`ep-…` on Ark).
    pub model: String,
    /// Whole-call bound per attempt (connect + full stream).
    pub timeout: Duration,
    /// Retries after a 429 (honouring `Retry-After`, capped at `max_retry_wait`) or a failure
    /// before any text was streamed.
    pub max_retries: u32,
    pub max_retry_wait: Duration,
    /// max_tokens per completion
    pub max_tokens: u32,
}

impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

/// A message of the conversation sent to the model.
#[derive(Clone, Debug)]
pub enum ChatMessage {
    System(String),
    User(String),
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

/// A tool call of the model, whole: `arguments` is the JSON text the model wrote (`{}` when it
/// wrote none), not checked here.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool offered to the model; `parameters` is its JSON Schema.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: serde_json::Value,
}

/// One whole answer of the model.
#[derive(Clone, Debug, Default)]
pub struct ModelTurn {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// As the endpoint wrote it (`stop`, `tool_calls`, `length`, `content_filter`…); `None`
    /// when the stream ended with `[DONE]` but without one.
    pub finish_reason: Option<String>,
    pub usage: Usage,
}

/// Tokens of one completion: the endpoint's count, or an estimate (4 characters a token) when
/// it reported none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Why a completion has no answer.
#[derive(Clone, Debug)]
pub enum ModelError {
    /// Not reachable, timed out, 5xx, a stream cut before `finish_reason`/[DONE], the breaker
    /// open, 429 still after the retries.
    Unavailable(String),
    /// The endpoint refused the request (4xx other than 429: bad key, unknown model, context
    /// too long).
    Refused(String),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(detail) => write!(f, "the language model is unavailable: {detail}"),
            Self::Refused(detail) => write!(f, "the language model refused the request: {detail}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<ModelError> for ApiError {
    /// Either way the client learns only that the model is unavailable; the detail is logged.
    fn from(error: ModelError) -> Self {
        tracing::warn!(error = %error, "language model call failed");
        ApiError::Unavailable(TARGET)
    }
}

/// The client of one model endpoint (cheap to clone; clones share the circuit breaker).
#[derive(Clone)]
pub struct ModelClient {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    model: String,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    max_tokens: u32,
    target: Target,
}

impl std::fmt::Debug for ModelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelClient")
            .field("url", &self.inner.url)
            .field("model", &self.inner.model)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended, other than with a turn.
enum Failure {
    /// 429, with the wait the endpoint asked for.
    RateLimited(Duration),
    /// Any other 4xx: an answer, never retried.
    Refused(String),
    /// No usable answer: a breaker failure, retried while nothing was shown.
    Failed(String),
    /// The breaker is open: not tried.
    CircuitOpen,
}

impl ModelClient {
    pub fn new(settings: &ModelSettings) -> anyhow::Result<Self> {
        let base = settings.base_url.trim_end_matches('/');
        let url = format!("{base}/chat/completions");
        reqwest::Url::parse(&url)
            .map_err(|e| anyhow::anyhow!("model base URL {base:?} is not a URL: {e}"))?;
        anyhow::ensure!(!settings.model.trim().is_empty(), "no model id given");
        anyhow::ensure!(!settings.timeout.is_zero(), "the model timeout is zero");
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                http,
                url,
                api_key: settings.api_key.clone().filter(|key| !key.is_empty()),
                model: settings.model.clone(),
                timeout: settings.timeout,
                max_retries: settings.max_retries,
                max_retry_wait: settings.max_retry_wait,
                max_tokens: settings.max_tokens,
                target: Target::new(TARGET),
            }),
        })
    }

    /// One streamed completion. Each text delta is sent to `deltas` (if given) as it arrives,
    /// in order; tool-call deltas are accumulated (by index) into whole calls. Returns the
    /// whole turn.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        deltas: Option<&UnboundedSender<String>>,
    ) -> Result<ModelTurn, ModelError> {
        let span = tracing::info_span!(
            "model.complete",
            model = %self.inner.model,
            messages = messages.len(),
            tools = tools.len(),
            prompt_tokens = tracing::field::Empty,
            completion_tokens = tracing::field::Empty,
            finish_reason = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .with_retries(messages, tools, deltas)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ModelError::Unavailable(_)) => "unavailable",
            Err(ModelError::Refused(_)) => "refused",
        };
        metrics::histogram!("assistant_model_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        span.record("outcome", outcome);
        if let Ok(turn) = &result {
            span.record("prompt_tokens", turn.usage.prompt_tokens);
            span.record("completion_tokens", turn.usage.completion_tokens);
            if let Some(reason) = &turn.finish_reason {
                span.record("finish_reason", reason.as_str());
            }
            metrics::counter!("assistant_model_tokens_total", "direction" => "in")
                .increment(turn.usage.prompt_tokens.into());
            metrics::counter!("assistant_model_tokens_total", "direction" => "out")
                .increment(turn.usage.completion_tokens.into());
        }
        result
    }

    async fn with_retries(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        deltas: Option<&UnboundedSender<String>>,
    ) -> Result<ModelTurn, ModelError> {
        let inner = &*self.inner;
        let body = request::body(&inner.model, inner.max_tokens, messages, tools)
            .map_err(|e| ModelError::Refused(format!("request not encodable: {e}")))?;
        // Set once a text delta went to `deltas`: from then on a failure is not retried.
        let shown = AtomicBool::new(false);
        let mut retries = 0;
        loop {
            let (reason, wait, detail) = match self.attempt(&body, deltas, &shown).await {
                Ok((mut turn, usage)) => {
                    turn.usage = usage.unwrap_or_else(|| Usage {
                        prompt_tokens: request::estimate_prompt_tokens(messages, tools),
                        completion_tokens: stream::estimate_completion_tokens(&turn),
                    });
                    return Ok(turn);
                }
                Err(Failure::Refused(detail)) => return Err(ModelError::Refused(detail)),
                Err(Failure::CircuitOpen) => {
                    return Err(ModelError::Unavailable("circuit open".into()));
                }
                Err(Failure::RateLimited(asked)) => (
                    "rate_limited",
                    asked.min(inner.max_retry_wait),
                    "rate limited (429)".to_owned(),
                ),
                Err(Failure::Failed(detail)) if shown.load(Ordering::Relaxed) => {
                    return Err(ModelError::Unavailable(format!(
                        "{detail} (after text was streamed)"
                    )));
                }
                Err(Failure::Failed(detail)) => ("failed", backoff(retries, inner), detail),
            };
            if retries >= inner.max_retries {
                return Err(ModelError::Unavailable(if retries == 0 {
                    detail
                } else {
                    format!("{detail}, still after {retries} retries")
                }));
            }
            retries += 1;
            metrics::counter!("assistant_model_retries_total", "reason" => reason).increment(1);
            tracing::info!(
                reason,
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                %detail,
                "language model call retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One try through the breaker, bounded by the timeout: the turn and the usage the
    /// endpoint reported.
    async fn attempt(
        &self,
        body: &[u8],
        deltas: Option<&UnboundedSender<String>>,
        shown: &AtomicBool,
    ) -> Result<(ModelTurn, Option<Usage>), Failure> {
        let inner = &*self.inner;
        // What went wrong when the breaker is told `Failed` (its error says only "unavailable").
        let failed = OnceLock::new();
        let answer = inner
            .target
            .call(false, || async {
                let exchange = self.exchange(body, deltas, shown);
                let outcome = tokio::time::timeout(inner.timeout, exchange)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::Failed(format!(
                            "no whole answer within {:?}",
                            inner.timeout
                        )))
                    });
                match outcome {
                    Err(Failure::Failed(detail)) => {
                        let _ = failed.set(detail);
                        Attempt::Failed
                    }
                    answer => Attempt::Answer(Ok(answer)),
                }
            })
            .await;
        match answer {
            Ok(answer) => answer,
            Err(_) => Err(match failed.into_inner() {
                Some(detail) => Failure::Failed(detail),
                None => Failure::CircuitOpen,
            }),
        }
    }

    /// The HTTP request and its streamed answer.
    async fn exchange(
        &self,
        body: &[u8],
        deltas: Option<&UnboundedSender<String>>,
        shown: &AtomicBool,
    ) -> Result<(ModelTurn, Option<Usage>), Failure> {
        let inner = &*self.inner;
        let mut request = inner
            .http
            .post(&inner.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body.to_vec());
        if let Some(key) = &inner.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Failed(stream::describe(&e)))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::RateLimited(retry_after(response.headers())));
        }
        if !status.is_success() {
            let detail = format!("{status}: {}", error_detail(response).await);
            return Err(if status.is_client_error() {
                Failure::Refused(detail)
            } else {
                Failure::Failed(detail)
            });
        }
        stream::read(response, deltas, shown)
            .await
            .map_err(Failure::Failed)
    }
}

/// The wait a 429 asks for: `retry-after-ms` (OpenAI) or `Retry-After` in seconds; an HTTP
/// date or no header at all counts as 1 s.
fn retry_after(headers: &HeaderMap) -> Duration {
    let number = |name| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let seconds = number("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| number(RETRY_AFTER.as_str()));
    seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

/// The pause before retry `retries + 1` after a failure: 200 ms doubling, jittered by up to a
/// half, capped at `max_retry_wait`.
fn backoff(retries: u32, inner: &Inner) -> Duration {
    let pause = FIRST_BACKOFF.saturating_mul(1 << retries.min(16));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or_default();
    let jitter = pause.mul_f64(f64::from(nanos % 1000) / 2000.0);
    (pause + jitter).min(inner.max_retry_wait)
}

/// What an error answer says: the OpenAI error object's message, else the start of the body.
async fn error_detail(response: reqwest::Response) -> String {
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| {
            let error = value.get("error")?;
            Some(match error.get("message").and_then(|m| m.as_str()) {
                Some(message) => message.to_owned(),
                None => error.to_string(),
            })
        })
        .unwrap_or(body);
    let message = message.trim();
    match message.char_indices().nth(DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None if message.is_empty() => "(no detail)".to_owned(),
        None => message.to_owned(),
    }
}
