//! Statements that change payments. Every status change writes the payment, a row of its
//! log and a `PaymentStatusChanged` event in one transaction; decisions come from
//! `domain::status`, never from here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use event_bus::NewEvent;
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use uuid::Uuid;

use super::{PaymentRow, RefundRow, payment_log, payments, refunds, schema};
use crate::domain::status::{Command, Decision, PaymentStatus, Refused, decide};

/// The bus stream of payment events.
pub const STREAM: &str = "payments";

/// `PaymentStatusChanged` v1: every change of a payment, its creation included. Consumers
/// keep the highest `version` per payment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusChanged {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// `None` when the payment was created.
    pub from: Option<String>,
    pub to: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub currency: String,
    pub version: i64,
}

/// A payment to create.
pub struct NewPayment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub method: &'static str,
    pub amount: i64,
    pub currency: String,
    pub idempotency_key: String,
    pub gateway_reference: String,
    pub expires_at: DateTime<Utc>,
}

/// What creating a payment found.
#[derive(Debug)]
pub enum Created {
    /// A new payment, `PENDING`.
    New(PaymentRow),
    /// The payment this customer created with this key before (a retry).
    Existing(PaymentRow),
}

fn refused(error: Refused) -> ApiError {
    match error {
        Refused::NotPositive => ApiError::bad_input("input.amount", error.to_string()),
        Refused::Illegal { .. } | Refused::MoreThanPaid { .. } => {
            ApiError::Conflict(error.to_string())
        }
    }
}

/// Logs the change of `row` from `from` and publishes it as from `event_from` (they differ
/// only for a late approval, see [`change`]).
async fn log_and_publish(
    conn: &mut AsyncPgConnection,
    row: &PaymentRow,
    from: Option<PaymentStatus>,
    event_from: Option<PaymentStatus>,
    note: &str,
    traceparent: Option<String>,
) -> Result<(), ApiError> {
    diesel::insert_into(payment_log::table)
        .values((
            payment_log::payment_id.eq(row.id),
            payment_log::from_status.eq(from.map(PaymentStatus::as_db)),
            payment_log::to_status.eq(&row.status),
            payment_log::note.eq(note),
        ))
        .execute(conn)
        .await?;
    let event = StatusChanged {
        payment_id: row.id,
        order_id: row.order_id,
        user_id: row.user_id,
        from: event_from.map(|s| s.as_db().to_owned()),
        to: row.status.clone(),
        amount: row.amount,
        refunded_amount: row.refunded_amount,
        currency: row.currency.clone(),
        version: row.version,
    };
    NewEvent::new(STREAM, "PaymentStatusChanged", row.id, &event, traceparent)
        .insert(conn)
        .await?;
    Ok(())
}

/// Creates a `PENDING` payment, or finds the one this customer created with the same key.
/// The same key for another order, method or amount is `CONFLICT`; so is a second open
/// payment for one order (a unique index decides, whatever races).
pub async fn create_pending(
    conn: &mut AsyncPgConnection,
    new: NewPayment,
    traceparent: Option<String>,
) -> Result<Created, ApiError> {
    let (user, key) = (new.user_id, new.idempotency_key.clone());
    let (order, method, amount) = (new.order_id, new.method, new.amount);
    let outcome = conn
        .transaction(async |conn| {
            let inserted: Option<PaymentRow> = diesel::insert_into(payments::table)
                .values((
                    payments::id.eq(new.id),
                    payments::order_id.eq(new.order_id),
                    payments::status.eq(PaymentStatus::Pending.as_db()),
                    payments::method.eq(new.method),
                    payments::amount.eq(new.amount),
                    payments::currency.eq(&new.currency),
                    payments::user_id.eq(new.user_id),
                    payments::idempotency_key.eq(&new.idempotency_key),
                    payments::gateway_reference.eq(&new.gateway_reference),
                    payments::expires_at.eq(new.expires_at),
                ))
                .on_conflict((payments::user_id, payments::idempotency_key))
                .do_nothing()
                .returning(PaymentRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(row) = &inserted {
                log_and_publish(conn, row, None, None, "created", traceparent.clone()).await?;
            }
            Ok::<_, DieselErrorOr>(inserted)
        })
        .await;
    let inserted = match outcome {
        Ok(inserted) => inserted,
        Err(DieselErrorOr::Diesel(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            info,
        ))) if info.constraint_name() == Some("payments_one_open_per_order_idx") => {
            return Err(ApiError::Conflict(
                "this order already has an open payment: complete or decline it first".into(),
            ));
        }
        Err(DieselErrorOr::Diesel(error)) => return Err(error.into()),
        Err(DieselErrorOr::Api(error)) => return Err(error),
    };
    if let Some(row) = inserted {
        return Ok(Created::New(row));
    }
    let existing: PaymentRow = payments::table
        .filter(payments::user_id.eq(user))
        .filter(payments::idempotency_key.eq(&key))
        .select(PaymentRow::as_select())
        .first(conn)
        .await?;
    if existing.order_id != order || existing.method != method || existing.amount != amount {
        return Err(ApiError::Conflict(
            "this idempotency key was used for another payment".into(),
        ));
    }
    Ok(Created::Existing(existing))
}

/// A database error, or an error of ours, inside one transaction.
enum DieselErrorOr {
    Diesel(DieselError),
    Api(ApiError),
}

impl From<DieselError> for DieselErrorOr {
    fn from(error: DieselError) -> Self {
        Self::Diesel(error)
    }
}

impl From<ApiError> for DieselErrorOr {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// What a command did.
#[derive(Debug)]
pub struct Applied {
    pub row: PaymentRow,
    pub decision: Decision,
}

/// Locks the payment, decides, and writes the change with its log and event.
async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    command: Command,
    note: &str,
    traceparent: Option<String>,
) -> Result<Applied, ApiError> {
    let row: PaymentRow = payments::table
        .find(id)
        .select(PaymentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("payment".into()))?;
    let from = PaymentStatus::from_db(&row.status)
        .ok_or_else(|| ApiError::corrupt("payments.status", &row.status))?;
    let decision = decide(from, row.amount, row.refunded_amount, command).map_err(refused)?;
    if decision.refund_at_once {
        // The gateway took money for a payment this side had closed: record the success,
        // then give it back, so the log says what happened.
        diesel::insert_into(payment_log::table)
            .values((
                payment_log::payment_id.eq(id),
                payment_log::from_status.eq(from.as_db()),
                payment_log::to_status.eq(PaymentStatus::Succeeded.as_db()),
                payment_log::note.eq("approved by the gateway after the payment was closed"),
            ))
            .execute(conn)
            .await?;
    }
    let row: PaymentRow = diesel::update(payments::table.find(id))
        .set((
            payments::status.eq(decision.to.as_db()),
            payments::refunded_amount.eq(decision.refunded),
            payments::version.eq(payments::version + 1),
            payments::updated_at.eq(Utc::now()),
        ))
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await?;
    // The log shows both steps; the event says what changed for everyone else: a closed
    // payment's money went back (`CANCELLED`/`EXPIRED` → `REFUNDED`), which is not a refund
    // of the order (that one may have been paid by another payment).
    let (logged_from, note) = if decision.refund_at_once {
        (
            PaymentStatus::Succeeded,
            "refunded at once: the order is no longer payable",
        )
    } else {
        (from, note)
    };
    log_and_publish(conn, &row, Some(logged_from), Some(from), note, traceparent).await?;
    Ok(Applied { row, decision })
}

/// Applies `command` (approve, decline, cancel, expire) to payment `id`.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    command: Command,
    note: &str,
    traceparent: Option<String>,
) -> Result<Applied, ApiError> {
    conn.transaction(async |conn| change(conn, id, command, note, traceparent).await)
        .await
}

/// Cancels the open payment of `order_id`, if it has one (its order was cancelled or
/// expired). Returns the cancelled payment.
pub async fn cancel_open_payment_of(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
    reason: &str,
    traceparent: Option<String>,
) -> Result<Option<PaymentRow>, ApiError> {
    conn.transaction(async |conn| {
        let open: Option<Uuid> = payments::table
            .filter(payments::order_id.eq(order_id))
            .filter(payments::status.eq(PaymentStatus::Pending.as_db()))
            .select(payments::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        match open {
            Some(id) => Ok(Some(
                change(conn, id, Command::Cancel, reason, traceparent)
                    .await?
                    .row,
            )),
            None => Ok(None),
        }
    })
    .await
}

/// Expires up to `limit` open payments past their time and `grace` (the gateway refuses
/// decisions after the expiry, but one made in time may be delivered later), skipping rows
/// another replica holds, in one transaction. Returns how many expired.
pub async fn expire_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    grace: std::time::Duration,
) -> Result<usize, ApiError> {
    let due = Utc::now() - chrono::Duration::from_std(grace).map_err(|_| ApiError::Internal)?;
    conn.transaction(async |conn| {
        let due: Vec<Uuid> = payments::table
            .filter(payments::status.eq(PaymentStatus::Pending.as_db()))
            .filter(payments::expires_at.le(due))
            .order(payments::expires_at)
            .limit(limit)
            .select(payments::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        for id in &due {
            change(conn, *id, Command::Expire, "not completed in time", None).await?;
        }
        Ok(due.len())
    })
    .await
}

/// What the gateway reports about one payment.
pub struct GatewayEvent {
    pub event_id: String,
    pub gateway_reference: String,
    /// Approve or decline.
    pub command: Command,
    pub amount: i64,
    pub currency: String,
}

/// What a gateway event did.
#[derive(Debug, PartialEq, Eq)]
pub enum GatewayOutcome {
    /// The payment changed (or a late approval was given back).
    Applied(PaymentStatus),
    /// This event id was applied before: nothing changed.
    Replayed,
    /// The payment's status does not allow it (already decided): recorded, nothing changed.
    Ignored(PaymentStatus),
}

/// Applies a gateway report to the payment it names, once per event id: the event id is
/// recorded in the transaction that applies it. Unknown reference: `NOT_FOUND`; an amount
/// or currency other than the payment's: `BAD_USER_INPUT` (and nothing is recorded).
pub async fn apply_gateway_event(
    conn: &mut AsyncPgConnection,
    event: &GatewayEvent,
    traceparent: Option<String>,
) -> Result<GatewayOutcome, ApiError> {
    conn.transaction(async |conn| {
        let row: PaymentRow = payments::table
            .filter(payments::gateway_reference.eq(&event.gateway_reference))
            .select(PaymentRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::NotFound("payment".into()))?;
        if event.amount != row.amount || event.currency != row.currency {
            tracing::error!(
                payment = %row.id,
                reported = event.amount,
                currency = %event.currency,
                expected = row.amount,
                "gateway reported another amount than the payment's: refused"
            );
            return Err(ApiError::bad_input(
                "amount",
                "is not the amount of this payment",
            ));
        }
        let first_time = diesel::sql_query(
            "INSERT INTO webhook_events (event_id, payment_id) VALUES ($1, $2) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind::<diesel::sql_types::Text, _>(&event.event_id)
        .bind::<diesel::sql_types::Uuid, _>(row.id)
        .execute(conn)
        .await?
            == 1;
        if !first_time {
            return Ok(GatewayOutcome::Replayed);
        }
        let note = match event.command {
            Command::Approve => "approved at the gateway",
            _ => "declined at the gateway",
        };
        match change(conn, row.id, event.command, note, traceparent).await {
            Ok(applied) => Ok(GatewayOutcome::Applied(applied.decision.to)),
            Err(ApiError::Conflict(why)) => {
                tracing::warn!(payment = %row.id, %why, "gateway event does not fit the payment");
                let status = PaymentStatus::from_db(&row.status)
                    .ok_or_else(|| ApiError::corrupt("payments.status", &row.status))?;
                Ok(GatewayOutcome::Ignored(status))
            }
            Err(other) => Err(other),
        }
    })
    .await
}

/// The sandbox gateway's record of a customer's decision: the webhook call it still has to
/// make, queued in the same transaction that checks the payment is open and undecided.
/// `CONFLICT` when the payment is not `PENDING` or was already decided at the gateway.
pub async fn queue_gateway_decision(
    conn: &mut AsyncPgConnection,
    reference: &str,
    approved: bool,
) -> Result<Uuid, ApiError> {
    conn.transaction(async |conn| {
        let row: PaymentRow = payments::table
            .filter(payments::gateway_reference.eq(reference))
            .select(PaymentRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::NotFound("payment".into()))?;
        if row.status != PaymentStatus::Pending.as_db() {
            return Err(ApiError::Conflict(format!(
                "this payment is {} already",
                row.status
            )));
        }
        if row.expires_at <= Utc::now() {
            return Err(ApiError::Conflict(
                "this payment expired: start a new one".into(),
            ));
        }
        let decided: i64 = schema::gateway_deliveries::table
            .filter(schema::gateway_deliveries::payment_id.eq(row.id))
            .count()
            .get_result(conn)
            .await?;
        if decided > 0 {
            return Err(ApiError::Conflict(
                "this payment was already approved or declined at the gateway".into(),
            ));
        }
        let event_id = Uuid::now_v7();
        let body = serde_json::json!({
            "eventId": event_id,
            "gatewayReference": row.gateway_reference,
            "status": if approved { "succeeded" } else { "failed" },
            "amount": row.amount,
            "currency": row.currency,
        });
        diesel::insert_into(schema::gateway_deliveries::table)
            .values((
                schema::gateway_deliveries::event_id.eq(event_id),
                schema::gateway_deliveries::payment_id.eq(row.id),
                schema::gateway_deliveries::body.eq(body.to_string()),
            ))
            .execute(conn)
            .await?;
        Ok(event_id)
    })
    .await
}

/// A queued webhook call of the sandbox gateway.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = schema::gateway_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: i64,
    pub body: String,
    pub attempts: i32,
}

/// Makes the webhook calls that are due, each with `deliver` (true: the webhook took it),
/// up to `limit`, skipping rows another replica is delivering. A failed call is tried again
/// later: after 1, 2, 4 … seconds, at most a minute apart. Returns how many were delivered.
pub async fn deliver_due<F, Fut>(
    conn: &mut AsyncPgConnection,
    limit: i64,
    deliver: F,
) -> Result<usize, ApiError>
where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), String>> + Send,
{
    use schema::gateway_deliveries as d;
    conn.transaction(async |conn| {
        let due: Vec<Delivery> = d::table
            .filter(d::delivered_at.is_null())
            .filter(d::next_attempt_at.le(Utc::now()))
            .order(d::next_attempt_at)
            .limit(limit)
            .select(Delivery::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let mut delivered = 0;
        for delivery in due {
            match deliver(delivery.body.clone()).await {
                Ok(()) => {
                    diesel::update(d::table.find(delivery.id))
                        .set((d::delivered_at.eq(Utc::now()), d::attempts.eq(d::attempts + 1)))
                        .execute(conn)
                        .await?;
                    delivered += 1;
                }
                Err(error) => {
                    let wait = 1i64 << delivery.attempts.clamp(0, 6);
                    tracing::warn!(delivery = delivery.id, %error, retry_in_s = wait.min(60), "webhook delivery failed");
                    diesel::update(d::table.find(delivery.id))
                        .set((
                            d::attempts.eq(d::attempts + 1),
                            d::next_attempt_at
                                .eq(Utc::now() + chrono::Duration::seconds(wait.min(60))),
                            d::last_error.eq(error),
                        ))
                        .execute(conn)
                        .await?;
                }
            }
        }
        Ok(delivered)
    })
    .await
}

/// A refund to make: `amount` `None` refunds what is left.
pub struct NewRefund {
    pub payment_id: Uuid,
    pub amount: Option<i64>,
    pub reason: String,
    pub idempotency_key: String,
    pub created_by: Option<Uuid>,
}

/// Refunds part or all of a payment, once per key: the same key again returns the same
/// refund (another amount with it is `CONFLICT`).
pub async fn refund(
    conn: &mut AsyncPgConnection,
    new: NewRefund,
    traceparent: Option<String>,
) -> Result<(RefundRow, PaymentRow), ApiError> {
    conn.transaction(async |conn| {
        // Lock first: concurrent refunds of one payment take turns, so they never add up
        // to more than was paid, and a key is checked after the other's commit.
        let row: PaymentRow = payments::table
            .find(new.payment_id)
            .select(PaymentRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::NotFound("payment".into()))?;
        let earlier: Option<RefundRow> = refunds::table
            .filter(refunds::payment_id.eq(new.payment_id))
            .filter(refunds::idempotency_key.eq(&new.idempotency_key))
            .select(RefundRow::as_select())
            .first(conn)
            .await
            .optional()?;
        if let Some(earlier) = earlier {
            if new.amount.is_some_and(|amount| amount != earlier.amount) {
                return Err(ApiError::Conflict(
                    "this idempotency key was used for a refund of another amount".into(),
                ));
            }
            return Ok((earlier, row));
        }
        let amount = new.amount.unwrap_or(row.amount - row.refunded_amount);
        let applied = change(
            conn,
            new.payment_id,
            Command::Refund { amount },
            &new.reason,
            traceparent,
        )
        .await?;
        let refund: RefundRow = diesel::insert_into(refunds::table)
            .values((
                refunds::id.eq(Uuid::now_v7()),
                refunds::payment_id.eq(new.payment_id),
                refunds::amount.eq(amount),
                refunds::reason.eq(&new.reason),
                refunds::idempotency_key.eq(&new.idempotency_key),
                refunds::created_by.eq(new.created_by),
            ))
            .returning(RefundRow::as_returning())
            .get_result(conn)
            .await?;
        Ok((refund, applied.row))
    })
    .await
}

/// Whether this transaction is the reconciler's turn (a transaction-scoped advisory lock:
/// one replica at a time, the others skip the round).
pub async fn reconciler_turn(conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
    service_kit::db::try_turn(conn, "payment reconciler").await
}

/// Up to `limit` successful payments (refunded in part included) not reconciled yet whose
/// last change is more than `after` old, oldest first. Not locked: what the reconciler does
/// with them is idempotent and locks each payment it changes.
pub async fn due_to_reconcile(
    conn: &mut AsyncPgConnection,
    after: std::time::Duration,
    limit: i64,
) -> Result<Vec<PaymentRow>, ApiError> {
    let before = Utc::now() - chrono::Duration::from_std(after).map_err(|_| ApiError::Internal)?;
    Ok(payments::table
        .filter(payments::status.eq_any(["SUCCEEDED", "PARTIALLY_REFUNDED"]))
        .filter(schema::payments::reconciled_at.is_null())
        .filter(payments::updated_at.le(before))
        .order(payments::updated_at)
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// Whether a payment of `order` other than `payment` holds money (succeeded, not refunded
/// in full).
pub async fn others_succeeded(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    payment: Uuid,
) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        payments::table
            .filter(payments::order_id.eq(order))
            .filter(payments::id.ne(payment))
            .filter(payments::status.eq_any(["SUCCEEDED", "PARTIALLY_REFUNDED"])),
    ))
    .get_result(conn)
    .await?)
}

/// Records that `ids` are settled with their orders.
pub async fn mark_reconciled(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<(), ApiError> {
    diesel::update(payments::table.filter(payments::id.eq_any(ids)))
        .set(schema::payments::reconciled_at.eq(Some(Utc::now())))
        .execute(conn)
        .await?;
    Ok(())
}

/// Publishes `PaymentStatusChanged` again for `row` as it is (its last change, same
/// version): the order subgraph applies it if it never did, and ignores it otherwise.
pub async fn publish_again(conn: &mut AsyncPgConnection, row: &PaymentRow) -> Result<(), ApiError> {
    let from: Option<Option<String>> = payment_log::table
        .filter(payment_log::payment_id.eq(row.id))
        .order(payment_log::id.desc())
        .select(payment_log::from_status)
        .first(conn)
        .await
        .optional()?;
    let event = StatusChanged {
        payment_id: row.id,
        order_id: row.order_id,
        user_id: row.user_id,
        from: from.flatten(),
        to: row.status.clone(),
        amount: row.amount,
        refunded_amount: row.refunded_amount,
        currency: row.currency.clone(),
        version: row.version,
    };
    NewEvent::new(STREAM, "PaymentStatusChanged", row.id, &event, None)
        .insert(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::BigInt;

    use super::*;

    fn new_payment(order: Uuid, user: Uuid, key: &str) -> NewPayment {
        let id = Uuid::now_v7();
        NewPayment {
            id,
            order_id: order,
            user_id: user,
            method: "SANDBOX_CARD",
            amount: 1000,
            currency: "CNY".into(),
            idempotency_key: key.into(),
            gateway_reference: format!("sandbox-{id}"),
            expires_at: Utc::now() + chrono::Duration::minutes(15),
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }

    async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .await
            .unwrap()
            .count
    }

    /// A fresh database holding one `PENDING` payment of 1000 created with `key`.
    async fn with_payment(key: &str) -> (test_support::TestStores, PaymentRow) {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        let outcome = create_pending(
            &mut conn,
            new_payment(Uuid::now_v7(), Uuid::now_v7(), key),
            None,
        )
        .await
        .unwrap();
        drop(conn);
        (test, created(outcome))
    }

    fn created(outcome: Created) -> PaymentRow {
        match outcome {
            Created::New(row) | Created::Existing(row) => row,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_key_one_payment_and_one_open_payment_per_order_whatever_races() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        let db = test.stores.db.clone();
        let racers = (0..10).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut conn = db.get().await.unwrap();
                create_pending(&mut conn, new_payment(order, user, "pay-key-0001"), None)
                    .await
                    .map(created)
                    .map(|row| row.id)
            })
        });
        let mut ids = Vec::new();
        for racer in racers {
            ids.push(racer.await.unwrap().unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one payment for one key: {ids:?}");
        let mut conn = db.get().await.unwrap();
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM payments").await,
            1
        );
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM payment_log").await,
            1
        );
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM outbox").await,
            1
        );

        // Another key while that one is open: refused, nothing written.
        let second =
            create_pending(&mut conn, new_payment(order, user, "pay-key-0002"), None).await;
        assert_eq!(second.unwrap_err().code(), "CONFLICT");
        // The same key for another order: refused.
        let reused = create_pending(
            &mut conn,
            new_payment(Uuid::now_v7(), user, "pay-key-0001"),
            None,
        )
        .await;
        assert_eq!(reused.unwrap_err().code(), "CONFLICT");
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM payments").await,
            1
        );

        // Once declined, the order may be paid again.
        apply(&mut conn, ids[0], Command::Decline, "declined", None)
            .await
            .unwrap();
        let again = create_pending(&mut conn, new_payment(order, user, "pay-key-0003"), None).await;
        assert!(matches!(again, Ok(Created::New(_))), "{again:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn changes_are_logged_published_and_refunds_add_up_once_per_key() {
        let (test, payment) = with_payment("refund-test-1").await;
        let mut conn = test.stores.db.get().await.unwrap();
        let approved = apply(&mut conn, payment.id, Command::Approve, "approved", None)
            .await
            .unwrap();
        assert_eq!(
            (approved.row.status.as_str(), approved.row.version),
            ("SUCCEEDED", 2)
        );
        let twice = apply(&mut conn, payment.id, Command::Approve, "again", None).await;
        assert_eq!(twice.unwrap_err().code(), "CONFLICT");

        let refund = |amount: Option<i64>, key: &str| NewRefund {
            payment_id: payment.id,
            amount,
            reason: "customer asked".into(),
            idempotency_key: key.into(),
            created_by: None,
        };
        let (first, row) = super::refund(&mut conn, refund(Some(300), "refund-key-1"), None)
            .await
            .unwrap();
        assert_eq!(
            (row.status.as_str(), row.refunded_amount),
            ("PARTIALLY_REFUNDED", 300)
        );
        let (same, row) = super::refund(&mut conn, refund(Some(300), "refund-key-1"), None)
            .await
            .unwrap();
        assert_eq!(
            (same.id, row.refunded_amount),
            (first.id, 300),
            "one refund per key"
        );
        let other_amount = super::refund(&mut conn, refund(Some(200), "refund-key-1"), None).await;
        assert_eq!(other_amount.unwrap_err().code(), "CONFLICT");
        let too_much = super::refund(&mut conn, refund(Some(701), "refund-key-2"), None).await;
        assert_eq!(too_much.unwrap_err().code(), "CONFLICT");
        let nothing = super::refund(&mut conn, refund(Some(0), "refund-key-3"), None).await;
        assert_eq!(nothing.unwrap_err().code(), "BAD_USER_INPUT");
        let (rest, row) = super::refund(&mut conn, refund(None, "refund-key-4"), None)
            .await
            .unwrap();
        assert_eq!(
            (rest.amount, row.status.as_str(), row.refunded_amount),
            (700, "REFUNDED", 1000)
        );

        // created, approved, partly refunded, refunded: one log row and one event each.
        let log = "SELECT count(*) AS count FROM payment_log";
        assert_eq!(count(&mut conn, log).await, 4);
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM outbox").await,
            4
        );
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM refunds").await,
            2
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn open_payments_are_cancelled_with_their_order_and_expire_once_across_replicas() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        let order = Uuid::now_v7();
        let open = created(
            create_pending(
                &mut conn,
                new_payment(order, Uuid::now_v7(), "cancel-test-1"),
                None,
            )
            .await
            .unwrap(),
        );
        let cancelled = cancel_open_payment_of(&mut conn, order, "order cancelled", None)
            .await
            .unwrap();
        assert_eq!(
            cancelled.map(|row| (row.id, row.status)),
            Some((open.id, "CANCELLED".into()))
        );
        // Again (a redelivered event): nothing open, nothing changes.
        assert!(
            cancel_open_payment_of(&mut conn, order, "again", None)
                .await
                .unwrap()
                .is_none()
        );

        // 30 payments past their time, two "replicas" sweeping at once: each expires once.
        for i in 0..30 {
            let mut late = new_payment(
                Uuid::now_v7(),
                Uuid::now_v7(),
                &format!("expire-key-{i:03}"),
            );
            late.expires_at = Utc::now() - chrono::Duration::seconds(1);
            create_pending(&mut conn, late, None).await.unwrap();
        }
        let sweep = |db: service_kit::DbPool| async move {
            let mut conn = db.get().await.unwrap();
            let mut total = 0;
            loop {
                let expired = expire_due(&mut conn, 7, std::time::Duration::ZERO)
                    .await
                    .unwrap();
                total += expired;
                if expired == 0 {
                    return total;
                }
            }
        };
        let (a, b) = tokio::join!(sweep(test.stores.db.clone()), sweep(test.stores.db.clone()));
        assert_eq!(a + b, 30, "{a} + {b}");
        let expired = "SELECT count(*) AS count FROM payment_log WHERE to_status = 'EXPIRED'";
        assert_eq!(count(&mut conn, expired).await, 30);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_gateway_decision_is_delivered_until_the_webhook_takes_it_and_only_once() {
        let (test, payment) = with_payment("deliver-test-1").await;
        let mut conn = test.stores.db.get().await.unwrap();
        queue_gateway_decision(&mut conn, &payment.gateway_reference, true)
            .await
            .unwrap();
        let twice = queue_gateway_decision(&mut conn, &payment.gateway_reference, false).await;
        assert_eq!(
            twice.unwrap_err().code(),
            "CONFLICT",
            "one decision per payment"
        );
        // The webhook is down: nothing delivered, tried again later (not at once).
        let down = deliver_due(&mut conn, 10, |_| async {
            Err("connection refused".to_owned())
        })
        .await
        .unwrap();
        assert_eq!(down, 0);
        let soon = deliver_due(&mut conn, 10, |_| async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(soon, 0, "the retry waits for its backoff");
        diesel::sql_query("UPDATE gateway_deliveries SET next_attempt_at = now()")
            .execute(&mut conn)
            .await
            .unwrap();
        // Back up: delivered, with the body the webhook expects, and never again.
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                Ok(())
            }
        };
        assert_eq!(deliver_due(&mut conn, 10, record).await.unwrap(), 1);
        assert_eq!(deliver_due(&mut conn, 10, record).await.unwrap(), 0);
        let bodies = seen.lock().unwrap().clone();
        let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(
            (
                body["status"].as_str(),
                body["amount"].as_i64(),
                body["gatewayReference"].as_str()
            ),
            (
                Some("succeeded"),
                Some(1000),
                Some(payment.gateway_reference.as_str())
            )
        );
        let attempts = "SELECT attempts::bigint AS count FROM gateway_deliveries";
        assert_eq!(count(&mut conn, attempts).await, 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_late_approval_of_a_cancelled_payment_is_refunded_at_once() {
        let (test, payment) = with_payment("late-test-1").await;
        let mut conn = test.stores.db.get().await.unwrap();
        apply(
            &mut conn,
            payment.id,
            Command::Cancel,
            "order cancelled",
            None,
        )
        .await
        .unwrap();
        let late = apply(&mut conn, payment.id, Command::Approve, "approved", None)
            .await
            .unwrap();
        assert!(late.decision.refund_at_once);
        assert_eq!(
            (late.row.status.as_str(), late.row.refunded_amount),
            ("REFUNDED", 1000)
        );
        let steps: Vec<(Option<String>, String)> = payment_log::table
            .filter(payment_log::payment_id.eq(payment.id))
            .order(payment_log::id)
            .select((payment_log::from_status, payment_log::to_status))
            .load(&mut conn)
            .await
            .unwrap();
        let steps: Vec<(Option<&str>, &str)> = steps
            .iter()
            .map(|(from, to)| (from.as_deref(), to.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                (None, "PENDING"),
                (Some("PENDING"), "CANCELLED"),
                (Some("CANCELLED"), "SUCCEEDED"),
                (Some("SUCCEEDED"), "REFUNDED"),
            ]
        );
        // The event tells others a closed payment's money went back, not an order refund.
        let last: String = event_bus::outbox::outbox::table
            .order(event_bus::outbox::outbox::seq.desc())
            .select(event_bus::outbox::outbox::payload)
            .first(&mut conn)
            .await
            .unwrap();
        let event: StatusChanged = serde_json::from_str(&last).unwrap();
        assert_eq!(
            (event.from.as_deref(), event.to.as_str(), event.version),
            (Some("CANCELLED"), "REFUNDED", 3)
        );
    }
}
