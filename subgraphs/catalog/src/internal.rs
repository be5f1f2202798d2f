//! Routes other subgraphs call (never through the router): reserving and releasing stock
//! for orders, and giving back what closed orders hold (the order subgraph's reconciler).
//! All are idempotent per order id, so callers may retry freely.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use peer_api::{GivenBack, OrdersClosed, ReleaseStock, Released, ReserveStock};
use service_kit::{ApiError, DbPool, Redis, internal};

use crate::cache::ProductCache;
use crate::db::reservations;

/// What the routes need.
#[derive(Clone)]
pub struct StockService {
    pub db: DbPool,
    pub redis: Redis,
    pub cache: ProductCache,
}

/// Most orders one [`OrdersClosed`] may name.
pub const MAX_CLOSED: usize = 200;

/// Most lines one reservation may hold.
pub const MAX_LINES: usize = 100;

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

impl StockService {
    /// Gives back what each closed order holds ([`crate::events::close_order`]).
    pub async fn close_orders(&self, asked: OrdersClosed) -> Result<GivenBack, ApiError> {
        if asked.order_ids.len() > MAX_CLOSED {
            return Err(ApiError::bad_input(
                "orderIds",
                format!("at most {MAX_CLOSED} at once"),
            ));
        }
        let (mut given_back, mut failed) = (0, Vec::new());
        // One by one: an order that fails (logged) does not keep the others from settling.
        for order_id in asked.order_ids {
            match crate::events::close_order(self, order_id, &asked.reason).await {
                Ok(true) => given_back += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, order = %order_id, "giving back what a closed order held failed");
                    failed.push(order_id);
                }
            }
        }
        Ok(GivenBack { given_back, failed })
    }

    /// Reserves every line or none; afterwards readers see the new stock.
    pub async fn reserve(&self, asked: ReserveStock) -> Result<peer_api::Reservation, ApiError> {
        let mut seen = HashSet::new();
        if asked.lines.is_empty() || asked.lines.len() > MAX_LINES {
            return Err(ApiError::bad_input(
                "lines",
                format!("must hold 1 to {MAX_LINES} lines"),
            ));
        }
        for line in &asked.lines {
            if line.quantity <= 0 || !seen.insert(line.product_id) {
                return Err(ApiError::bad_input(
                    "lines",
                    "quantities must be positive and products distinct",
                ));
            }
        }
        let mut conn = self.db.get().await?;
        let (reservation, changed) =
            reservations::reserve(&mut conn, asked.order_id, &asked.lines).await?;
        drop(conn);
        self.cache.put_many(&changed).await;
        Ok(reservation)
    }

    /// Gives an order's stock back; whether this call did (false: already released, or
    /// nothing was reserved — and now nothing can be).
    pub async fn release(&self, order_id: uuid::Uuid, reason: &str) -> Result<bool, ApiError> {
        let reason = service_kit::validate::required_text("reason", reason, 150)?;
        let mut conn = self.db.get().await?;
        let changed = reservations::release(&mut conn, order_id, &reason).await?;
        drop(conn);
        self.cache.put_many(&changed).await;
        Ok(!changed.is_empty())
    }
}
