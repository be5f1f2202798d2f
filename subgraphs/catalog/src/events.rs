//! The catalog's background work. When other services' events arrive: the stock of an
//! order that was cancelled, expired or refunded, or of a checkout that was abandoned, goes
//! back on sale; release is idempotent per order, so a redelivered event changes nothing.
//! And by the clock: the unsold units of ended flash sales go back to their products.

use event_bus::{Event, consumer_worker};
use service_kit::{Redis, Worker};
use uuid::Uuid;

use crate::internal::StockService;

/// The catalog's consumer of the `orders` stream.
pub fn order_events(redis: Redis, stock: StockService) -> Worker {
    consumer_worker(redis, "orders", "catalog", move |event: Event| {
        let stock = stock.clone();
        async move {
            let reason = match event.name.as_str() {
                "OrderCancelled" => "order cancelled",
                "OrderExpired" => "order expired",
                "OrderRefunded" => "order refunded",
                "CheckoutAbandoned" => "checkout abandoned",
                _ => return Ok(()),
            };
            let order_id: Uuid = event.aggregate_id.parse()?;
            if stock
                .release(order_id, reason)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?
            {
                tracing::info!(order = %order_id, reason, "stock released");
            }
            Ok(())
        }
    })
}

/// Sales returned per transaction.
const RETURN_BATCH: i64 = 50;

/// Every replica gives the unsold units of ended flash sales back to their products, every
/// `interval`; the database decides who returns which sale (`FOR UPDATE SKIP LOCKED`), so
/// each sale's units come back once, also across restarts.
pub fn flash_sale_returns(
    db: service_kit::DbPool,
    cache: crate::cache::ProductCache,
    interval: std::time::Duration,
) -> Worker {
    service_kit::subgraph::periodic_worker("flash sale returns", interval, move || {
        let (db, cache) = (db.clone(), cache.clone());
        async move {
            let mut conn = db.get().await?;
            let products = crate::db::flash_sales::return_unsold(&mut conn, RETURN_BATCH).await?;
            if !products.is_empty() {
                cache.put_many(&products).await;
                tracing::info!(
                    products = products.len(),
                    "unsold flash sale units returned"
                );
            }
            Ok(())
        }
    })
}
