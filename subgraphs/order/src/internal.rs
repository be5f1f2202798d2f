//! Routes other subgraphs call (never through the router): the facts about an order that
//! the payment subgraph checks before taking money for it, status and payer of orders for
//! its reconciler, and the live feed's status.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use peer_api::{OrderOf, OrderPayer, OrderPayers, OrderSummary, OrdersOf};
use service_kit::{ApiError, DbPool, internal};

use crate::db::{orders, payments};
use crate::events::live::OrderFeed;

/// The `/internal/orders/*` routes and `/internal/live`, protected by the internal token.
pub fn routes(db: DbPool, live: Arc<OrderFeed>, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/orders/summary", post(summary))
            .route("/internal/orders/payers", post(payers))
            .with_state(db)
            .merge(event_bus::live::status_route(live)),
        token,
    )
}

async fn summary(State(db): State<DbPool>, Json(asked): Json<OrderOf>) -> Response {
    internal::respond(order_summary(&db, asked.order_id).await)
}

/// Owner, status and amount due of `order_id`; `NOT_FOUND` if there is no such order.
pub async fn order_summary(db: &DbPool, order_id: uuid::Uuid) -> Result<OrderSummary, ApiError> {
    let mut conn = db.get().await?;
    let row = orders::find_order(&mut conn, order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("order".into()))?;
    Ok(OrderSummary {
        order_id: row.id,
        user_id: row.user_id,
        status: row.status,
        total_amount: row.total_amount,
        currency: row.currency,
        expires_at: row.expires_at,
    })
}

/// Most orders one [`OrdersOf`] may name.
pub const MAX_ORDERS: usize = 500;

async fn payers(State(db): State<DbPool>, Json(asked): Json<OrdersOf>) -> Response {
    internal::respond(order_payers_of(&db, &asked.order_ids).await)
}

/// Status and paying payment of the orders that exist among `ids`.
pub async fn order_payers_of(db: &DbPool, ids: &[uuid::Uuid]) -> Result<OrderPayers, ApiError> {
    if ids.len() > MAX_ORDERS {
        return Err(ApiError::bad_input(
            "orderIds",
            format!("at most {MAX_ORDERS} at once"),
        ));
    }
    let mut conn = db.get().await?;
    let rows = payments::statuses_and_payers(&mut conn, ids).await?;
    Ok(OrderPayers {
        orders: rows
            .into_iter()
            .map(|(order_id, status, paid_by)| OrderPayer {
                order_id,
                status,
                paid_by,
            })
            .collect(),
    })
}
