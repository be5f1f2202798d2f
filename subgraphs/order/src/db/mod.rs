//! The order subgraph's tables, rows and statements. Every write that changes an order is
//! ONE statement (a data-modifying CTE): the change, its history entry and its outbox event
//! commit together without a client-side transaction.
//!
//! `orders` (orders, their lines and history), `checkouts` (checkout attempts), `payments`
//! (payers, payment versions, refused payments), `reconcile` (the stock reconciler's); the
//! tables are `schema::*`.

pub mod checkouts;
pub mod orders;
pub mod payments;
pub mod reconcile;
pub mod schema;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// The stream every order event goes to.
pub const ORDERS_STREAM: &str = "orders";

/// A row of `orders`.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = schema::orders, check_for_backend(diesel::pg::Pg))]
pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub user_id: Uuid,
    pub status: String,
    pub currency: String,
    pub subtotal_amount: i64,
    pub discount_amount: i64,
    pub total_amount: i64,
    pub created_at: DateTime<Utc>,
    pub version: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// JSON of a `PostalAddress`.
    pub shipping_address: String,
    pub note: Option<String>,
}

/// A row of `order_items`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = schema::order_items, check_for_backend(diesel::pg::Pg))]
pub struct OrderItemRow {
    pub order_id: Uuid,
    pub position: i32,
    pub product_id: Uuid,
    pub product_name: String,
    pub unit_price: i64,
    pub quantity: i32,
    /// The variant (SKU) bought, and its code, name and options at purchase time.
    pub variant_id: Uuid,
    pub sku: String,
    pub variant_name: String,
    /// JSON of the `[SelectedOption]`.
    pub options: String,
}

/// A row of `order_status_history`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = schema::order_status_history, check_for_backend(diesel::pg::Pg))]
pub struct HistoryRow {
    pub id: i64,
    pub order_id: Uuid,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// A row of `checkout_attempts`.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = schema::checkout_attempts, check_for_backend(diesel::pg::Pg))]
pub struct AttemptRow {
    pub user_id: Uuid,
    pub idempotency_key: String,
    pub request_hash: String,
    pub order_id: Uuid,
    pub state: String,
    pub created_at: DateTime<Utc>,
}
