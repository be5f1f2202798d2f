//! What the gateway reports about a payment (through the signed webhook), applied once per
//! event id.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;

use super::payments::change;
use crate::db::{payments, webhook_events};
use crate::domain::status::{Command, PaymentStatus, decide};

/// What the gateway reports about one payment.
pub struct GatewayEvent {
    pub event_id: String,
    pub gateway_reference: String,
    /// Approve or decline.
    pub command: Command,
    pub amount: i64,
    pub currency: String,
}

/// What a gateway event did.
#[derive(Debug, PartialEq, Eq)]
pub enum GatewayOutcome {
    /// The payment changed (or a late approval was given back).
    Applied(PaymentStatus),
    /// This event id was applied before: nothing changed.
    Replayed,
    /// The payment's status does not allow it (already decided): recorded, nothing changed.
    Ignored(PaymentStatus),
}

/// Applies a gateway report to the payment it names, once per event id: the event id is
/// recorded in the transaction that applies it. Unknown reference: `NOT_FOUND`; an amount
/// or currency other than the payment's: `BAD_USER_INPUT` (and nothing is recorded).
pub async fn apply_gateway_event(
    conn: &mut AsyncPgConnection,
    event: &GatewayEvent,
    traceparent: Option<String>,
) -> Result<GatewayOutcome, ApiError> {
    conn.transaction(async |conn| {
        let row = payments::lock_by_reference(conn, &event.gateway_reference)
            .await?
            .ok_or_else(|| ApiError::NotFound("payment".into()))?;
        if event.amount != row.amount || event.currency != row.currency {
            tracing::error!(
                payment = %row.id,
                reported = event.amount,
                currency = %event.currency,
                expected = row.amount,
                "gateway reported another amount than the payment's: refused"
            );
            return Err(ApiError::bad_input(
                "amount",
                "is not the amount of this payment",
            ));
        }
        let first_time = webhook_events::record(conn, &event.event_id, row.id).await?;
        if !first_time {
            return Ok(GatewayOutcome::Replayed);
        }
        let note = match event.command {
            Command::Approve => "approved at the gateway",
            _ => "declined at the gateway",
        };
        // A command the payment's status refuses (a decline after an approval) is news
        // from the gateway, not an error: kept as seen and answered "ignored". Decided here,
        // on the locked row and before any write, so that a statement failing in `change` is
        // never taken for such a refusal: it fails the transaction and the gateway sends the
        // event again (swallowed, it would leave the transaction aborted, and PostgreSQL
        // answers the COMMIT of an aborted transaction with a silent ROLLBACK).
        let status = PaymentStatus::from_db(&row.status)
            .ok_or_else(|| ApiError::corrupt("payments.status", &row.status))?;
        if let Err(why) = decide(status, row.amount, row.refunded_amount, event.command) {
            tracing::warn!(payment = %row.id, %why, "gateway event does not fit the payment");
            return Ok(GatewayOutcome::Ignored(status));
        }
        let applied = change(conn, row.id, event.command, note, traceparent).await?;
        Ok(GatewayOutcome::Applied(applied.decision.to))
    })
    .await
}
