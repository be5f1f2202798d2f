//! Flash sales in PostgreSQL: the record. Their fast counters in Redis are
//! `crate::flash_counters`; `crate::workflows::flash_sales` composes the two.
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
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::models::ProductRow;
use super::schema::{flash_sale_purchases, flash_sales, products};
use crate::domain::flash_sales::Phase;

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
    /// The variant on sale (the product's only one when it has one).
    pub variant_id: Uuid,
}

/// A sale to create (validated).
pub struct NewSale {
    pub product_id: Uuid,
    /// `None`: the product's only variant.
    pub variant_id: Option<Uuid>,
    pub price: i64,
    pub quantity: i32,
    pub per_user_limit: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Uuid,
}

/// The product a sale would be of, as it is now.
pub async fn find_product(
    conn: &mut AsyncPgConnection,
    product: Uuid,
) -> Result<Option<ProductRow>, ApiError> {
    Ok(products::table
        .find(product)
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Inserts a sale; as stored.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    sale: &FlashSaleRow,
) -> Result<FlashSaleRow, ApiError> {
    Ok(diesel::insert_into(flash_sales::table)
        .values(sale)
        .returning(FlashSaleRow::as_returning())
        .get_result(conn)
        .await?)
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
pub async fn held_per_buyer(
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

/// Locks a sale's row (`FOR NO KEY UPDATE`): purchases being recorded or given back hold
/// it, so a rebuild waits for them and they wait for the rebuild. `None` when there is no
/// such sale.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
) -> Result<Option<FlashSaleRow>, ApiError> {
    Ok(flash_sales::table
        .find(sale)
        .for_no_key_update()
        .select(FlashSaleRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Moves a sale's counters to `epoch`: admissions by counters of another epoch are no
/// longer recordable. The sale as it is now.
pub async fn set_counter_epoch(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
    epoch: i32,
) -> Result<FlashSaleRow, ApiError> {
    Ok(diesel::update(flash_sales::table.find(sale))
        .set(flash_sales::counter_epoch.eq(epoch))
        .returning(FlashSaleRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Puts `units` of a variant back on sale (stock and ledger, with its product's summary);
/// the product as it is now. Locks the product (after the sale, as every caller does).
pub async fn return_to_variant(
    conn: &mut AsyncPgConnection,
    (product, variant): (Uuid, Uuid),
    units: i32,
    reason: &str,
) -> Result<ProductRow, ApiError> {
    super::variants::lock_product(conn, product).await?;
    let changed = super::variants::add_stock(conn, variant, units)
        .await?
        .ok_or(ApiError::Internal)?;
    super::log_stock_change(
        conn,
        (product, variant),
        (units, changed.stock),
        reason,
        None,
    )
    .await?;
    super::variants::refresh_product(conn, product).await
}

/// Whether any ended sale still has to give its unsold units back. One cheap statement,
/// without a transaction (it runs every sweep).
pub async fn any_unsold_due(conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        flash_sales::table
            .filter(flash_sales::returned_at.is_null())
            .filter(flash_sales::ends_at.le(Utc::now())),
    ))
    .get_result(conn)
    .await?)
}

/// Up to `limit` ended sales that have not given their unsold units back, locked (`FOR NO
/// KEY UPDATE SKIP LOCKED`: another replica's sweeper takes the others), the first ended
/// first.
pub async fn lock_unsold_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<FlashSaleRow>, ApiError> {
    Ok(flash_sales::table
        .filter(flash_sales::returned_at.is_null())
        .filter(flash_sales::ends_at.le(Utc::now()))
        .order(flash_sales::ends_at)
        .limit(limit)
        .for_no_key_update()
        .skip_locked()
        .select(FlashSaleRow::as_select())
        .load(conn)
        .await?)
}

/// Marks a sale's unsold units as given back: `sold` and `returned` as counted now.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
    sold: i32,
    unsold: i32,
) -> Result<(), ApiError> {
    diesel::update(flash_sales::table.find(sale))
        .set((
            flash_sales::sold.eq(sold),
            flash_sales::returned.eq(unsold),
            flash_sales::returned_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
