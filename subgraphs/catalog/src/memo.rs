//! A product page's details in this replica's memory: its variants, options, gallery and
//! attributes, each held under the product's id AND version. Every write of those details
//! (variants' stock, prices and statuses, the gallery, the attributes) moves the product's
//! version on in the same transaction, so what is held under a version never needs
//! invalidating: a reader that has the product at version v asks for v's details, and a
//! newer version is simply another key. Details are read from PostgreSQL after the row
//! that names their version, so what is held is never older than its key. Brands are held
//! by id: no mutation changes a brand once created (add invalidation with such a mutation).

use std::collections::HashMap;
use std::hash::Hash;

use service_kit::ApiError;
use uuid::Uuid;

use crate::db::brands::BrandRow;
use crate::db::details::{AttributeRow, ImageRow};
use crate::db::variants::{OptionRow, VariantRow};

/// A product at one version: the key of its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProductVersion {
    pub id: Uuid,
    pub version: i64,
}

/// Up to `capacity` entries per kind (none when 0), shared by the requests of a replica.
#[derive(Clone, Default)]
pub struct MemoryDetails {
    pub variants: Held<ProductVersion, Vec<VariantRow>>,
    pub options: Held<ProductVersion, Vec<OptionRow>>,
    pub images: Held<ProductVersion, Vec<ImageRow>>,
    pub attributes: Held<ProductVersion, Vec<AttributeRow>>,
    pub brands: Held<Uuid, BrandRow>,
}

impl MemoryDetails {
    pub fn new(capacity: u64) -> Self {
        Self {
            variants: Held::new(capacity),
            options: Held::new(capacity),
            images: Held::new(capacity),
            attributes: Held::new(capacity),
            brands: Held::new(capacity),
        }
    }
}

/// One kind of held values.
#[derive(Clone)]
pub struct Held<K, V>(Option<moka::sync::Cache<K, V>>);

impl<K, V> Default for Held<K, V> {
    fn default() -> Self {
        Self(None)
    }
}

impl<K, V> Held<K, V>
where
    K: Hash + Eq + Copy + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(capacity: u64) -> Self {
        Self((capacity > 0).then(|| moka::sync::Cache::new(capacity)))
    }

    /// The values of `keys`: those held, the others from `load` (given the missing keys;
    /// a key it does not answer gets `V::default()` when `absent` gives one), then held.
    pub async fn get_or_load(
        &self,
        keys: &[K],
        absent: impl Fn() -> Option<V>,
        load: impl AsyncFnOnce(&[K]) -> Result<HashMap<K, V>, ApiError>,
    ) -> Result<HashMap<K, V>, ApiError> {
        let mut found: HashMap<K, V> = HashMap::new();
        let mut missing = Vec::new();
        for key in keys {
            match self.0.as_ref().and_then(|held| held.get(key)) {
                Some(value) => {
                    found.insert(*key, value);
                }
                None => missing.push(*key),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut loaded = load(&missing).await?;
        for key in missing {
            if !loaded.contains_key(&key)
                && let Some(value) = absent()
            {
                loaded.insert(key, value);
            }
            if let (Some(held), Some(value)) = (&self.0, loaded.get(&key)) {
                held.insert(key, value.clone());
            }
        }
        found.extend(loaded);
        Ok(found)
    }
}
