//! The sandbox gateway's side: a customer's decision is queued as the webhook call the
//! gateway still has to make, and the calls due are made until the webhook takes them.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::db::{deliveries, payments};
use crate::domain::status::PaymentStatus;

/// The sandbox gateway's record of a customer's decision: the webhook call it still has to
/// make, queued in the same transaction that checks the payment is open and undecided.
/// `CONFLICT` when the payment is not `PENDING` or was already decided at the gateway.
pub async fn queue_gateway_decision(
    conn: &mut AsyncPgConnection,
    reference: &str,
    approved: bool,
) -> Result<Uuid, ApiError> {
    conn.transaction(async |conn| {
        let row = payments::lock_by_reference(conn, reference)
            .await?
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
        let decided = deliveries::count_of(conn, row.id).await?;
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
        deliveries::queue(conn, event_id, row.id, body.to_string()).await?;
        Ok(event_id)
    })
    .await
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
    conn.transaction(async |conn| {
        let due = deliveries::lock_due(conn, limit).await?;
        let mut delivered = 0;
        for delivery in due {
            match deliver(delivery.body.clone()).await {
                Ok(()) => {
                    deliveries::delivered(conn, delivery.id).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let wait = 1i64 << delivery.attempts.clamp(0, 6);
                    tracing::warn!(delivery = delivery.id, %error, retry_in_s = wait.min(60), "webhook delivery failed");
                    deliveries::failed(conn, delivery.id, wait.min(60), error).await?;
                }
            }
        }
        Ok(delivered)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{count, make_deliveries_due};
    use crate::workflows::testing::with_payment;

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
        make_deliveries_due(&mut conn).await;
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
}
