//! Statements on checkout attempts (`checkout_attempts`): the claim that makes one
//! `(user, idempotency key)` one order, its restart and its abandonment. Values always
//! travel as bind parameters.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::schema::checkout_attempts;
use super::{AttemptRow, ORDERS_STREAM};

/// Claims `(user, key)` for a new checkout with `order_id`, or returns the claim that was
/// there first (a retry, or a racing twin): the primary key decides, not a prior read.
pub async fn claim_attempt(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
    request_hash: &str,
    order_id: Uuid,
) -> Result<(AttemptRow, bool), ApiError> {
    let inserted: Option<AttemptRow> = diesel::insert_into(checkout_attempts::table)
        .values((
            checkout_attempts::user_id.eq(user),
            checkout_attempts::idempotency_key.eq(key),
            checkout_attempts::request_hash.eq(request_hash),
            checkout_attempts::order_id.eq(order_id),
            checkout_attempts::state.eq("RESERVING"),
        ))
        .on_conflict_do_nothing()
        .returning(AttemptRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(row) = inserted {
        return Ok((row, true));
    }
    let existing = checkout_attempts::table
        .find((user, key))
        .select(AttemptRow::as_select())
        .first(conn)
        .await?;
    Ok((existing, false))
}

/// Starts an abandoned checkout over with a new order id (the caller gave the old one's
/// stock back); `None` if it is not abandoned (any more).
pub async fn restart_abandoned(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
    order_id: Uuid,
) -> Result<Option<AttemptRow>, ApiError> {
    Ok(diesel::update(
        checkout_attempts::table
            .find((user, key))
            .filter(checkout_attempts::state.eq("ABANDONED")),
    )
    .set((
        checkout_attempts::order_id.eq(order_id),
        checkout_attempts::state.eq("RESERVING"),
        checkout_attempts::created_at.eq(diesel::dsl::now),
        // The new order's stock is for the stock reconciler to check again.
        checkout_attempts::stock_returned_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(AttemptRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// The attempt that holds `order_id`, if any.
pub async fn attempt_of(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
) -> Result<Option<AttemptRow>, ApiError> {
    Ok(checkout_attempts::table
        .filter(checkout_attempts::order_id.eq(order_id))
        .select(AttemptRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Forgets a checkout that reserved nothing (it failed on the customer's input or on stock),
/// so that the same key may try again.
pub async fn forget_attempt(conn: &mut AsyncPgConnection, order_id: Uuid) -> Result<(), ApiError> {
    diesel::delete(
        checkout_attempts::table
            .filter(checkout_attempts::order_id.eq(order_id))
            .filter(checkout_attempts::state.eq("RESERVING")),
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Which checkout attempts to abandon.
#[derive(Clone, Copy, Debug)]
pub enum Abandon {
    /// Those still `RESERVING` after this long (their process died), at most `limit`.
    Stale {
        older_than: std::time::Duration,
        limit: i64,
    },
    /// This one, now (its reservation call failed without an answer).
    Order(Uuid),
}

/// Abandons checkouts that may hold stock without an order, writing a `CheckoutAbandoned`
/// event for each, which makes the catalog give the stock back (and refuse any later
/// reservation for that order). Replicas skip each other's rows. Returns how many.
pub async fn abandon_attempts(
    conn: &mut AsyncPgConnection,
    which: Abandon,
) -> Result<i64, ApiError> {
    let (older_than, limit, order_id) = match which {
        Abandon::Stale { older_than, limit } => (older_than, limit, None),
        Abandon::Order(id) => (std::time::Duration::ZERO, 1, Some(id)),
    };
    let abandoned: Count = diesel::sql_query(
        "WITH stale AS ( \
             SELECT user_id, idempotency_key FROM checkout_attempts \
             WHERE state = 'RESERVING' AND created_at <= now() - $1 * interval '1 millisecond' \
               AND ($4::uuid IS NULL OR order_id = $4) \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED \
         ), abandoned AS ( \
             UPDATE checkout_attempts a SET state = 'ABANDONED' FROM stale s \
             WHERE a.user_id = s.user_id AND a.idempotency_key = s.idempotency_key \
             RETURNING a.order_id, a.user_id \
         ), events AS ( \
             INSERT INTO outbox (id, stream, name, version, aggregate_id, payload, occurred_at) \
             SELECT gen_random_uuid(), $3, 'CheckoutAbandoned', 1, a.order_id::text, \
                    jsonb_build_object('orderId', a.order_id, 'userId', a.user_id)::text, now() \
             FROM abandoned a \
         ) \
         SELECT count(*) AS count FROM abandoned",
    )
    .bind::<Int8, _>(older_than.as_millis() as i64)
    .bind::<Int8, _>(limit)
    .bind::<Text, _>(ORDERS_STREAM)
    .bind::<Nullable<SqlUuid>, _>(order_id)
    .get_result(conn)
    .await?;
    Ok(abandoned.count)
}
