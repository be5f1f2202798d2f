//! The payment subgraph's background work: the outbox relay (payment events to the
//! `payments` stream), the consumer that closes the open payment of an order that was
//! cancelled or expired, the sweeper that expires payments not completed in time, and the
//! sandbox gateway's webhook deliveries, and the money reconciler. Every
//! replica runs all three; the database decides who does what (an advisory lock for the
//! relay, `FOR UPDATE SKIP LOCKED` for the sweeper, a row lock per payment).

pub mod live;

use event_bus::{Event, consumer_worker};
use service_kit::subgraph::periodic_worker;
use service_kit::{DbPool, Redis, ServiceConfig, Stores, Worker};
use uuid::Uuid;

use crate::config::PaymentSettings;
use crate::workflows::refunds::{self, AUTOMATIC_REFUND_KEY, NewRefund};
use crate::workflows::{payments, reconcile};

/// Payments expired per transaction.
const SWEEP_BATCH: i64 = 200;

/// The relay, the consumer of order events, the sweeper and the gateway's deliveries.
pub fn workers(stores: &Stores, config: &ServiceConfig) -> anyhow::Result<Vec<Worker>> {
    let settings: PaymentSettings = config.settings()?;
    Ok(vec![
        event_bus::relay_worker(
            stores.db.clone(),
            stores.redis.clone(),
            config.events.outbox_poll,
        ),
        order_events(stores.db.clone(), stores.redis.clone()),
        sweeper(
            stores.db.clone(),
            config.events.sweep_interval,
            settings.webhook_grace,
        ),
        crate::gateway::delivery_worker(
            stores.db.clone(),
            own_webhook_url(config),
            settings.webhook_secret,
            DELIVERY_POLL,
        ),
        money_reconciler(stores.db.clone(), config)?,
    ])
}

/// Checks successful payments against their orders ([`reconcile`]).
fn money_reconciler(db: DbPool, config: &ServiceConfig) -> anyhow::Result<Worker> {
    let orders = crate::peers::Orders::new(config)?;
    let after = config.events.reconcile_after;
    Ok(periodic_worker(
        "money reconciler",
        config.events.reconcile_every,
        move || {
            let (db, orders) = (db.clone(), orders.clone());
            async move {
                let round = reconcile::reconcile(&db, &orders, after).await?;
                if round.republished + round.refunded > 0 {
                    tracing::warn!(
                        ?round,
                        "successful payments not settled with their orders: repaired"
                    );
                }
                Ok(())
            }
        },
    ))
}

/// How often the sandbox gateway looks for webhook calls to make.
const DELIVERY_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// This subgraph's own webhook, which the sandbox gateway calls (it runs in the same
/// process, as a stand-in for a real gateway on the internet).
fn own_webhook_url(config: &ServiceConfig) -> String {
    format!("{}/webhooks/payments", crate::own_base_url(config))
}

/// The payment subgraph's consumer of the `orders` stream.
fn order_events(db: DbPool, redis: Redis) -> Worker {
    consumer_worker(redis, "orders", "payment", move |event: Event| {
        let db = db.clone();
        async move {
            let reason = match event.name.as_str() {
                "OrderCancelled" => "order cancelled",
                "OrderExpired" => "order expired",
                "OrderPaymentRefused" if event.version == 1 => {
                    return refund_refused(&db, event).await;
                }
                _ => return Ok(()),
            };
            let order_id: Uuid = event.aggregate_id.parse()?;
            let mut conn = db.get().await?;
            if let Some(payment) =
                payments::cancel_open_payment_of(&mut conn, order_id, reason, event.traceparent)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message()))?
            {
                tracing::info!(order = %order_id, payment = %payment.id, reason, "open payment cancelled");
            }
            Ok(())
        }
    })
}

/// `OrderPaymentRefused` v1: the payment succeeded for an order that had meanwhile expired
/// or been cancelled. All that is left of it goes back, once (one key per payment), with
/// the reason in the payment log; money is never kept for an order that is not paid.
async fn refund_refused(db: &DbPool, event: Event) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Refused {
        payment_id: Uuid,
        order_status: String,
    }
    let refused: Refused = serde_json::from_value(event.payload)?;
    let mut conn = db.get().await?;
    let refunded = refunds::refund(
        &mut conn,
        NewRefund {
            payment_id: refused.payment_id,
            amount: None,
            reason: format!(
                "refunded automatically: the order was {} when the payment succeeded",
                refused.order_status
            ),
            idempotency_key: AUTOMATIC_REFUND_KEY.into(),
            created_by: None,
        },
        event.traceparent,
    )
    .await;
    match refunded {
        Ok((refund, payment)) => {
            tracing::warn!(payment = %payment.id, order = %payment.order_id, amount = refund.amount, "payment for an order no longer payable refunded");
            Ok(())
        }
        // Nothing left to refund (already refunded by hand): nothing kept either.
        Err(service_kit::ApiError::Conflict(why)) => {
            tracing::info!(payment = %refused.payment_id, %why, "refused payment: nothing left to refund");
            Ok(())
        }
        Err(error) => Err(anyhow::anyhow!(error.message())),
    }
}

fn sweeper(db: DbPool, interval: std::time::Duration, grace: std::time::Duration) -> Worker {
    periodic_worker("payment sweep", interval, move || {
        let db = db.clone();
        async move { sweep(&db, grace).await }
    })
}

async fn sweep(db: &DbPool, grace: std::time::Duration) -> Result<(), service_kit::ApiError> {
    let mut conn = db.get().await?;
    loop {
        let expired = payments::expire_due(&mut conn, SWEEP_BATCH, grace).await?;
        if expired > 0 {
            tracing::info!(count = expired, "open payments expired");
        }
        if (expired as i64) < SWEEP_BATCH {
            return Ok(());
        }
    }
}
