//! What the catalog does when other services' events arrive: the stock of an order that
//! was cancelled, expired or refunded, or of a checkout that was abandoned, goes back on
//! sale. Release
//! is idempotent per order, so a redelivered event changes nothing.

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
