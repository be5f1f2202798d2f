//! The flash-sale sweep, by the clock: the unsold units of ended sales go back to their
//! products, and admissions still without an order are sent again.

use service_kit::{DbPool, Worker};

use crate::cache::ProductCache;
use crate::db::flash_purchases;
use crate::workflows::flash_sales::return_unsold;

/// Sales returned (or purchases sent again) per transaction.
const RETURN_BATCH: i64 = 50;

/// Every replica gives the unsold units of ended flash sales back to their products, every
/// `interval`; the database decides who returns which sale (`FOR NO KEY UPDATE SKIP
/// LOCKED`), so each sale's units come back once, also across restarts. It also sends
/// again the admissions still without an order after `resend_after` (as long as
/// a checkout may take; a Redis restart loses streams).
pub fn flash_sale_sweep(
    db: DbPool,
    cache: ProductCache,
    interval: std::time::Duration,
    resend_after: std::time::Duration,
) -> Worker {
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
            let products = return_unsold(&mut conn, RETURN_BATCH).await?;
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
