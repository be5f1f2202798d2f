//! DataLoaders: the product lookups of one request are batched into one catalog call.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use service_kit::ApiError;
use service_kit::loader::{BatchWindow, batched};
use uuid::Uuid;

use crate::peers::{CatalogClient, ProductInfo};

/// Batches the product lookups of one request into one catalog call.
pub struct CatalogLoader(pub CatalogClient);

impl Loader<Uuid> for CatalogLoader {
    type Value = ProductInfo;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, ProductInfo>, ApiError> {
        self.0.products(ids).await
    }
}

/// Adds a fresh set of loaders (a per-request cache) to a request's data.
pub fn add_loaders(catalog: &CatalogClient, window: BatchWindow, data: &mut async_graphql::Data) {
    data.insert(batched(CatalogLoader(catalog.clone()), window));
}
