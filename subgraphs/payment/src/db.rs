//! The payment subgraph's table and rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

diesel::table! {
    payments (id) {
        id -> Uuid,
        order_id -> Uuid,
        status -> Text,
        method -> Text,
        amount -> Int8,
        currency -> Text,
        created_at -> Timestamptz,
        user_id -> Uuid,
    }
}

/// A row of `payments`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
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
}
