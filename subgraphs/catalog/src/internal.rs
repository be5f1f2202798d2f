//! Routes other subgraphs call (never through the router): reserving and releasing stock
//! for orders, and giving back what closed orders hold (the order subgraph's reconciler).
//! All are idempotent per order id, so callers may retry freely. The work itself is
//! `crate::workflows::stock`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use peer_api::{OrdersClosed, ReleaseStock, Released, ReserveStock};
use service_kit::internal;

use crate::workflows::stock::StockService;

/// The `/internal/stock/*` routes, protected by the internal token.
pub fn routes(service: StockService, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/stock/reserve", post(reserve))
            .route("/internal/stock/release", post(release))
            .route("/internal/orders/closed", post(closed))
            .with_state(service),
        token,
    )
}

async fn reserve(State(service): State<StockService>, Json(asked): Json<ReserveStock>) -> Response {
    internal::respond(service.reserve(asked).await)
}

async fn release(State(service): State<StockService>, Json(asked): Json<ReleaseStock>) -> Response {
    internal::respond(
        service
            .release(asked.order_id, &asked.reason)
            .await
            .map(|released| Released { released }),
    )
}

async fn closed(State(service): State<StockService>, Json(asked): Json<OrdersClosed>) -> Response {
    internal::respond(service.close_orders(asked).await)
}
