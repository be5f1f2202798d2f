//! Rows of the catalog tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{categories, products};

/// A row of `categories`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = categories, check_for_backend(diesel::pg::Pg))]
pub struct CategoryRow {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// A row of `products` (also the product cache's value).
#[derive(Clone, Debug, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductRow {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub image_url: Option<String>,
    pub price_amount: i64,
    pub currency: String,
    pub status: String,
    pub stock: i32,
    pub sales_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every write: orders concurrent writes for the cache.
    pub version: i64,
    /// The brand; rows cached before brands existed have none.
    #[serde(default)]
    pub brand_id: Option<Uuid>,
}
