//! Stock reservations for orders: one statement each way (the SQL functions of
//! `migrations/catalog/2026-11-23-000001_stock_reservations`), so concurrent checkouts need
//! no client-side transaction and cannot deadlock.

use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use peer_api::{Reservation, ReservationStatus, ReservedLine, StockLine};
use service_kit::ApiError;
use service_kit::sql::prepared;
use uuid::Uuid;

use super::models::ProductRow;

#[derive(diesel::QueryableByName)]
struct ReserveRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    product_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Int4>)]
    quantity: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    available: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    product_name: Option<String>,
    #[diesel(sql_type = Nullable<Int8>)]
    unit_price: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    product: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    variant_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    sku: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    variant_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    options: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct ProductJson {
    #[diesel(sql_type = Nullable<Text>)]
    product: Option<String>,
}

fn product_rows(
    json: impl IntoIterator<Item = Option<String>>,
) -> Result<Vec<ProductRow>, ApiError> {
    json.into_iter()
        .flatten()
        .map(|text| {
            serde_json::from_str(&text).map_err(|error| {
                tracing::error!(%error, "unreadable product row from a stock function");
                ApiError::Internal
            })
        })
        .collect()
}

/// Reserves `lines` for `order_id`, all or none: each of a variant, or of its product's only
/// variant (lines of one variant are summed). The product rows it changed come back for
/// the cache.
pub async fn reserve(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
    lines: &[StockLine],
) -> Result<(Reservation, Vec<ProductRow>), ApiError> {
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let variants: Vec<Option<Uuid>> = lines.iter().map(|l| l.variant_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let rows: Vec<ReserveRow> = prepared(
        "SELECT outcome, product_id, quantity, available, product_name, unit_price, currency, \
         product::text AS product, variant_id, sku, variant_name, options::text AS options \
         FROM reserve_stock($1, $2, $3, $4)",
        |q| {
            q.bind::<SqlUuid, _>(order_id)
                .bind::<Array<SqlUuid>, _>(&products)
                .bind::<Array<Nullable<SqlUuid>>, _>(&variants)
                .bind::<Array<Int4>, _>(&quantities)
        },
    )
    .load(conn)
    .await?;
    let Some(first) = <[ReserveRow]>::first(&rows) else {
        return Err(ApiError::bad_input("lines", "must not be empty"));
    };
    let failing = first
        .product_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let status = match first.outcome.as_str() {
        "RESERVED" => ReservationStatus::Reserved,
        "EXISTING" => ReservationStatus::Existing,
        "RELEASED" => ReservationStatus::Released,
        "NOT_FOUND" => return Err(ApiError::NotFound(format!("product {failing}"))),
        "VARIANT_NOT_FOUND" => {
            return Err(ApiError::NotFound(format!(
                "variant {}",
                first.variant_id.map(|v| v.to_string()).unwrap_or_default()
            )));
        }
        "FOREIGN_VARIANT" => {
            return Err(ApiError::bad_input(
                "variantId",
                format!("is not a variant of product {failing}"),
            ));
        }
        "VARIANT_REQUIRED" => {
            return Err(ApiError::bad_input(
                "variantId",
                format!("is required: product {failing} has several variants"),
            ));
        }
        "INACTIVE" => {
            return Err(ApiError::Conflict(format!(
                "product {failing} is no longer sold"
            )));
        }
        "INSUFFICIENT" => {
            return Err(ApiError::InsufficientStock {
                product_id: failing,
                variant_id: first.variant_id.map(|v| v.to_string()),
                available: i64::from(first.available.unwrap_or(0)),
            });
        }
        other => {
            tracing::error!(outcome = other, "unknown reserve_stock outcome");
            return Err(ApiError::Internal);
        }
    };
    let mut reserved = Vec::new();
    let mut changed = Vec::new();
    for row in rows {
        changed.push(row.product);
        if let (
            Some(product_id),
            Some(quantity),
            Some(product_name),
            Some(unit_price),
            Some(currency),
            Some(variant_id),
            Some(sku),
            Some(variant_name),
        ) = (
            row.product_id,
            row.quantity,
            row.product_name,
            row.unit_price,
            row.currency,
            row.variant_id,
            row.sku,
            row.variant_name,
        ) {
            let options = match row.options.as_deref() {
                Some(json) => serde_json::from_str(json).map_err(|error| {
                    tracing::error!(%error, "unreadable variant options from reserve_stock");
                    ApiError::Internal
                })?,
                None => Vec::new(),
            };
            reserved.push(ReservedLine {
                product_id,
                variant_id,
                quantity,
                product_name,
                unit_price,
                currency,
                sku,
                variant_name,
                options,
            });
        }
    }
    Ok((
        Reservation {
            status,
            lines: reserved,
        },
        product_rows(changed)?,
    ))
}

/// Gives back the stock reserved for `order_id`, once; the product rows it changed (none
/// when it was released before or nothing was reserved).
pub async fn release(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
    reason: &str,
) -> Result<Vec<ProductRow>, ApiError> {
    let rows: Vec<ProductJson> = prepared(
        "SELECT product::text AS product FROM release_stock($1, $2)",
        |q| q.bind::<SqlUuid, _>(order_id).bind::<Text, _>(reason),
    )
    .load(conn)
    .await?;
    product_rows(rows.into_iter().map(|r| r.product))
}
