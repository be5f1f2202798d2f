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
use tokio::net::TcpListener;

use crate::Stores;

/// Fills the data of one GraphQL request (or one WebSocket connection) from its headers:
/// a fresh set of DataLoaders, and later the caller's identity.
pub type RequestData = Arc<dyn Fn(&HeaderMap, &mut Data) + Send + Sync>;

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
    (state.request_data)(&headers, &mut request.data);
    state.executor.execute(request).await.into()
}

async fn websocket<E: Executor>(
    State(state): State<HttpState<E>>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut data = Data::default();
    (state.request_data)(&headers, &mut data);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, state.executor, protocol)
                .with_data(data)
                .serve()
        })
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
