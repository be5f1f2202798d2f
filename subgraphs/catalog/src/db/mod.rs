//! The catalog's tables, rows and stock reservations.

pub mod brands;
pub mod categories;
pub mod details;
pub mod facets;
pub mod filter;
pub mod flash_purchases;
pub mod flash_sales;
pub mod index_docs;
pub mod listing;
pub mod models;
pub mod products;
pub mod reservations;
pub mod schema;
pub mod seed;
pub mod variants;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Explains a stock change of a variant (with its product) in the ledger: `delta`, the
/// variant's stock after it, why and who (none for the system's own moves). Call it in the
/// transaction of the change.
pub async fn log_stock_change(
    conn: &mut AsyncPgConnection,
    (product, variant): (Uuid, Uuid),
    (delta, stock_after): (i32, i32),
    reason: &str,
    actor: Option<Uuid>,
) -> QueryResult<()> {
    diesel::insert_into(schema::stock_ledger::table)
        .values((
            schema::stock_ledger::product_id.eq(product),
            schema::stock_ledger::variant_id.eq(variant),
            schema::stock_ledger::delta.eq(delta),
            schema::stock_ledger::stock_after.eq(stock_after),
            schema::stock_ledger::reason.eq(reason),
            schema::stock_ledger::actor.eq(actor),
        ))
        .execute(conn)
        .await
        .map(drop)
}
