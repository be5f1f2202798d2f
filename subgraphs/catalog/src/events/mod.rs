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
/// flash-sale purchases that follow each other (events the catalog ignores, such as an
/// order paid, in between) are applied together, one statement for the orders of a sale's
/// rush instead of a commit each; everything else one event at a time, in stream order.
pub fn order_events(redis: Redis, stock: StockService) -> Worker {
    batch_consumer_worker(redis, "orders", "catalog", move |events: Vec<Event>| {
        let stock = stock.clone();
        async move {
            let flash = FlashReturns::of(&stock);
            let mut confirmations = Vec::new();
            for event in events {
                let Some(action) = Action::of(&event) else {
                    continue;
                };
                let order_id: Uuid = event.aggregate_id.parse()?;
                if let Action::Confirm = action {
                    confirmations.push(order_id);
                    continue;
                }
                flash.confirm(std::mem::take(&mut confirmations)).await?;
                apply(&stock, &flash, action, order_id).await?;
            }
            flash.confirm(confirmations).await
        }
    })
}

/// What an event of the `orders` stream asks of the catalog.
enum Action {
    /// A flash-sale purchase's order exists (it has the purchase's id).
    Confirm,
    /// An order closed: what it holds goes back.
    Close(&'static str),
    /// A checkout abandoned: its reserved stock goes back.
    Abandon,
    /// An admission sent again found its order: confirmed, and if that order is closed
    /// already (its own event lost), its units go back.
    Exists { closed: bool },
    /// A flash-sale purchase got no order: rejected, its units back.
    Refused(String),
}

impl Action {
    /// `None`: an event the catalog ignores.
    fn of(event: &Event) -> Option<Self> {
        Some(match event.name.as_str() {
            "OrderPlaced" if event.payload.get("flashSaleId").is_some() => Self::Confirm,
            "OrderCancelled" => Self::Close("order cancelled"),
            "OrderExpired" => Self::Close("order expired"),
            "OrderRefunded" => Self::Close("order refunded"),
            "CheckoutAbandoned" => Self::Abandon,
            "FlashOrderExists" => Self::Exists {
                closed: matches!(
                    event.payload["status"].as_str(),
                    Some("CANCELLED" | "EXPIRED" | "REFUNDED")
                ),
            },
            "FlashOrderRefused" => Self::Refused(
                event.payload["reason"]
                    .as_str()
                    .unwrap_or("ORDER_REFUSED")
                    .to_owned(),
            ),
            _ => return None,
        })
    }
}

/// One action other than a confirmation, for order (or purchase) `order_id`.
async fn apply(
    stock: &StockService,
    flash: &FlashReturns,
    action: Action,
    order_id: Uuid,
) -> anyhow::Result<()> {
    match action {
        Action::Confirm => flash.confirm(vec![order_id]).await,
        Action::Close(reason) => stock.close_order(order_id, reason).await.map(|_| ()),
        Action::Abandon => {
            let reason = "checkout abandoned";
            if stock
                .release(order_id, reason)
                .await
                .map_err(anyhow_error)?
            {
                tracing::info!(order = %order_id, reason, "stock released");
            }
            Ok(())
        }
        Action::Exists { closed } => {
            flash.confirm(vec![order_id]).await?;
            if closed {
                flash.give_back(order_id, None).await?;
            }
            Ok(())
        }
        Action::Refused(why) => flash.give_back(order_id, Some(&why)).await.map(|_| ()),
    }
}
