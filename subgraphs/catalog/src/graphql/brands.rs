//! Brands: the `Brand` type, `brands(categoryId)` and `createBrand`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::RequirePermission;
use service_kit::validate;

use crate::db::brands::BrandRow;
use crate::domain::brands::check_brand;
use crate::workflows::brands;

/// Brand or manufacturer.
pub struct Brand(pub BrandRow);

#[Object]
impl Brand {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The brand's name, unique whatever its case.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The brand's logo, an http(s) URL.
    async fn logo_url(&self) -> Option<&str> {
        self.0.logo_url.as_deref()
    }
}

/// A new brand.
#[derive(InputObject)]
pub struct BrandInput {
    /// 1 to 100 characters; unique whatever its case.
    pub name: String,
    /// An http(s) URL.
    pub logo_url: Option<String>,
    /// Categories it is offered in.
    pub category_ids: Option<Vec<ID>>,
}

/// Every brand by name, or (`categoryId`) those offered in that category or below it.
pub async fn list(ctx: &Context<'_>, category_id: Option<&ID>) -> Result<Vec<Brand>> {
    let category = category_id
        .map(|id| validate::id("categoryId", id))
        .transpose()?;
    let mut conn = service_kit::db::connection(ctx).await?;
    let rows = brands::list(&mut conn, category).await?;
    Ok(rows.into_iter().map(Brand).collect())
}

/// Brand administration.
#[derive(Default)]
pub struct BrandMutation;

#[Object]
impl BrandMutation {
    /// Adds a brand, offered in `categoryIds` (which must exist). A name taken in any case is
    /// a `CONFLICT`. Needs `catalog:brand:write`.
    #[graphql(guard = "RequirePermission(\"catalog:brand:write\")")]
    async fn create_brand(&self, ctx: &Context<'_>, input: BrandInput) -> Result<Brand> {
        let category_ids: Vec<String> = input
            .category_ids
            .unwrap_or_default()
            .into_iter()
            .map(|id| id.0)
            .collect();
        let brand = check_brand(&input.name, input.logo_url.as_deref(), &category_ids)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(Brand(brands::create(&mut conn, brand).await?))
    }
}
