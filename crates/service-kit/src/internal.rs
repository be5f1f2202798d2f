//! Service-to-service calls: JSON over HTTP on `/internal/*` routes, never through the
//! router and never part of the supergraph. A caller proves it is one of our services with
//! the shared secret `INTERNAL_API_TOKEN` in [`TOKEN_HEADER`] (compared in constant time).
//! Errors travel as `{"code", "message", ...}` with the contract's codes, so a subgraph can
//! hand them to its client unchanged.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::ApiError;

/// The header that carries the internal secret.
pub const TOKEN_HEADER: &str = "x-mall-internal-token";

/// Wraps `routes` (paths under `/internal/`) so that only callers with the secret reach them.
pub fn protect(routes: axum::Router, token: &str) -> axum::Router {
    routes.layer(axum::middleware::from_fn_with_state(
        std::sync::Arc::<str>::from(token),
        require_token,
    ))
}

async fn require_token(
    State(token): State<std::sync::Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if constant_time_eq(given, token.as_bytes()) {
        next.run(request).await
    } else {
        let error = ApiError::Unauthenticated("internal route: wrong or missing token".into());
        error_response(&error)
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An [`ApiError`] as an internal route's answer.
pub fn error_response(error: &ApiError) -> Response {
    let status = match error {
        ApiError::BadUserInput { .. } => StatusCode::BAD_REQUEST,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::Conflict(_) | ApiError::InsufficientStock { .. } => StatusCode::CONFLICT,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({ "code": error.code(), "message": error.message() });
    match error {
        ApiError::BadUserInput { field, message } => {
            body["field"] = json!(field);
            body["reason"] = json!(message);
        }
        ApiError::NotFound(what) => body["what"] = json!(what),
        ApiError::InsufficientStock {
            product_id,
            variant_id,
            available,
        } => {
            body["productId"] = json!(product_id);
            body["variantId"] = json!(variant_id);
            body["available"] = json!(available);
        }
        _ => {}
    }
    (status, Json(body)).into_response()
}

/// The answer of an internal route: a JSON value or an [`ApiError`].
pub fn respond<T: Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error_response(&error),
    }
}

/// Reads an error body made by [`error_response`] back into an [`ApiError`].
fn parse_error(body: &serde_json::Value) -> Option<ApiError> {
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    Some(match body["code"].as_str()? {
        "BAD_USER_INPUT" => ApiError::bad_input(text("field"), text("reason")),
        "NOT_FOUND" => ApiError::NotFound(text("what")),
        "CONFLICT" => ApiError::Conflict(text("message")),
        "FORBIDDEN" => ApiError::Forbidden(text("message")),
        "INSUFFICIENT_STOCK" => ApiError::InsufficientStock {
            product_id: text("productId"),
            variant_id: body["variantId"].as_str().map(str::to_owned),
            available: body["available"].as_i64().unwrap_or(0),
        },
        _ => return None,
    })
}

/// A client of another subgraph's internal routes: a timeout on every call, retries with
/// jittered back-off when the other side cannot be reached or answers 5xx, and a circuit
/// breaker ([`crate::calls`]). Every internal route is idempotent, so every call may be
/// retried.
#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    base: String,
    token: String,
    target: crate::calls::Target,
}

impl InternalClient {
    /// `url` is the service's GraphQL URL (`…/graphql`) or its base URL; `service` names it
    /// in errors ("the catalog").
    pub fn new(service: &'static str, url: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .connect_timeout(Duration::from_secs(1))
                .build()?,
            base: url
                .trim_end_matches('/')
                .trim_end_matches("/graphql")
                .to_owned(),
            token: token.to_owned(),
            target: crate::calls::Target::new(service),
        })
    }

    /// POSTs `body` to `path`; the answer's JSON, or the callee's contract error, or
    /// `UNAVAILABLE` when every try failed or the breaker is open.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        use crate::calls::Attempt;
        let url = format!("{}{path}", self.base);
        self.target
            .call(true, || async {
                let outcome = self
                    .http
                    .post(&url)
                    .header(TOKEN_HEADER, &self.token)
                    .headers(crate::telemetry::current_trace_headers())
                    .json(body)
                    .send()
                    .await;
                match outcome {
                    Ok(response) if response.status().is_success() => {
                        match response.json::<T>().await {
                            Ok(answer) => Attempt::Answer(Ok(answer)),
                            Err(error) => {
                                tracing::error!(%error, %url, "internal call: unreadable answer");
                                Attempt::Failed
                            }
                        }
                    }
                    Ok(response) if response.status().is_client_error() => {
                        let status = response.status();
                        let body: serde_json::Value = response.json().await.unwrap_or_default();
                        Attempt::Answer(Err(parse_error(&body).unwrap_or_else(|| {
                            tracing::error!(%status, %body, %url, "internal call refused");
                            ApiError::Internal
                        })))
                    }
                    Ok(response) => {
                        tracing::warn!(status = %response.status(), %url, "internal call failed");
                        Attempt::Failed
                    }
                    Err(error) => {
                        tracing::warn!(%error, %url, "internal call failed");
                        Attempt::Failed
                    }
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    #[test]
    fn errors_survive_the_trip() {
        let error = ApiError::InsufficientStock {
            product_id: "p1".into(),
            variant_id: Some("v1".into()),
            available: 3,
        };
        let response = error_response(&error);
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body = json!({ "code": "INSUFFICIENT_STOCK", "productId": "p1", "variantId": "v1",
                           "available": 3 });
        let back = parse_error(&body).unwrap();
        assert_eq!(back.code(), "INSUFFICIENT_STOCK");
        assert!(
            matches!(&back, ApiError::InsufficientStock { variant_id: Some(v), .. } if v == "v1")
        );
        assert_eq!(back.message(), error.message());
        let body = json!({ "code": "BAD_USER_INPUT", "field": "lines", "reason": "empty" });
        assert_eq!(parse_error(&body).unwrap().message(), "lines: empty");
    }
}
