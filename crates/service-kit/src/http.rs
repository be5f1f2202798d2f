//! The HTTP surface of a subgraph: `/graphql` (queries and mutations), `/ws`
//! (graphql-transport-ws subscriptions), `/health` (the process is up) and `/ready`
//! (PostgreSQL and Redis answer).

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
use diesel_async::SimpleAsyncConnection as _;
use futures::future::BoxFuture;
use tokio::net::TcpListener;

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
}

impl<E: Clone> Clone for HttpState<E> {
    fn clone(&self) -> Self {
        Self {
            executor: self.executor.clone(),
            request_data: self.request_data.clone(),
            stores: self.stores.clone(),
        }
    }
}

/// The routes every subgraph serves.
pub fn subgraph_router<E: Executor>(
    executor: E,
    request_data: RequestData,
    stores: Stores,
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
        })
}

async fn graphql<E: Executor>(
    State(state): State<HttpState<E>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    let trace = TraceParent::from_header(headers.get("traceparent").and_then(|v| v.to_str().ok()));
    match (state.request_data)(headers).await {
        Ok(mut data) => {
            data.insert(trace);
            // The request arrives with no data of its own.
            request.data = data;
            state.executor.execute(request).await.into()
        }
        Err(error) => {
            let mut error = async_graphql::Error::from(error).into_server_error(Default::default());
            // The request failed before any field: no location to point at.
            error.locations.clear();
            async_graphql::Response::from_errors(vec![error]).into()
        }
    }
}

async fn websocket<E: Executor>(
    State(state): State<HttpState<E>>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request_data = state.request_data.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, state.executor, protocol)
                // The caller is known once `connection_init` arrives: its payload may carry
                // `Authorization` (directly or under `headers`), which wins over the
                // upgrade request's header.
                .on_connection_init(move |payload| async move {
                    let mut headers = headers;
                    if let Some(value) = connection_init_authorization(&payload) {
                        let value = axum::http::HeaderValue::from_str(value)
                            .map_err(|_| async_graphql::Error::new("invalid Authorization"))?;
                        headers.insert(axum::http::header::AUTHORIZATION, value);
                    }
                    let trace = TraceParent::from_header(
                        headers.get("traceparent").and_then(|v| v.to_str().ok()),
                    );
                    let mut data = request_data(headers)
                        .await
                        .map_err(async_graphql::Error::from)?;
                    data.insert(trace);
                    Ok(data)
                })
                .serve()
        })
}

fn connection_init_authorization(payload: &serde_json::Value) -> Option<&str> {
    fn find(object: &serde_json::Value) -> Option<&str> {
        object.as_object().and_then(|map| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str())
        })
    }
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

async fn ready<E>(State(state): State<HttpState<E>>) -> Response {
    const LIMIT: Duration = Duration::from_secs(2);
    let database = tokio::time::timeout(LIMIT, async {
        let mut conn = state.stores.db.get().await.map_err(|e| e.to_string())?;
        conn.batch_execute("SELECT 1")
            .await
            .map_err(|e| e.to_string())
    });
    let redis = tokio::time::timeout(LIMIT, state.stores.redis.ping());
    let (database, redis) = tokio::join!(database, redis);
    let database = match database {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("timed out".to_owned()),
    };
    let redis = match redis {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let status = if database.is_ok() && redis.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => "up".to_owned(),
        Err(e) => format!("down: {e}"),
    };
    let body = axum::Json(serde_json::json!({
        "ready": status == StatusCode::OK,
        "database": describe(&database),
        "redis": describe(&redis),
    }));
    (status, body).into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr`, with an error that names it.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another instance running?)"))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
