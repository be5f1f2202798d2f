//! Statements on what orders know of their payments: the order locked with its payer
//! (`order_payers`), the newest version applied of each payment (`payment_versions`), the
//! refusal of a payment that cannot pay its order, and the payers the payment subgraph's
//! reconciler asks for.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use event_bus::NewEvent;
use service_kit::ApiError;
use service_kit::sql::prepared;
use uuid::Uuid;

use super::schema::{order_payers, orders};
use super::{ORDERS_STREAM, OrderRow};

/// One order and the payment that paid it (if known), locked until the transaction ends
/// (events about it are applied one at a time).
pub async fn lock_order(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<(OrderRow, Option<Uuid>)>, ApiError> {
    let Some(order) = orders::table
        .find(id)
        .for_update()
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let payer = order_payers::table
        .find(id)
        .select(order_payers::payment_id)
        .first(conn)
        .await
        .optional()?;
    Ok(Some((order, payer)))
}

/// Records that `payment` paid `order`.
pub async fn set_paid_by(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    payment: Uuid,
) -> Result<(), ApiError> {
    diesel::insert_into(order_payers::table)
        .values((
            order_payers::order_id.eq(order),
            order_payers::payment_id.eq(payment),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records `version` (with its `status`) as the newest applied of `payment` of `order`,
/// unless a version at least as new was. Whether it was newer.
pub async fn record_payment_version(
    conn: &mut AsyncPgConnection,
    (payment, order): (Uuid, Uuid),
    version: i64,
    status: &str,
) -> Result<bool, ApiError> {
    let changed = prepared(
        "INSERT INTO payment_versions (payment_id, order_id, version, status) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (payment_id) DO UPDATE \
         SET version = excluded.version, status = excluded.status, applied_at = now() \
         WHERE payment_versions.version < excluded.version",
        |q| {
            q.bind::<SqlUuid, _>(payment)
                .bind::<SqlUuid, _>(order)
                .bind::<BigInt, _>(version)
                .bind::<Text, _>(status)
        },
    )
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Payload of `OrderPaymentRefused` v1: a payment succeeded for an order that was no longer
/// payable; the payment subgraph refunds it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRefused<'a> {
    order_id: Uuid,
    payment_id: Uuid,
    user_id: Uuid,
    order_status: &'a str,
    reason: &'a str,
}

/// Records that `payment` cannot pay `order` (as it is now): an `OrderPaymentRefused`
/// event, through the outbox.
pub async fn refuse_payment(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    payment: Uuid,
    reason: &str,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    let payload = PaymentRefused {
        order_id: order.id,
        payment_id: payment,
        user_id: order.user_id,
        order_status: &order.status,
        reason,
    };
    NewEvent::new(
        ORDERS_STREAM,
        "OrderPaymentRefused",
        order.id,
        &payload,
        traceparent,
    )
    .insert(conn)
    .await?;
    Ok(())
}

/// Status and paying payment of the orders among `ids` that exist.
pub async fn statuses_and_payers(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, Option<Uuid>)>, ApiError> {
    Ok(orders::table
        .left_join(order_payers::table.on(order_payers::order_id.eq(orders::id)))
        .filter(orders::id.eq_any(ids))
        .select((
            orders::id,
            orders::status,
            order_payers::payment_id.nullable(),
        ))
        .load(conn)
        .await?)
}
