//! Flash-sale purchases in PostgreSQL: the record of every admitted purchase, from which the
//! Redis counters are rebuilt. Values travel as bind parameters only.
//!
//! A purchase is written with its `FlashSalePurchaseAdmitted` event (the order subgraph
//! creates its order, whose id is the purchase's) in one transaction, which raises the
//! sale's `held` under its row lock: a counter rebuild or the end-of-sale return waits for
//! it, it is refused once either has moved on (another counter epoch, or units already
//! returned), and it is refused when the sale or the buyer's limit has no room left in the
//! record, whatever Redis admitted.

mod admitted;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use service_kit::sql::prepared;
use uuid::Uuid;

use self::admitted::{WithVariant, admitted_event};
use super::flash_sales::{FlashSaleRow, return_to_variant};
use super::models::ProductRow;
use super::schema::{flash_sale_purchases, flash_sales};
use crate::domain::flash_sales::{Bound, buyer_room, sale_room, within_buyer_limit};

/// The stream of flash-sale events.
pub const FLASH_SALES_STREAM: &str = "flash-sales";

/// A row of `flash_sale_purchases`.
#[derive(Clone, Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = flash_sale_purchases, check_for_backend(diesel::pg::Pg))]
pub struct PurchaseRow {
    pub id: Uuid,
    pub sale_id: Uuid,
    pub user_id: Uuid,
    pub idempotency_key: String,
    pub request_hash: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub currency: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub address_id: Uuid,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
}

/// An admitted purchase to record.
pub struct NewPurchase<'a> {
    pub id: Uuid,
    pub sale: Uuid,
    pub buyer: Uuid,
    pub idempotency_key: &'a str,
    pub request_hash: &'a str,
    pub quantity: i32,
    pub address: Uuid,
    /// The epoch of the counters that admitted it.
    pub epoch: i32,
    pub traceparent: Option<String>,
}

/// What became of an admission.
pub enum Recorded {
    /// Recorded, and its order is on the way.
    New(PurchaseRow),
    /// The buyer's key was recorded before (Redis had forgotten it): that purchase.
    Existing(PurchaseRow),
    /// Not recordable: the counters that admitted it were rebuilt since, or the sale's
    /// unsold units have gone back already.
    Stale,
    /// The record refuses it although the counters admitted it: they admitted more than
    /// the sale has left or the buyer may hold (Redis rolled back). Nothing was written;
    /// the counters must be rebuilt.
    Refused(Bound),
}

/// Why the recording transaction rolled back.
enum Abort {
    Failed(ApiError),
    With(Box<Recorded>),
}

impl From<ApiError> for Abort {
    fn from(error: ApiError) -> Self {
        Abort::Failed(error)
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Failed(error.into())
    }
}

/// The sale's columns the recording transaction needs.
#[derive(QueryableByName)]
struct SaleTerms {
    #[diesel(sql_type = diesel::sql_types::Int4)]
    per_user_limit: i32,
    /// The buyer's units not given back.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    holding: i64,
    /// The buyer recorded a purchase under this key already.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    key_used: bool,
}

#[derive(QueryableByName)]
struct Units {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    units: i64,
}

/// Records an admitted purchase and its event, in one transaction, within the record's
/// bounds: the sale's units held (`held`, raised here under the sale's row lock) never
/// exceed its quantity, nor a buyer's units its per-user limit, whatever the Redis counters
/// admitted.
///
/// Each statement is prepared once per connection: a sale's recordings queue on its row,
/// so what PostgreSQL spends on each (parsing and planning included) adds up in a storm.
pub async fn record(
    conn: &mut AsyncPgConnection,
    new: &NewPurchase<'_>,
) -> Result<Recorded, ApiError> {
    let outcome = conn
        .transaction(async |conn| {
            // One buyer's recordings queue here (not the whole sale's): the next statement
            // starts after the lock, so it sees every earlier purchase of this buyer.
            let lock = format!("flash-buyer:{}:{}", new.sale, new.buyer);
            prepared(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                |q| q.bind::<Text, _>(lock),
            )
            .execute(conn)
            .await?;
            let terms: Option<SaleTerms> = prepared(
                "SELECT per_user_limit, (SELECT coalesce(sum(quantity), 0)::bigint \
                     FROM flash_sale_purchases \
                     WHERE sale_id = $1 AND user_id = $2 AND returned_at IS NULL) AS holding, \
                   EXISTS (SELECT 1 FROM flash_sale_purchases \
                     WHERE user_id = $2 AND idempotency_key = $3) AS key_used \
                 FROM flash_sales WHERE id = $1",
                |q| {
                    q.bind::<SqlUuid, _>(new.sale)
                        .bind::<SqlUuid, _>(new.buyer)
                        .bind::<Text, _>(new.idempotency_key)
                },
            )
            .get_result(conn)
            .await
            .optional()?;
            // No such sale, or the key was recorded before (Redis had forgotten it: that
            // purchase is looked up below).
            let Some(terms) = terms.filter(|terms| !terms.key_used) else {
                return Err(Abort::With(Box::new(Recorded::Stale)));
            };
            if !within_buyer_limit(terms.holding, new.quantity, terms.per_user_limit) {
                return Err(Abort::With(Box::new(Recorded::Refused(
                    Bound::LimitExceeded,
                ))));
            }
            let inserted: Option<WithVariant> = prepared(
                "INSERT INTO flash_sale_purchases (id, sale_id, user_id, idempotency_key, \
                     request_hash, quantity, unit_price, currency, product_id, product_name, \
                     address_id, status, variant_id, sku, variant_name, options) \
                 SELECT $1, sale.id, $3, $4, $5, $6, sale.price, sale.currency, \
                        sale.product_id, p.name, $7, 'PENDING', v.id, v.sku, \
                        variant_name(v.options, p.name), v.options \
                 FROM flash_sales sale JOIN products p ON p.id = sale.product_id \
                      JOIN product_variants v ON v.id = sale.variant_id \
                 WHERE sale.id = $2 \
                 ON CONFLICT (user_id, idempotency_key) DO NOTHING \
                 RETURNING *, options::text AS options_json",
                |q| {
                    q.bind::<SqlUuid, _>(new.id)
                        .bind::<SqlUuid, _>(new.sale)
                        .bind::<SqlUuid, _>(new.buyer)
                        .bind::<Text, _>(new.idempotency_key)
                        .bind::<Text, _>(new.request_hash)
                        .bind::<Int4, _>(new.quantity)
                        .bind::<SqlUuid, _>(new.address)
                },
            )
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = inserted else {
                // A twin request with the same key recorded it meanwhile: its purchase is
                // looked up below (this very admission's units stay taken; another's go back).
                return Err(Abort::With(Box::new(Recorded::Stale)));
            };
            admitted_event(&row, new.traceparent.clone())
                .insert(conn)
                .await?;
            let row = row.purchase;
            // Last, so that the sale's row lock (recordings, give-backs and rebuilds of one
            // sale queue on it) is held for this statement and the COMMIT only.
            let raised = prepared(
                "UPDATE flash_sales SET held = held + $3 \
                 WHERE id = $1 AND returned_at IS NULL AND counter_epoch = $2 \
                   AND held + $3 <= total_quantity",
                |q| {
                    q.bind::<SqlUuid, _>(new.sale)
                        .bind::<Int4, _>(new.epoch)
                        .bind::<Int4, _>(new.quantity)
                },
            )
            .execute(conn)
            .await?;
            if raised == 0 {
                let sale: Option<FlashSaleRow> = flash_sales::table
                    .find(new.sale)
                    .select(FlashSaleRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                return Err(Abort::With(Box::new(match sale {
                    Some(sale) if sale.returned_at.is_none() && sale.counter_epoch == new.epoch => {
                        Recorded::Refused(Bound::SoldOut)
                    }
                    _ => Recorded::Stale,
                })));
            }
            Ok(row)
        })
        .await;
    match outcome {
        Ok(row) => Ok(Recorded::New(row)),
        Err(Abort::Failed(error)) => Err(error),
        Err(Abort::With(recorded)) => match *recorded {
            Recorded::Stale => Ok(match by_key(conn, new.buyer, new.idempotency_key).await? {
                Some(existing) => Recorded::Existing(existing),
                None => Recorded::Stale,
            }),
            recorded => Ok(recorded),
        },
    }
}

/// What the record says of a sale for one buyer.
pub struct Room {
    /// Units the sale has left.
    pub sale: i64,
    /// Units the buyer may still take within the per-user limit.
    pub buyer: i64,
    /// Units its buyers hold.
    pub held: i32,
}

/// What the record has room for (`None` once the sale's unsold units went back, or when
/// there is no such sale).
pub async fn room(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
    buyer: Uuid,
) -> Result<Option<Room>, ApiError> {
    let Some(row) = flash_sales::table
        .find(sale)
        .filter(flash_sales::returned_at.is_null())
        .select(FlashSaleRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let holding = units_held(conn, sale, buyer).await?;
    Ok(Some(Room {
        sale: sale_room(row.total_quantity, row.held),
        buyer: buyer_room(row.per_user_limit, holding),
        held: row.held,
    }))
}

/// Units `buyer` holds in `sale`: their purchases not given back.
async fn units_held(conn: &mut AsyncPgConnection, sale: Uuid, buyer: Uuid) -> QueryResult<i64> {
    let held: Units = diesel::sql_query(
        "SELECT coalesce(sum(quantity), 0)::bigint AS units FROM flash_sale_purchases \
         WHERE sale_id = $1 AND user_id = $2 AND returned_at IS NULL",
    )
    .bind::<SqlUuid, _>(sale)
    .bind::<SqlUuid, _>(buyer)
    .get_result(conn)
    .await?;
    Ok(held.units)
}

/// One purchase.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<PurchaseRow>, ApiError> {
    Ok(flash_sale_purchases::table
        .find(id)
        .select(PurchaseRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The buyer's purchase under `key`.
pub async fn by_key(
    conn: &mut AsyncPgConnection,
    buyer: Uuid,
    key: &str,
) -> Result<Option<PurchaseRow>, ApiError> {
    Ok(flash_sale_purchases::table
        .filter(flash_sale_purchases::user_id.eq(buyer))
        .filter(flash_sale_purchases::idempotency_key.eq(key))
        .select(PurchaseRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Its order exists: `PENDING` → `CONFIRMED`. Whether it changed.
pub async fn confirm(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, ApiError> {
    let changed = diesel::update(
        flash_sale_purchases::table
            .find(id)
            .filter(flash_sale_purchases::status.eq("PENDING")),
    )
    .set(flash_sale_purchases::status.eq("CONFIRMED"))
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Where a purchase's units went back to.
pub enum GivenBack {
    /// To the sale, still selling: the caller puts them back into its counters of `epoch`.
    ToSale { purchase: PurchaseRow, epoch: i32 },
    /// To the product's stock (the sale had given its unsold units back already).
    ToProduct(ProductRow),
}

/// Gives the units of purchase `id` back, once: its order was cancelled, expired or
/// refunded, or (with `rejection`) its order could not be created, which also makes it
/// `REJECTED` with that reason. `None` when they went back already (or there is no such
/// purchase).
pub async fn give_back(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    rejection: Option<&str>,
) -> Result<Option<GivenBack>, ApiError> {
    conn.transaction(async |conn| {
        let target = flash_sale_purchases::table
            .find(id)
            .filter(flash_sale_purchases::returned_at.is_null());
        let purchase: Option<PurchaseRow> = match rejection {
            Some(reason) => {
                diesel::update(target.filter(flash_sale_purchases::status.eq("PENDING")))
                    .set((
                        flash_sale_purchases::returned_at.eq(Utc::now()),
                        flash_sale_purchases::status.eq("REJECTED"),
                        flash_sale_purchases::reason.eq(reason),
                    ))
                    .returning(PurchaseRow::as_returning())
                    .get_result(conn)
                    .await
            }
            None => {
                diesel::update(target)
                    .set(flash_sale_purchases::returned_at.eq(Utc::now()))
                    .returning(PurchaseRow::as_returning())
                    .get_result(conn)
                    .await
            }
        }
        .optional()?;
        let Some(purchase) = purchase else {
            return Ok(None);
        };
        // The sale's row lock: a recording, a rebuild or the end-of-sale return waits
        // until this commits, and this sees whether the end-of-sale return has happened.
        let sale: FlashSaleRow = diesel::update(flash_sales::table.find(purchase.sale_id))
            .set(flash_sales::held.eq(flash_sales::held - purchase.quantity))
            .returning(FlashSaleRow::as_returning())
            .get_result(conn)
            .await?;
        if sale.returned_at.is_none() {
            return Ok(Some(GivenBack::ToSale {
                purchase,
                epoch: sale.counter_epoch,
            }));
        }
        diesel::update(flash_sales::table.find(sale.id))
            .set((
                flash_sales::sold.eq(flash_sales::sold - purchase.quantity),
                flash_sales::returned.eq(flash_sales::returned + purchase.quantity),
            ))
            .execute(conn)
            .await?;
        let product = return_to_variant(
            conn,
            (purchase.product_id, sale.variant_id),
            purchase.quantity,
            &format!("flash sale purchase {} given back", purchase.id),
        )
        .await?;
        Ok(Some(GivenBack::ToProduct(product)))
    })
    .await
}

/// Publishes again the admission events of up to `limit` purchases still `PENDING` after
/// `older_than` since they were last sent (a Redis restart loses the stream; the order
/// subgraph creates each order once, whatever it receives twice). How many.
pub async fn resend_pending(
    conn: &mut AsyncPgConnection,
    older_than: std::time::Duration,
    limit: i64,
) -> Result<usize, ApiError> {
    let due =
        Utc::now() - chrono::Duration::from_std(older_than).map_err(|_| ApiError::Internal)?;
    // Idle check in one cheap statement, without a transaction (it runs every sweep).
    let any_due: bool = diesel::select(diesel::dsl::exists(
        flash_sale_purchases::table
            .filter(flash_sale_purchases::status.eq("PENDING"))
            .filter(flash_sale_purchases::sent_at.lt(due)),
    ))
    .get_result(conn)
    .await?;
    if !any_due {
        return Ok(0);
    }
    conn.transaction(async |conn| {
        let stale: Vec<WithVariant> = diesel::sql_query(
            "SELECT *, options::text AS options_json FROM flash_sale_purchases \
             WHERE status = 'PENDING' AND sent_at < $1 \
             ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(due)
        .bind::<diesel::sql_types::Int8, _>(limit)
        .load(conn)
        .await?;
        for purchase in &stale {
            admitted_event(purchase, None).insert(conn).await?;
            diesel::update(flash_sale_purchases::table.find(purchase.purchase.id))
                .set(flash_sale_purchases::sent_at.eq(Utc::now()))
                .execute(conn)
                .await?;
        }
        Ok(stale.len())
    })
    .await
}
