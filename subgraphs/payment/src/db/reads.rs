//! Statements that read payments, their log and their refunds (for resolvers, loaders, the
//! gateway's page and the live feed).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::{LogRow, PaymentRow, RefundRow, payment_log, payments, refunds};

/// One payment.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<PaymentRow>, ApiError> {
    Ok(payments::table
        .find(id)
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The payment the gateway knows as `reference`.
pub async fn by_reference(
    conn: &mut AsyncPgConnection,
    reference: &str,
) -> Result<Option<PaymentRow>, ApiError> {
    Ok(payments::table
        .filter(payments::gateway_reference.eq(reference))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Payments by id (those that exist).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<PaymentRow>, ApiError> {
    Ok(payments::table
        .filter(payments::id.eq_any(ids))
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// The payments of orders `order_ids`, oldest first.
pub async fn of_orders(
    conn: &mut AsyncPgConnection,
    order_ids: &[Uuid],
) -> Result<Vec<PaymentRow>, ApiError> {
    Ok(payments::table
        .filter(payments::order_id.eq_any(order_ids))
        .order((payments::created_at, payments::id))
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
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
