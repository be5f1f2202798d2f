//! Routes other subgraphs call (never through the router): reserving and releasing stock
//! for orders. Both are idempotent per order id, so callers may retry freely.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use service_kit::internal::api::{ReleaseStock, Released, ReserveStock};
use service_kit::{ApiError, DbPool, internal};

use crate::cache::ProductCache;
use crate::db::reservations;

/// What the routes need.
#[derive(Clone)]
pub struct StockService {
    pub db: DbPool,
    pub cache: ProductCache,
}

/// Most lines one reservation may hold.
pub const MAX_LINES: usize = 100;

/// The `/internal/stock/*` routes, protected by the internal token.
pub fn routes(service: StockService, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/stock/reserve", post(reserve))
            .route("/internal/stock/release", post(release))
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

impl StockService {
    /// Reserves every line or none; afterwards readers see the new stock.
    pub async fn reserve(
        &self,
        asked: ReserveStock,
    ) -> Result<service_kit::internal::api::Reservation, ApiError> {
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
