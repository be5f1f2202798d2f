//! Refunds: part or all of a payment given back, once per key.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use super::payments::change;
use crate::db::{PaymentRow, RefundRow, payments, refunds};
use crate::domain::status::Command;

/// The idempotency key of the automatic refund of a payment (one per payment).
pub const AUTOMATIC_REFUND_KEY: &str = "automatic-refund-order-not-payable";

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
        let row = payments::lock(conn, new.payment_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("payment".into()))?;
        let earlier = refunds::by_key(conn, new.payment_id, &new.idempotency_key).await?;
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
        let refund = refunds::insert(
            conn,
            new.payment_id,
            amount,
            &new.reason,
            &new.idempotency_key,
            new.created_by,
        )
        .await?;
        Ok((refund, applied.row))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::count;
    use crate::workflows::payments::apply;
    use crate::workflows::testing::with_payment;

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
}
