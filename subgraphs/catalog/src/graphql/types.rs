//! The catalog's GraphQL types.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::money::Money;

use super::loaders::loaders;
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::variants::VariantRow;
use crate::domain::details::{Image, gallery};
pub use crate::domain::products::ProductStatus;
use crate::domain::variants::variant_name;

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
        let loader = loaders(ctx).categories();
        Ok(loader.load_one(parent_id).await?.map(Category))
    }

    /// Direct sub-categories, in display order.
    // For the router's cost estimate: a category has a handful of sub-categories (the demo
    // tree at most 5), far below the default list size of 20.
    #[graphql(directive = service_kit::subgraph::list_size::apply(None, None, Some(10), None))]
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let loader = loaders(ctx).child_categories();
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

    /// The key of its details at this version.
    fn version(&self) -> crate::memo::ProductVersion {
        crate::memo::ProductVersion {
            id: self.0.id,
            version: self.0.version,
        }
    }

    /// Its variants, in display order (batched per request).
    pub async fn variant_rows(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::db::variants::VariantRow>> {
        let loader = loaders(ctx).variants();
        Ok(loader.load_one(self.version()).await?.unwrap_or_default())
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
        let loader = loaders(ctx).categories();
        Ok(loader.load_one(category_id).await?.map(Category))
    }

    /// The gallery in display order (`imageUrl` is the first).
    async fn images(&self, ctx: &Context<'_>) -> Result<Vec<ProductImage>> {
        let loader = loaders(ctx).images();
        let stored = loader.load_one(self.version()).await?.unwrap_or_default();
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
        let loader = loaders(ctx).attributes();
        Ok(loader
            .load_one(self.version())
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
        let loader = loaders(ctx).brands();
        Ok(loader.load_one(brand_id).await?.map(super::brands::Brand))
    }

    /// The sales options the variants differ in, e.g. Color: red, blue; Size: S, M, L.
    async fn options(&self, ctx: &Context<'_>) -> Result<Vec<ProductOption>> {
        let loader = loaders(ctx).options();
        Ok(loader
            .load_one(self.version())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|row| ProductOption {
                name: row.name,
                values: row.values,
            })
            .collect())
    }

    /// Every sellable unit (SKU), in display order. A product without options has exactly
    /// one. `price` is the lowest active variant's, `inStock` any variant's, `stock` their
    /// sum.
    // For the router's cost estimate: a handful of variants per product, not 20.
    #[graphql(directive = service_kit::subgraph::list_size::apply(None, None, Some(12), None))]
    async fn variants(&self, ctx: &Context<'_>) -> Result<Vec<ProductVariant>> {
        Ok(self
            .variant_rows(ctx)
            .await?
            .into_iter()
            .map(ProductVariant)
            .collect())
    }

    /// The lowest and highest price of its active variants (its price alone when none is
    /// active).
    async fn price_range(&self, ctx: &Context<'_>) -> Result<super::facets::PriceRange> {
        let active: Vec<i64> = self
            .variant_rows(ctx)
            .await?
            .iter()
            .filter(|v| v.status == "ACTIVE")
            .map(|v| v.price_amount)
            .collect();
        let money = |amount| Money::new(amount, self.0.currency.clone());
        Ok(super::facets::PriceRange {
            min: money(active.iter().copied().min().unwrap_or(self.0.price_amount)),
            max: money(active.iter().copied().max().unwrap_or(self.0.price_amount)),
        })
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

/// One sellable unit of a product (SKU); an entity other subgraphs reference by `id`.
pub struct ProductVariant(pub VariantRow);

impl ProductVariant {
    async fn product_row(&self, ctx: &Context<'_>) -> Result<crate::db::models::ProductRow> {
        let loader = loaders(ctx).products();
        loader
            .load_one(self.0.product_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("product".into()).into())
    }

    /// Whether customers may see it: it and its product are active.
    pub async fn is_visible(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.0.status == "ACTIVE" && Product(self.product_row(ctx).await?).is_visible())
    }
}

#[Object]
impl ProductVariant {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Stock keeping unit code, unique.
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    /// The product it is a variant of.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        Ok(Product(self.product_row(ctx).await?))
    }

    /// The option values joined, e.g. "Red / M"; the product's name when it has no options.
    async fn name(&self, ctx: &Context<'_>) -> Result<String> {
        let options = self.0.selected_options();
        if options.is_empty() {
            return Ok(self.product_row(ctx).await?.name);
        }
        Ok(variant_name(&options, ""))
    }

    /// One value for each of the product's options.
    async fn options(&self) -> Vec<SelectedOption> {
        self.0
            .selected_options()
            .into_iter()
            .map(|o| SelectedOption {
                name: o.name,
                value: o.value,
            })
            .collect()
    }

    /// Current price.
    async fn price(&self, ctx: &Context<'_>) -> Result<Money> {
        let currency = self.product_row(ctx).await?.currency;
        Ok(Money::new(self.0.price_amount, currency))
    }

    /// Its own picture, if it has one (else the product's).
    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    /// Lifecycle status.
    async fn status(&self) -> Result<ProductStatus, ApiError> {
        ProductStatus::from_db(&self.0.status)
    }

    /// At least one unit can be bought.
    async fn in_stock(&self) -> bool {
        self.0.stock > 0 && self.0.status == "ACTIVE"
    }

    /// Exact units in stock. Needs `catalog:stock:read`; everyone sees `inStock`.
    #[graphql(guard = "auth::RequirePermission(\"catalog:stock:read\")")]
    async fn stock(&self) -> Option<i32> {
        Some(self.0.stock)
    }
}

/// An option value of a variant: `Color: Red`.
#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct SelectedOption {
    pub name: String,
    pub value: String,
}

/// A sales option of a product and its values in display order: `Size: S, M, L`.
#[derive(SimpleObject)]
pub struct ProductOption {
    pub name: String,
    pub values: Vec<String>,
}
