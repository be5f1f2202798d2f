//! The money reconciler: every successful payment is checked against its order once its
//! events had time to settle (`RECONCILE_AFTER_SECONDS`), whatever became of them. Money is
//! kept only for the order it paid ([`crate::domain::reconcile::settle`]): a payment the
//! order never applied is published again, one for an order it will never pay is refunded.
//! Every replica runs it, one at a time (an advisory lock); no payment row stays locked
//! while the order subgraph answers, and a payment that cannot be settled now (a failed
//! refund, a case for a person) does not hold up the others.

use std::time::Duration;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::{ApiError, DbPool};

use super::refunds::{self, AUTOMATIC_REFUND_KEY, NewRefund};
use crate::db::{PaymentRow, outbox, payment_log, reconcile};
use crate::domain::reconcile::{Settlement, settle};

/// Most payments one round looks at.
const BATCH: i64 = 100;

/// What one round did.
#[derive(Debug, Default)]
pub struct Round {
    pub checked: usize,
    pub republished: usize,
    pub refunded: usize,
    /// Left for the next round (a refund that failed), or for a person (logged).
    pub unsettled: usize,
}

/// One round: the payments due, their orders, and what each needs.
pub async fn reconcile(
    db: &DbPool,
    orders: &crate::peers::Orders,
    after: Duration,
) -> Result<Round, ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let mut round = Round::default();
        if !reconcile::reconciler_turn(conn).await? {
            return Ok(round);
        }
        let due = reconcile::due_to_reconcile(conn, after, BATCH).await?;
        round.checked = due.len();
        if due.is_empty() {
            return Ok(round);
        }
        let found = orders
            .payers(due.iter().map(|p| p.order_id).collect())
            .await?;
        let mut settled = Vec::new();
        for payment in &due {
            let order = found.orders.iter().find(|o| o.order_id == payment.order_id);
            let others = match order {
                Some(order) if order.paid_by.is_none() && order.status == "PAID" => {
                    reconcile::others_succeeded(conn, payment.order_id, payment.id).await?
                }
                _ => false,
            };
            match settle(payment.id, order, others) {
                Settlement::Settled => settled.push(payment.id),
                Settlement::Republish => {
                    tracing::warn!(payment = %payment.id, order = %payment.order_id, "a successful payment its order never applied: published again");
                    publish_again(conn, payment).await?;
                    round.republished += 1;
                }
                Settlement::Review => {
                    // Said once (then marked): it would otherwise hold a place in every round.
                    tracing::error!(payment = %payment.id, order = %payment.order_id, "an order paid before payers were recorded has several successful payments: refund the extra one by hand");
                    round.unsettled += 1;
                    settled.push(payment.id);
                }
                Settlement::Refund(reason) => {
                    let refund = NewRefund {
                        payment_id: payment.id,
                        amount: None,
                        reason: reason.clone(),
                        idempotency_key: AUTOMATIC_REFUND_KEY.into(),
                        created_by: None,
                    };
                    // Its own savepoint: a failure leaves the rest of the round standing.
                    match refunds::refund(conn, refund, None).await {
                        Ok((refund, _)) => {
                            tracing::warn!(payment = %payment.id, order = %payment.order_id, amount = refund.amount, %reason, "money kept for an order the payment did not pay: refunded");
                            round.refunded += 1;
                            settled.push(payment.id);
                        }
                        // Nothing left to give back.
                        Err(ApiError::Conflict(_)) => settled.push(payment.id),
                        Err(error) => {
                            tracing::error!(error = %error.message(), payment = %payment.id, "reconciler: refund failed; tried again next round");
                            round.unsettled += 1;
                        }
                    }
                }
            }
        }
        reconcile::mark_reconciled(conn, &settled).await?;
        service_kit::metrics::reconciled(
            "successful_payments",
            round.checked as u64,
            (round.republished + round.refunded) as u64,
            round.unsettled as u64,
        );
        Ok(round)
    })
    .await
}

/// Publishes `PaymentStatusChanged` again for `row` as it is (its last change, same
/// version): the order subgraph applies it if it never did, and ignores it otherwise.
async fn publish_again(conn: &mut AsyncPgConnection, row: &PaymentRow) -> Result<(), ApiError> {
    let from = payment_log::last_from_status(conn, row.id).await?;
    outbox::status_changed(conn, row, from.flatten(), None).await
}
