//! The payment events this subgraph publishes, written to the outbox in the transaction of
//! the change they tell of (the relay puts them on the bus).

use diesel_async::AsyncPgConnection;
use event_bus::NewEvent;
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use uuid::Uuid;

use super::PaymentRow;

/// The bus stream of payment events.
pub const STREAM: &str = "payments";

/// `PaymentStatusChanged` v1: every change of a payment, its creation included. Consumers
/// keep the highest `version` per payment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusChanged {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// `None` when the payment was created.
    pub from: Option<String>,
    pub to: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub currency: String,
    pub version: i64,
}

/// Publishes `PaymentStatusChanged` for `row` as it is now, changed from `from`.
pub async fn status_changed(
    conn: &mut AsyncPgConnection,
    row: &PaymentRow,
    from: Option<String>,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    let event = StatusChanged {
        payment_id: row.id,
        order_id: row.order_id,
        user_id: row.user_id,
        from,
        to: row.status.clone(),
        amount: row.amount,
        refunded_amount: row.refunded_amount,
        currency: row.currency.clone(),
        version: row.version,
    };
    NewEvent::new(STREAM, "PaymentStatusChanged", row.id, &event, traceparent)
        .insert(conn)
        .await?;
    Ok(())
}
