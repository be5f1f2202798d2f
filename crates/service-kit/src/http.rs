//! The HTTP surface of a subgraph: `/graphql` (queries and mutations), `/ws`
//! (graphql-transport-ws subscriptions), `/health` (the process is up) and `/ready`
//! (PostgreSQL and Redis answer, and the subgraph is not stopping).
//!
//! Stopping ([`serve`]) drains first: `/ready` answers 503 and open WebSockets close with
//! 1001 "going away" (their clients subscribe again, to another replica), new requests are
//! still answered for `SHUTDOWN_DELAY_SECONDS` (while load balancers take the replica out),
//! then no new connection is accepted and the requests in flight get up to
//! `SHUTDOWN_TIMEOUT_SECONDS` to finish.
//!
//! GraphQL is answered only for the router (and our own services): the request must carry
//! the shared secret in `x-mall-internal-token` (an HTTP header, or on `/ws` a field of the
//! `connection_init` payload, where the router puts propagated headers). Without it a
//! client could skip the router's checks and ask a subgraph for any entity directly.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::telemetry::TraceParent;
use crate::{ApiError, Stores};

/// Builds the data of one GraphQL request (or one WebSocket connection) from its headers:
/// the authenticated caller and a fresh set of DataLoaders. An error (a bad token, say)
/// answers the request without executing it.
pub type RequestData =
    Arc<dyn Fn(HeaderMap) -> BoxFuture<'static, Result<Data, ApiError>> + Send + Sync>;

struct HttpState<E> {
    executor: E,
    request_data: RequestData,
    stores: Stores,
    gateway_token: Arc<str>,
    parsed: Option<ParsedDocuments>,
    report: Option<ReadinessReport>,
    answers: Option<AnswerCache>,
}

pub use crate::answers::AnswerCache;
use crate::answers::{Lookup, json_response};
pub use crate::readiness::ReadinessReport;

/// What a subgraph may add to the routes every subgraph serves.
#[derive(Default)]
pub struct Extras {
    /// More for `/ready` to report.
    pub report: Option<ReadinessReport>,
    /// Whole answers kept and served again (`crate::answers`).
    pub answers: Option<AnswerCache>,
}

impl<E: Clone> Clone for HttpState<E> {
    fn clone(&self) -> Self {
        Self {
            executor: self.executor.clone(),
            request_data: self.request_data.clone(),
            stores: self.stores.clone(),
            gateway_token: self.gateway_token.clone(),
            parsed: self.parsed.clone(),
            report: self.report.clone(),
            answers: self.answers.clone(),
        }
    }
}

/// Documents already parsed, by their text. The router sends a subgraph the same few
/// documents over and over (one per query-plan fetch, the variables apart), and parsing one
/// cost more than validating it. Only the parse is skipped: every request is still
/// validated and limited (depth, complexity) against the schema.
#[derive(Clone)]
struct ParsedDocuments(
    moka::sync::Cache<Arc<str>, Arc<async_graphql::parser::types::ExecutableDocument>>,
);

impl ParsedDocuments {
    fn new(capacity: u64) -> Option<Self> {
        (capacity > 0).then(|| Self(moka::sync::Cache::new(capacity)))
    }

    /// Gives `request` its parsed document, from the cache or parsed now (a document that
    /// does not parse is left to the executor, which reports the error).
    fn attach(&self, request: &mut async_graphql::Request) {
        if let Some(document) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(document.as_ref().clone());
        } else if let Ok(document) = request.parsed_query() {
            let document = Arc::new(document.clone());
            self.0.insert(Arc::from(request.query.as_str()), document);
        }
    }
}

/// The routes every subgraph serves. GraphQL requests without `INTERNAL_API_TOKEN` are
/// refused.
pub fn subgraph_router<E: Executor>(
    executor: E,
    request_data: RequestData,
    stores: Stores,
    config: &crate::ServiceConfig,
) -> Router {
    subgraph_router_with(executor, request_data, stores, config, Extras::default())
}

/// [`subgraph_router`] with a subgraph's [`Extras`].
pub fn subgraph_router_with<E: Executor>(
    executor: E,
    request_data: RequestData,
    stores: Stores,
    config: &crate::ServiceConfig,
    extras: Extras,
) -> Router {
    Router::new()
        .route("/graphql", post(graphql::<E>))
        .route("/ws", get(websocket::<E>))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready::<E>))
        .with_state(HttpState {
            executor,
            request_data,
            stores,
            gateway_token: Arc::from(config.internal_token.as_str()),
            parsed: ParsedDocuments::new(config.parsed_document_cache),
            report: extras.report,
            answers: extras.answers,
        })
}

fn not_from_the_router() -> ApiError {
    ApiError::Forbidden(
        "this subgraph answers the router only: send GraphQL to the router's endpoint".into(),
    )
}

/// A response of one error, before any field ran (no location to point at).
fn refused(error: ApiError) -> GraphQLResponse {
    let mut error = async_graphql::Error::from(error).into_server_error(Default::default());
    error.locations.clear();
    async_graphql::Response::from_errors(vec![error]).into()
}

async fn graphql<E: Executor>(
    State(state): State<HttpState<E>>,
    subgraph: Option<axum::Extension<crate::metrics::SubgraphName>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let given = headers
        .get(crate::internal::TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !crate::internal::constant_time_eq(given, state.gateway_token.as_bytes()) {
        return refused(not_from_the_router()).into_response();
    }
    let mut request = request.into_inner();
    if let Some(parsed) = &state.parsed {
        parsed.attach(&mut request);
    }
    let trace = TraceParent::from_header(headers.get("traceparent").and_then(|v| v.to_str().ok()));
    let trace_id = trace.0.split('-').nth(1).unwrap_or_default().to_owned();
    let headers_request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= 128)
        .map(str::to_owned);
    let operation = request.operation_name.clone();
    // Every log line of this request carries the router's request id and the trace; with
    // traces exported, the span is a child of the router's.
    let name = subgraph_name(subgraph.as_ref().map(|axum::Extension(name)| name));
    let span = tracing::info_span!(
        "graphql",
        otel.name = tracing::field::Empty,
        mall.subgraph = name,
        request_id = headers_request_id.as_deref().unwrap_or(""),
        trace_id = trace_id.as_str(),
        span_id = tracing::field::Empty,
        operation = operation.as_deref().unwrap_or(""),
    );
    if crate::telemetry::tracing_enabled() {
        // The span's name in a trace (formatted only when traces are exported).
        let operation = operation.as_deref().unwrap_or("graphql");
        span.record("otel.name", format!("{name} {operation}"));
    }
    crate::telemetry::continue_trace_from_headers(&span, &headers);
    // Events this request causes carry this span's context (else the router's).
    let trace = crate::telemetry::traceparent_of(&span).map_or(trace, TraceParent);
    // This request's span in the trace (with traces off, the router's span that called it).
    span.record("span_id", trace.0.split('-').nth(2).unwrap_or_default());
    let mut data = match (state.request_data)(headers).await {
        Ok(data) => data,
        Err(error) => return refused(error).into_response(),
    };
    data.insert(trace);
    let started = std::time::Instant::now();
    let answered = |code: &str| {
        if let Some(axum::Extension(crate::metrics::SubgraphName(name))) = subgraph {
            crate::metrics::graphql_request(name, operation.as_deref(), code, started.elapsed());
        }
    };
    let pending = match state
        .answers
        .as_ref()
        .map(|a| a.look_up(&mut request, &data))
    {
        Some(Lookup::Kept(body)) => {
            answered("OK");
            return json_response(body);
        }
        Some(Lookup::Run(pending)) => Some(pending),
        Some(Lookup::Pass) | None => None,
    };
    // The request arrives with no data of its own.
    request.data = data;
    let response = tracing::Instrument::instrument(state.executor.execute(request), span).await;
    answered(response.errors.first().map_or("OK", |error| {
        error
            .extensions
            .as_ref()
            .and_then(|e| match e.get("code") {
                Some(async_graphql::Value::String(code)) => Some(code.as_str()),
                _ => None,
            })
            .unwrap_or("INTERNAL_SERVER_ERROR")
    }));
    match (pending, &state.answers) {
        (Some(pending), Some(answers)) => match serde_json::to_vec(&response) {
            Ok(body) => {
                let body = axum::body::Bytes::from(body);
                answers.keep(pending, &response, &body);
                json_response(body)
            }
            Err(_) => GraphQLResponse::from(response).into_response(),
        },
        _ => GraphQLResponse::from(response).into_response(),
    }
}

/// With traces exported, each call to an `/internal/…` endpoint (one service asking
/// another) is a span, a child of the caller's (its `traceparent`).
pub async fn trace_internal_calls(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if !crate::telemetry::tracing_enabled() || !path.starts_with("/internal/") {
        return next.run(request).await;
    }
    let name = subgraph_name(request.extensions().get());
    let span = tracing::info_span!(
        "internal",
        otel.name = %format!("{name} {path}"),
        mall.subgraph = name,
    );
    crate::telemetry::continue_trace_from_headers(&span, request.headers());
    tracing::Instrument::instrument(next.run(request), span).await
}

fn subgraph_name(subgraph: Option<&crate::metrics::SubgraphName>) -> &'static str {
    subgraph.map_or("subgraph", |crate::metrics::SubgraphName(name)| name)
}

async fn websocket<E: Executor>(
    State(state): State<HttpState<E>>,
    draining: Option<axum::Extension<Draining>>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request_data = state.request_data.clone();
    let gateway_token = state.gateway_token.clone();
    let draining = draining.map(|axum::Extension(d)| d);
    if draining.as_ref().is_some_and(Draining::is_draining) {
        // A new socket would be closed at once: the client is to connect elsewhere.
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            use futures::{SinkExt as _, StreamExt as _};
            let (mut sink, stream) = socket.split();
            // Stopping ends the client's side of the conversation: the subscriptions end
            // and the socket closes with 1001, so that the client subscribes again
            // elsewhere instead of seeing a broken connection.
            let stopping = {
                let draining = draining.clone();
                async move {
                    match draining {
                        Some(draining) => draining.begun().await,
                        None => std::future::pending().await,
                    }
                }
            };
            GraphQLWebSocket::new_with_pair(
                &mut sink,
                stream.take_until(stopping),
                state.executor,
                protocol,
            )
            // The caller is known once `connection_init` arrives: its payload may carry
            // `Authorization` (directly or under `headers`), which wins over the
            // upgrade request's header.
            .on_connection_init(move |payload| async move {
                let given = headers
                    .get(crate::internal::TOKEN_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .or_else(|| payload_field(&payload, crate::internal::TOKEN_HEADER))
                    .unwrap_or_default();
                if !crate::internal::constant_time_eq(given.as_bytes(), gateway_token.as_bytes()) {
                    return Err(not_from_the_router().into());
                }
                let mut headers = headers;
                if let Some(value) = payload_field(&payload, "authorization") {
                    let value = axum::http::HeaderValue::from_str(value)
                        .map_err(|_| async_graphql::Error::new("invalid Authorization"))?;
                    headers.insert(axum::http::header::AUTHORIZATION, value);
                }
                let trace = TraceParent::from_header(
                    headers.get("traceparent").and_then(|v| v.to_str().ok()),
                );
                let mut data = match request_data(headers.clone()).await {
                    Ok(data) => data,
                    // A refused token must not fail the connection: the router would
                    // report a broken subgraph socket (UNAVAILABLE). The connection goes
                    // on as anonymous, and every subscription, none of which is public,
                    // is refused with UNAUTHENTICATED in its own stream.
                    Err(ApiError::Unauthenticated(reason)) => {
                        tracing::info!(%reason, "WebSocket token refused: anonymous connection");
                        headers.remove(axum::http::header::AUTHORIZATION);
                        request_data(headers)
                            .await
                            .map_err(async_graphql::Error::from)?
                    }
                    Err(error) => return Err(error.into()),
                };
                data.insert(trace);
                Ok(data)
            })
            .serve()
            .await;
            if draining.as_ref().is_some_and(Draining::is_draining) {
                let close = axum::extract::ws::CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "the subgraph is stopping".into(),
                };
                let _ = sink
                    .send(axum::extract::ws::Message::Close(Some(close)))
                    .await;
            }
        })
}

/// A header-like field of a `connection_init` payload (any case), at the top level or under
/// `headers`.
fn payload_field<'a>(payload: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    let find = |object: &'a serde_json::Value| {
        object.as_object().and_then(|map| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        })
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

async fn ready<E>(
    State(state): State<HttpState<E>>,
    draining: Option<axum::Extension<Draining>>,
) -> Response {
    if draining.is_some_and(|axum::Extension(d)| d.is_draining()) {
        let body = axum::Json(serde_json::json!({ "ready": false, "stopping": true }));
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let (status, body) = crate::readiness::check(&state.stores, state.report.as_ref()).await;
    (status, axum::Json(body)).into_response()
}

/// How a subgraph stops (`SHUTDOWN_DELAY_SECONDS`, `SHUTDOWN_TIMEOUT_SECONDS`).
#[derive(Clone, Copy, Debug)]
pub struct StopSettings {
    /// How long new requests are still answered once stopping began (`/ready` says 503
    /// meanwhile); default 0. Behind a load balancer that polls readiness (Kubernetes), a
    /// few seconds.
    pub delay: Duration,
    /// How long the requests in flight then get to finish before they are cut off;
    /// default 10 s.
    pub timeout: Duration,
}

impl Default for StopSettings {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Whether the server is stopping, for `/ready` and open WebSockets (an extension of every
/// request that [`serve`] answers).
#[derive(Clone)]
pub struct Draining(watch::Receiver<bool>);

impl Draining {
    fn is_draining(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once stopping began (never, if the server was dropped without stopping).
    async fn begun(mut self) {
        if self.0.wait_for(|draining| *draining).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Serves `app` on `listener` until `stop` completes, then drains (see the module's
/// comment) and returns once the requests in flight finished or `settings.timeout` passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
    settings: StopSettings,
) -> std::io::Result<()> {
    let (drain, draining) = watch::channel(false);
    let app = app.layer(axum::Extension(Draining(draining)));
    let (closing, mut closed) = watch::channel(false);
    // No Nagle delay: a streamed response (SSE chunks of a reply, subscription events) is
    // many small writes, and Nagle held each behind the client's delayed ACK (~40 ms a turn
    // of the assistant's sandbox model, benches/assistant.rs).
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        stop.await;
        tracing::info!(delay = ?settings.delay, timeout = ?settings.timeout, "stopping: draining");
        let _ = drain.send(true);
        tokio::time::sleep(settings.delay).await;
        let _ = closing.send(true);
    });
    let deadline = async move {
        if closed.wait_for(|closing| *closing).await.is_err() {
            return std::future::pending().await;
        }
        tokio::time::sleep(settings.timeout).await;
    };
    tokio::select! {
        served = server => served,
        () = deadline => {
            tracing::warn!(timeout = ?settings.timeout, "stopping: requests still in flight after the timeout are cut off");
            Ok(())
        }
    }
}

/// Binds `addr`, with an error that names it.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another instance running?)"))
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a signal that arrives in between (say, while the
/// launcher prints its banner) is not lost to the default action, which would kill the
/// process without stopping its children.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
