//! The catalog's background work. When other services' events arrive: the stock of an
//! order that was cancelled, expired or refunded, or of a checkout that was abandoned, goes
//! back on sale; release is idempotent per order, so a redelivered event changes nothing.
//! Flash-sale purchases follow their orders: confirmed when the order is placed, their
//! units given back when it is cancelled, expired or refunded (or refused). And by the
//! clock: the unsold units of ended flash sales go back to their products, and admissions
//! whose order has not come are sent again.

use event_bus::{Event, consumer_worker};
use service_kit::{ApiError, DbPool, Redis, Worker};
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::flash_purchases::{self, GivenBack};
use crate::flash_counters::{self, GiveBack};
use crate::internal::StockService;

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
            close_order(&stock, order_id, reason).await?;
            Ok(())
        }
    })
}

/// Gives back what a closed order (cancelled, expired, refunded) or an abandoned checkout
/// holds: its reserved stock, or, for a flash sale's order, its units; once, however often
/// asked (its event, or the order subgraph's reconciler). Whether this call gave anything
/// back.
pub async fn close_order(
    stock: &StockService,
    order_id: Uuid,
    reason: &str,
) -> anyhow::Result<bool> {
    if stock
        .release(order_id, reason)
        .await
        .map_err(anyhow_error)?
    {
        tracing::info!(order = %order_id, reason, "stock released");
        return Ok(true);
    }
    // Not a checkout's order: perhaps a flash sale's.
    FlashReturns::of(stock).give_back(order_id, None).await
}

fn anyhow_error(error: ApiError) -> anyhow::Error {
    anyhow::anyhow!(error.message())
}

/// Gives the units of flash-sale purchases back.
#[derive(Clone)]
struct FlashReturns {
    db: DbPool,
    redis: Redis,
    cache: ProductCache,
}

impl FlashReturns {
    fn of(stock: &StockService) -> Self {
        Self {
            db: stock.db.clone(),
            redis: stock.redis.clone(),
            cache: stock.cache.clone(),
        }
    }

    /// Purchase `id` has its order: `PENDING` → `CONFIRMED` (once).
    async fn confirm(&self, id: Uuid) -> anyhow::Result<()> {
        let mut conn = self.db.get().await?;
        if flash_purchases::confirm(&mut conn, id)
            .await
            .map_err(anyhow_error)?
        {
            tracing::info!(purchase = %id, "flash sale purchase confirmed");
        }
        Ok(())
    }

    /// Gives back the units of purchase `id` (if it is one, once): to the sale's counters
    /// while it sells, else to the product. With `rejection`, the purchase had no order.
    /// Whether this call gave them back.
    async fn give_back(&self, id: Uuid, rejection: Option<&str>) -> anyhow::Result<bool> {
        let mut conn = self.db.get().await?;
        let given = flash_purchases::give_back(&mut conn, id, rejection)
            .await
            .map_err(anyhow_error)?;
        drop(conn);
        let Some(given) = given else {
            return Ok(false);
        };
        match given {
            GivenBack::ToSale { purchase, epoch } => {
                let back = GiveBack {
                    sale: purchase.sale_id,
                    buyer: purchase.user_id,
                    quantity: purchase.quantity,
                    epoch,
                    purchase: purchase.id,
                };
                match flash_counters::give_back(&self.redis, &back, None).await {
                    Ok(_) => {
                        tracing::info!(purchase = %id, sale = %purchase.sale_id, units = purchase.quantity, ?rejection, "flash sale units back on sale");
                    }
                    // The record has them back: a rebuild, or the end-of-sale return, counts
                    // them. Until then the sale sells fewer (never more).
                    Err(error) => {
                        tracing::warn!(error = %error.message(), purchase = %id, "flash sale units not back in the counters yet");
                    }
                }
            }
            GivenBack::ToProduct(product) => {
                self.cache.put(&product).await;
                tracing::info!(purchase = %id, product = %product.id, "flash sale units back in stock (the sale is over)");
            }
        }
        Ok(true)
    }
}

/// Sales returned (or purchases sent again) per transaction.
const RETURN_BATCH: i64 = 50;

/// Every replica gives the unsold units of ended flash sales back to their products, every
/// `settings.sweep_interval`; the database decides who returns which sale (`FOR UPDATE SKIP
/// LOCKED`), so each sale's units come back once, also across restarts. It also sends
/// again the admissions still without an order after `settings.abandon_after` (as long as
/// a checkout may take; a Redis restart loses streams).
pub fn flash_sale_sweep(
    db: DbPool,
    cache: ProductCache,
    settings: &service_kit::config::OrderSettings,
) -> Worker {
    let (interval, resend_after) = (settings.sweep_interval, settings.abandon_after);
    service_kit::subgraph::periodic_worker("flash sale sweep", interval, move || {
        let (db, cache) = (db.clone(), cache.clone());
        async move {
            let mut conn = db.get().await?;
            let resent =
                flash_purchases::resend_pending(&mut conn, resend_after, RETURN_BATCH).await?;
            if resent > 0 {
                tracing::warn!(
                    count = resent,
                    "flash sale admissions without an order yet: sent again"
                );
            }
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
