//! The statements of the order subgraph. Values always travel as bind parameters.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use event_bus::NewEvent;
use peer_api::ReservedLine;
use service_kit::ApiError;
use uuid::Uuid;

use super::{AttemptRow, OrderRow, checkout_attempts, order_payers, orders};
use crate::domain::OrderStatus;

/// The stream every order event goes to.
pub const ORDERS_STREAM: &str = "orders";

/// Claims `(user, key)` for a new checkout with `order_id`, or returns the claim that was
/// there first (a retry, or a racing twin): the primary key decides, not a prior read.
pub async fn claim_attempt(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
    request_hash: &str,
    order_id: Uuid,
) -> Result<(AttemptRow, bool), ApiError> {
    let inserted: Option<AttemptRow> = diesel::insert_into(checkout_attempts::table)
        .values((
            checkout_attempts::user_id.eq(user),
            checkout_attempts::idempotency_key.eq(key),
            checkout_attempts::request_hash.eq(request_hash),
            checkout_attempts::order_id.eq(order_id),
            checkout_attempts::state.eq("RESERVING"),
        ))
        .on_conflict_do_nothing()
        .returning(AttemptRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(row) = inserted {
        return Ok((row, true));
    }
    let existing = checkout_attempts::table
        .find((user, key))
        .select(AttemptRow::as_select())
        .first(conn)
        .await?;
    Ok((existing, false))
}

/// Starts an abandoned checkout over with a new order id (the caller gave the old one's
/// stock back); `None` if it is not abandoned (any more).
pub async fn restart_abandoned(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
    order_id: Uuid,
) -> Result<Option<AttemptRow>, ApiError> {
    Ok(diesel::update(
        checkout_attempts::table
            .find((user, key))
            .filter(checkout_attempts::state.eq("ABANDONED")),
    )
    .set((
        checkout_attempts::order_id.eq(order_id),
        checkout_attempts::state.eq("RESERVING"),
        checkout_attempts::created_at.eq(diesel::dsl::now),
        // The new order's stock is for the stock reconciler to check again.
        checkout_attempts::stock_returned_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(AttemptRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// The attempt that holds `order_id`, if any.
pub async fn attempt_of(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
) -> Result<Option<AttemptRow>, ApiError> {
    Ok(checkout_attempts::table
        .filter(checkout_attempts::order_id.eq(order_id))
        .select(AttemptRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Forgets a checkout that reserved nothing (it failed on the customer's input or on stock),
/// so that the same key may try again.
pub async fn forget_attempt(conn: &mut AsyncPgConnection, order_id: Uuid) -> Result<(), ApiError> {
    diesel::delete(
        checkout_attempts::table
            .filter(checkout_attempts::order_id.eq(order_id))
            .filter(checkout_attempts::state.eq("RESERVING")),
    )
    .execute(conn)
    .await?;
    Ok(())
}

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
            "quantity": l.quantity,
            "unitPrice": l.unit_price,
        })).collect::<Vec<_>>(),
    });
    if let Some(sale) = order.flash_sale {
        payload["flashSaleId"] = serde_json::json!(sale);
    }
    let placed = if order.flash_sale.is_some() {
        FROM_FLASH_SALE
    } else {
        FROM_CHECKOUT
    };
    let product_ids: Vec<Uuid> = order.lines.iter().map(|l| l.product_id).collect();
    let names: Vec<&str> = order
        .lines
        .iter()
        .map(|l| l.product_name.as_str())
        .collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
    let row: Option<OrderRow> = diesel::sql_query(format!(
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
                 unit_price, quantity) \
             SELECT o.id, l.pos::int, l.product_id, l.product_name, l.unit_price, l.quantity \
             FROM new_order o, unnest($8::uuid[], $9::text[], $10::bigint[], $11::int[]) \
                  WITH ORDINALITY AS l (product_id, product_name, unit_price, quantity, pos) \
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
    ))
    .bind::<SqlUuid, _>(order.id)
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

/// One order and the payment that paid it (if known), locked until the transaction ends
/// (events about it are applied one at a time).
pub async fn lock_order(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<(OrderRow, Option<Uuid>)>, ApiError> {
    let Some(order) = orders::table
        .find(id)
        .for_update()
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let payer = order_payers::table
        .find(id)
        .select(order_payers::payment_id)
        .first(conn)
        .await
        .optional()?;
    Ok(Some((order, payer)))
}

/// Records that `payment` paid `order`.
pub async fn set_paid_by(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    payment: Uuid,
) -> Result<(), ApiError> {
    diesel::insert_into(order_payers::table)
        .values((
            order_payers::order_id.eq(order),
            order_payers::payment_id.eq(payment),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records `version` (with its `status`) as the newest applied of `payment` of `order`,
/// unless a version at least as new was. Whether it was newer.
pub async fn record_payment_version(
    conn: &mut AsyncPgConnection,
    (payment, order): (Uuid, Uuid),
    version: i64,
    status: &str,
) -> Result<bool, ApiError> {
    let changed = diesel::sql_query(
        "INSERT INTO payment_versions (payment_id, order_id, version, status) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (payment_id) DO UPDATE \
         SET version = excluded.version, status = excluded.status, applied_at = now() \
         WHERE payment_versions.version < excluded.version",
    )
    .bind::<SqlUuid, _>(payment)
    .bind::<SqlUuid, _>(order)
    .bind::<BigInt, _>(version)
    .bind::<Text, _>(status)
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Payload of `OrderPaymentRefused` v1: a payment succeeded for an order that was no longer
/// payable; the payment subgraph refunds it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRefused<'a> {
    order_id: Uuid,
    payment_id: Uuid,
    user_id: Uuid,
    order_status: &'a str,
    reason: &'a str,
}

/// Records that `payment` cannot pay `order` (as it is now): an `OrderPaymentRefused`
/// event, through the outbox.
pub async fn refuse_payment(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    payment: Uuid,
    reason: &str,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    let payload = PaymentRefused {
        order_id: order.id,
        payment_id: payment,
        user_id: order.user_id,
        order_status: &order.status,
        reason,
    };
    NewEvent::new(
        ORDERS_STREAM,
        "OrderPaymentRefused",
        order.id,
        &payload,
        traceparent,
    )
    .insert(conn)
    .await?;
    Ok(())
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
    Ok(diesel::sql_query(
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
    )
    .bind::<SqlUuid, _>(order.id)
    .bind::<Int4, _>(order.version)
    .bind::<Text, _>(to.as_db())
    .bind::<Nullable<Text>, _>(reason)
    .bind::<Text, _>(&order.status)
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<Text, _>(ORDERS_STREAM)
    .bind::<Text, _>(event_name(to))
    .bind::<Nullable<Text>, _>(traceparent.as_deref())
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

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Which checkout attempts to abandon.
#[derive(Clone, Copy, Debug)]
pub enum Abandon {
    /// Those still `RESERVING` after this long (their process died), at most `limit`.
    Stale {
        older_than: std::time::Duration,
        limit: i64,
    },
    /// This one, now (its reservation call failed without an answer).
    Order(Uuid),
}

/// Abandons checkouts that may hold stock without an order, writing a `CheckoutAbandoned`
/// event for each, which makes the catalog give the stock back (and refuse any later
/// reservation for that order). Replicas skip each other's rows. Returns how many.
pub async fn abandon_attempts(
    conn: &mut AsyncPgConnection,
    which: Abandon,
) -> Result<i64, ApiError> {
    let (older_than, limit, order_id) = match which {
        Abandon::Stale { older_than, limit } => (older_than, limit, None),
        Abandon::Order(id) => (std::time::Duration::ZERO, 1, Some(id)),
    };
    let abandoned: Count = diesel::sql_query(
        "WITH stale AS ( \
             SELECT user_id, idempotency_key FROM checkout_attempts \
             WHERE state = 'RESERVING' AND created_at <= now() - $1 * interval '1 millisecond' \
               AND ($4::uuid IS NULL OR order_id = $4) \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED \
         ), abandoned AS ( \
             UPDATE checkout_attempts a SET state = 'ABANDONED' FROM stale s \
             WHERE a.user_id = s.user_id AND a.idempotency_key = s.idempotency_key \
             RETURNING a.order_id, a.user_id \
         ), events AS ( \
             INSERT INTO outbox (id, stream, name, version, aggregate_id, payload, occurred_at) \
             SELECT gen_random_uuid(), $3, 'CheckoutAbandoned', 1, a.order_id::text, \
                    jsonb_build_object('orderId', a.order_id, 'userId', a.user_id)::text, now() \
             FROM abandoned a \
         ) \
         SELECT count(*) AS count FROM abandoned",
    )
    .bind::<Int8, _>(older_than.as_millis() as i64)
    .bind::<Int8, _>(limit)
    .bind::<Text, _>(ORDERS_STREAM)
    .bind::<Nullable<SqlUuid>, _>(order_id)
    .get_result(conn)
    .await?;
    Ok(abandoned.count)
}

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
) -> Result<Vec<super::OrderItemRow>, ApiError> {
    use super::order_items;
    Ok(order_items::table
        .filter(order_items::order_id.eq_any(ids))
        .order((order_items::order_id, order_items::position))
        .select(super::OrderItemRow::as_select())
        .load(conn)
        .await?)
}

/// The status changes of orders `ids`, by order, oldest first.
pub async fn history_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<super::HistoryRow>, ApiError> {
    use super::order_status_history;
    Ok(order_status_history::table
        .filter(order_status_history::order_id.eq_any(ids))
        .order((order_status_history::order_id, order_status_history::id))
        .select(super::HistoryRow::as_select())
        .load(conn)
        .await?)
}

/// Status and paying payment of the orders among `ids` that exist.
pub async fn statuses_and_payers(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, Option<Uuid>)>, ApiError> {
    Ok(orders::table
        .left_join(order_payers::table.on(order_payers::order_id.eq(orders::id)))
        .filter(orders::id.eq_any(ids))
        .select((
            orders::id,
            orders::status,
            order_payers::payment_id.nullable(),
        ))
        .load(conn)
        .await?)
}
