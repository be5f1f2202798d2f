//! Reads for resolvers and loaders: users, their roles and addresses, the roles.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{addresses, roles, user_roles, users};
use super::{AddressRow, UserRow};

/// Users by id (those that exist).
pub async fn users_by_id(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .await
}

/// (user, role) of users `ids`, by user then role.
pub async fn roles_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    user_roles::table
        .filter(user_roles::user_id.eq_any(ids))
        .order((user_roles::user_id, user_roles::role))
        .load(conn)
        .await
}

/// Addresses of users `ids`: by user, default first, then oldest first.
pub async fn addresses_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<AddressRow>> {
    addresses::table
        .filter(addresses::user_id.eq_any(ids))
        .order((
            addresses::user_id,
            addresses::is_default.desc(),
            addresses::created_at,
            addresses::id,
        ))
        .select(AddressRow::as_select())
        .load(conn)
        .await
}

/// Every role with its permission entries, by name.
pub async fn all_roles(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(String, Vec<String>)>> {
    roles::table
        .order(roles::name)
        .select((roles::name, roles::permissions))
        .load(conn)
        .await
}

/// The ILIKE pattern of values containing `text` (its `\`, `%` and `_` taken literally).
fn containing(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page of users whose email or name contains `search` (case-insensitive), newest first,
/// after `after` (created_at, id), at most `limit`; and how many match in all.
pub async fn users_page(
    conn: &mut AsyncPgConnection,
    search: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<(i64, Vec<UserRow>)> {
    let pattern = search.map(containing);
    let filtered = || {
        let mut query = users::table.into_boxed();
        if let Some(pattern) = &pattern {
            query = query.filter(
                users::email
                    .ilike(pattern.to_owned())
                    .or(users::display_name.ilike(pattern.to_owned())),
            );
        }
        query
    };
    let total_count: i64 = filtered().count().get_result(conn).await?;
    let mut query = filtered();
    if let Some((created_at, id)) = after {
        query = query.filter(
            users::created_at
                .lt(created_at)
                .or(users::created_at.eq(created_at).and(users::id.lt(id))),
        );
    }
    let rows = query
        .order((users::created_at.desc(), users::id.desc()))
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
        .await?;
    Ok((total_count, rows))
}
