//! The stock reconciler's statements: its turn, the closed orders and abandoned checkouts
//! whose stock the catalog has not confirmed back, and the record that it has.

use diesel::sql_types::{Array, Int8, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

/// An order (or abandoned checkout) whose stock the catalog has not confirmed back.
#[derive(diesel::QueryableByName)]
pub struct StockToReturn {
    #[diesel(sql_type = SqlUuid)]
    pub order_id: Uuid,
    /// Why, as the catalog records it ("order cancelled", "checkout abandoned").
    #[diesel(sql_type = Text)]
    pub reason: String,
    /// An abandoned checkout, not an order.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub checkout: bool,
}

/// Whether this transaction is the stock reconciler's turn (a transaction-scoped advisory
/// lock: one replica at a time, the others skip the round).
pub async fn reconciler_turn(conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
    service_kit::db::try_turn(conn, "stock reconciler").await
}

/// Up to `limit` orders closed without payment or refunded, and as many abandoned
/// checkouts, created more than `after` ago, whose stock the catalog has not confirmed back
/// (`stock_returned_at`), oldest first. Not locked: closed orders no longer change, and the
/// catalog's side is idempotent.
pub async fn stock_to_return(
    conn: &mut AsyncPgConnection,
    after: std::time::Duration,
    limit: i64,
) -> Result<Vec<StockToReturn>, ApiError> {
    let mut due: Vec<StockToReturn> = diesel::sql_query(
        "SELECT id AS order_id, 'order ' || lower(status) AS reason, false AS checkout \
         FROM orders \
         WHERE status IN ('CANCELLED', 'EXPIRED', 'REFUNDED') AND stock_returned_at IS NULL \
           AND created_at <= now() - $1 * interval '1 millisecond' \
         ORDER BY created_at LIMIT $2",
    )
    .bind::<Int8, _>(after.as_millis() as i64)
    .bind::<Int8, _>(limit)
    .load(conn)
    .await?;
    let abandoned: Vec<StockToReturn> = diesel::sql_query(
        "SELECT order_id, 'checkout abandoned' AS reason, true AS checkout \
         FROM checkout_attempts \
         WHERE state = 'ABANDONED' AND stock_returned_at IS NULL \
           AND created_at <= now() - $1 * interval '1 millisecond' \
         ORDER BY created_at LIMIT $2",
    )
    .bind::<Int8, _>(after.as_millis() as i64)
    .bind::<Int8, _>(limit)
    .load(conn)
    .await?;
    due.extend(abandoned);
    Ok(due)
}

/// Records that the catalog has the stock of `returned` back.
pub async fn mark_stock_returned(
    conn: &mut AsyncPgConnection,
    returned: &[&StockToReturn],
) -> Result<(), ApiError> {
    let (checkouts, orders): (Vec<&StockToReturn>, Vec<&StockToReturn>) =
        returned.iter().copied().partition(|r| r.checkout);
    let ids = |rows: &[&StockToReturn]| rows.iter().map(|r| r.order_id).collect::<Vec<_>>();
    diesel::sql_query("UPDATE orders SET stock_returned_at = now() WHERE id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(ids(&orders))
        .execute(conn)
        .await?;
    diesel::sql_query(
        "UPDATE checkout_attempts SET stock_returned_at = now() \
         WHERE order_id = ANY($1) AND state = 'ABANDONED'",
    )
    .bind::<Array<SqlUuid>, _>(ids(&checkouts))
    .execute(conn)
    .await?;
    Ok(())
}
