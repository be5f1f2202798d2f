//! Flash-sale administration: creating sales, rebuilding their counters, the units they
//! have left, and returning what ended sales did not sell. The record is PostgreSQL
//! (`crate::db::flash_sales`, which states the invariants); the Redis counters
//! (`crate::flash_counters`) are its cache.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::db::DbConn;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::flash_sales::{self, FlashSaleRow, NewSale};
use crate::db::models::ProductRow;
use crate::db::variants;
use crate::domain::flash_sales::{self as rules, Refusal};
use crate::flash_counters::{self, Install};

/// Creates the sale and takes its units out of the product's stock, in one transaction;
/// then the product cache (when there is one) gets the product as it is now, and the sale's
/// counters go to Redis. The connection goes back to the pool before Redis is asked.
pub async fn create(
    mut conn: DbConn<'_>,
    redis: &Redis,
    cache: Option<&ProductCache>,
    new: NewSale,
) -> Result<Result<FlashSaleRow, Refusal>, ApiError> {
    let created = conn
        .transaction(async |conn| {
            // The product first, as stock reservations lock it.
            let Some(current) = flash_sales::find_product(conn, new.product_id).await? else {
                return Ok(Err(Refusal::NoSuchProduct));
            };
            variants::lock_product(conn, current.id).await?;
            let variant = crate::workflows::variants::chosen(
                conn,
                current.id,
                new.variant_id,
                "input.variantId",
            )
            .await?;
            let Some(taken) = variants::take_active(conn, variant, new.quantity).await? else {
                let left = variants::by_ids(conn, &[variant]).await?;
                let variant_status = left.first().map_or("ARCHIVED", |v| v.status.as_str());
                let status = if current.status == "ACTIVE" {
                    variant_status
                } else {
                    current.status.as_str()
                };
                return Ok(Err(Refusal::of(Some((
                    status,
                    left.first().map_or(0, |v| v.stock),
                )))));
            };
            let product = variants::refresh_product(conn, current.id).await?;
            let sale = new_row(&new, variant, product.currency.clone());
            crate::db::log_stock_change(
                conn,
                (product.id, variant),
                (-new.quantity, taken.stock),
                &format!("set aside for flash sale {}", sale.id),
                Some(new.created_by),
            )
            .await?;
            let sale = flash_sales::insert(conn, &sale).await?;
            Ok::<_, ApiError>(Ok((sale, product)))
        })
        .await?;
    drop(conn);
    let (sale, product) = match created {
        Ok(created) => created,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Some(cache) = cache {
        cache.put(&product).await;
    }
    flash_counters::install(redis, &counters(&sale, &[])).await?;
    tracing::info!(sale = %sale.id, product = %sale.product_id, quantity = sale.total_quantity, "flash sale created");
    Ok(Ok(sale))
}

/// The row of a sale about to be created, of a product priced in `currency`.
fn new_row(new: &NewSale, variant_id: Uuid, currency: String) -> FlashSaleRow {
    FlashSaleRow {
        variant_id,
        id: Uuid::now_v7(),
        product_id: new.product_id,
        price: new.price,
        currency,
        total_quantity: new.quantity,
        per_user_limit: new.per_user_limit,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        sold: 0,
        returned: None,
        returned_at: None,
        created_by: Some(new.created_by),
        created_at: chrono::Utc::now(),
        counter_epoch: 0,
        held: 0,
    }
}

/// The counters of `sale` at its `counter_epoch`, its buyers holding `held` units each.
fn counters<'a>(sale: &FlashSaleRow, held: &'a [(Uuid, i64)]) -> Install<'a> {
    Install {
        sale: sale.id,
        epoch: sale.counter_epoch,
        remaining: rules::units_left(sale.total_quantity, held),
        starts_at: sale.starts_at,
        ends_at: sale.ends_at,
        per_user_limit: sale.per_user_limit,
        held,
    }
}

/// A sale after [`rebuild_counters`].
pub enum Rebuilt {
    /// Its counters are in Redis again, with this many units left.
    Counters { sale: FlashSaleRow, remaining: i64 },
    /// It has given its unsold units back already: it has no counters any more.
    Settled(FlashSaleRow),
}

/// Rebuilds the Redis counters of `sale` from the record, under a new epoch, unless the
/// counters in Redis are current: of the record's epoch, and not known to be wrong
/// (`wrong`: counters of this epoch or an older one admitted what the record refused, or
/// admitted a purchase under an epoch the record has left). Rebuilders queue on the sale's
/// row, so a lost or rolled-back counter is rebuilt once, not by every request that
/// noticed. The epoch bump waits for the purchases being recorded or given back (they lock
/// the sale's row) and makes any admission by the replaced counters unrecordable. `None`
/// when there is no such sale.
pub async fn rebuild_counters(
    conn: &mut AsyncPgConnection,
    redis: &Redis,
    sale: Uuid,
    wrong: Option<i32>,
) -> Result<Option<Rebuilt>, ApiError> {
    // Most calls (an admission that found its counters replaced) find them current: no
    // need to queue on the sale's row for that.
    if let Some(wrong) = wrong
        && let Some(row) = flash_sales::find(conn, sale).await?
        && row.returned_at.is_none()
        && row.counter_epoch > wrong
        && let Some(counters) = flash_counters::state(redis, sale).await?
        && counters.epoch == row.counter_epoch
    {
        return Ok(Some(Rebuilt::Counters {
            sale: row,
            remaining: counters.remaining,
        }));
    }
    let mut installed = false;
    let rebuilt = conn
        .transaction(async |conn| {
            let Some(row) = flash_sales::lock(conn, sale).await? else {
                return Ok::<_, ApiError>(None);
            };
            if row.returned_at.is_some() {
                return Ok(Some(Rebuilt::Settled(row)));
            }
            let found = flash_counters::state(redis, sale).await?;
            if let Some(found) = found
                && rules::counters_current(row.counter_epoch, found.epoch, wrong)
            {
                return Ok(Some(Rebuilt::Counters {
                    sale: row,
                    remaining: found.remaining,
                }));
            }
            // Above any epoch Redis has (a rolled-back or half-installed one included), so
            // that the install replaces it.
            let epoch = rules::next_epoch(row.counter_epoch, found.map(|c| c.epoch));
            let row = flash_sales::set_counter_epoch(conn, sale, epoch).await?;
            let held = flash_sales::held_per_buyer(conn, sale).await?;
            let counters = counters(&row, &held);
            // Installed before the commit: the next rebuilder in the queue finds them.
            flash_counters::install(redis, &counters).await?;
            installed = true;
            tracing::warn!(
                sale = %sale,
                epoch = row.counter_epoch,
                found = ?found.map(|c| (c.epoch, c.remaining)),
                "flash sale counters rebuilt from the record"
            );
            let remaining = counters.remaining;
            Ok(Some(Rebuilt::Counters {
                sale: row,
                remaining,
            }))
        })
        .await;
    if rebuilt.is_err() && installed {
        // Counters of an epoch that did not commit would make every admission
        // unrecordable: gone, the next request rebuilds them.
        flash_counters::forget(redis, sale).await?;
    }
    if installed && rebuilt.is_ok() {
        metrics::counter!("flash_sale_counter_rebuilds_total").increment(1);
    }
    rebuilt
}

/// Units left in each sale: for a sale whose unsold units have not gone back yet, its
/// Redis counter (rebuilt from the record if Redis lost it); after that, what it did not
/// sell.
pub async fn remaining(
    conn: &mut AsyncPgConnection,
    redis: &Redis,
    sales: &[FlashSaleRow],
) -> Result<Vec<i64>, ApiError> {
    let open: Vec<Uuid> = sales
        .iter()
        .filter(|sale| sale.returned_at.is_none())
        .map(|sale| sale.id)
        .collect();
    let mut counters = flash_counters::remaining(redis, &open).await?.into_iter();
    let mut answer = Vec::with_capacity(sales.len());
    for sale in sales {
        let settled = |row: &FlashSaleRow| i64::from(rules::unsold(row.total_quantity, row.sold));
        if sale.returned_at.is_some() {
            answer.push(settled(sale));
            continue;
        }
        let units = match counters.next().flatten() {
            // Never more than the record allows (the counters may have rolled back).
            Some(units) => units.min(rules::sale_room(sale.total_quantity, sale.held)),
            // Lost (a Redis restart without persistence): rebuilt from the record.
            None => match rebuild_counters(conn, redis, sale.id, None).await? {
                Some(Rebuilt::Counters { remaining, .. }) => remaining,
                Some(Rebuilt::Settled(row)) => settled(&row),
                None => settled(sale),
            },
        };
        answer.push(units.max(0));
    }
    Ok(answer)
}

/// Gives the unsold units of up to `limit` ended sales back to their products, each once.
/// Returns the products changed (for the product cache).
pub async fn return_unsold(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<ProductRow>, ApiError> {
    // Idle check in one cheap statement, without a transaction (it runs every sweep).
    if !flash_sales::any_unsold_due(conn).await? {
        return Ok(Vec::new());
    }
    conn.transaction(async |conn| {
        let due = flash_sales::lock_unsold_due(conn, limit).await?;
        // Their products next, in id order (as checkouts lock them): the sales come in
        // order of their end, which could otherwise deadlock with a checkout.
        let products: Vec<Uuid> = due.iter().map(|sale| sale.product_id).collect();
        variants::lock_products(conn, &products).await?;
        let mut changed = Vec::new();
        for sale in due {
            // The sale's row is locked: no purchase is being recorded or given back.
            let held: i64 = flash_sales::held_per_buyer(conn, sale.id)
                .await?
                .iter()
                .map(|(_, n)| n)
                .sum();
            let sold = i32::try_from(held).map_err(|_| ApiError::Internal)?;
            let unsold = rules::unsold(sale.total_quantity, sold);
            if unsold > 0 {
                changed.push(
                    flash_sales::return_to_variant(
                        conn,
                        (sale.product_id, sale.variant_id),
                        unsold,
                        &format!("unsold after flash sale {}", sale.id),
                    )
                    .await?,
                );
            }
            flash_sales::settle(conn, sale.id, sold, unsold).await?;
        }
        Ok(changed)
    })
    .await
}
