//! The payment subgraph's live feed: status changes of payments as the `payments` stream
//! carries them, whichever replica made them (see `event_bus::live`), for `paymentUpdated`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use event_bus::{Event, LiveFeed};
use service_kit::{ApiError, DbPool, Redis};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::db::outbox::{STREAM, StatusChanged};
use crate::db::{PaymentRow, payments};
use crate::domain::status::PaymentStatus;

/// One status change of a payment.
pub struct PaymentChange {
    pub payment_id: Uuid,
    pub user_id: Uuid,
    pub previous: Option<PaymentStatus>,
    pub status: PaymentStatus,
    pub at: DateTime<Utc>,
    /// The payment as read once for every subscriber of this replica.
    payment: OnceCell<PaymentRow>,
}

impl PaymentChange {
    /// The payment, read at its first delivery (it may have moved on since this change).
    pub async fn payment(&self, db: &DbPool) -> Result<&PaymentRow, ApiError> {
        self.payment
            .get_or_try_init(|| async {
                let mut conn = db.get().await?;
                payments::find(&mut conn, self.payment_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("payment".into()))
            })
            .await
    }
}

/// The live feed of payment changes; one per process.
pub type PaymentFeed = LiveFeed<PaymentChange>;

pub fn feed(redis: Redis) -> Arc<PaymentFeed> {
    LiveFeed::new(redis, STREAM, parse)
}

fn parse(event: &Event) -> Option<PaymentChange> {
    if event.name != "PaymentStatusChanged" || event.version != 1 {
        return None;
    }
    let changed: StatusChanged = serde_json::from_value(event.payload.clone())
        .inspect_err(|error| tracing::error!(%error, id = %event.id, "unreadable payment event"))
        .ok()?;
    let status = PaymentStatus::from_db(&changed.to)?;
    Some(PaymentChange {
        payment_id: changed.payment_id,
        user_id: changed.user_id,
        previous: changed.from.as_deref().and_then(PaymentStatus::from_db),
        status,
        at: event.occurred_at,
        payment: OnceCell::new(),
    })
}
