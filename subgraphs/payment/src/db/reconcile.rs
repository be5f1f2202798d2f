//! The money reconciler's statements: its turn, the successful payments due to be checked
//! against their orders, and the record that they were.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::PaymentRow;
use super::schema::payments;

/// Whether this transaction is the reconciler's turn (a transaction-scoped advisory lock:
/// one replica at a time, the others skip the round).
pub async fn reconciler_turn(conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
    service_kit::db::try_turn(conn, "payment reconciler").await
}

/// Up to `limit` successful payments (refunded in part included) not reconciled yet whose
/// last change is more than `after` old, oldest first. Not locked: what the reconciler does
/// with them is idempotent and locks each payment it changes.
pub async fn due_to_reconcile(
    conn: &mut AsyncPgConnection,
    after: std::time::Duration,
    limit: i64,
) -> Result<Vec<PaymentRow>, ApiError> {
    let before = Utc::now() - chrono::Duration::from_std(after).map_err(|_| ApiError::Internal)?;
    Ok(payments::table
        .filter(payments::status.eq_any(["SUCCEEDED", "PARTIALLY_REFUNDED"]))
        .filter(payments::reconciled_at.is_null())
        .filter(payments::updated_at.le(before))
        .order(payments::updated_at)
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// Whether a payment of `order` other than `payment` holds money (succeeded, not refunded
/// in full).
pub async fn others_succeeded(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    payment: Uuid,
) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        payments::table
            .filter(payments::order_id.eq(order))
            .filter(payments::id.ne(payment))
            .filter(payments::status.eq_any(["SUCCEEDED", "PARTIALLY_REFUNDED"])),
    ))
    .get_result(conn)
    .await?)
}

/// Records that `ids` are settled with their orders.
pub async fn mark_reconciled(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<(), ApiError> {
    diesel::update(payments::table.filter(payments::id.eq_any(ids)))
        .set(payments::reconciled_at.eq(Some(Utc::now())))
        .execute(conn)
        .await?;
    Ok(())
}
