//! Current product data from the catalog subgraph, service to service: one `_entities`
//! request per batch of product ids (a DataLoader collects them), so a cart of 50 lines
//! costs one call and the catalog one query. The cart never stores prices or names.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use service_kit::ApiError;
use service_kit::calls::Attempt;
use uuid::Uuid;

/// What the cart needs to know about a product now.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductInfo {
    pub id: Uuid,
    pub status: String,
    pub in_stock: bool,
    pub price: Price,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Price {
    pub amount: i64,
    pub currency: String,
}

impl ProductInfo {
    /// On sale and in stock.
    pub fn available(&self) -> bool {
        self.status == "ACTIVE" && self.in_stock
    }
}

/// Client of the catalog subgraph's GraphQL endpoint: a timeout per try, retries and a
/// circuit breaker (`service_kit::calls`; the lookup is a read, so it may be retried).
#[derive(Clone)]
pub struct CatalogClient {
    http: reqwest::Client,
    url: String,
    /// `INTERNAL_API_TOKEN`: subgraphs answer GraphQL only with it.
    token: String,
    target: service_kit::calls::Target,
}

impl CatalogClient {
    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .connect_timeout(Duration::from_secs(1))
                .build()?,
            url: url.to_owned(),
            token: token.to_owned(),
            target: service_kit::calls::Target::new("the catalog"),
        })
    }

    /// The products among `ids` the catalog knows (any status).
    pub async fn products(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, ProductInfo>, ApiError> {
        const QUERY: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
            ... on Product { id status inStock price { amount currency } } } }";
        let representations: Vec<_> = ids
            .iter()
            .map(|id| json!({ "__typename": "Product", "id": id }))
            .collect();
        let failed = |error: &dyn std::fmt::Display| {
            tracing::warn!(%error, url = %self.url, "catalog call failed");
            Attempt::Failed
        };
        #[derive(Deserialize)]
        struct Body {
            data: Option<Data>,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(rename = "_entities")]
            entities: Vec<Option<ProductInfo>>,
        }
        let request = json!({ "query": QUERY, "variables": { "r": representations } });
        self.target
            .call(true, || async {
                let response = match self
                    .http
                    .post(&self.url)
                    .header(service_kit::internal::TOKEN_HEADER, &self.token)
                    .headers(service_kit::telemetry::current_trace_headers())
                    .json(&request)
                    .send()
                    .await
                {
                    Ok(response) => response,
                    Err(error) => return failed(&error),
                };
                let body: Body = match response.json().await {
                    Ok(body) => body,
                    Err(error) => return failed(&error),
                };
                let Some(data) = body.data else {
                    return failed(&"the catalog answered with errors");
                };
                Attempt::Answer(Ok(data
                    .entities
                    .into_iter()
                    .flatten()
                    .map(|product| (product.id, product))
                    .collect()))
            })
            .await
    }
}
