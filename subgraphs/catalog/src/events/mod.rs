//! The catalog's background work. When other services' events arrive: the stock of an
//! order that was cancelled, expired or refunded, or of a checkout that was abandoned, goes
//! back on sale; release is idempotent per order, so a redelivered event changes nothing.
//! Flash-sale purchases follow their orders: confirmed when the order is placed, their
//! units given back when it is cancelled, expired or refunded (or refused). And by the
//! clock (`sweep`): the unsold units of ended flash sales go back to their products, and
//! admissions whose order has not come are sent again.

pub mod sweep;

use event_bus::{Event, consumer_worker};
use service_kit::{Redis, Worker};
use uuid::Uuid;

use crate::workflows::stock::{FlashReturns, StockService, anyhow_error};

/// The catalog's consumer of the `orders` stream.
pub fn order_events(redis: Redis, stock: StockService) -> Worker {
    consumer_worker(redis, "orders", "catalog", move |event: Event| {
        let stock = stock.clone();
        async move {
            let flash = FlashReturns::of(&stock);
            let order_id: Uuid = event.aggregate_id.parse()?;
            let reason = match event.name.as_str() {
                "OrderCancelled" => "order cancelled",
                "OrderExpired" => "order expired",
                "OrderRefunded" => "order refunded",
                "CheckoutAbandoned" => {
                    let reason = "checkout abandoned";
                    if stock
                        .release(order_id, reason)
                        .await
                        .map_err(anyhow_error)?
                    {
                        tracing::info!(order = %order_id, reason, "stock released");
                    }
                    return Ok(());
                }
                // A flash-sale purchase's order exists (it has the purchase's id).
                "OrderPlaced" if event.payload.get("flashSaleId").is_some() => {
                    return flash.confirm(order_id).await;
                }
                // An admission sent again found its order: confirmed, and if that order is
                // closed already (its own event lost), its units go back.
                "FlashOrderExists" => {
                    flash.confirm(order_id).await?;
                    let closed = matches!(
                        event.payload["status"].as_str(),
                        Some("CANCELLED" | "EXPIRED" | "REFUNDED")
                    );
                    if closed {
                        flash.give_back(order_id, None).await?;
                    }
                    return Ok(());
                }
                "FlashOrderRefused" => {
                    let why = event.payload["reason"].as_str().unwrap_or("ORDER_REFUSED");
                    flash.give_back(order_id, Some(why)).await?;
                    return Ok(());
                }
                _ => return Ok(()),
            };
            stock.close_order(order_id, reason).await?;
            Ok(())
        }
    })
}
