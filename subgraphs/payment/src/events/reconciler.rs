//! The money reconciler: every successful payment is checked against its order once its
//! events had time to settle (`RECONCILE_AFTER_SECONDS`), whatever became of them. Money is
//! kept only for the order it paid ([`crate::domain::reconcile::settle`]): a payment the
//! order never applied is published again, one for an order it will never pay is refunded.
//! Each replica runs it; row locks (`SKIP LOCKED`) keep them on different payments.

use std::time::Duration;

use diesel_async::AsyncConnection as _;
use service_kit::internal::InternalClient;
use service_kit::internal::api::{OrderPayers, OrdersOf};
use service_kit::{ApiError, DbPool};

use crate::db::store;
use crate::domain::reconcile::{Settlement, settle};
use crate::events::AUTOMATIC_REFUND_KEY;

/// Most payments one round looks at.
const BATCH: i64 = 100;

/// What one round did.
#[derive(Debug, Default)]
pub struct Round {
    pub checked: usize,
    pub republished: usize,
    pub refunded: usize,
}

/// One round: the payments due, their orders, and what each needs.
pub async fn reconcile(
    db: &DbPool,
    orders: &InternalClient,
    after: Duration,
) -> Result<Round, ApiError> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let due = store::lock_to_reconcile(conn, after, BATCH).await?;
        let mut round = Round {
            checked: due.len(),
            ..Round::default()
        };
        if due.is_empty() {
            return Ok(round);
        }
        let asked = OrdersOf {
            order_ids: due.iter().map(|p| p.order_id).collect(),
        };
        let found: OrderPayers = orders.post("/internal/orders/payers", &asked).await?;
        let mut settled = Vec::new();
        for payment in &due {
            let order = found.orders.iter().find(|o| o.order_id == payment.order_id);
            match settle(payment.id, order) {
                Settlement::Settled => settled.push(payment.id),
                Settlement::Republish => {
                    tracing::warn!(payment = %payment.id, order = %payment.order_id, "a successful payment its order never applied: published again");
                    store::publish_again(conn, payment).await?;
                    round.republished += 1;
                }
                Settlement::Refund(reason) => {
                    let refund = store::NewRefund {
                        payment_id: payment.id,
                        amount: None,
                        reason: reason.clone(),
                        idempotency_key: AUTOMATIC_REFUND_KEY.into(),
                        created_by: None,
                    };
                    match store::refund(conn, refund, None).await {
                        Ok((refund, _)) => {
                            tracing::warn!(payment = %payment.id, order = %payment.order_id, amount = refund.amount, %reason, "money kept for an order the payment did not pay: refunded");
                            round.refunded += 1;
                        }
                        // Nothing left to give back.
                        Err(ApiError::Conflict(_)) => {}
                        Err(error) => return Err(error),
                    }
                    settled.push(payment.id);
                }
            }
        }
        store::mark_reconciled(conn, &settled).await?;
        service_kit::metrics::reconciled(
            "successful_payments",
            round.checked as u64,
            (round.republished + round.refunded) as u64,
        );
        Ok(round)
    })
    .await
}
