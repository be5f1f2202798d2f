//! Statements on `users`: sign-in lookups, new accounts, profile and password changes,
//! bans, and the row locks that order changes of one user.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::schema::users;
use super::{NewUser, UserRow};

/// The sign-in lookup: by the stored, lower-cased email, through `users_email_idx`.
pub fn by_email(
    email: &str,
) -> diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::email, &str>> {
    users::table.filter(users::email.eq(email))
}

/// The account with `email` and its password hash, if there is one.
pub async fn credentials_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<(UserRow, Option<String>)>> {
    by_email(email)
        .select((UserRow::as_select(), users::password_hash))
        .first(conn)
        .await
        .optional()
}

/// Email and password hash of `user`.
pub async fn credentials(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<(String, Option<String>)> {
    users::table
        .find(user)
        .select((users::email, users::password_hash))
        .first(conn)
        .await
}

/// Inserts a new account.
pub async fn insert(conn: &mut AsyncPgConnection, user: &NewUser<'_>) -> QueryResult<usize> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .await
}

/// The user, if they exist.
pub async fn find(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .find(user)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user; `NOT_FOUND` if they do not exist.
pub async fn load(conn: &mut AsyncPgConnection, user: Uuid) -> Result<UserRow, ApiError> {
    find(conn, user)
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))
}

/// The user, share-locked until the transaction ends (`NotFound` if they do not exist):
/// a ban, which updates the row, waits for it.
pub async fn find_for_share(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<UserRow> {
    users::table
        .find(user)
        .select(UserRow::as_select())
        .for_share()
        .first(conn)
        .await
}

/// Locks the user's row until the transaction ends; `None` if they do not exist.
pub async fn lock(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<Uuid>> {
    users::table
        .find(user)
        .select(users::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()
}

/// Sets the display name; the updated row.
pub async fn set_display_name(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    name: String,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(user))
        .set((
            users::display_name.eq(name),
            users::updated_at.eq(Utc::now()),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Replaces the password hash.
pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    hash: String,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
}

/// Bans the user (until `until`, or until lifted) and bumps their access version; the
/// updated row, `None` if there is no such user.
pub async fn ban(
    conn: &mut AsyncPgConnection,
    target: Uuid,
    reason: &str,
    until: Option<DateTime<Utc>>,
) -> QueryResult<Option<UserRow>> {
    diesel::update(users::table.find(target))
        .set((
            users::status.eq("BANNED"),
            users::banned_until.eq(until),
            users::ban_reason.eq(reason),
            users::updated_at.eq(Utc::now()),
            users::access_version.eq(users::access_version + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Lifts the user's ban and bumps their access version; the updated row, `None` if there
/// is no such user.
pub async fn unban(conn: &mut AsyncPgConnection, target: Uuid) -> QueryResult<Option<UserRow>> {
    diesel::update(users::table.find(target))
        .set((
            users::status.eq("ACTIVE"),
            users::banned_until.eq(None::<DateTime<Utc>>),
            users::ban_reason.eq(None::<String>),
            users::updated_at.eq(Utc::now()),
            users::access_version.eq(users::access_version + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Bumps the user's access version (which also locks the row); the updated row, `None` if
/// there is no such user.
pub async fn bump_access_version(
    conn: &mut AsyncPgConnection,
    target: Uuid,
) -> QueryResult<Option<UserRow>> {
    diesel::update(users::table.find(target))
        .set(users::access_version.eq(users::access_version + 1))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel_async::SimpleAsyncConnection as _;

    use super::*;

    #[tokio::test]
    async fn sign_in_finds_the_user_through_the_email_index() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        conn.batch_execute("SET enable_seqscan = off")
            .await
            .unwrap();
        let plan = test_support::explain(&mut conn, by_email("ada@example.com").select(users::id))
            .await
            .join("\n");
        assert!(plan.contains("users_email_idx"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}
