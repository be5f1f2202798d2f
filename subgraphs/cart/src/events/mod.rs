//! What the cart does when other services' events arrive: an order placed from the cart
//! takes its lines out (once per order, also when the order subgraph's direct call already
//! did, or failed). Its items name their variant (`variantId`); an item without one, from
//! an order subgraph that does not know variants, means the cart's only line of its
//! product (`workflows::change::remove_bought`).

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
    /// `productId`, `variantId` (absent from older producers), `quantity`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_placed_items_name_their_variant_or_mean_the_product_s_only_one() {
        let (product, variant) = (Uuid::new_v4(), Uuid::new_v4());
        let placed: OrderPlaced = serde_json::from_value(serde_json::json!({
            "orderId": Uuid::new_v4(), "userId": Uuid::new_v4(), "fromCart": true,
            "number": "DM1", "status": "PENDING_PAYMENT",
            "items": [
                { "productId": product, "variantId": variant, "sku": "S-1", "quantity": 2,
                  "unitPrice": 100 },
                { "productId": product, "quantity": 1, "unitPrice": 100 },
            ],
        }))
        .unwrap();
        assert!(placed.from_cart);
        assert_eq!(placed.items[0].variant_id, Some(variant));
        assert_eq!(placed.items[0].quantity, 2);
        assert_eq!(
            placed.items[1].variant_id, None,
            "an older order subgraph's item"
        );
    }
}
