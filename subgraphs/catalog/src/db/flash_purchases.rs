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
use diesel::sql_types::{Array, Int4, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use event_bus::NewEvent;
use service_kit::ApiError;
use service_kit::sql::prepared;
use uuid::Uuid;

use self::admitted::{ADMITTED, Due};
use super::flash_sales::{FlashSaleRow, return_to_variant};
use super::models::ProductRow;
use super::schema::{flash_sale_purchases, flash_sales};
use crate::domain::flash_sales::{Bound, buyer_room, sale_room};

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
pub struct NewPurchase {
    pub id: Uuid,
    pub sale: Uuid,
    pub buyer: Uuid,
    pub idempotency_key: String,
    pub request_hash: String,
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

#[derive(QueryableByName)]
struct Units {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    units: i64,
}

/// What `record_flash_purchases` answers for one admission (migrations/catalog).
#[derive(QueryableByName)]
struct Recording {
    /// The admission's place in the batch, from 1.
    #[diesel(sql_type = Int4)]
    n: i32,
    #[diesel(sql_type = Text)]
    outcome: String,
    /// Absent (every column NULL) when there is no purchase to show.
    #[diesel(embed)]
    purchase: Option<PurchaseRow>,
}

/// Records admitted purchases of `sale`, each with its event, in one transaction and one
/// statement (a call of the SQL function `record_flash_purchases`, prepared once per
/// connection), each within the record's bounds: the sale's units held (`held`, raised under
/// the sale's row lock) never exceed its quantity, nor a buyer's units its per-user limit,
/// whatever the Redis counters admitted. What became of each, in order; one admission's
/// refusal never undoes another's recording.
///
/// A sale's recordings queue on its row through their COMMIT (WAL flush included): recorded
/// together, the admissions waiting for a sale share one.
pub async fn record_batch(
    conn: &mut AsyncPgConnection,
    sale: Uuid,
    batch: &[NewPurchase],
) -> Result<Vec<Recorded>, ApiError> {
    if batch.iter().any(|new| new.sale != sale) {
        tracing::error!(%sale, "a batch of recordings mixes sales");
        return Err(ApiError::Internal);
    }
    let ids: Vec<Uuid> = batch.iter().map(|new| new.id).collect();
    let buyers: Vec<Uuid> = batch.iter().map(|new| new.buyer).collect();
    let addresses: Vec<Uuid> = batch.iter().map(|new| new.address).collect();
    let keys: Vec<&str> = batch
        .iter()
        .map(|new| new.idempotency_key.as_str())
        .collect();
    let hashes: Vec<&str> = batch.iter().map(|new| new.request_hash.as_str()).collect();
    let quantities: Vec<i32> = batch.iter().map(|new| new.quantity).collect();
    let epochs: Vec<i32> = batch.iter().map(|new| new.epoch).collect();
    let events: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
    let traceparents: Vec<Option<&str>> =
        batch.iter().map(|new| new.traceparent.as_deref()).collect();
    let mut recordings: Vec<Recording> = prepared(
        "SELECT r.n, r.outcome, (r.purchase).* FROM record_flash_purchases(\
             $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) r",
        |q| {
            q.bind::<SqlUuid, _>(sale)
                .bind::<Array<SqlUuid>, _>(ids)
                .bind::<Array<SqlUuid>, _>(buyers)
                .bind::<Array<Text>, _>(keys)
                .bind::<Array<Text>, _>(hashes)
                .bind::<Array<Int4>, _>(quantities)
                .bind::<Array<SqlUuid>, _>(addresses)
                .bind::<Array<Int4>, _>(epochs)
                .bind::<Array<SqlUuid>, _>(events)
                .bind::<Array<Nullable<Text>>, _>(traceparents)
                .bind::<Text, _>(FLASH_SALES_STREAM)
                .bind::<Text, _>(ADMITTED)
        },
    )
    .load(conn)
    .await?;
    recordings.sort_by_key(|recording| recording.n);
    let answered: Vec<i32> = recordings.iter().map(|recording| recording.n).collect();
    if answered != (1..=batch.len() as i32).collect::<Vec<_>>() {
        tracing::error!(%sale, ?answered, asked = batch.len(), "record_flash_purchases answered other admissions");
        return Err(ApiError::Internal);
    }
    recordings
        .into_iter()
        .map(|recording| {
            let bound = Bound::of_reason(&recording.outcome);
            Ok(match (recording.outcome.as_str(), recording.purchase, bound) {
                ("NEW", Some(row), _) => Recorded::New(row),
                ("EXISTING", Some(row), _) => Recorded::Existing(row),
                ("STALE", None, _) => Recorded::Stale,
                (_, None, Some(bound)) => Recorded::Refused(bound),
                (outcome, ..) => {
                    tracing::error!(outcome, %sale, "unknown answer from record_flash_purchases");
                    return Err(ApiError::Internal);
                }
            })
        })
        .collect()
}

/// Records one admitted purchase ([`record_batch`] of one).
pub async fn record(conn: &mut AsyncPgConnection, new: &NewPurchase) -> Result<Recorded, ApiError> {
    let mut recorded = record_batch(conn, new.sale, std::slice::from_ref(new)).await?;
    recorded.pop().ok_or(ApiError::Internal)
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

/// Purchase `id`, recorded by `buyer` under `key`, once no recording of that key is under
/// way: it waits for the key's lock, which a recording holds until it commits or rolls back
/// (`record_flash_purchases`), so that a recording whose answer was lost is read after it
/// ended, not before.
pub async fn find_settled(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    buyer: Uuid,
    key: &str,
) -> Result<Option<PurchaseRow>, ApiError> {
    let lock = format!("flash-key:{buyer}:{key}");
    conn.transaction(async |conn| {
        prepared(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            |q| q.bind::<Text, _>(lock),
        )
        .execute(conn)
        .await?;
        find(conn, id).await
    })
    .await
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

/// Their orders exist: each of these purchases still `PENDING` → `CONFIRMED`, in one
/// statement. The ids of those that changed.
pub async fn confirm(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<Uuid>, ApiError> {
    Ok(diesel::update(
        flash_sale_purchases::table
            .filter(flash_sale_purchases::id.eq_any(ids))
            .filter(flash_sale_purchases::status.eq("PENDING")),
    )
    .set(flash_sale_purchases::status.eq("CONFIRMED"))
    .returning(flash_sale_purchases::id)
    .get_results(conn)
    .await?)
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
        let stale: Vec<Due> = diesel::sql_query(
            "SELECT p.id, flash_admitted_payload(p) AS payload FROM flash_sale_purchases p \
             WHERE status = 'PENDING' AND sent_at < $1 \
             ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(due)
        .bind::<diesel::sql_types::Int8, _>(limit)
        .load(conn)
        .await?;
        let resent = stale.len();
        for purchase in stale {
            NewEvent::with_payload(
                FLASH_SALES_STREAM,
                ADMITTED,
                purchase.id,
                purchase.payload,
                None,
            )
            .insert(conn)
            .await?;
            diesel::update(flash_sale_purchases::table.find(purchase.id))
                .set(flash_sale_purchases::sent_at.eq(Utc::now()))
                .execute(conn)
                .await?;
        }
        Ok(resent)
    })
    .await
}
