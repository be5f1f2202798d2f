//! The order subgraph's tables and rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

diesel::table! {
    orders (id) {
        id -> Uuid,
        number -> Text,
        user_id -> Uuid,
        status -> Text,
        currency -> Text,
        subtotal_amount -> Int8,
        discount_amount -> Int8,
        total_amount -> Int8,
        created_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    order_items (order_id, position) {
        order_id -> Uuid,
        position -> Int4,
        product_id -> Uuid,
        product_name -> Text,
        unit_price -> Int8,
        quantity -> Int4,
    }
}

diesel::joinable!(order_items -> orders (order_id));
diesel::allow_tables_to_appear_in_same_query!(orders, order_items);

/// A row of `orders`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
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
}

/// A row of `order_items`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_items, check_for_backend(diesel::pg::Pg))]
pub struct OrderItemRow {
    pub order_id: Uuid,
    pub position: i32,
    pub product_id: Uuid,
    pub product_name: String,
    pub unit_price: i64,
    pub quantity: i32,
}
