//! The order subgraph's background work: the outbox relay that publishes its events to the
//! `orders` stream (crates/event-bus), the sweeper that expires unpaid orders and abandons
//! checkouts whose process died, the consumer that lets orders follow their payments, and
//! the one that creates the orders of flash-sale purchases, and the reconciler that makes
//! sure the catalog has the stock of every closed order back. Every replica runs them all; the database decides who
//! does what (an advisory lock for the relay, `FOR UPDATE SKIP LOCKED` for the sweeper), so
//! nothing is done twice and nothing depends on an in-memory timer.

pub mod live;

use event_bus::consumer::batch_consumer_worker;
use event_bus::{Event, consumer_worker};
use service_kit::config::EventSettings;
use service_kit::subgraph::periodic_worker;
use service_kit::{DbPool, Redis, Stores, Worker};

use crate::config::OrderSettings;
use crate::db::checkouts::{self, Abandon};
use crate::peers::Peers;
use crate::workflows::{flash_orders, lifecycle};

/// Orders expired (or checkouts abandoned) per transaction.
const SWEEP_BATCH: i64 = 200;

/// The relay, the sweeper and the consumers.
pub fn workers(
    stores: &Stores,
    settings: &OrderSettings,
    events: &EventSettings,
    services: Peers,
    reconciler_services: Peers,
) -> Vec<Worker> {
    vec![
        flash_sale_events(
            stores.db.clone(),
            stores.redis.clone(),
            services,
            settings.clone(),
        ),
        event_bus::relay_worker(stores.db.clone(), stores.redis.clone(), events.outbox_poll),
        sweeper(stores.db.clone(), settings.clone(), events.sweep_interval),
        payment_events(stores.db.clone(), stores.redis.clone()),
        stock_reconciler(stores.db.clone(), reconciler_services, events),
    ]
}

/// Checks every closed order's stock with the catalog once (see
/// [`lifecycle::return_stock_of_closed`]).
fn stock_reconciler(db: DbPool, services: Peers, events: &EventSettings) -> Worker {
    let after = events.reconcile_after;
    periodic_worker("stock reconciler", events.reconcile_every, move || {
        let (db, services) = (db.clone(), services.clone());
        async move {
            let (given_back, failed) =
                lifecycle::return_stock_of_closed(&db, &services, after).await?;
            if given_back > 0 {
                tracing::warn!(
                    count = given_back,
                    "closed orders still held stock or flash-sale units: given back"
                );
            }
            if failed > 0 {
                tracing::error!(
                    count = failed,
                    "the catalog could not settle closed orders: asked again next round"
                );
            }
            Ok(())
        }
    })
}

/// The order subgraph's consumer of the catalog's `flash-sales` stream: orders of admitted
/// flash-sale purchases, all those of a read at once ([`flash_orders::place_all`]).
fn flash_sale_events(db: DbPool, redis: Redis, services: Peers, settings: OrderSettings) -> Worker {
    batch_consumer_worker(redis, "flash-sales", "order", move |events: Vec<Event>| {
        let (db, services, settings) = (db.clone(), services.clone(), settings.clone());
        async move {
            let mut admissions = Vec::with_capacity(events.len());
            for event in events {
                if event.name != "FlashSalePurchaseAdmitted" || event.version != 1 {
                    continue;
                }
                admissions.push(flash_orders::Admission {
                    purchase: serde_json::from_value(event.payload)?,
                    traceparent: event.traceparent,
                });
            }
            flash_orders::place_all(&db, &services, &settings, admissions)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))
        }
    })
}

/// The order subgraph's consumer of the `payments` stream.
fn payment_events(db: DbPool, redis: Redis) -> Worker {
    consumer_worker(redis, "payments", "order", move |event: Event| {
        let db = db.clone();
        async move {
            if event.name != "PaymentStatusChanged" || event.version != 1 {
                return Ok(());
            }
            let payment: lifecycle::PaymentChanged = serde_json::from_value(event.payload)?;
            lifecycle::follow_payment(&db, &payment, event.traceparent)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))
        }
    })
}

fn sweeper(db: DbPool, settings: OrderSettings, every: std::time::Duration) -> Worker {
    periodic_worker("order sweep", every, move || {
        let (db, settings) = (db.clone(), settings.clone());
        async move { sweep(&db, &settings).await }
    })
}

async fn sweep(db: &DbPool, settings: &OrderSettings) -> Result<(), service_kit::ApiError> {
    loop {
        let expired = lifecycle::expire_due(db, SWEEP_BATCH, settings.expiry_grace).await?;
        if expired > 0 {
            tracing::info!(count = expired, "unpaid orders expired");
        }
        if (expired as i64) < SWEEP_BATCH {
            break;
        }
    }
    let mut conn = db.get().await?;
    let abandoned = checkouts::abandon_attempts(
        &mut conn,
        Abandon::Stale {
            older_than: settings.abandon_after,
            limit: SWEEP_BATCH,
        },
    )
    .await?;
    if abandoned > 0 {
        tracing::warn!(
            count = abandoned,
            "abandoned checkouts: their stock is being released"
        );
    }
    Ok(())
}
