//! DataLoaders: the product lookups of one request are batched into one catalog call.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::dataloader::Loader;
use service_kit::ApiError;
use service_kit::loader::{BatchWindow, batched};
use uuid::Uuid;

use crate::peers::{CatalogClient, ProductInfo};

/// Batches the product lookups of one request into one catalog call, and keeps what it
/// learned for the rest of the request: a product asked again (the subtotal and each line,
/// resolved in separate batches; a mutation's check and the cart it returns) is not asked
/// again, so one answer prices the whole cart.
pub struct CatalogLoader {
    catalog: CatalogClient,
    /// Products looked up in this request (`None`: the catalog does not know it).
    known: Mutex<HashMap<Uuid, Option<ProductInfo>>>,
}

impl CatalogLoader {
    pub fn new(catalog: CatalogClient) -> Self {
        Self {
            catalog,
            known: Mutex::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Option<ProductInfo>>> {
        // A panic elsewhere cannot leave the map half-written: use it as it is.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Loader<Uuid> for CatalogLoader {
    type Value = ProductInfo;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, ProductInfo>, ApiError> {
        let missing: Vec<Uuid> = {
            let known = self.known();
            ids.iter()
                .filter(|id| !known.contains_key(id))
                .copied()
                .collect()
        };
        if !missing.is_empty() {
            // Failures are not kept: a later batch asks again.
            let found = self.catalog.products(&missing).await?;
            let mut known = self.known();
            for id in missing {
                known.insert(id, found.get(&id).cloned());
            }
        }
        let known = self.known();
        Ok(ids
            .iter()
            .filter_map(|id| Some((*id, known.get(id)?.clone()?)))
            .collect())
    }
}

/// Adds a fresh set of loaders (a per-request cache) to a request's data.
pub fn add_loaders(catalog: &CatalogClient, window: BatchWindow, data: &mut async_graphql::Data) {
    data.insert(batched(CatalogLoader::new(catalog.clone()), window));
}
