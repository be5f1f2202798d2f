//! Status changes after checkout, through the state machine ([`crate::domain::decide`])
//! with optimistic concurrency: read the order at its version, decide, write only if the
//! version is unchanged; a lost race reads again and decides again, never overwrites.

use diesel_async::AsyncConnection as _;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::OrderRow;
use crate::db::store;
use crate::domain::{Command, OrderStatus, decide};

/// How often a change is decided again after losing a race before giving up.
const ATTEMPTS: usize = 8;

/// The status of a stored row.
pub fn status_of(row: &OrderRow) -> Result<OrderStatus, ApiError> {
    OrderStatus::from_db(&row.status).map_err(|error| {
        tracing::error!(%error, order = %row.id, "unreadable order row");
        ApiError::Internal
    })
}

/// Applies `command` to `order` (as the caller read it); `CONFLICT` when its status does
/// not allow it.
pub async fn apply(
    db: &DbPool,
    order: OrderRow,
    command: Command,
    reason: Option<&str>,
    traceparent: Option<String>,
) -> Result<OrderRow, ApiError> {
    let mut conn = db.get().await?;
    let mut order = order;
    for _ in 0..ATTEMPTS {
        let to = decide(status_of(&order)?, command)
            .map_err(|illegal| ApiError::Conflict(illegal.to_string()))?;
        match store::change_status(&mut conn, &order, to, reason, traceparent.clone()).await? {
            Some(changed) => return Ok(changed),
            None => order = reread(&mut conn, order.id).await?,
        }
    }
    Err(ApiError::Conflict(
        "the order keeps changing; try again".into(),
    ))
}

/// Replaces the shipping address of `order` (as the caller read it) while it is unpaid.
pub async fn change_address(
    db: &DbPool,
    order: OrderRow,
    address_json: &str,
) -> Result<OrderRow, ApiError> {
    let mut conn = db.get().await?;
    let mut order = order;
    for _ in 0..ATTEMPTS {
        let status = status_of(&order)?;
        if !status.address_changeable() {
            return Err(ApiError::Conflict(format!(
                "the address of an order that is {} cannot change",
                status.as_db()
            )));
        }
        match store::change_address(&mut conn, &order, address_json).await? {
            Some(changed) => return Ok(changed),
            None => order = reread(&mut conn, order.id).await?,
        }
    }
    Err(ApiError::Conflict(
        "the order keeps changing; try again".into(),
    ))
}

/// The order as it is now, after losing a race for it.
async fn reread(
    conn: &mut diesel_async::AsyncPgConnection,
    order_id: Uuid,
) -> Result<OrderRow, ApiError> {
    store::find_order(conn, order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("order".into()))
}

/// Expires up to `limit` unpaid orders past their time, in one transaction whose row locks
/// keep other replicas off them; their `OrderExpired` events make the catalog release the
/// stock. Returns how many expired.
pub async fn expire_due(db: &DbPool, limit: i64) -> Result<usize, ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let due = store::lock_due_for_expiry(conn, limit).await?;
        let mut expired = 0;
        for order in &due {
            let to = decide(status_of(order)?, Command::Expire)
                .map_err(|illegal| ApiError::Conflict(illegal.to_string()))?;
            if store::change_status(conn, order, to, Some("not paid in time"), None)
                .await?
                .is_some()
            {
                expired += 1;
            }
        }
        Ok(expired)
    })
    .await
}

/// What the order subgraph reads of a payment's `PaymentStatusChanged` event.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentChanged {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub from: Option<String>,
    pub to: String,
}

/// Brings the order in line with its payment: a payment that succeeded pays it, the full
/// refund of the payment that paid it refunds it (its `OrderRefunded` event then returns
/// the stock). Idempotent: a redelivered event finds the order already there.
///
/// A payment that succeeds for an order that is no longer payable is refused
/// (`OrderPaymentRefused`), and the payment subgraph gives the money back. Only one payment
/// of an order can succeed (one open payment at a time, and a late gateway approval of a
/// closed payment is returned by the payment subgraph itself), so an order already `PAID`
/// was paid by this payment.
pub async fn follow_payment(
    db: &DbPool,
    payment: &PaymentChanged,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    let (wanted, command, reason) = match (payment.from.as_deref(), payment.to.as_str()) {
        (_, "SUCCEEDED") => (OrderStatus::Paid, Command::Pay, "paid"),
        // From a closed payment (`CANCELLED`/`EXPIRED` → `REFUNDED`) the money of a late
        // approval went back: the order was not paid by it.
        (Some("SUCCEEDED" | "PARTIALLY_REFUNDED"), "REFUNDED") => {
            (OrderStatus::Refunded, Command::Refund, "payment refunded")
        }
        _ => return Ok(()),
    };
    let mut conn = db.get().await?;
    let order = reread(&mut conn, payment.order_id).await?;
    drop(conn);
    let status = status_of(&order)?;
    if status == wanted {
        return Ok(());
    }
    match apply(db, order, command, Some(reason), traceparent.clone()).await {
        Ok(_) => {
            tracing::info!(order = %payment.order_id, payment = %payment.payment_id, to = ?wanted, "order follows its payment");
            Ok(())
        }
        Err(ApiError::Conflict(why)) if command == Command::Pay => {
            // A payment that succeeded for an order no longer payable (expired or cancelled
            // meanwhile): the order stays as it is, and the payment subgraph refunds the
            // money on `OrderPaymentRefused`. A redelivered event refuses again; the refund
            // happens once (it has one idempotency key per payment).
            tracing::warn!(order = %payment.order_id, payment = %payment.payment_id, %why, "payment refused: the order is not payable; it will be refunded");
            let mut conn = db.get().await?;
            let order = reread(&mut conn, payment.order_id).await?;
            store::refuse_payment(&mut conn, &order, payment.payment_id, &why, traceparent).await
        }
        Err(ApiError::Conflict(why)) => {
            // The refund of a payment that never paid this order: nothing to undo.
            tracing::info!(order = %payment.order_id, payment = %payment.payment_id, %why, "refund does not concern the order");
            Ok(())
        }
        Err(other) => Err(other),
    }
}
