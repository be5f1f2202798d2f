//! Stock for orders: reserving and releasing it (one statement each way,
//! `crate::db::reservations`), and giving back what closed orders hold: their reserved
//! stock, or the units of a flash-sale purchase (`crate::db::flash_purchases`, then the
//! sale's Redis counters). Each keeps the product cache up to date. All are idempotent per
//! order id, so callers may retry freely.

use std::collections::HashSet;

use peer_api::{GivenBack, OrdersClosed, ReserveStock};
use service_kit::{ApiError, DbPool, Redis};
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::flash_purchases::{self, GivenBack as FlashGivenBack};
use crate::db::reservations;
use crate::flash_counters::{self, GiveBack};

/// What reserving, releasing and giving back need.
#[derive(Clone)]
pub struct StockService {
    pub db: DbPool,
    pub redis: Redis,
    pub cache: ProductCache,
}

/// Most orders one [`OrdersClosed`] may name.
pub const MAX_CLOSED: usize = 200;

/// Most lines one reservation may hold.
pub const MAX_LINES: usize = 100;

impl StockService {
    /// Gives back what each closed order holds ([`StockService::close_order`]).
    pub async fn close_orders(&self, asked: OrdersClosed) -> Result<GivenBack, ApiError> {
        if asked.order_ids.len() > MAX_CLOSED {
            return Err(ApiError::bad_input(
                "orderIds",
                format!("at most {MAX_CLOSED} at once"),
            ));
        }
        let (mut given_back, mut failed) = (0, Vec::new());
        // One by one: an order that fails (logged) does not keep the others from settling.
        for order_id in asked.order_ids {
            match self.close_order(order_id, &asked.reason).await {
                Ok(true) => given_back += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, order = %order_id, "giving back what a closed order held failed");
                    failed.push(order_id);
                }
            }
        }
        Ok(GivenBack { given_back, failed })
    }

    /// Gives back what a closed order (cancelled, expired, refunded) or an abandoned
    /// checkout holds: its reserved stock, or, for a flash sale's order, its units; once,
    /// however often asked (its event, or the order subgraph's reconciler). Whether this
    /// call gave anything back.
    pub async fn close_order(&self, order_id: Uuid, reason: &str) -> anyhow::Result<bool> {
        if self.release(order_id, reason).await.map_err(anyhow_error)? {
            tracing::info!(order = %order_id, reason, "stock released");
            return Ok(true);
        }
        // Not a checkout's order: perhaps a flash sale's.
        FlashReturns::of(self).give_back(order_id, None).await
    }

    /// Reserves every line or none; afterwards readers see the new stock.
    pub async fn reserve(&self, asked: ReserveStock) -> Result<peer_api::Reservation, ApiError> {
        let mut seen = HashSet::new();
        if asked.lines.is_empty() || asked.lines.len() > MAX_LINES {
            return Err(ApiError::bad_input(
                "lines",
                format!("must hold 1 to {MAX_LINES} lines"),
            ));
        }
        for line in &asked.lines {
            // Lines of one variant are summed by the reservation itself; the same line twice
            // is the caller's mistake.
            if line.quantity <= 0 || !seen.insert((line.product_id, line.variant_id)) {
                return Err(ApiError::bad_input(
                    "lines",
                    "quantities must be positive and lines distinct",
                ));
            }
        }
        let mut conn = self.db.get().await?;
        let (reservation, changed) =
            reservations::reserve(&mut conn, asked.order_id, &asked.lines).await?;
        drop(conn);
        self.cache.put_many(&changed).await;
        Ok(reservation)
    }

    /// Gives an order's stock back; whether this call did (false: already released, or
    /// nothing was reserved — and now nothing can be).
    pub async fn release(&self, order_id: Uuid, reason: &str) -> Result<bool, ApiError> {
        let reason = service_kit::validate::required_text("reason", reason, 150)?;
        let mut conn = self.db.get().await?;
        let changed = reservations::release(&mut conn, order_id, &reason).await?;
        drop(conn);
        self.cache.put_many(&changed).await;
        Ok(!changed.is_empty())
    }
}

/// An [`ApiError`] for the workers, which report `anyhow` errors.
pub fn anyhow_error(error: ApiError) -> anyhow::Error {
    anyhow::anyhow!(error.message())
}

/// Gives the units of flash-sale purchases back, and confirms the purchases whose order
/// exists.
#[derive(Clone)]
pub struct FlashReturns {
    db: DbPool,
    redis: Redis,
    cache: ProductCache,
}

impl FlashReturns {
    pub fn of(stock: &StockService) -> Self {
        Self {
            db: stock.db.clone(),
            redis: stock.redis.clone(),
            cache: stock.cache.clone(),
        }
    }

    /// Purchases `ids` have their orders: those still `PENDING` → `CONFIRMED` (once), in
    /// one statement. A deadlock with another locker of one of them fails the statement: the
    /// consumer then handles its events one at a time.
    pub async fn confirm(&self, ids: Vec<Uuid>) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.db.get().await?;
        let confirmed = flash_purchases::confirm(&mut conn, &ids)
            .await
            .map_err(anyhow_error)?;
        for id in confirmed {
            tracing::info!(purchase = %id, "flash sale purchase confirmed");
        }
        Ok(())
    }

    /// Gives back the units of purchase `id` (if it is one, once): to the sale's counters
    /// while it sells, else to the product. With `rejection`, the purchase had no order.
    /// Whether this call gave them back.
    pub async fn give_back(&self, id: Uuid, rejection: Option<&str>) -> anyhow::Result<bool> {
        let mut conn = self.db.get().await?;
        let given = flash_purchases::give_back(&mut conn, id, rejection)
            .await
            .map_err(anyhow_error)?;
        drop(conn);
        let Some(given) = given else {
            return Ok(false);
        };
        match given {
            FlashGivenBack::ToSale { purchase, epoch } => {
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
            FlashGivenBack::ToProduct(product) => {
                self.cache.put(&product).await;
                tracing::info!(purchase = %id, product = %product.id, "flash sale units back in stock (the sale is over)");
            }
        }
        Ok(true)
    }
}
