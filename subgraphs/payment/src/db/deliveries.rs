//! Statements on the sandbox gateway's webhook calls (`gateway_deliveries`): one queued per
//! decision, delivered until the webhook takes it.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::schema::gateway_deliveries as d;

/// A queued webhook call of the sandbox gateway.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = d, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: i64,
    pub body: String,
    pub attempts: i32,
}

/// How many webhook calls were queued for `payment` (a decision each).
pub async fn count_of(conn: &mut AsyncPgConnection, payment: Uuid) -> Result<i64, ApiError> {
    Ok(d::table
        .filter(d::payment_id.eq(payment))
        .count()
        .get_result(conn)
        .await?)
}

/// Queues the webhook call `body` (event `event_id`) about `payment`.
pub async fn queue(
    conn: &mut AsyncPgConnection,
    event_id: Uuid,
    payment: Uuid,
    body: String,
) -> Result<(), ApiError> {
    diesel::insert_into(d::table)
        .values((
            d::event_id.eq(event_id),
            d::payment_id.eq(payment),
            d::body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Up to `limit` calls due now, the longest due first, locked until the transaction ends;
/// rows another replica is delivering are skipped.
pub async fn lock_due(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Delivery>, ApiError> {
    Ok(d::table
        .filter(d::delivered_at.is_null())
        .filter(d::next_attempt_at.le(Utc::now()))
        .order(d::next_attempt_at)
        .limit(limit)
        .select(Delivery::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await?)
}

/// Records that the webhook took call `id`.
pub async fn delivered(conn: &mut AsyncPgConnection, id: i64) -> Result<(), ApiError> {
    diesel::update(d::table.find(id))
        .set((
            d::delivered_at.eq(Utc::now()),
            d::attempts.eq(d::attempts + 1),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that call `id` failed with `error`, to be tried again in `retry_in_s` seconds.
pub async fn failed(
    conn: &mut AsyncPgConnection,
    id: i64,
    retry_in_s: i64,
    error: String,
) -> Result<(), ApiError> {
    diesel::update(d::table.find(id))
        .set((
            d::attempts.eq(d::attempts + 1),
            d::next_attempt_at.eq(Utc::now() + chrono::Duration::seconds(retry_in_s)),
            d::last_error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
