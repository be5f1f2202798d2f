//! Flash-sale purchases in PostgreSQL: the record of every admitted purchase, from which the
//! Redis counters are rebuilt. Values travel as bind parameters only.
//!
//! A purchase is written with its `FlashSalePurchaseAdmitted` event (the order subgraph
//! creates its order, whose id is the purchase's) in one transaction, which holds the sale's
//! row in share mode: a counter rebuild or the end-of-sale return waits for it, and it is
//! refused once either has moved on (another counter epoch, or units already returned).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use event_bus::NewEvent;
use service_kit::ApiError;
use uuid::Uuid;

use super::flash_sales::{FlashSaleRow, return_to_product};
use super::models::ProductRow;
use super::schema::{flash_sale_purchases, flash_sales};

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
}

/// Records an admitted purchase and its event, in one transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    new: &NewPurchase<'_>,
) -> Result<Recorded, ApiError> {
    let inserted = conn
        .transaction(async |conn| {
            let inserted: Option<PurchaseRow> = diesel::sql_query(
                "WITH sale AS ( \
                     SELECT id, product_id, price, currency FROM flash_sales \
                     WHERE id = $2 AND returned_at IS NULL AND counter_epoch = $3 \
                     FOR SHARE \
                 ) \
                 INSERT INTO flash_sale_purchases (id, sale_id, user_id, idempotency_key, \
                     request_hash, quantity, unit_price, currency, product_id, product_name, \
                     address_id, status) \
                 SELECT $1, sale.id, $4, $5, $6, $7, sale.price, sale.currency, \
                        sale.product_id, p.name, $8, 'PENDING' \
                 FROM sale JOIN products p ON p.id = sale.product_id \
                 ON CONFLICT (user_id, idempotency_key) DO NOTHING \
                 RETURNING *",
            )
            .bind::<SqlUuid, _>(new.id)
            .bind::<SqlUuid, _>(new.sale)
            .bind::<Int4, _>(new.epoch)
            .bind::<SqlUuid, _>(new.buyer)
            .bind::<Text, _>(new.idempotency_key)
            .bind::<Text, _>(new.request_hash)
            .bind::<Int4, _>(new.quantity)
            .bind::<SqlUuid, _>(new.address)
            .get_result(conn)
            .await
            .optional()?;
            if let Some(row) = &inserted {
                admitted_event(row, new.traceparent.clone())
                    .insert(conn)
                    .await?;
            }
            Ok::<_, ApiError>(inserted)
        })
        .await?;
    if let Some(row) = inserted {
        return Ok(Recorded::New(row));
    }
    Ok(match by_key(conn, new.buyer, new.idempotency_key).await? {
        Some(existing) => Recorded::Existing(existing),
        None => Recorded::Stale,
    })
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
        // Share mode: a rebuild or the end-of-sale return waits until this commits, and
        // this sees whether the end-of-sale return has happened.
        let sale: FlashSaleRow = flash_sales::table
            .find(purchase.sale_id)
            .for_share()
            .select(FlashSaleRow::as_select())
            .first(conn)
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
        let product = return_to_product(
            conn,
            purchase.product_id,
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
        let stale: Vec<PurchaseRow> = flash_sale_purchases::table
            .filter(flash_sale_purchases::status.eq("PENDING"))
            .filter(flash_sale_purchases::sent_at.lt(due))
            .order(flash_sale_purchases::sent_at)
            .limit(limit)
            .for_update()
            .skip_locked()
            .select(PurchaseRow::as_select())
            .load(conn)
            .await?;
        for purchase in &stale {
            admitted_event(purchase, None).insert(conn).await?;
            diesel::update(flash_sale_purchases::table.find(purchase.id))
                .set(flash_sale_purchases::sent_at.eq(Utc::now()))
                .execute(conn)
                .await?;
        }
        Ok(stale.len())
    })
    .await
}

/// Payload of `FlashSalePurchaseAdmitted` v1.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Admitted<'a> {
    purchase_id: Uuid,
    sale_id: Uuid,
    user_id: Uuid,
    product_id: Uuid,
    product_name: &'a str,
    quantity: i32,
    unit_price: i64,
    currency: &'a str,
    address_id: Uuid,
}

fn admitted_event(purchase: &PurchaseRow, traceparent: Option<String>) -> NewEvent {
    NewEvent::new(
        FLASH_SALES_STREAM,
        "FlashSalePurchaseAdmitted",
        purchase.id,
        &Admitted {
            purchase_id: purchase.id,
            sale_id: purchase.sale_id,
            user_id: purchase.user_id,
            product_id: purchase.product_id,
            product_name: &purchase.product_name,
            quantity: purchase.quantity,
            unit_price: purchase.unit_price,
            currency: &purchase.currency,
            address_id: purchase.address_id,
        },
        traceparent,
    )
}
