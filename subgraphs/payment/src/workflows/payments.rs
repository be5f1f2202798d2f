//! A payment's life: its creation, and every status change. Every status change writes the
//! payment, a row of its log and a `PaymentStatusChanged` event in one transaction;
//! decisions come from `domain::status`, never from here.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::db::payments::{self, NewPayment};
use crate::db::{PaymentRow, outbox, payment_log};
use crate::domain::status::{Command, Decision, PaymentStatus, Refused, decide};

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
    let logged_from = from.map(PaymentStatus::as_db);
    payment_log::insert(conn, row.id, logged_from, &row.status, note).await?;
    let event_from = event_from.map(|s| s.as_db().to_owned());
    outbox::status_changed(conn, row, event_from, traceparent).await
}

/// Creates a `PENDING` payment, or finds the one this customer created with the same key.
/// The same key for another order, method or amount is `CONFLICT`; so is a second open
/// payment for one order (a unique index decides, whatever races).
pub async fn create_pending(
    conn: &mut AsyncPgConnection,
    new: NewPayment,
    traceparent: Option<String>,
) -> Result<Created, ApiError> {
    let inserted = conn
        .transaction(async |conn| {
            let inserted = payments::insert_pending(conn, &new).await?;
            if let Some(row) = &inserted {
                log_and_publish(conn, row, None, None, "created", traceparent.clone()).await?;
            }
            Ok::<_, ApiError>(inserted)
        })
        .await?;
    if let Some(row) = inserted {
        return Ok(Created::New(row));
    }
    let existing = payments::by_key(conn, new.user_id, &new.idempotency_key).await?;
    if existing.order_id != new.order_id
        || existing.method != new.method
        || existing.amount != new.amount
    {
        return Err(ApiError::Conflict(
            "this idempotency key was used for another payment".into(),
        ));
    }
    Ok(Created::Existing(existing))
}

/// What a command did.
#[derive(Debug)]
pub struct Applied {
    pub row: PaymentRow,
    pub decision: Decision,
}

/// Locks the payment, decides, and writes the change with its log and event (in the
/// caller's transaction).
pub(crate) async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    command: Command,
    note: &str,
    traceparent: Option<String>,
) -> Result<Applied, ApiError> {
    let row = payments::lock(conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("payment".into()))?;
    let from = PaymentStatus::from_db(&row.status)
        .ok_or_else(|| ApiError::corrupt("payments.status", &row.status))?;
    let decision = decide(from, row.amount, row.refunded_amount, command).map_err(refused)?;
    if decision.refund_at_once {
        // The gateway took money for a payment this side had closed: record the success,
        // then give it back, so the log says what happened.
        payment_log::insert(
            conn,
            id,
            Some(from.as_db()),
            PaymentStatus::Succeeded.as_db(),
            "approved by the gateway after the payment was closed",
        )
        .await?;
    }
    let row = payments::set_status(conn, id, decision.to, decision.refunded).await?;
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
    conn.transaction(
        async |conn| match payments::lock_open_of_order(conn, order_id).await? {
            Some(id) => Ok(Some(
                change(conn, id, Command::Cancel, reason, traceparent)
                    .await?
                    .row,
            )),
            None => Ok(None),
        },
    )
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
        let due = payments::lock_due_to_expire(conn, due, limit).await?;
        for id in &due {
            change(conn, *id, Command::Expire, "not completed in time", None).await?;
        }
        Ok(due.len())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::outbox::StatusChanged;
    use crate::db::testing::{count, last_event_payload};
    use crate::workflows::testing::{created, new_payment, with_payment};

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
        let steps = payment_log::log_of(&mut conn, payment.id).await.unwrap();
        let steps: Vec<(Option<&str>, &str)> = steps
            .iter()
            .map(|step| (step.from_status.as_deref(), step.to_status.as_str()))
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
        let last = last_event_payload(&mut conn).await;
        let event: StatusChanged = serde_json::from_str(&last).unwrap();
        assert_eq!(
            (event.from.as_deref(), event.to.as_str(), event.version),
            (Some("CANCELLED"), "REFUNDED", 3)
        );
    }
}
