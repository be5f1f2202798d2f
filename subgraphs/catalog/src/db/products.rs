//! Products: reads and writes of the `products` table (the storefront listing's SQL is in
//! `db::listing`).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::models::ProductRow;
use super::schema::products;

/// The product with this id, any status; NOT_FOUND if there is none.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<ProductRow, ApiError> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("product".into()))
}

/// The products with these ids, any status (unknown ids are left out).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ProductRow>> {
    products::table
        .filter(products::id.eq_any(ids))
        .select(ProductRow::as_select())
        .load(conn)
        .await
}

/// Adds one product.
pub async fn insert(conn: &mut AsyncPgConnection, row: &ProductRow) -> QueryResult<()> {
    diesel::insert_into(products::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Adds the products that do not exist yet; returns how many were added.
pub async fn insert_missing(
    conn: &mut AsyncPgConnection,
    rows: Vec<ProductRow>,
) -> QueryResult<usize> {
    diesel::insert_into(products::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

/// The fields `updateProduct` writes; `None` leaves a column as it is.
#[derive(Default, diesel::AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<Option<String>>,
    pub price_amount: Option<i64>,
    pub category_id: Option<Option<Uuid>>,
    pub status: Option<String>,
    pub brand_id: Option<Option<Uuid>>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Applies `changes` to one product and moves its version on (for the cache); NOT_FOUND if
/// there is no such product.
pub async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: ProductChanges,
) -> Result<ProductRow, ApiError> {
    diesel::update(products::table.find(id))
        .set((changes, products::version.eq(products::version + 1)))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("product".into()))
}
