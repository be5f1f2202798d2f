//! Statements on a payment's log (`payment_log`): one row per status change.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::LogRow;
use super::schema::payment_log;

/// Logs a change of `payment` from `from` (`None`: its creation) to `to`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    payment: Uuid,
    from: Option<&str>,
    to: &str,
    note: &str,
) -> Result<(), ApiError> {
    diesel::insert_into(payment_log::table)
        .values((
            payment_log::payment_id.eq(payment),
            payment_log::from_status.eq(from),
            payment_log::to_status.eq(to),
            payment_log::note.eq(note),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A payment's status changes, oldest first.
pub async fn log_of(conn: &mut AsyncPgConnection, payment: Uuid) -> Result<Vec<LogRow>, ApiError> {
    Ok(payment_log::table
        .filter(payment_log::payment_id.eq(payment))
        .order(payment_log::id)
        .select(LogRow::as_select())
        .load(conn)
        .await?)
}

/// The status `payment` had before its last change: `None` when it has no log, `Some(None)`
/// when the last change was its creation.
pub async fn last_from_status(
    conn: &mut AsyncPgConnection,
    payment: Uuid,
) -> Result<Option<Option<String>>, ApiError> {
    Ok(payment_log::table
        .filter(payment_log::payment_id.eq(payment))
        .order(payment_log::id.desc())
        .select(payment_log::from_status)
        .first(conn)
        .await
        .optional()?)
}
