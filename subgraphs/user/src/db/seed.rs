//! Statements of the demo data (`crate::seed`): they keep what exists.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{addresses, user_roles, users};

/// The account `id` with `roles`, unless it exists; a missing password is set to `hash`.
pub async fn account(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    email: &str,
    name: &str,
    hash: &str,
    roles: &[&str],
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::email.eq(email),
            users::display_name.eq(name),
            users::status.eq("ACTIVE"),
            users::created_at.eq(Utc::now()),
            users::password_hash.eq(hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    diesel::update(users::table.find(id).filter(users::password_hash.is_null()))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await?;
    for role in roles {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(id), user_roles::role.eq(role)))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The demo customer's default address `id` of `user`, unless it exists.
pub async fn demo_address(conn: &mut AsyncPgConnection, id: Uuid, user: Uuid) -> QueryResult<()> {
    diesel::insert_into(addresses::table)
        .values((
            addresses::id.eq(id),
            addresses::user_id.eq(user),
            addresses::recipient.eq("Demo Customer"),
            addresses::phone.eq("+86 138 0013 8000"),
            addresses::province.eq("北京市"),
            addresses::city.eq("北京市"),
            addresses::district.eq("朝阳区"),
            addresses::line1.eq("建国路 1 号"),
            addresses::postal_code.eq(Some("100020")),
            addresses::is_default.eq(true),
            addresses::created_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
