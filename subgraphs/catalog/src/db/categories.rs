//! Categories: reads and writes of the `categories` table.

use diesel::prelude::*;
use diesel::sql_types::Float8;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::sql::prepared;
use uuid::Uuid;

use super::models::CategoryRow;
use super::schema::categories;
use crate::domain::search::CategoryMatch;

/// The top-level categories, in display order.
pub async fn top_level(conn: &mut AsyncPgConnection) -> QueryResult<Vec<CategoryRow>> {
    categories::table
        .filter(categories::parent_id.is_null())
        .order((categories::position, categories::name))
        .select(CategoryRow::as_select())
        .load(conn)
        .await
}

/// The categories with these ids (unknown ids are left out).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<CategoryRow>> {
    categories::table
        .filter(categories::id.eq_any(ids))
        .select(CategoryRow::as_select())
        .load(conn)
        .await
}

/// The children of these categories, in display order.
pub async fn children_of(
    conn: &mut AsyncPgConnection,
    parent_ids: &[Uuid],
) -> QueryResult<Vec<CategoryRow>> {
    categories::table
        .filter(categories::parent_id.eq_any(parent_ids))
        .order((categories::position, categories::name))
        .select(CategoryRow::as_select())
        .load(conn)
        .await
}

/// Whether a category with this id exists.
pub async fn exists(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(categories::table.find(id)))
        .get_result(conn)
        .await
}

/// How many of `ids` are categories.
pub async fn count_existing(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<i64> {
    categories::table
        .filter(categories::id.eq_any(ids))
        .count()
        .get_result(conn)
        .await
}

/// How many categories are directly under `parent` (at the top for `None`).
pub async fn count_children(
    conn: &mut AsyncPgConnection,
    parent: Option<Uuid>,
) -> QueryResult<i64> {
    categories::table
        .filter(categories::parent_id.is_not_distinct_from(parent))
        .count()
        .get_result(conn)
        .await
}

/// Adds one category.
pub async fn insert(conn: &mut AsyncPgConnection, row: &CategoryRow) -> QueryResult<()> {
    diesel::insert_into(categories::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Adds the categories that do not exist yet; returns how many were added.
pub async fn insert_missing(
    conn: &mut AsyncPgConnection,
    rows: Vec<CategoryRow>,
) -> QueryResult<usize> {
    diesel::insert_into(categories::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

#[derive(QueryableByName)]
struct RankedCategory {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Float8)]
    rank: f64,
}

/// The categories whose name matches `tsquery`, with their rank.
// Categories are few: matching them first turns "in a matching category" into an
// indexed `category_id = ANY(...)` instead of a subquery per product. The rank is
// normalised by the name's length, so "Phones" beats "Phone Accessories".
pub async fn matching(
    conn: &mut AsyncPgConnection,
    tsquery: &str,
) -> QueryResult<Vec<CategoryMatch>> {
    // Asked by every search: prepared once per connection.
    let rows: Vec<RankedCategory> = prepared(
        "SELECT id, ts_rank(document, query, 2)::float8 AS rank \
         FROM categories, \
              to_tsvector('simple', name || ' ' || cjk_tokens(name)) AS document, \
              to_tsquery('simple', $1) AS query \
         WHERE document @@ query",
        |q| q.bind::<diesel::sql_types::Text, _>(tsquery),
    )
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| CategoryMatch {
            id: c.id,
            rank: c.rank,
        })
        .collect())
}

#[derive(QueryableByName)]
struct CategoryId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// `root` and all the categories under it; empty when there is no such category.
pub async fn subtree(conn: &mut AsyncPgConnection, root: Uuid) -> QueryResult<Vec<Uuid>> {
    // Asked by every listing of a category: prepared once per connection.
    let tree: Vec<CategoryId> = prepared(
        "WITH RECURSIVE tree AS (
             SELECT id FROM categories WHERE id = $1
             UNION ALL
             SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
         ) SELECT id FROM tree",
        |q| q.bind::<diesel::sql_types::Uuid, _>(root),
    )
    .load(conn)
    .await?;
    Ok(tree.into_iter().map(|c| c.id).collect())
}
