//! The cart subgraph's tables and rows; its statements are in `queries`.

pub mod queries;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

diesel::table! {
    carts (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cart_items (cart_id, variant_id) {
        cart_id -> Uuid,
        product_id -> Uuid,
        quantity -> Int4,
        added_at -> Timestamptz,
        variant_id -> Uuid,
    }
}

diesel::joinable!(cart_items -> carts (cart_id));
diesel::allow_tables_to_appear_in_same_query!(carts, cart_items);

/// A row of `carts`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = carts, check_for_backend(diesel::pg::Pg))]
pub struct CartRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row of `cart_items`: units of one variant (SKU) of a product, one line per variant.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = cart_items, check_for_backend(diesel::pg::Pg))]
pub struct CartItemRow {
    pub cart_id: Uuid,
    pub product_id: Uuid,
    pub variant_id: Uuid,
    pub quantity: i32,
    pub added_at: DateTime<Utc>,
}
