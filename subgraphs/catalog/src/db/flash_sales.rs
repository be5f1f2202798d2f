//! Flash sales in PostgreSQL (the record) and their fast counter in Redis.
//!
//! Invariants kept here:
//! - A sale's units leave the product's stock in the transaction that creates the sale
//!   (with a ledger entry), so no ordinary checkout can sell them.
//! - Once a sale has ended, its unsold units (`total_quantity − sold`) go back to the
//!   product exactly once (`returned_at`, set in the same transaction as the stock change,
//!   by whichever replica's sweeper locks the sale first).
//! - Units held by a sale's buyers are the quantities of its purchases not given back
//!   (`db::flash_purchases`), kept in `held`, which never exceeds `total_quantity` nor any
//!   buyer's units the per-user limit: the recording transaction checks both, so Redis
//!   can only ever under-sell.
//! - The Redis counters (`crate::flash_counters`) are a cache of that record: rebuilt from
//!   it under a new `counter_epoch` when Redis lost them, rolled back (an older epoch than
//!   the record's) or was found admitting more than the record allows, while no purchase
//!   can be recorded or given back (the sale's row lock), so a rebuild counts each purchase
//!   once.
//! - Once a sale has ended and its unsold units went back, `sold` is what its buyers held
//!   then; units given back later go to the product (and leave `sold`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use service_kit::{ApiError, Redis};
use uuid::Uuid;

use super::models::ProductRow;
use super::schema::{flash_sale_purchases, flash_sales, products};
use crate::flash_counters;

/// A row of `flash_sales`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = flash_sales, check_for_backend(diesel::pg::Pg))]
pub struct FlashSaleRow {
    pub id: Uuid,
    pub product_id: Uuid,
    pub price: i64,
    pub currency: String,
    pub total_quantity: i32,
    pub per_user_limit: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub sold: i32,
    pub returned: Option<i32>,
    pub returned_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub counter_epoch: i32,
    /// Units of its purchases not given back; never above `total_quantity` (PostgreSQL's
    /// bound on what the Redis counters admit).
    pub held: i32,
}

/// Where a sale is, by the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Scheduled,
    Active,
    Ended,
}

impl FlashSaleRow {
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if now < self.starts_at {
            Phase::Scheduled
        } else if now < self.ends_at {
            Phase::Active
        } else {
            Phase::Ended
        }
    }
}

/// A sale to create (validated).
pub struct NewSale {
    pub product_id: Uuid,
    pub price: i64,
    pub quantity: i32,
    pub per_user_limit: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Uuid,
}

/// Why a sale cannot be created for its product.
pub enum Refusal {
    NoSuchProduct,
    NotActive,
    NotEnoughStock { in_stock: i32 },
}

/// Creates the sale and takes its units out of the product's stock, in one transaction.
/// Returns the sale and the product as it is now (for the product cache).
pub async fn create(
    conn: &mut AsyncPgConnection,
    new: NewSale,
) -> Result<Result<(FlashSaleRow, ProductRow), Refusal>, ApiError> {
    conn.transaction(async |conn| {
        // One statement checks and takes: concurrent sales and checkouts never take the same
        // units twice, and stock never goes below zero.
        let updated: Option<ProductRow> = diesel::update(
            products::table
                .find(new.product_id)
                .filter(products::status.eq("ACTIVE"))
                .filter(products::stock.ge(new.quantity)),
        )
        .set((
            products::stock.eq(products::stock - new.quantity),
            products::updated_at.eq(Utc::now()),
            products::version.eq(products::version + 1),
        ))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        let Some(product) = updated else {
            let current: Option<ProductRow> = products::table
                .find(new.product_id)
                .select(ProductRow::as_select())
                .first(conn)
                .await
                .optional()?;
            return Ok(Err(match current {
                None => Refusal::NoSuchProduct,
                Some(row) if row.status != "ACTIVE" => Refusal::NotActive,
                Some(row) => Refusal::NotEnoughStock {
                    in_stock: row.stock,
                },
            }));
        };
        let sale = FlashSaleRow {
            id: Uuid::now_v7(),
            product_id: new.product_id,
            price: new.price,
            currency: product.currency.clone(),
            total_quantity: new.quantity,
            per_user_limit: new.per_user_limit,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            sold: 0,
            returned: None,
            returned_at: None,
            created_by: Some(new.created_by),
            created_at: Utc::now(),
            counter_epoch: 0,
            held: 0,
        };
        super::log_stock_change(
            conn,
            product.id,
            (-new.quantity, product.stock),
            &format!("set aside for flash sale {}", sale.id),
            Some(new.created_by),
        )
        .await?;
        let sale = diesel::insert_into(flash_sales::table)
            .values(&sale)
            .returning(FlashSaleRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(Ok((sale, product)))
    })
    .await
}

/// Sales of one phase (all when `None`), by start; the ended ones newest first. At most
/// `limit`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    phase: Option<Phase>,
    limit: i64,
) -> Result<Vec<FlashSaleRow>, ApiError> {
    let now = Utc::now();
    let mut query = flash_sales::table
        .select(FlashSaleRow::as_select())
        .limit(limit)
        .into_boxed();
    query = match phase {
        Some(Phase::Scheduled) => query
            .filter(flash_sales::starts_at.gt(now))
            .order((flash_sales::starts_at, flash_sales::id)),
        Some(Phase::Active) => query
            .filter(flash_sales::starts_at.le(now))
            .filter(flash_sales::ends_at.gt(now))
            .order((flash_sales::ends_at, flash_sales::id)),
        Some(Phase::Ended) => query
            .filter(flash_sales::ends_at.le(now))
            .order((flash_sales::ends_at.desc(), flash_sales::id)),
        None => query.order((flash_sales::starts_at.desc(), flash_sales::id)),
    };
    Ok(query.load(conn).await?)
}

/// One sale.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<FlashSaleRow>, ApiError> {
    Ok(flash_sales::table
        .find(id)
        .select(FlashSaleRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Units held per buyer of `sale`: its purchases not given back.
async fn held_per_buyer(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
) -> Result<Vec<(Uuid, i64)>, ApiError> {
    Ok(flash_sale_purchases::table
        .filter(flash_sale_purchases::sale_id.eq(sale))
        .filter(flash_sale_purchases::returned_at.is_null())
        .group_by(flash_sale_purchases::user_id)
        .select((
            flash_sale_purchases::user_id,
            diesel::dsl::sum(flash_sale_purchases::quantity),
        ))
        .load::<(Uuid, Option<i64>)>(conn)
        .await?
        .into_iter()
        .map(|(buyer, units)| (buyer, units.unwrap_or_default()))
        .collect())
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
        && let Some(row) = find(conn, sale).await?
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
            let Some(row) = flash_sales::table
                .find(sale)
                .for_no_key_update()
                .select(FlashSaleRow::as_select())
                .first(conn)
                .await
                .optional()?
            else {
                return Ok::<_, ApiError>(None);
            };
            if row.returned_at.is_some() {
                return Ok(Some(Rebuilt::Settled(row)));
            }
            let counters = flash_counters::state(redis, sale).await?;
            if let Some(counters) = counters
                && counters.epoch == row.counter_epoch
                && wrong.is_none_or(|epoch| row.counter_epoch > epoch)
            {
                return Ok(Some(Rebuilt::Counters {
                    sale: row,
                    remaining: counters.remaining,
                }));
            }
            // Above any epoch Redis has (a rolled-back or half-installed one included), so
            // that the install replaces it.
            let epoch = row.counter_epoch.max(counters.map_or(0, |c| c.epoch)) + 1;
            let row: FlashSaleRow = diesel::update(flash_sales::table.find(sale))
                .set(flash_sales::counter_epoch.eq(epoch))
                .returning(FlashSaleRow::as_returning())
                .get_result(conn)
                .await?;
            let held = held_per_buyer(conn, sale).await?;
            // Installed before the commit: the next rebuilder in the queue finds them.
            flash_counters::install(redis, &row, &held).await?;
            installed = true;
            tracing::warn!(
                sale = %sale,
                epoch = row.counter_epoch,
                found = ?counters.map(|c| (c.epoch, c.remaining)),
                "flash sale counters rebuilt from the record"
            );
            let remaining =
                i64::from(row.total_quantity) - held.iter().map(|(_, n)| n).sum::<i64>();
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
        let settled = |row: &FlashSaleRow| i64::from(row.total_quantity - row.sold);
        if sale.returned_at.is_some() {
            answer.push(settled(sale));
            continue;
        }
        let units = match counters.next().flatten() {
            // Never more than the record allows (the counters may have rolled back).
            Some(units) => units.min(i64::from(sale.total_quantity - sale.held)),
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

/// Installs the counters of a sale just created.
pub async fn publish_counters(redis: &Redis, sale: &FlashSaleRow) -> Result<(), ApiError> {
    flash_counters::install(redis, sale, &[]).await
}

/// Puts `units` of `product` back on sale (stock and ledger); the product as it is now.
pub async fn return_to_product(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    units: i32,
    reason: &str,
) -> Result<ProductRow, ApiError> {
    let product: ProductRow = diesel::update(products::table.find(product))
        .set((
            products::stock.eq(products::stock + units),
            products::updated_at.eq(Utc::now()),
            products::version.eq(products::version + 1),
        ))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await?;
    super::log_stock_change(conn, product.id, (units, product.stock), reason, None).await?;
    Ok(product)
}

/// Gives the unsold units of up to `limit` ended sales back to their products, each once.
/// Returns the products changed (for the product cache).
pub async fn return_unsold(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<ProductRow>, ApiError> {
    // Idle check in one cheap statement, without a transaction (it runs every sweep).
    let any_due: bool = diesel::select(diesel::dsl::exists(
        flash_sales::table
            .filter(flash_sales::returned_at.is_null())
            .filter(flash_sales::ends_at.le(Utc::now())),
    ))
    .get_result(conn)
    .await?;
    if !any_due {
        return Ok(Vec::new());
    }
    conn.transaction(async |conn| {
        let due: Vec<FlashSaleRow> = flash_sales::table
            .filter(flash_sales::returned_at.is_null())
            .filter(flash_sales::ends_at.le(Utc::now()))
            .order(flash_sales::ends_at)
            .limit(limit)
            .for_no_key_update()
            .skip_locked()
            .select(FlashSaleRow::as_select())
            .load(conn)
            .await?;
        let mut changed = Vec::new();
        for sale in due {
            // The sale's row is locked: no purchase is being recorded or given back.
            let held: i64 = held_per_buyer(conn, sale.id)
                .await?
                .iter()
                .map(|(_, n)| n)
                .sum();
            let sold = i32::try_from(held).map_err(|_| ApiError::Internal)?;
            let unsold = sale.total_quantity - sold;
            if unsold > 0 {
                changed.push(
                    return_to_product(
                        conn,
                        sale.product_id,
                        unsold,
                        &format!("unsold after flash sale {}", sale.id),
                    )
                    .await?,
                );
            }
            diesel::update(flash_sales::table.find(sale.id))
                .set((
                    flash_sales::sold.eq(sold),
                    flash_sales::returned.eq(unsold),
                    flash_sales::returned_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
        }
        Ok(changed)
    })
    .await
}
