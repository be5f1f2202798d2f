//! Current product data from the catalog subgraph, service to service: one `_entities`
//! request per batch of product ids (a DataLoader collects them), so a cart of 50 lines
//! costs one call and the catalog one query. The cart never stores prices or names: a
//! line's price, status and stock are its variant's, listed with its product.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
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
    /// Every variant, in any status, in the catalog's order.
    pub variants: Vec<VariantInfo>,
}

/// What the cart needs to know about one variant (SKU) now.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantInfo {
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
    /// The variant `id` of this product, if the catalog lists it.
    pub fn variant(&self, id: Uuid) -> Option<&VariantInfo> {
        self.variants.iter().find(|variant| variant.id == id)
    }

    /// The variant `id` can be bought now: it and its product on sale, it in stock.
    pub fn available(&self, id: Uuid) -> bool {
        self.status == "ACTIVE"
            && self
                .variant(id)
                .is_some_and(|v| v.status == "ACTIVE" && v.in_stock)
    }
}

/// A variant's product and status (to tell another product's variant from an unknown one).
#[derive(Clone, Debug, Deserialize)]
pub struct VariantOwner {
    pub id: Uuid,
    pub status: String,
    pub product: OwnerRef,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OwnerRef {
    pub id: Uuid,
}

/// Client of the catalog subgraph's GraphQL endpoint: a timeout per try, retries and a
/// circuit breaker (`service_kit::calls`; the lookups are reads, so they may be retried).
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

    /// The products among `ids` the catalog knows (any status), with their variants.
    pub async fn products(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, ProductInfo>, ApiError> {
        let found: Vec<ProductInfo> = self
            .entities(peer_api::catalog_entities::PRODUCTS, "Product", ids)
            .await?;
        Ok(found.into_iter().map(|p| (p.id, p)).collect())
    }

    /// The variants among `ids` the catalog knows (any status), with their product.
    pub async fn variant_owners(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, VariantOwner>, ApiError> {
        let found: Vec<VariantOwner> = self
            .entities(
                peer_api::catalog_entities::VARIANT_OWNERS,
                "ProductVariant",
                ids,
            )
            .await?;
        Ok(found.into_iter().map(|v| (v.id, v)).collect())
    }

    /// The entities of type `typename` among `ids` that the catalog knows, through
    /// `_entities` (unknown ids answer null and are left out).
    async fn entities<T: DeserializeOwned>(
        &self,
        query: &str,
        typename: &str,
        ids: &[Uuid],
    ) -> Result<Vec<T>, ApiError> {
        let representations: Vec<_> = ids
            .iter()
            .map(|id| json!({ "__typename": typename, "id": id }))
            .collect();
        let failed = |error: &dyn std::fmt::Display| {
            tracing::warn!(%error, url = %self.url, "catalog call failed");
            Attempt::Failed
        };
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Body<T> {
            data: Option<Data<T>>,
        }
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Data<T> {
            #[serde(rename = "_entities")]
            entities: Vec<Option<T>>,
        }
        let request = json!({ "query": query, "variables": { "r": representations } });
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
                let body: Body<T> = match response.json().await {
                    Ok(body) => body,
                    Err(error) => return failed(&error),
                };
                let Some(data) = body.data else {
                    return failed(&"the catalog answered with errors");
                };
                Attempt::Answer(Ok(data.entities.into_iter().flatten().collect()))
            })
            .await
    }
}
