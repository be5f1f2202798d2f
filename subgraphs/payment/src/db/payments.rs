//! Statements on payments: reads (for resolvers, loaders, the gateway's page and the live
//! feed), the insert of a new payment, the row locks every change starts with, and the
//! write of a change.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::PaymentRow;
use super::schema::payments;
use crate::domain::status::PaymentStatus;

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

/// A payment to create.
pub struct NewPayment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub method: &'static str,
    pub amount: i64,
    pub currency: String,
    pub idempotency_key: String,
    pub gateway_reference: String,
    pub expires_at: DateTime<Utc>,
}

/// Inserts `new` as `PENDING`; `None` when this customer used its key before (nothing is
/// written). A second open payment for one order is `CONFLICT`: a unique index decides,
/// whatever races.
pub async fn insert_pending(
    conn: &mut AsyncPgConnection,
    new: &NewPayment,
) -> Result<Option<PaymentRow>, ApiError> {
    diesel::insert_into(payments::table)
        .values((
            payments::id.eq(new.id),
            payments::order_id.eq(new.order_id),
            payments::status.eq(PaymentStatus::Pending.as_db()),
            payments::method.eq(new.method),
            payments::amount.eq(new.amount),
            payments::currency.eq(&new.currency),
            payments::user_id.eq(new.user_id),
            payments::idempotency_key.eq(&new.idempotency_key),
            payments::gateway_reference.eq(&new.gateway_reference),
            payments::expires_at.eq(new.expires_at),
        ))
        .on_conflict((payments::user_id, payments::idempotency_key))
        .do_nothing()
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(|error| match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                if info.constraint_name() == Some("payments_one_open_per_order_idx") =>
            {
                ApiError::Conflict(
                    "this order already has an open payment: complete or decline it first".into(),
                )
            }
            error => error.into(),
        })
}

/// The payment this customer created with `key`.
pub async fn by_key(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
) -> Result<PaymentRow, ApiError> {
    Ok(payments::table
        .filter(payments::user_id.eq(user))
        .filter(payments::idempotency_key.eq(key))
        .select(PaymentRow::as_select())
        .first(conn)
        .await?)
}

/// One payment, locked until the transaction ends.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<PaymentRow>, ApiError> {
    Ok(payments::table
        .find(id)
        .select(PaymentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// The payment the gateway knows as `reference`, locked until the transaction ends.
pub async fn lock_by_reference(
    conn: &mut AsyncPgConnection,
    reference: &str,
) -> Result<Option<PaymentRow>, ApiError> {
    Ok(payments::table
        .filter(payments::gateway_reference.eq(reference))
        .select(PaymentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// The open (`PENDING`) payment of `order_id`, if any, locked until the transaction ends.
pub async fn lock_open_of_order(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    Ok(payments::table
        .filter(payments::order_id.eq(order_id))
        .filter(payments::status.eq(PaymentStatus::Pending.as_db()))
        .select(payments::id)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Up to `limit` open payments that expired at `due` or before, oldest expiry first, locked
/// until the transaction ends; rows another replica holds are skipped.
pub async fn lock_due_to_expire(
    conn: &mut AsyncPgConnection,
    due: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, ApiError> {
    Ok(payments::table
        .filter(payments::status.eq(PaymentStatus::Pending.as_db()))
        .filter(payments::expires_at.le(due))
        .order(payments::expires_at)
        .limit(limit)
        .select(payments::id)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?)
}

/// Writes a change of payment `id`: its new status and refunded total, the next version.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: PaymentStatus,
    refunded_amount: i64,
) -> Result<PaymentRow, ApiError> {
    Ok(diesel::update(payments::table.find(id))
        .set((
            payments::status.eq(status.as_db()),
            payments::refunded_amount.eq(refunded_amount),
            payments::version.eq(payments::version + 1),
            payments::updated_at.eq(Utc::now()),
        ))
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await?)
}
