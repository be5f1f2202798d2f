//! Statements on proposed actions. Values travel as bind parameters only. A confirmation
//! claims an action once (its key set while it is `PROPOSED` and not expired); its outcome
//! is recorded only on an action still `PROPOSED` with that key, so a late or repeated
//! confirmation never overwrites another outcome.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::ActionRow;
use super::schema::assistant_actions as actions;

/// The database's clock: every replica decides leases and expiry by the same one.
pub async fn database_now(conn: &mut AsyncPgConnection) -> Result<DateTime<Utc>, ApiError> {
    Ok(
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now()"))
            .get_result(conn)
            .await?,
    )
}

/// Replaces the operation's variables of the attempt holding the action until `attempt`
/// (what a re-run needs to know of the first attempt); whether it still held it.
pub async fn note_request(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    attempt: DateTime<Utc>,
    request: &str,
) -> Result<bool, ApiError> {
    let written = diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::attempt_until.eq(attempt)),
    )
    .set(actions::request.eq(request))
    .execute(conn)
    .await?;
    Ok(written == 1)
}

/// Records a proposal.
pub async fn insert(conn: &mut AsyncPgConnection, row: ActionRow) -> Result<(), ApiError> {
    diesel::insert_into(actions::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// The action `id` if it is `user`'s.
pub async fn find_owned(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
) -> Result<Option<ActionRow>, ApiError> {
    Ok(actions::table
        .filter(actions::id.eq(id))
        .filter(actions::user_id.eq(user))
        .select(ActionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The actions `ids` (one statement; messages of a conversation load theirs together).
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<ActionRow>, ApiError> {
    Ok(actions::table
        .filter(actions::id.eq_any(ids))
        .select(ActionRow::as_select())
        .load(conn)
        .await?)
}

/// Claims `user`'s proposal `id` for the confirmation `key`, its attempt running until
/// `attempt_until`: only while it is `PROPOSED`, unclaimed and not expired. `None` when it
/// was not claimed now (the caller reads it to see why).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
    key: &str,
    now: DateTime<Utc>,
    attempt_until: DateTime<Utc>,
) -> Result<Option<ActionRow>, ApiError> {
    Ok(diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::user_id.eq(user))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::confirm_key.is_null())
            .filter(actions::expires_at.gt(now)),
    )
    .set((
        actions::confirm_key.eq(key),
        actions::confirmed_at.eq(now),
        actions::attempt_until.eq(attempt_until),
        actions::updated_at.eq(now),
    ))
    .returning(ActionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Takes over the attempt of the confirmation `key` once the previous one is over (it died,
/// or its outcome was unknown), while the action may still run (`expires_at` after
/// `expired_before`). `None` when another attempt is running or it may not run any more.
pub async fn reclaim(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    key: &str,
    now: DateTime<Utc>,
    expired_before: DateTime<Utc>,
    attempt_until: DateTime<Utc>,
) -> Result<Option<ActionRow>, ApiError> {
    Ok(diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::confirm_key.eq(key))
            .filter(actions::attempt_until.le(now))
            .filter(actions::expires_at.gt(expired_before)),
    )
    .set((
        actions::attempt_until.eq(attempt_until),
        actions::updated_at.eq(now),
    ))
    .returning(ActionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Ends the attempt of `key` that holds the action until `attempt`, without an outcome (it
/// is unknown): the same key may run the operation again at once. Nothing when another
/// attempt holds it now.
pub async fn release(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    key: &str,
    attempt: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::confirm_key.eq(key))
            .filter(actions::attempt_until.eq(attempt)),
    )
    .set((actions::attempt_until.eq(now), actions::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the outcome of the attempt of the confirmation `key` that holds the action until
/// `attempt` (`DONE` with its order, or `FAILED` with the API's error code); `None` when the
/// action was no longer waiting for it (an outcome is recorded, or another attempt took over
/// after this one's time ran out: its outcome will stand).
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    key: &str,
    attempt: DateTime<Utc>,
    status: &str,
    order: Option<Uuid>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<ActionRow>, ApiError> {
    Ok(diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::confirm_key.eq(key))
            .filter(actions::attempt_until.eq(attempt)),
    )
    .set((
        actions::status.eq(status),
        actions::order_id.eq(order),
        actions::error.eq(error),
        actions::updated_at.eq(now),
    ))
    .returning(ActionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Declines `user`'s proposal `id` if nobody confirmed it yet and it has not expired.
/// `None` when it was not declined now.
pub async fn decline(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ActionRow>, ApiError> {
    Ok(diesel::update(
        actions::table
            .filter(actions::id.eq(id))
            .filter(actions::user_id.eq(user))
            .filter(actions::status.eq("PROPOSED"))
            .filter(actions::confirm_key.is_null())
            .filter(actions::expires_at.gt(now)),
    )
    .set((actions::status.eq("DECLINED"), actions::updated_at.eq(now)))
    .returning(ActionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}
