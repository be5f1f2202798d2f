//! What the cart does when other services' events arrive: an order placed from the cart
//! takes its lines out (once per order, also when the order subgraph's direct call already
//! did, or failed).

use event_bus::{Event, consumer_worker};
use peer_api::{CheckedOut, StockLine};
use serde::Deserialize;
use service_kit::{DbPool, Redis, Worker};
use uuid::Uuid;

use crate::workflows::change::remove_bought;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderPlaced {
    order_id: Uuid,
    user_id: Uuid,
    from_cart: bool,
    items: Vec<StockLine>,
}

/// The cart's consumer of the `orders` stream.
pub fn order_events(redis: Redis, db: DbPool) -> Worker {
    consumer_worker(redis, "orders", "cart", move |event: Event| {
        let db = db.clone();
        async move {
            if event.name != "OrderPlaced" || event.version != 1 {
                return Ok(());
            }
            let placed: OrderPlaced = serde_json::from_value(event.payload)?;
            if placed.from_cart {
                let order = CheckedOut {
                    user_id: placed.user_id,
                    order_id: placed.order_id,
                    lines: placed.items,
                };
                remove_bought(&db, &order)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message()))?;
            }
            Ok(())
        }
    })
}
