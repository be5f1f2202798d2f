//! `POST /webhooks/payments`: the payment gateway tells us a payment succeeded or failed.
//! The raw body is signed with HMAC-SHA256 (`X-Signature: sha256=<hex>`, key
//! `PAYMENT_WEBHOOK_SECRET`), compared in constant time before anything is parsed. A bad or
//! missing signature is 401 and changes nothing; an unknown payment 404; an amount or
//! currency other than the payment's 422 (logged); a replayed `eventId` 200 with no effect;
//! bodies over 64 KiB 413.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use service_kit::{ApiError, DbPool, internal};
use sha2::Sha256;

use crate::domain::status::Command;
use crate::workflows::gateway_events::{GatewayEvent, GatewayOutcome, apply_gateway_event};

/// Largest webhook body accepted.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
struct Webhook {
    db: DbPool,
    secret: Arc<str>,
}

/// The webhook route.
pub fn routes(db: DbPool, secret: &str) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/payments", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Webhook {
            db,
            secret: Arc::from(secret),
        })
}

/// `sha256=<hex>` of `body` under `secret`: what the gateway sends in `X-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    event_id: String,
    gateway_reference: String,
    status: String,
    amount: i64,
    currency: String,
}

async fn receive(State(hook): State<Webhook>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers
        .get("x-signature")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = signature(&hook.secret, &body);
    if !internal::constant_time_eq(given, expected.as_bytes()) {
        tracing::warn!("payment webhook with a bad or missing signature refused");
        return internal::error_response(&ApiError::Unauthenticated(
            "bad or missing X-Signature".into(),
        ));
    }
    let parsed: Body = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(error) => {
            return internal::error_response(&ApiError::bad_input("body", error.to_string()));
        }
    };
    let command = match parsed.status.as_str() {
        "succeeded" => Command::Approve,
        "failed" => Command::Decline,
        _ => {
            return internal::error_response(&ApiError::bad_input(
                "status",
                "must be succeeded or failed",
            ));
        }
    };
    if parsed.event_id.is_empty() || parsed.event_id.len() > 128 {
        return internal::error_response(&ApiError::bad_input(
            "eventId",
            "must be 1 to 128 characters",
        ));
    }
    let event = GatewayEvent {
        event_id: parsed.event_id,
        gateway_reference: parsed.gateway_reference,
        command,
        amount: parsed.amount,
        currency: parsed.currency,
    };
    let outcome = async {
        let mut conn = hook.db.get().await?;
        apply_gateway_event(&mut conn, &event, None).await
    }
    .await;
    match outcome {
        Ok(GatewayOutcome::Applied(status)) => (
            StatusCode::OK,
            Json(json!({ "result": "applied", "status": status.as_db() })),
        )
            .into_response(),
        Ok(GatewayOutcome::Replayed) => {
            (StatusCode::OK, Json(json!({ "result": "replayed" }))).into_response()
        }
        Ok(GatewayOutcome::Ignored(status)) => (
            StatusCode::OK,
            Json(json!({ "result": "ignored", "status": status.as_db() })),
        )
            .into_response(),
        Err(ApiError::BadUserInput { field, message }) if field == "amount" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "code": "BAD_USER_INPUT", "field": field, "message": message })),
        )
            .into_response(),
        Err(error) => internal::error_response(&error),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body as HttpBody;
    use axum::http::Request;
    use chrono::Utc;
    use tower::ServiceExt as _;
    use uuid::Uuid;

    use super::*;
    use crate::db::payments::NewPayment;
    use crate::workflows::payments::{Created, create_pending};

    const SECRET: &str = "webhook-test-secret";

    async fn pending(db: &DbPool, amount: i64) -> crate::db::PaymentRow {
        let mut conn = db.get().await.unwrap();
        let id = Uuid::now_v7();
        let created = create_pending(
            &mut conn,
            NewPayment {
                id,
                order_id: Uuid::now_v7(),
                user_id: Uuid::now_v7(),
                method: "SANDBOX_CARD",
                amount,
                currency: "CNY".into(),
                idempotency_key: format!("hook-{id}"),
                gateway_reference: format!("sandbox-{id}"),
                expires_at: Utc::now() + chrono::Duration::minutes(15),
            },
            None,
        )
        .await
        .unwrap();
        match created {
            Created::New(row) | Created::Existing(row) => row,
        }
    }

    async fn post(app: &axum::Router, body: Vec<u8>, signature: Option<String>) -> (u16, String) {
        let mut request =
            Request::post("/webhooks/payments").header("content-type", "application/json");
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        let response = app
            .clone()
            .oneshot(request.body(HttpBody::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn event(id: &str, reference: &str, status: &str, amount: i64) -> Vec<u8> {
        json!({ "eventId": id, "gatewayReference": reference, "status": status,
                "amount": amount, "currency": "CNY" })
        .to_string()
        .into_bytes()
    }

    async fn status_of(db: &DbPool, id: Uuid) -> (String, i64) {
        let mut conn = db.get().await.unwrap();
        let row = crate::db::payments::find(&mut conn, id)
            .await
            .unwrap()
            .unwrap();
        (row.status, row.version)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_signed_matching_events_change_a_payment_and_each_only_once() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let db = test.stores.db.clone();
        let app = routes(db.clone(), SECRET);
        let payment = pending(&db, 1500).await;
        let reference = payment.gateway_reference.clone();
        let good = event("evt-0001", &reference, "succeeded", 1500);

        // Unsigned, or signed with another key: 401, nothing changes.
        assert_eq!(post(&app, good.clone(), None).await.0, 401);
        let forged = signature("a guess", &good);
        assert_eq!(post(&app, good.clone(), Some(forged)).await.0, 401);
        // Signed, but a different body than the one signed: 401.
        let tampered = event("evt-0001", &reference, "succeeded", 1);
        assert_eq!(
            post(&app, tampered, Some(signature(SECRET, &good))).await.0,
            401
        );
        assert_eq!(status_of(&db, payment.id).await, ("PENDING".into(), 1));

        // Another amount: refused and logged, nothing recorded.
        let cheap = event("evt-0002", &reference, "succeeded", 15);
        let (code, body) = post(&app, cheap.clone(), Some(signature(SECRET, &cheap))).await;
        assert_eq!(code, 422, "{body}");
        // An unknown payment: 404.
        let unknown = event("evt-0003", "sandbox-nobody", "succeeded", 1500);
        assert_eq!(
            post(&app, unknown.clone(), Some(signature(SECRET, &unknown)))
                .await
                .0,
            404
        );
        assert_eq!(status_of(&db, payment.id).await, ("PENDING".into(), 1));

        // The real thing: applied once; the replay answers 200 and changes nothing.
        let (code, body) = post(&app, good.clone(), Some(signature(SECRET, &good))).await;
        assert_eq!((code, body.contains("SUCCEEDED")), (200, true), "{body}");
        let (code, body) = post(&app, good.clone(), Some(signature(SECRET, &good))).await;
        assert_eq!((code, body.contains("replayed")), (200, true), "{body}");
        assert_eq!(status_of(&db, payment.id).await, ("SUCCEEDED".into(), 2));
        // A later contradicting event is recorded and ignored.
        let late = event("evt-0004", &reference, "failed", 1500);
        let (code, body) = post(&app, late.clone(), Some(signature(SECRET, &late))).await;
        assert_eq!((code, body.contains("ignored")), (200, true), "{body}");
        assert_eq!(status_of(&db, payment.id).await, ("SUCCEEDED".into(), 2));

        // A decline fails another payment.
        let other = pending(&db, 700).await;
        let declined = event("evt-0005", &other.gateway_reference, "failed", 700);
        assert_eq!(
            post(&app, declined.clone(), Some(signature(SECRET, &declined)))
                .await
                .0,
            200
        );
        assert_eq!(status_of(&db, other.id).await, ("FAILED".into(), 2));

        // Garbage and oversized bodies are refused before anything is looked up.
        let garbage = b"{not json".to_vec();
        assert_eq!(
            post(&app, garbage.clone(), Some(signature(SECRET, &garbage)))
                .await
                .0,
            400
        );
        let huge = vec![b' '; MAX_BODY + 1];
        assert_eq!(
            post(&app, huge.clone(), Some(signature(SECRET, &huge)))
                .await
                .0,
            413
        );
    }
}
