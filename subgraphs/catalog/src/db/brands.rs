//! Brands: reads and writes of `brands` and `brand_categories`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{brand_categories, brands};

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// A row of `brands`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = brands, check_for_backend(diesel::pg::Pg))]
pub struct BrandRow {
    pub id: Uuid,
    pub name: String,
    pub logo_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Adds one brand; a name taken in any case is a unique violation (`brands_name_key`).
pub async fn insert(conn: &mut AsyncPgConnection, row: &BrandRow) -> QueryResult<()> {
    diesel::insert_into(brands::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Offers `brand` in `categories` (those it is offered in already stay).
pub async fn offer_in(
    conn: &mut AsyncPgConnection,
    brand: Uuid,
    categories: &[Uuid],
) -> QueryResult<()> {
    let rows: Vec<_> = categories
        .iter()
        .map(|category| {
            (
                brand_categories::brand_id.eq(brand),
                brand_categories::category_id.eq(*category),
            )
        })
        .collect();
    diesel::insert_into(brand_categories::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// Whether brand `id` exists.
pub async fn exists(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(brands::table.find(id)))
        .get_result(conn)
        .await
}

/// The brands with these ids (unknown ids are left out).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<BrandRow>> {
    brands::table
        .filter(brands::id.eq_any(ids))
        .select(BrandRow::as_select())
        .load(conn)
        .await
}

/// Every brand, by name (whatever its case), then id.
pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<BrandRow>> {
    brands::table
        .order((lower(brands::name), brands::id))
        .select(BrandRow::as_select())
        .load(conn)
        .await
}

/// The brands offered in any of `categories`, each once, by name then id.
pub async fn offered_in(
    conn: &mut AsyncPgConnection,
    categories: &[Uuid],
) -> QueryResult<Vec<BrandRow>> {
    let offered = brand_categories::table
        .filter(brand_categories::category_id.eq_any(categories))
        .select(brand_categories::brand_id);
    brands::table
        .filter(brands::id.eq_any(offered))
        .order((lower(brands::name), brands::id))
        .select(BrandRow::as_select())
        .load(conn)
        .await
}

/// Adds the brands that do not exist yet (demo data); returns how many were added.
pub async fn insert_missing(conn: &mut AsyncPgConnection, rows: &[BrandRow]) -> QueryResult<usize> {
    diesel::insert_into(brands::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}
