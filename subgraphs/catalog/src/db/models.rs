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
    /// The brand. Required in the cache's JSON too: a row cached by a replica that knew no
    /// brands (a rolling deploy) fails to decode and is read again from PostgreSQL, rather
    /// than showing no brand until it expires (serde takes a missing `Option` for `None`
    /// unless the field has a deserializer of its own).
    #[serde(deserialize_with = "present")]
    pub brand_id: Option<Uuid>,
}

/// An optional value that must be present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<Uuid>, D::Error> {
    <Option<Uuid> as serde::Deserialize>::deserialize(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_row_without_a_brand_field_is_not_a_row() {
        let old = r#"{"id":"0193a0b0-0000-7000-8000-000000000001","category_id":null,
            "name":"n","description":"d","image_url":null,"price_amount":1,"currency":"CNY",
            "status":"ACTIVE","stock":1,"sales_count":0,"created_at":"2026-12-06T00:00:00Z",
            "updated_at":"2026-12-06T00:00:00Z","version":1}"#;
        assert!(serde_json::from_str::<ProductRow>(old).is_err());
        let new = old.replace(r#""version":1}"#, r#""version":1,"brand_id":null}"#);
        assert!(serde_json::from_str::<ProductRow>(&new).is_ok());
    }
}
