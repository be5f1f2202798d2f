//! Statements on `roles` and on who holds them (`user_roles`).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{roles, user_roles};

/// Creates or replaces the role `name`, with a new version from `role_versions`.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    name: &str,
    entries: &[String],
) -> QueryResult<usize> {
    diesel::insert_into(roles::table)
        .values((roles::name.eq(name), roles::permissions.eq(entries)))
        .on_conflict(roles::name)
        .do_update()
        .set((
            roles::permissions.eq(entries),
            roles::updated_at.eq(Utc::now()),
            roles::version.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "nextval('role_versions')",
            )),
        ))
        .execute(conn)
        .await
}

/// Those of `names` that are roles.
pub async fn existing(conn: &mut AsyncPgConnection, names: &[String]) -> QueryResult<Vec<String>> {
    roles::table
        .filter(roles::name.eq_any(names))
        .select(roles::name)
        .load(conn)
        .await
}

/// Every role: name, permission entries and version.
pub async fn all_versioned(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(String, Vec<String>, i64)>> {
    roles::table
        .select((roles::name, roles::permissions, roles::version))
        .load(conn)
        .await
}

/// Role names of `user`, by name.
pub async fn of_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<String>> {
    user_roles::table
        .filter(user_roles::user_id.eq(user))
        .select(user_roles::role)
        .order(user_roles::role)
        .load(conn)
        .await
}

/// Gives `user` the role `role`.
pub async fn grant(conn: &mut AsyncPgConnection, user: Uuid, role: &str) -> QueryResult<usize> {
    diesel::insert_into(user_roles::table)
        .values((user_roles::user_id.eq(user), user_roles::role.eq(role)))
        .execute(conn)
        .await
}

/// Replaces the roles of `user` with `roles` (names of existing roles).
pub async fn replace_of_user(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    roles: &[String],
) -> QueryResult<()> {
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user)))
        .execute(conn)
        .await?;
    diesel::insert_into(user_roles::table)
        .values(
            roles
                .iter()
                .map(|role| (user_roles::user_id.eq(user), user_roles::role.eq(role)))
                .collect::<Vec<_>>(),
        )
        .execute(conn)
        .await?;
    Ok(())
}
