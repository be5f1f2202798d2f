//! The payment subgraph's tables (`schema`), rows and statements: `payments`, their
//! `payment_log`, the `outbox` events that publish their changes, `refunds`, the gateway's
//! `webhook_events` (received) and `deliveries` (the sandbox gateway's webhook calls), and
//! the money reconciler's (`reconcile`). Decisions are not made here: `domain::status`
//! decides, `workflows/` composes.

pub mod deliveries;
pub mod outbox;
pub mod payment_log;
pub mod payments;
pub mod reconcile;
pub mod refunds;
pub mod schema;
#[cfg(test)]
pub mod testing;
pub mod webhook_events;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// A row of `payments`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::payments, check_for_backend(diesel::pg::Pg))]
pub struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: String,
    pub method: String,
    pub amount: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    /// The customer who pays (the order's owner).
    pub user_id: Uuid,
    /// The client's key: the same key from the same customer is the same payment.
    pub idempotency_key: String,
    /// The gateway's name for this payment (the sandbox page's address, webhooks).
    pub gateway_reference: String,
    /// When an open payment expires.
    pub expires_at: DateTime<Utc>,
    /// Minor units given back so far.
    pub refunded_amount: i64,
    /// Incremented by every change (events carry it: an older one never wins).
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// A row of `payment_log`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = schema::payment_log, check_for_backend(diesel::pg::Pg))]
pub struct LogRow {
    pub id: i64,
    pub payment_id: Uuid,
    pub at: DateTime<Utc>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
}

/// A row of `refunds`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::refunds, check_for_backend(diesel::pg::Pg))]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: i64,
    pub reason: String,
    pub idempotency_key: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}
