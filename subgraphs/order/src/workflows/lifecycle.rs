//! Status changes after checkout, through the state machine ([`crate::domain::decide`])
//! with optimistic concurrency: read the order at its version, decide, write only if the
//! version is unchanged; a lost race reads again and decides again, never overwrites.

use diesel_async::AsyncConnection as _;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::OrderRow;
use crate::db::payments as order_payments;
use crate::db::{orders, reconcile};
use crate::domain::payments::{self, Payer, Step};
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
        match orders::change_status(&mut conn, &order, to, reason, traceparent.clone()).await? {
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
        match orders::change_address(&mut conn, &order, address_json).await? {
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
    orders::find_order(conn, order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("order".into()))
}

/// Expires up to `limit` unpaid orders past their time and `grace` (a payment approved in
/// time may be reported late), in one transaction whose row locks keep other replicas off
/// them; their `OrderExpired` events make the catalog release the stock. Returns how many
/// expired.
pub async fn expire_due(
    db: &DbPool,
    limit: i64,
    grace: std::time::Duration,
) -> Result<usize, ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let due = orders::lock_due_for_expiry(conn, limit, grace).await?;
        let mut expired = 0;
        for order in &due {
            let to = decide(status_of(order)?, Command::Expire)
                .map_err(|illegal| ApiError::Conflict(illegal.to_string()))?;
            if orders::change_status(conn, order, to, Some("not paid in time"), None)
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
    /// The payment's row version after this change: a newer one was applied → nothing to do.
    pub version: i64,
}

/// Brings the order in line with its payment ([`crate::domain::payments::follow`]): a
/// payment that succeeded pays it, the full refund of the payment that paid it refunds it
/// (its `OrderRefunded` event then returns the stock). One transaction under the order's
/// row lock, which also records the payment's version: a redelivered event, or one older
/// than what was applied (events arrive out of order when one is retried), changes nothing.
///
/// A payment that succeeds for an order that is no longer payable (the state machine says
/// so, nothing else), or that another payment paid (`orders.paid_by`), is refused
/// (`OrderPaymentRefused`, in the same transaction), and the payment subgraph gives the
/// money back.
pub async fn follow_payment(
    db: &DbPool,
    payment: &PaymentChanged,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let (mut order, paid_by) = order_payments::lock_order(conn, payment.order_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("order".into()))?;
        let ids = (payment.payment_id, payment.order_id);
        if !order_payments::record_payment_version(conn, ids, payment.version, &payment.to).await? {
            tracing::info!(order = %payment.order_id, payment = %payment.payment_id, version = payment.version, "payment event older than what was applied: ignored");
            return Ok(());
        }
        let payer = match paid_by {
            None => Payer::Unknown,
            Some(id) if id == payment.payment_id => Payer::This,
            Some(_) => Payer::Other,
        };
        let steps = payments::follow(payment.from.as_deref(), &payment.to, status_of(&order)?, payer);
        for &step in steps {
            let refusal = match step {
                Step::Refuse => "another payment paid this order".to_owned(),
                Step::Apply(command) => match decide(status_of(&order)?, command) {
                    Ok(to) => {
                        let reason = if command == Command::Pay { "paid" } else { "payment refunded" };
                        // The row is locked: its version cannot have moved.
                        order = orders::change_status(conn, &order, to, Some(reason), traceparent.clone())
                            .await?
                            .ok_or(ApiError::Internal)?;
                        if command == Command::Pay {
                            order_payments::set_paid_by(conn, order.id, payment.payment_id).await?;
                        }
                        tracing::info!(order = %payment.order_id, payment = %payment.payment_id, to = ?to, "order follows its payment");
                        continue;
                    }
                    // Succeeded for an order no longer payable (expired or cancelled
                    // meanwhile).
                    Err(illegal) if command == Command::Pay => illegal.to_string(),
                    Err(illegal) => {
                        tracing::info!(order = %payment.order_id, payment = %payment.payment_id, %illegal, "refund does not concern the order");
                        break;
                    }
                },
            };
            // The order stays as it is, and the payment subgraph refunds the money on
            // `OrderPaymentRefused` (once: one idempotency key per payment).
            tracing::warn!(order = %payment.order_id, payment = %payment.payment_id, why = %refusal, "payment refused; it will be refunded");
            order_payments::refuse_payment(conn, &order, payment.payment_id, &refusal, traceparent.clone()).await?;
            break;
        }
        Ok(())
    })
    .await
}

/// Most closed orders (and as many abandoned checkouts) one reconciler round looks at.
const RECONCILE_BATCH: i64 = 100;

/// The stock reconciler's round: every order closed without payment or refunded, and every
/// abandoned checkout, is confirmed with the catalog once, `after` its creation: whatever
/// stock or flash-sale units it still held (its event lost, say) go back. The catalog's
/// side is idempotent, so an order its event settled already changes nothing. Every replica
/// runs it, one at a time (an advisory lock; no order row is locked while the catalog
/// answers). How many held something still, and how many the catalog could not settle
/// (asked again next round).
pub async fn return_stock_of_closed(
    db: &DbPool,
    catalog: &crate::peers::Peers,
    after: std::time::Duration,
) -> Result<(usize, usize), ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        if !reconcile::reconciler_turn(conn).await? {
            return Ok((0, 0));
        }
        let due = reconcile::stock_to_return(conn, after, RECONCILE_BATCH).await?;
        if due.is_empty() {
            return Ok((0, 0));
        }
        let mut by_reason: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
        for row in &due {
            by_reason.entry(&row.reason).or_default().push(row.order_id);
        }
        let (mut given_back, mut failed) = (0, std::collections::HashSet::new());
        for (reason, ids) in by_reason {
            let answer = catalog.close_orders(ids, reason).await?;
            given_back += answer.given_back;
            failed.extend(answer.failed);
        }
        let settled: Vec<&reconcile::StockToReturn> = due
            .iter()
            .filter(|row| !failed.contains(&row.order_id))
            .collect();
        reconcile::mark_stock_returned(conn, &settled).await?;
        service_kit::metrics::reconciled(
            "closed_order_stock",
            due.len() as u64,
            given_back as u64,
            failed.len() as u64,
        );
        Ok((given_back, failed.len()))
    })
    .await
}
