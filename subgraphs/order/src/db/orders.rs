//! Statements on orders: placing one (with its lines, history and event), reading them,
//! their status and address changes, the customer's and the admin's pages, and the unpaid
//! ones due to expire. Values always travel as bind parameters.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use peer_api::ReservedLine;
use service_kit::ApiError;
use service_kit::sql::prepared;
use uuid::Uuid;

use super::schema::orders;
use super::{HistoryRow, ORDERS_STREAM, OrderItemRow, OrderRow};
use crate::domain::OrderStatus;

/// An order about to be placed, with its reserved lines.
pub struct NewOrder<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub currency: &'a str,
    pub subtotal: i64,
    pub payment_ttl: std::time::Duration,
    /// JSON of the `PostalAddress`.
    pub shipping_address: &'a str,
    pub note: Option<&'a str>,
    pub from_cart: bool,
    pub lines: &'a [ReservedLine],
    pub traceparent: Option<String>,
    /// The flash sale it was bought in; its id is then the purchase's.
    pub flash_sale: Option<Uuid>,
}

/// What a new order comes from, and so what makes placing it happen once.
const FROM_CHECKOUT: &str = "UPDATE checkout_attempts SET state = 'PLACED' \
     WHERE order_id = $1 AND state = 'RESERVING' RETURNING order_id";
const FROM_FLASH_SALE: &str =
    "SELECT $1::uuid AS order_id WHERE NOT EXISTS (SELECT 1 FROM orders WHERE id = $1)";

/// The statement placing an order, from a checkout or from a flash sale: two fixed texts,
/// each prepared once per connection.
static PLACE_FROM_CHECKOUT: LazyLock<String> = LazyLock::new(|| place_order_sql(FROM_CHECKOUT));
static PLACE_FROM_FLASH_SALE: LazyLock<String> = LazyLock::new(|| place_order_sql(FROM_FLASH_SALE));

fn place_order_sql(placed: &str) -> String {
    format!(
        "WITH placed AS ({placed}), new_order AS ( \
             INSERT INTO orders (id, number, user_id, status, currency, subtotal_amount, \
                 discount_amount, total_amount, created_at, version, expires_at, \
                 shipping_address, note) \
             SELECT $1, 'DM' || to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') \
                        || lpad(seq.n, greatest(6, length(seq.n)), '0'), \
                    $2, 'PENDING_PAYMENT', $3, $4, 0, $4, now(), 1, \
                    now() + $5 * interval '1 millisecond', $6, $7 \
             FROM placed, LATERAL (SELECT nextval('order_number_seq')::text AS n) seq \
             ON CONFLICT (id) DO NOTHING \
             RETURNING * \
         ), lines AS ( \
             INSERT INTO order_items (order_id, position, product_id, product_name, \
                 unit_price, quantity, variant_id, sku, variant_name, options) \
             SELECT o.id, l.pos::int, l.product_id, l.product_name, l.unit_price, l.quantity, \
                    l.variant_id, l.sku, l.variant_name, l.options \
             FROM new_order o, unnest($8::uuid[], $9::text[], $10::bigint[], $11::int[], \
                      $16::uuid[], $17::text[], $18::text[], $19::text[]) \
                  WITH ORDINALITY AS l (product_id, product_name, unit_price, quantity, \
                      variant_id, sku, variant_name, options, pos) \
         ), history AS ( \
             INSERT INTO order_status_history (order_id, from_status, to_status, at) \
             SELECT o.id, NULL, o.status, o.created_at FROM new_order o \
         ), event AS ( \
             INSERT INTO outbox (id, stream, name, version, aggregate_id, payload, \
                 traceparent, occurred_at) \
             SELECT $12, $13, 'OrderPlaced', 1, o.id::text, \
                    ($14::jsonb || jsonb_build_object('number', o.number, \
                        'expiresAt', o.expires_at, 'createdAt', o.created_at))::text, \
                    $15, o.created_at \
             FROM new_order o \
         ) \
         SELECT * FROM new_order"
    )
}

/// Creates the order, its lines, its first history entry and its `OrderPlaced` event in one
/// statement: for a checkout, if its attempt is still `RESERVING` (moving it to `PLACED`);
/// for a flash-sale purchase, if it does not exist yet. `None` when not: a twin placed it
/// already, or the sweeper abandoned the checkout.
pub async fn place_order(
    conn: &mut AsyncPgConnection,
    order: &NewOrder<'_>,
) -> Result<Option<OrderRow>, ApiError> {
    let mut payload = serde_json::json!({
        "orderId": order.id,
        "userId": order.user_id,
        "status": OrderStatus::PendingPayment,
        "total": { "amount": order.subtotal, "currency": order.currency },
        "fromCart": order.from_cart,
        "items": order.lines.iter().map(|l| serde_json::json!({
            "productId": l.product_id,
            "variantId": l.variant_id,
            "sku": l.sku,
            "quantity": l.quantity,
            "unitPrice": l.unit_price,
        })).collect::<Vec<_>>(),
    });
    if let Some(sale) = order.flash_sale {
        payload["flashSaleId"] = serde_json::json!(sale);
    }
    let statement: &'static str = if order.flash_sale.is_some() {
        &PLACE_FROM_FLASH_SALE
    } else {
        &PLACE_FROM_CHECKOUT
    };
    let product_ids: Vec<Uuid> = order.lines.iter().map(|l| l.product_id).collect();
    let names: Vec<&str> = order
        .lines
        .iter()
        .map(|l| l.product_name.as_str())
        .collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
    let variant_ids: Vec<Uuid> = order.lines.iter().map(|l| l.variant_id).collect();
    let skus: Vec<&str> = order.lines.iter().map(|l| l.sku.as_str()).collect();
    let variant_names: Vec<&str> = order
        .lines
        .iter()
        .map(|l| l.variant_name.as_str())
        .collect();
    let options = order
        .lines
        .iter()
        .map(|l| serde_json::to_string(&l.options))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|_| ApiError::Internal)?;
    let row: Option<OrderRow> = prepared(statement, |q| {
        q.bind::<SqlUuid, _>(order.id)
            .bind::<SqlUuid, _>(order.user_id)
            .bind::<Text, _>(order.currency)
            .bind::<Int8, _>(order.subtotal)
            .bind::<Int8, _>(order.payment_ttl.as_millis() as i64)
            .bind::<Text, _>(order.shipping_address)
            .bind::<Nullable<Text>, _>(order.note)
            .bind::<Array<SqlUuid>, _>(&product_ids)
            .bind::<Array<Text>, _>(&names)
            .bind::<Array<Int8>, _>(&prices)
            .bind::<Array<Int4>, _>(&quantities)
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<Text, _>(ORDERS_STREAM)
            .bind::<Text, _>(payload.to_string())
            .bind::<Nullable<Text>, _>(order.traceparent.as_deref())
            .bind::<Array<SqlUuid>, _>(&variant_ids)
            .bind::<Array<Text>, _>(&skus)
            .bind::<Array<Text>, _>(&variant_names)
            .bind::<Array<Text>, _>(&options)
    })
    .get_result(conn)
    .await
    .optional()?;
    Ok(row)
}

/// One order.
pub async fn find_order(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(orders::table
        .find(id)
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The status of each of these orders that exists.
pub async fn statuses_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, ApiError> {
    Ok(orders::table
        .filter(orders::id.eq_any(ids))
        .select((orders::id, orders::status))
        .load(conn)
        .await?)
}

/// The event name of a move to `status`.
fn event_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::PendingPayment => "OrderPlaced",
        OrderStatus::Paid => "OrderPaid",
        OrderStatus::Cancelled => "OrderCancelled",
        OrderStatus::Expired => "OrderExpired",
        OrderStatus::Refunded => "OrderRefunded",
    }
}

/// Moves `order` (as read, at its version) to `to`, with its history entry and event, in
/// one statement. `None` when the order changed since it was read (the caller re-reads and
/// decides again; nothing is overwritten).
pub async fn change_status(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    to: OrderStatus,
    reason: Option<&str>,
    traceparent: Option<String>,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(prepared(
        "WITH changed AS ( \
             UPDATE orders SET status = $3, version = version + 1, \
                 cancelled_at = CASE WHEN $3 = 'CANCELLED' THEN now() ELSE cancelled_at END, \
                 cancel_reason = CASE WHEN $3 = 'CANCELLED' THEN $4 ELSE cancel_reason END, \
                 paid_at = CASE WHEN $3 = 'PAID' THEN now() ELSE paid_at END \
             WHERE id = $1 AND version = $2 \
             RETURNING * \
         ), history AS ( \
             INSERT INTO order_status_history (order_id, from_status, to_status, at, reason) \
             SELECT c.id, $5, c.status, now(), $4 FROM changed c \
         ), event AS ( \
             INSERT INTO outbox (id, stream, name, version, aggregate_id, payload, \
                 traceparent, occurred_at) \
             SELECT $6, $7, $8, 1, c.id::text, \
                    jsonb_build_object('orderId', c.id, 'userId', c.user_id, \
                        'number', c.number, 'previousStatus', $5::text, 'status', c.status, \
                        'at', now(), 'reason', $4::text)::text, \
                    $9, now() \
             FROM changed c \
         ) \
         SELECT * FROM changed",
        |q| {
            q.bind::<SqlUuid, _>(order.id)
                .bind::<Int4, _>(order.version)
                .bind::<Text, _>(to.as_db())
                .bind::<Nullable<Text>, _>(reason)
                .bind::<Text, _>(&order.status)
                .bind::<SqlUuid, _>(Uuid::now_v7())
                .bind::<Text, _>(ORDERS_STREAM)
                .bind::<Text, _>(event_name(to))
                .bind::<Nullable<Text>, _>(traceparent.as_deref())
        },
    )
    .get_result(conn)
    .await
    .optional()?)
}

/// Replaces the shipping address of an unpaid order read at `version`; `None` when it
/// changed meanwhile.
pub async fn change_address(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    address_json: &str,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(diesel::update(
        orders::table
            .find(order.id)
            .filter(orders::version.eq(order.version))
            .filter(orders::status.eq(OrderStatus::PendingPayment.as_db())),
    )
    .set((
        orders::shipping_address.eq(address_json),
        orders::version.eq(orders::version + 1),
    ))
    .returning(OrderRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Which orders a page lists.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderFilter {
    /// Only this customer's.
    pub user: Option<Uuid>,
    pub status: Option<OrderStatus>,
}

/// Position in the newest-first listing.
pub type OrderCursor = (DateTime<Utc>, Uuid);

/// Up to `limit + 1` orders after `after`, newest first, and the exact number matching.
pub async fn page(
    conn: &mut AsyncPgConnection,
    filter: OrderFilter,
    after: Option<OrderCursor>,
    limit: i64,
) -> Result<(Vec<OrderRow>, i64), ApiError> {
    let filtered = || {
        let mut query = orders::table.into_boxed();
        if let Some(user) = filter.user {
            query = query.filter(orders::user_id.eq(user));
        }
        if let Some(status) = filter.status {
            query = query.filter(orders::status.eq(status.as_db()));
        }
        query
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let mut query = filtered();
    if let Some((at, id)) = after {
        query = query.filter(
            orders::created_at
                .lt(at)
                .or(orders::created_at.eq(at).and(orders::id.lt(id))),
        );
    }
    let rows = query
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(limit + 1)
        .select(OrderRow::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Unpaid orders past their expiry and `grace`, locked for this transaction; rows another
/// replica has locked are skipped, so replicas never take the same order.
pub async fn lock_due_for_expiry(
    conn: &mut AsyncPgConnection,
    limit: i64,
    grace: std::time::Duration,
) -> Result<Vec<OrderRow>, ApiError> {
    let due = Utc::now() - chrono::Duration::from_std(grace).map_err(|_| ApiError::Internal)?;
    Ok(orders::table
        .filter(orders::status.eq(OrderStatus::PendingPayment.as_db()))
        .filter(orders::expires_at.le(due))
        .order(orders::expires_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(OrderRow::as_select())
        .load(conn)
        .await?)
}

/// Orders by id (those that exist).
pub async fn orders_by_id(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<OrderRow>, ApiError> {
    Ok(orders::table
        .filter(orders::id.eq_any(ids))
        .select(OrderRow::as_select())
        .load(conn)
        .await?)
}

/// The lines of orders `ids`, by order, in purchase order.
pub async fn items_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<OrderItemRow>, ApiError> {
    use super::schema::order_items;
    Ok(order_items::table
        .filter(order_items::order_id.eq_any(ids))
        .order((order_items::order_id, order_items::position))
        .select(OrderItemRow::as_select())
        .load(conn)
        .await?)
}

/// The status changes of orders `ids`, by order, oldest first.
pub async fn history_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<HistoryRow>, ApiError> {
    use super::schema::order_status_history;
    Ok(order_status_history::table
        .filter(order_status_history::order_id.eq_any(ids))
        .order((order_status_history::order_id, order_status_history::id))
        .select(HistoryRow::as_select())
        .load(conn)
        .await?)
}
