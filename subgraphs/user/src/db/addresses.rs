//! Statements on `addresses`. Changes of one user's addresses run with the user's row
//! locked (`users::lock`), so that exactly one default survives concurrent changes.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::AddressRow;
use super::schema::addresses;

/// How many addresses `user` has saved.
pub async fn count_of(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<i64> {
    addresses::table
        .filter(addresses::user_id.eq(user))
        .count()
        .get_result(conn)
        .await
}

/// The address `id` if it belongs to `user`.
pub async fn find_owned(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
) -> QueryResult<Option<AddressRow>> {
    addresses::table
        .filter(addresses::id.eq(id))
        .filter(addresses::user_id.eq(user))
        .select(AddressRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A saved address of `user`: `address_id`, or the default when `None`.
pub async fn saved(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    address_id: Option<Uuid>,
) -> QueryResult<Option<AddressRow>> {
    let mut query = addresses::table
        .filter(addresses::user_id.eq(user))
        .into_boxed();
    query = match address_id {
        Some(id) => query.filter(addresses::id.eq(id)),
        None => query.filter(addresses::is_default.eq(true)),
    };
    query
        .select(AddressRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The addresses with these ids, and the default addresses of these users (whoever owns
/// them: the caller matches each to the user who asked).
pub async fn saved_many(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    defaults_of: &[Uuid],
) -> QueryResult<Vec<AddressRow>> {
    addresses::table
        .filter(
            addresses::id.eq_any(ids).or(addresses::user_id
                .eq_any(defaults_of)
                .and(addresses::is_default)),
        )
        .select(AddressRow::as_select())
        .load(conn)
        .await
}

/// Inserts a new address.
pub async fn insert(conn: &mut AsyncPgConnection, row: &AddressRow) -> QueryResult<usize> {
    diesel::insert_into(addresses::table)
        .values(row)
        .execute(conn)
        .await
}

/// Replaces every field of the address `row.id`.
pub async fn replace(conn: &mut AsyncPgConnection, row: &AddressRow) -> QueryResult<usize> {
    diesel::update(addresses::table.find(row.id))
        .set(row)
        .execute(conn)
        .await
}

/// Deletes the address `id` if it belongs to `user`: whether it was the default, `None` if
/// there was no such address.
pub async fn delete_owned(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
) -> QueryResult<Option<bool>> {
    diesel::delete(
        addresses::table
            .filter(addresses::id.eq(id))
            .filter(addresses::user_id.eq(user)),
    )
    .returning(addresses::is_default)
    .get_result(conn)
    .await
    .optional()
}

/// The oldest address of `user`, if any.
pub async fn oldest(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<Uuid>> {
    addresses::table
        .filter(addresses::user_id.eq(user))
        .order((addresses::created_at, addresses::id))
        .select(addresses::id)
        .first(conn)
        .await
        .optional()
}

/// Makes the address `id` the default.
pub async fn make_default(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::update(addresses::table.find(id))
        .set(addresses::is_default.eq(true))
        .execute(conn)
        .await
}

/// Clears the default flag of `user`'s addresses.
pub async fn clear_default(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<usize> {
    diesel::update(
        addresses::table
            .filter(addresses::user_id.eq(user))
            .filter(addresses::is_default),
    )
    .set(addresses::is_default.eq(false))
    .execute(conn)
    .await
}
