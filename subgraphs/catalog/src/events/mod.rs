//! The catalog's background work. When other services' events arrive: the stock of an
//! order that was cancelled, expired or refunded, or of a checkout that was abandoned, goes
//! back on sale; release is idempotent per order, so a redelivered event changes nothing.
//! Flash-sale purchases follow their orders: confirmed when the order is placed, their
//! units given back when it is cancelled, expired or refunded (or refused). And by the
//! clock (`sweep`): the unsold units of ended flash sales go back to their products, and
//! admissions whose order has not come are sent again.

pub mod sweep;

use event_bus::Event;
use event_bus::consumer::batch_consumer_worker;
use service_kit::{Redis, Worker};
use uuid::Uuid;

use crate::workflows::stock::{FlashReturns, StockService, anyhow_error};

/// The catalog's consumer of the `orders` stream, a read at a time: the confirmations of
/// flash-sale purchases that follow each other are applied together (one statement for
/// the orders of a sale's rush, not one commit each), everything else one event at a time,
/// in stream order.
pub fn order_events(redis: Redis, stock: StockService) -> Worker {
    batch_consumer_worker(redis, "orders", "catalog", move |events: Vec<Event>| {
        let stock = stock.clone();
        async move {
            let flash = FlashReturns::of(&stock);
            let mut confirmations = Vec::new();
            for event in events {
                // A flash-sale purchase's order exists (it has the purchase's id).
                if event.name == "OrderPlaced" && event.payload.get("flashSaleId").is_some() {
                    confirmations.push(event.aggregate_id.parse()?);
                    continue;
                }
                flash
                    .confirm_all(std::mem::take(&mut confirmations))
                    .await?;
                handle(&stock, &flash, event).await?;
            }
            flash.confirm_all(confirmations).await
        }
    })
}

/// One event of the `orders` stream other than a flash-sale order placed.
async fn handle(stock: &StockService, flash: &FlashReturns, event: Event) -> anyhow::Result<()> {
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
        // An admission sent again found its order: confirmed, and if that order is closed
        // already (its own event lost), its units go back.
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
