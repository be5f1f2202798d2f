//! The catalog's GraphQL types.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::money::Money;
use service_kit::paging::PageInfo;

use super::loaders::{CategoryLoader, ChildCategoriesLoader};
use crate::db::models::{CategoryRow, ProductRow};
use crate::domain::details::{Image, gallery};
pub use crate::domain::products::ProductStatus;

/// A node of the category tree.
pub struct Category(pub CategoryRow);

#[Object]
impl Category {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The parent category; `null` for a top-level category.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<CategoryLoader>>();
        Ok(loader.load_one(parent_id).await?.map(Category))
    }

    /// Direct sub-categories, in display order.
    // For the router's cost estimate: a category has a handful of sub-categories (the demo
    // tree at most 5), far below the default list size of 20.
    #[graphql(directive = service_kit::subgraph::list_size::apply(None, None, Some(10), None))]
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let loader = ctx.data_unchecked::<DataLoader<ChildCategoriesLoader>>();
        let rows = loader.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Category).collect())
    }
}

/// A product of the catalog; an entity other subgraphs reference by `id`.
pub struct Product(pub ProductRow);

impl Product {
    /// Whether customers may see it.
    pub fn is_visible(&self) -> bool {
        matches!(self.status(), Ok(ProductStatus::Active))
    }

    fn status(&self) -> Result<ProductStatus, ApiError> {
        ProductStatus::from_db(&self.0.status)
    }
}

#[Object]
impl Product {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Long description.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Picture of the product.
    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    /// Current price.
    async fn price(&self) -> Money {
        Money::new(self.0.price_amount, self.0.currency.clone())
    }

    /// Lifecycle status.
    #[graphql(name = "status")]
    async fn status_field(&self) -> Result<ProductStatus, ApiError> {
        self.status()
    }

    /// The category it is listed in.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(category_id) = self.0.category_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<CategoryLoader>>();
        Ok(loader.load_one(category_id).await?.map(Category))
    }

    /// The gallery in display order (`imageUrl` is the first).
    async fn images(&self, ctx: &Context<'_>) -> Result<Vec<ProductImage>> {
        let loader = ctx.data_unchecked::<DataLoader<super::loaders::ImagesLoader>>();
        let stored = loader.load_one(self.0.id).await?.unwrap_or_default();
        let images = stored
            .into_iter()
            .map(|row| Image {
                url: row.url,
                alt: row.alt,
            })
            .collect();
        Ok(gallery(self.0.image_url.as_deref(), images)
            .into_iter()
            .map(|image| ProductImage {
                url: image.url,
                alt: image.alt,
            })
            .collect())
    }

    /// Specification shared by every variant, e.g. Material: cotton.
    async fn attributes(&self, ctx: &Context<'_>) -> Result<Vec<ProductAttribute>> {
        let loader = ctx.data_unchecked::<DataLoader<super::loaders::AttributesLoader>>();
        Ok(loader
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|row| ProductAttribute {
                name: row.name,
                value: row.value,
            })
            .collect())
    }

    /// Brand or manufacturer.
    async fn brand(&self, ctx: &Context<'_>) -> Result<Option<super::brands::Brand>> {
        let Some(brand_id) = self.0.brand_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<super::loaders::BrandLoader>>();
        Ok(loader.load_one(brand_id).await?.map(super::brands::Brand))
    }

    /// At least one unit can be bought.
    async fn in_stock(&self) -> bool {
        self.0.stock > 0
    }

    /// Exact units in stock. Needs `catalog:stock:read`; everyone sees `inStock`.
    #[graphql(guard = "auth::RequirePermission(\"catalog:stock:read\")")]
    async fn stock(&self) -> Option<i32> {
        Some(self.0.stock)
    }

    /// Units sold so far.
    async fn sales_count(&self) -> i32 {
        self.0.sales_count
    }

    /// When it was added to the catalog.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A page of products.
#[derive(SimpleObject)]
pub struct ProductConnection {
    /// How many products match, over all pages.
    pub total_count: i64,
    /// Paging state.
    pub page_info: PageInfo,
    /// The products of this page.
    pub edges: Vec<ProductEdge>,
}

/// A product and its position.
#[derive(SimpleObject)]
pub struct ProductEdge {
    /// Pass as `after` to continue after this product.
    pub cursor: String,
    /// The product.
    pub node: Product,
}

/// A picture of a product's gallery.
#[derive(SimpleObject)]
pub struct ProductImage {
    /// An http(s) URL.
    pub url: String,
    /// Text for those who cannot see it.
    pub alt: Option<String>,
}

/// A specification attribute: `Material: cotton`.
#[derive(SimpleObject)]
pub struct ProductAttribute {
    pub name: String,
    pub value: String,
}
