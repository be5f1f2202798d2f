//! The order subgraph's live feed: status changes of orders as the `orders` stream carries
//! them, whichever replica made them (see `event_bus::live`), for `orderUpdated`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use event_bus::{Event, LiveFeed};
use serde::Deserialize;
use service_kit::{ApiError, DbPool, Redis};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::db::OrderRow;
use crate::db::{ORDERS_STREAM, orders};
use crate::domain::OrderStatus;

/// One status change of an order.
pub struct OrderChange {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub previous: Option<OrderStatus>,
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    /// The order as read once for every subscriber of this replica.
    order: OnceCell<OrderRow>,
}

impl OrderChange {
    /// The order, read at its first delivery (it may have moved on since this change).
    pub async fn order(&self, db: &DbPool) -> Result<&OrderRow, ApiError> {
        self.order
            .get_or_try_init(|| async {
                let mut conn = db.get().await?;
                orders::find_order(&mut conn, self.order_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("order".into()))
            })
            .await
    }
}

/// The live feed of order changes; one per process.
pub type OrderFeed = LiveFeed<OrderChange>;

pub fn feed(redis: Redis) -> Arc<OrderFeed> {
    LiveFeed::new(redis, ORDERS_STREAM, parse)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusPayload {
    order_id: Uuid,
    user_id: Uuid,
    #[serde(default)]
    previous_status: Option<OrderStatus>,
    status: OrderStatus,
}

/// Every event of `docs/events.md`'s `orders` stream that moves an order to a status.
fn parse(event: &Event) -> Option<OrderChange> {
    let named = matches!(
        event.name.as_str(),
        "OrderPlaced" | "OrderPaid" | "OrderCancelled" | "OrderExpired" | "OrderRefunded"
    );
    if !named || event.version != 1 {
        return None;
    }
    let payload: StatusPayload = serde_json::from_value(event.payload.clone())
        .inspect_err(|error| tracing::error!(%error, id = %event.id, "unreadable order event"))
        .ok()?;
    Some(OrderChange {
        order_id: payload.order_id,
        user_id: payload.user_id,
        previous: payload.previous_status,
        status: payload.status,
        at: event.occurred_at,
        order: OnceCell::new(),
    })
}
