//! Statements on `sessions` and their `refresh_tokens`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{refresh_tokens, sessions};

/// Inserts a session of `user` that ends at `expires_at`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    session: Uuid,
    user: Uuid,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(session),
            sessions::user_id.eq(user),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
}

/// Inserts an unused refresh token (by its hash) of `session`.
pub async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    session: Uuid,
) -> QueryResult<usize> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session),
        ))
        .execute(conn)
        .await
}

/// Marks the unused refresh token with `hash` used at `now`; its session, `None` if no
/// unused token has that hash. The row lock makes concurrent uses of one token take turns.
pub async fn use_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<Uuid>> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(hash))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .returning(refresh_tokens::session_id)
    .get_result(conn)
    .await
    .optional()
}

/// The session of the refresh token with `hash` and when it was used, if it exists.
pub async fn refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<(Uuid, Option<DateTime<Utc>>)>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((refresh_tokens::session_id, refresh_tokens::used_at))
        .first(conn)
        .await
        .optional()
}

/// Locks the session until the transaction ends: its user, end and revocation time.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    session: Uuid,
) -> QueryResult<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> {
    sessions::table
        .find(session)
        .select((
            sessions::user_id,
            sessions::expires_at,
            sessions::revoked_at,
        ))
        .for_update()
        .first(conn)
        .await
}

/// Whether the session exists and is not revoked.
pub async fn is_unrevoked(conn: &mut AsyncPgConnection, session: Uuid) -> QueryResult<bool> {
    Ok(sessions::table
        .find(session)
        .filter(sessions::revoked_at.is_null())
        .count()
        .get_result::<i64>(conn)
        .await?
        == 1)
}

/// Unrevoked sessions of `user`.
pub async fn unrevoked_of(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<Uuid>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .load(conn)
        .await
}

/// Unrevoked sessions of `user` other than `current`.
pub async fn other_unrevoked_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    current: Uuid,
) -> QueryResult<Vec<Uuid>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::id.ne(current))
        .select(sessions::id)
        .load(conn)
        .await
}

/// Revokes those of `ids` not revoked yet, for `reason`.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    reason: &str,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq_any(ids))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(Utc::now()),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await
}
