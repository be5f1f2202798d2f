//! DataLoaders: every product or category lookup of one request goes through these, so N
//! lookups cost one `= ANY($1)` query per batch.

use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql::dataloader::{DataLoader, Loader};
use service_kit::answers::AnswerReads;
use service_kit::loader::{BatchWindow, batched, group_by};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::cache::{MemoryCategories, ProductCache};
use crate::db::brands::{self, BrandRow};
use crate::db::details::{self, AttributeRow, ImageRow};
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::variants::{self, OptionRow, VariantRow};
use crate::db::{categories, products};
use crate::memo::{MemoryDetails, ProductVersion};

/// Products by id, any status (orders and carts keep pointing at archived products): from
/// the Redis cache, and the misses in one PostgreSQL query. Each row's version is noted in
/// the request's reads (an id not found: an answer not to keep).
pub struct ProductLoader {
    pub db: DbPool,
    pub cache: ProductCache,
    pub reads: AnswerReads,
}

impl Loader<Uuid> for ProductLoader {
    type Value = ProductRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, ProductRow>, ApiError> {
        let ticket = self.cache.read_ticket();
        let mut found = self.cache.get_many(ids).await;
        let misses = missing(ids, &found);
        if !misses.is_empty() {
            let mut conn = self.db.get().await?;
            let rows = products::by_ids(&mut conn, &misses).await?;
            self.cache.fill(&rows, ticket).await;
            found.extend(rows.into_iter().map(|row| (row.id, row)));
        }
        for id in ids {
            match found.get(id) {
                Some(row) => self.reads.versioned(row.id, row.version),
                None => self.reads.unversioned(),
            }
        }
        Ok(found)
    }
}

/// The ids a cache did not have.
fn missing<T>(ids: &[Uuid], found: &HashMap<Uuid, T>) -> Vec<Uuid> {
    ids.iter()
        .filter(|id| !found.contains_key(id))
        .copied()
        .collect()
}

/// Categories by id: from this replica's memory, the rest in one PostgreSQL query.
pub struct CategoryLoader {
    pub db: DbPool,
    pub memory: MemoryCategories,
}

impl Loader<Uuid> for CategoryLoader {
    type Value = CategoryRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, CategoryRow>, ApiError> {
        let mut found = self.memory.get_many(ids);
        let misses = missing(ids, &found);
        if misses.is_empty() {
            return Ok(found);
        }
        let mut conn = self.db.get().await?;
        let rows = categories::by_ids(&mut conn, &misses).await?;
        self.memory.keep(&rows);
        found.extend(rows.into_iter().map(|row| (row.id, row)));
        Ok(found)
    }
}

/// The children of categories, by parent id, in display order. A new category adds to
/// them: an answer that read them is not kept.
pub struct ChildCategoriesLoader(pub DbPool, pub AnswerReads);

impl Loader<Uuid> for ChildCategoriesLoader {
    type Value = Vec<CategoryRow>;
    type Error = ApiError;

    async fn load(&self, parent_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<CategoryRow>>, ApiError> {
        self.1.unversioned();
        let mut conn = self.0.get().await?;
        let rows = categories::children_of(&mut conn, parent_ids).await?;
        // Every row has a parent: only children of the ids asked were loaded.
        Ok(group_by(rows, |row| row.parent_id)
            .into_iter()
            .filter_map(|(parent, children)| Some((parent?, children)))
            .collect())
    }
}

/// Brands by id: from this replica's memory, the rest in one PostgreSQL query.
pub struct BrandLoader(pub DbPool, pub MemoryDetails);

impl Loader<Uuid> for BrandLoader {
    type Value = BrandRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, BrandRow>, ApiError> {
        self.1
            .brands
            .get_or_load(
                ids,
                || None,
                async |ids| {
                    let mut conn = self.0.get().await?;
                    let rows = brands::by_ids(&mut conn, ids).await?;
                    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
                },
            )
            .await
    }
}

/// The product ids of `keys`.
fn ids_of(keys: &[ProductVersion]) -> Vec<Uuid> {
    keys.iter().map(|key| key.id).collect()
}

/// Rows of the products `keys` name, grouped under their keys.
fn by_version<T>(
    keys: &[ProductVersion],
    rows: Vec<T>,
    product: impl Fn(&T) -> Uuid,
) -> HashMap<ProductVersion, Vec<T>> {
    let mut grouped = group_by(rows, product);
    keys.iter()
        .map(|key| (*key, grouped.remove(&key.id).unwrap_or_default()))
        .collect()
}

/// The galleries of products, by product id, in display order at a version (this replica's memory first).
pub struct ImagesLoader(pub DbPool, pub MemoryDetails);

impl Loader<ProductVersion> for ImagesLoader {
    type Value = Vec<ImageRow>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[ProductVersion],
    ) -> Result<HashMap<ProductVersion, Vec<ImageRow>>, ApiError> {
        self.1
            .images
            .get_or_load(
                keys,
                || Some(Vec::new()),
                async |keys| {
                    let mut conn = self.0.get().await?;
                    let rows = details::images_of(&mut conn, &ids_of(keys)).await?;
                    Ok(by_version(keys, rows, |row| row.product_id))
                },
            )
            .await
    }
}

/// The specification attributes of products, by product id, in display order at a version (this replica's memory first).
pub struct AttributesLoader(pub DbPool, pub MemoryDetails);

impl Loader<ProductVersion> for AttributesLoader {
    type Value = Vec<AttributeRow>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[ProductVersion],
    ) -> Result<HashMap<ProductVersion, Vec<AttributeRow>>, ApiError> {
        self.1
            .attributes
            .get_or_load(
                keys,
                || Some(Vec::new()),
                async |keys| {
                    let mut conn = self.0.get().await?;
                    let rows = details::attributes_of(&mut conn, &ids_of(keys)).await?;
                    Ok(by_version(keys, rows, |row| row.product_id))
                },
            )
            .await
    }
}

/// Variants by id, any status (read without their product's version: an answer that read
/// them is not kept).
pub struct VariantLoader(pub DbPool, pub AnswerReads);

impl Loader<Uuid> for VariantLoader {
    type Value = VariantRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, VariantRow>, ApiError> {
        self.1.unversioned();
        let mut conn = self.0.get().await?;
        let rows = variants::by_ids(&mut conn, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// The variants of products, by product id, in display order at a version (this replica's memory first).
pub struct VariantsLoader(pub DbPool, pub MemoryDetails);

impl Loader<ProductVersion> for VariantsLoader {
    type Value = Vec<VariantRow>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[ProductVersion],
    ) -> Result<HashMap<ProductVersion, Vec<VariantRow>>, ApiError> {
        self.1
            .variants
            .get_or_load(
                keys,
                || Some(Vec::new()),
                async |keys| {
                    let mut conn = self.0.get().await?;
                    let rows = variants::of_products(&mut conn, &ids_of(keys)).await?;
                    Ok(by_version(keys, rows, |row| row.product_id))
                },
            )
            .await
    }
}

/// The sales options of products, by product id, in display order at a version (this replica's memory first).
pub struct OptionsLoader(pub DbPool, pub MemoryDetails);

impl Loader<ProductVersion> for OptionsLoader {
    type Value = Vec<OptionRow>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[ProductVersion],
    ) -> Result<HashMap<ProductVersion, Vec<OptionRow>>, ApiError> {
        self.1
            .options
            .get_or_load(
                keys,
                || Some(Vec::new()),
                async |keys| {
                    let mut conn = self.0.get().await?;
                    let rows = variants::options_of(&mut conn, &ids_of(keys)).await?;
                    Ok(by_version(keys, rows, |row| row.product_id))
                },
            )
            .await
    }
}

/// The stores and caches the loaders read.
pub type LoaderSources = (ProductCache, MemoryCategories, MemoryDetails);

/// Adds the request's loaders (a per-request cache, [`Loaders`]) to its data, and what they
/// read (`service_kit::answers`).
pub fn add_loaders(
    db: &DbPool,
    sources: &LoaderSources,
    window: BatchWindow,
    data: &mut async_graphql::Data,
) {
    let reads = AnswerReads::default();
    data.insert(reads.clone());
    data.insert(Loaders {
        db: db.clone(),
        sources: sources.clone(),
        window,
        reads,
        products: OnceLock::new(),
        categories: OnceLock::new(),
        child_categories: OnceLock::new(),
        brands: OnceLock::new(),
        images: OnceLock::new(),
        attributes: OnceLock::new(),
        variant: OnceLock::new(),
        variants: OnceLock::new(),
        options: OnceLock::new(),
    });
}

/// A request's loaders, each made when the request first needs it: most requests use one
/// or two of them, a flash-sale purchase none, and making all nine for every request was
/// a measurable share of a purchase's time (benches/README.md).
pub struct Loaders {
    db: DbPool,
    sources: LoaderSources,
    window: BatchWindow,
    reads: AnswerReads,
    products: OnceLock<DataLoader<ProductLoader>>,
    categories: OnceLock<DataLoader<CategoryLoader>>,
    child_categories: OnceLock<DataLoader<ChildCategoriesLoader>>,
    brands: OnceLock<DataLoader<BrandLoader>>,
    images: OnceLock<DataLoader<ImagesLoader>>,
    attributes: OnceLock<DataLoader<AttributesLoader>>,
    variant: OnceLock<DataLoader<VariantLoader>>,
    variants: OnceLock<DataLoader<VariantsLoader>>,
    options: OnceLock<DataLoader<OptionsLoader>>,
}

/// The loaders of the request `ctx` belongs to.
pub fn loaders<'a>(ctx: &async_graphql::Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

impl Loaders {
    fn made<'a, T: Send + Sync + 'static>(
        &self,
        cell: &'a OnceLock<DataLoader<T>>,
        loader: impl FnOnce() -> T,
    ) -> &'a DataLoader<T> {
        cell.get_or_init(|| batched(loader(), self.window))
    }

    pub fn products(&self) -> &DataLoader<ProductLoader> {
        self.made(&self.products, || ProductLoader {
            db: self.db.clone(),
            cache: self.sources.0.clone(),
            reads: self.reads.clone(),
        })
    }

    pub fn categories(&self) -> &DataLoader<CategoryLoader> {
        self.made(&self.categories, || CategoryLoader {
            db: self.db.clone(),
            memory: self.sources.1.clone(),
        })
    }

    pub fn child_categories(&self) -> &DataLoader<ChildCategoriesLoader> {
        self.made(&self.child_categories, || {
            ChildCategoriesLoader(self.db.clone(), self.reads.clone())
        })
    }

    pub fn brands(&self) -> &DataLoader<BrandLoader> {
        self.made(&self.brands, || {
            BrandLoader(self.db.clone(), self.sources.2.clone())
        })
    }

    pub fn images(&self) -> &DataLoader<ImagesLoader> {
        self.made(&self.images, || {
            ImagesLoader(self.db.clone(), self.sources.2.clone())
        })
    }

    pub fn attributes(&self) -> &DataLoader<AttributesLoader> {
        self.made(&self.attributes, || {
            AttributesLoader(self.db.clone(), self.sources.2.clone())
        })
    }

    pub fn variant(&self) -> &DataLoader<VariantLoader> {
        self.made(&self.variant, || {
            VariantLoader(self.db.clone(), self.reads.clone())
        })
    }

    pub fn variants(&self) -> &DataLoader<VariantsLoader> {
        self.made(&self.variants, || {
            VariantsLoader(self.db.clone(), self.sources.2.clone())
        })
    }

    pub fn options(&self) -> &DataLoader<OptionsLoader> {
        self.made(&self.options, || {
            OptionsLoader(self.db.clone(), self.sources.2.clone())
        })
    }
}
