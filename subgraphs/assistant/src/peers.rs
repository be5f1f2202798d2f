//! The assistant's one peer: the router's public endpoint. Its tools send contract
//! operations there with the customer's own token, by trusted-document id (the router's
//! `persisted-documents.json`, built in), so the assistant can read and do exactly what the
//! customer could through any frontend, and production's trusted-documents rule holds for
//! it too.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde_json::{Value, json};
use service_kit::ApiError;
use service_kit::calls::{Attempt, Target};
use tracing::Instrument as _;

/// The router's trusted documents: id → text (the same file the router serves).
const TRUSTED_DOCUMENTS: &str = include_str!("../../../router-config/persisted-documents.json");

/// The contract operations the assistant sends (its tools and confirmations).
pub const OPERATIONS: &[&str] = &[
    "ProductList",
    "ProductPage",
    "MyOrders",
    "OrderById",
    "MyCart",
    "Me",
    "Checkout",
    "CancelOrder",
    "AddVariantToCart",
];

/// Operation name → trusted-document id.
static DOCUMENT_IDS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let documents: HashMap<String, String> =
        serde_json::from_str(TRUSTED_DOCUMENTS).expect("router-config/persisted-documents.json");
    documents
        .into_iter()
        .filter_map(|(id, text)| operation_name(&text).map(|name| (name, id)))
        .collect()
});

/// The name of the (first) operation a document defines.
fn operation_name(text: &str) -> Option<String> {
    let mut words = text.split(|c: char| !(c.is_alphanumeric() || c == '_'));
    while let Some(word) = words.next() {
        if matches!(word, "query" | "mutation" | "subscription") {
            return words.find(|w| !w.is_empty()).map(str::to_owned);
        }
    }
    None
}

/// Who the assistant acts for: the customer's `Authorization` header as it reached this
/// subgraph (the router forwards it), and their address as the router saw it.
#[derive(Clone)]
pub struct Customer {
    pub authorization: String,
    pub client_ip: Option<String>,
}

impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Customer")
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

/// An operation's error as the API reported it (its contract code), or `UNAVAILABLE` when
/// the router could not be reached.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationError {
    pub code: String,
    pub message: String,
}

impl From<ApiError> for OperationError {
    fn from(error: ApiError) -> Self {
        Self {
            code: error.code().to_owned(),
            message: error.message(),
        }
    }
}

/// Client of the router's GraphQL endpoint (`ROUTER_URL`).
#[derive(Clone)]
pub struct RouterClient {
    http: reqwest::Client,
    url: Arc<str>,
    /// Reads and confirmations have breakers of their own: slow searches never make a
    /// customer's confirmation fail fast.
    reads: Target,
    writes: Target,
}

impl RouterClient {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        // Every tool's operation must be a trusted document (checked at start, not on a
        // customer's turn).
        for name in OPERATIONS {
            anyhow::ensure!(
                DOCUMENT_IDS.contains_key(*name),
                "the contract operation {name} is not among the router's trusted documents"
            );
        }
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            url: Arc::from(url),
            reads: Target::new("the shop's API"),
            writes: Target::new("the shop's API (confirmations)"),
        })
    }

    /// Runs the contract operation `operation` as `customer`; its `data`, or the first
    /// error's code and message. Queries are retried on failure; mutations are not.
    pub async fn run(
        &self,
        customer: &Customer,
        operation: &str,
        variables: Value,
    ) -> Result<Value, OperationError> {
        let id = DOCUMENT_IDS.get(operation).ok_or_else(|| {
            tracing::error!(operation, "not a trusted document");
            OperationError::from(ApiError::Internal)
        })?;
        let body = json!({ "documentId": id, "variables": variables });
        let idempotent = !DOCUMENT_IDS_MUTATING.contains(&operation);
        let target = if idempotent {
            &self.reads
        } else {
            &self.writes
        };
        let answer = target
            .call(idempotent, || async {
                let mut request = self
                    .http
                    .post(&*self.url)
                    .header("authorization", &customer.authorization)
                    .json(&body);
                if let Some(ip) = &customer.client_ip {
                    request = request.header("x-forwarded-for", ip);
                }
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(_) => return Attempt::Failed,
                };
                if response.status().is_server_error() {
                    return Attempt::Failed;
                }
                match response.json::<Value>().await {
                    Ok(body) => Attempt::Answer(Ok(body)),
                    Err(_) => Attempt::Failed,
                }
            })
            .instrument(tracing::info_span!("assistant.tool_operation", operation))
            .await?;
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        // The operation's root field answered: it happened, whatever a nested field's error
        // says (a payment list the payment subgraph could not give, say).
        let answered = data
            .as_object()
            .is_some_and(|fields| fields.values().any(|v| !v.is_null()));
        if answered {
            return Ok(data);
        }
        let errors = answer
            .get("errors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // The operation's own refusal is an error at its root field (or of the whole
        // request); one deeper in the answer (a nested field that could not be fetched and
        // nulled the root) says nothing of whether the operation happened.
        let own = errors.iter().find(|error| {
            error
                .get("path")
                .and_then(Value::as_array)
                .is_none_or(|path| path.len() <= 1)
        });
        match own {
            Some(error) => Err(OperationError {
                code: error["extensions"]["code"]
                    .as_str()
                    .unwrap_or("INTERNAL_SERVER_ERROR")
                    .to_owned(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => {
                tracing::warn!(
                    operation,
                    errors = errors.len(),
                    "no answer from the operation"
                );
                Err(OperationError::from(ApiError::Unavailable(
                    "the shop's API",
                )))
            }
        }
    }
}

/// The operations that change something (never retried blindly: a confirmation re-runs
/// them only with their own idempotency).
const DOCUMENT_IDS_MUTATING: [&str; 3] = ["Checkout", "CancelOrder", "AddVariantToCart"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_the_tools_send_is_a_trusted_document() {
        for name in OPERATIONS {
            assert!(DOCUMENT_IDS.contains_key(*name), "{name}");
        }
        assert_eq!(
            operation_name("# comment\nquery ProductList($first: Int) { x }").as_deref(),
            Some("ProductList")
        );
    }
}
