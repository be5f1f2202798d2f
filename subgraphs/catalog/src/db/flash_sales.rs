//! Flash sales in PostgreSQL (the record) and their fast counter in Redis.
//!
//! Invariants kept here:
//! - A sale's units leave the product's stock in the transaction that creates the sale
//!   (with a ledger entry), so no ordinary checkout can sell them.
//! - Once a sale has ended, its unsold units (`total_quantity − sold`) go back to the
//!   product exactly once (`returned_at`, set in the same transaction as the stock change,
//!   by whichever replica's sweeper locks the sale first).
//! - `remainingQuantity` of a running sale is the Redis counter `flash:{id}:remaining`;
//!   when Redis lost it, it is rebuilt from the record (`total_quantity − sold`) with
//!   `SET NX`, so concurrent rebuilds agree.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

use super::models::ProductRow;
use super::schema::{flash_sales, products};

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

fn remaining_key(redis: &Redis, sale: Uuid) -> String {
    redis.key(&format!("flash:{sale}:remaining"))
}

/// Publishes a new sale's counter (its whole quantity), kept until a day after it ends.
pub async fn publish_counter(redis: &Redis, sale: &FlashSaleRow) -> Result<(), ApiError> {
    let mut conn = redis.pool().get().await.map_err(counter_unavailable)?;
    let _: Option<String> = redis::cmd("SET")
        .arg(remaining_key(redis, sale.id))
        .arg(sale.total_quantity - sale.sold)
        .arg("NX")
        .arg("EXAT")
        .arg(counter_expiry(sale))
        .query_async(&mut *conn)
        .await
        .map_err(counter_unavailable)?;
    Ok(())
}

fn counter_expiry(sale: &FlashSaleRow) -> i64 {
    (sale.ends_at + chrono::Duration::days(1)).timestamp()
}

/// Units left in each sale: for a sale not yet ended, its Redis counter (rebuilt from the
/// record if Redis lost it); for an ended one, what it did not sell.
pub async fn remaining(redis: &Redis, sales: &[FlashSaleRow]) -> Result<Vec<i64>, ApiError> {
    let now = Utc::now();
    let live: Vec<&FlashSaleRow> = sales
        .iter()
        .filter(|sale| sale.phase(now) != Phase::Ended)
        .collect();
    let mut counters: Vec<Option<i64>> = Vec::new();
    if !live.is_empty() {
        let mut conn = redis.pool().get().await.map_err(counter_unavailable)?;
        let keys: Vec<String> = live.iter().map(|s| remaining_key(redis, s.id)).collect();
        counters = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut *conn)
            .await
            .map_err(counter_unavailable)?;
        drop(conn);
        for (sale, counter) in live.iter().zip(counters.iter_mut()) {
            if counter.is_none() {
                // Lost (a Redis restart without persistence): rebuilt from the record.
                publish_counter(redis, sale).await?;
                *counter = Some(i64::from(sale.total_quantity - sale.sold));
            }
        }
    }
    let mut counters = counters.into_iter();
    Ok(sales
        .iter()
        .map(|sale| {
            if sale.phase(now) == Phase::Ended {
                i64::from(sale.total_quantity - sale.sold)
            } else {
                counters.next().flatten().unwrap_or_default().max(0)
            }
        })
        .collect())
}

fn counter_unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "flash sale counters (Redis) failed");
    ApiError::Unavailable("the flash sale counters")
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
            .for_update()
            .skip_locked()
            .select(FlashSaleRow::as_select())
            .load(conn)
            .await?;
        let mut changed = Vec::new();
        for sale in due {
            let unsold = sale.total_quantity - sale.sold;
            if unsold > 0 {
                let product: ProductRow = diesel::update(products::table.find(sale.product_id))
                    .set((
                        products::stock.eq(products::stock + unsold),
                        products::updated_at.eq(Utc::now()),
                        products::version.eq(products::version + 1),
                    ))
                    .returning(ProductRow::as_returning())
                    .get_result(conn)
                    .await?;
                super::log_stock_change(
                    conn,
                    product.id,
                    (unsold, product.stock),
                    &format!("unsold after flash sale {}", sale.id),
                    None,
                )
                .await?;
                changed.push(product);
            }
            diesel::update(flash_sales::table.find(sale.id))
                .set((
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
