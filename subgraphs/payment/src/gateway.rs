//! The sandbox payment gateway, served by the payment subgraph and behaving like a real
//! one: `GET /sandbox/pay/{reference}` is the page where a person approves or declines
//! (plain HTML forms, no JavaScript); `POST /sandbox/pay/{reference}/approve|decline` record
//! the decision. The gateway then tells the shop **asynchronously**: the decision is queued
//! (`gateway_deliveries`) and a worker calls the signed webhook, retrying with backoff until
//! it answers 2xx ([`delivery_worker`]).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use service_kit::subgraph::{Shutdown, pause};
use service_kit::{DbPool, Worker, internal};

use crate::db::payments;
use crate::workflows::gateway_decisions::{deliver_due, queue_gateway_decision};

/// The gateway's pages.
pub fn routes(db: DbPool) -> axum::Router {
    axum::Router::new()
        .route("/sandbox/pay/{reference}", get(page))
        .route("/sandbox/pay/{reference}/approve", post(approve))
        .route("/sandbox/pay/{reference}/decline", post(decline))
        .with_state(db)
}

/// The page's address for a payment: where `redirectUrl` points.
pub fn page_url(base: &str, reference: &str) -> String {
    format!("{}/sandbox/pay/{reference}", base.trim_end_matches('/'))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn page(State(db): State<DbPool>, Path(reference): Path<String>) -> Response {
    let found = async {
        let mut conn = db.get().await?;
        payments::by_reference(&mut conn, &reference).await
    }
    .await;
    let row = match found {
        Ok(Some(row)) => row,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, Html("<h1>No such payment</h1>")).into_response();
        }
        Err(error) => return internal::error_response(&error),
    };
    let amount = service_kit::money::Money::new(row.amount, row.currency.clone());
    let actions = if row.status == "PENDING" {
        format!(
            "<form method=\"post\" action=\"/sandbox/pay/{r}/approve\"><button>Approve</button></form>\
             <form method=\"post\" action=\"/sandbox/pay/{r}/decline\"><button>Decline</button></form>",
            r = escape(&row.gateway_reference)
        )
    } else {
        String::new()
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox payment</title></head>\
         <body><h1>Douyin Mall sandbox gateway</h1><p>Amount: <strong>{amount}</strong></p>\
         <p>Status: <strong>{status}</strong></p>{actions}</body></html>",
        amount = escape(&amount.format()),
        status = escape(&row.status),
    ))
    .into_response()
}

async fn approve(
    State(db): State<DbPool>,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    decide(db, reference, true, headers).await
}

async fn decline(
    State(db): State<DbPool>,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    decide(db, reference, false, headers).await
}

async fn decide(db: DbPool, reference: String, approved: bool, headers: HeaderMap) -> Response {
    let queued = async {
        let mut conn = db.get().await?;
        queue_gateway_decision(&mut conn, &reference, approved).await
    }
    .await;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("json"));
    match queued {
        Ok(event_id) if wants_json => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "eventId": event_id, "approved": approved })),
        )
            .into_response(),
        Ok(_) => (
            StatusCode::ACCEPTED,
            Html(format!(
                "<!doctype html><html><body><h1>Payment {}</h1>\
                 <p>The shop is being told. You can close this page.</p></body></html>",
                if approved { "approved" } else { "declined" }
            )),
        )
            .into_response(),
        Err(error) => internal::error_response(&error),
    }
}

/// Calls the webhook for every queued decision, every `interval`, signing each body with
/// `secret`; a failed call is retried with backoff ([`deliver_due`]).
pub fn delivery_worker(
    db: DbPool,
    webhook_url: String,
    secret: String,
    interval: Duration,
) -> Worker {
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("an HTTP client");
            loop {
                let delivered = async {
                    let mut conn = db.get().await?;
                    deliver_due(&mut conn, 20, |body: String| {
                        let request = http
                            .post(&webhook_url)
                            .header(header::CONTENT_TYPE, "application/json")
                            .header(
                                "x-signature",
                                crate::webhook::signature(&secret, body.as_bytes()),
                            )
                            .body(body);
                        async move {
                            let response = request.send().await.map_err(|e| e.to_string())?;
                            if response.status().is_success() {
                                Ok(())
                            } else {
                                Err(format!("webhook answered {}", response.status()))
                            }
                        }
                    })
                    .await
                }
                .await;
                if let Err(error) = delivered {
                    tracing::warn!(error = %error.message(), "gateway delivery round failed; will retry");
                }
                if !pause(&mut shutdown, interval).await {
                    break;
                }
            }
        })
    })
}
