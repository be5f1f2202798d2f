//! Statements on refunds (`refunds`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::RefundRow;
use super::schema::refunds;

/// A payment's refunds, oldest first.
pub async fn refunds_of(
    conn: &mut AsyncPgConnection,
    payment: Uuid,
) -> Result<Vec<RefundRow>, ApiError> {
    Ok(refunds::table
        .filter(refunds::payment_id.eq(payment))
        .order((refunds::created_at, refunds::id))
        .select(RefundRow::as_select())
        .load(conn)
        .await?)
}

/// The refund of `payment` made with `key`, if any.
pub async fn by_key(
    conn: &mut AsyncPgConnection,
    payment: Uuid,
    key: &str,
) -> Result<Option<RefundRow>, ApiError> {
    Ok(refunds::table
        .filter(refunds::payment_id.eq(payment))
        .filter(refunds::idempotency_key.eq(key))
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Records a refund of `amount` from `payment` (`created_by`: the person who made it, `None`
/// for an automatic one).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    payment: Uuid,
    amount: i64,
    reason: &str,
    key: &str,
    created_by: Option<Uuid>,
) -> Result<RefundRow, ApiError> {
    Ok(diesel::insert_into(refunds::table)
        .values((
            refunds::id.eq(Uuid::now_v7()),
            refunds::payment_id.eq(payment),
            refunds::amount.eq(amount),
            refunds::reason.eq(reason),
            refunds::idempotency_key.eq(key),
            refunds::created_by.eq(created_by),
        ))
        .returning(RefundRow::as_returning())
        .get_result(conn)
        .await?)
}
