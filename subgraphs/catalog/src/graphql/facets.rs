//! The facets of a listing (`ProductConnection.facets`) and `PriceRange`, which
//! `Product.priceRange` shares. Import `PriceRange` from here (not through
//! `graphql::listing`, which imports `graphql::types`: that would be an import cycle).
//!
//! Nothing is counted unless asked: each field of `ProductFacets` runs its own statement
//! (on its own pooled connection, alongside the others) when the query selects it.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject};
use service_kit::money::Money;

use super::brands::Brand;
use super::loaders::loaders;
use crate::db::filter::ListingConditions;
use crate::workflows::listing;

/// The lowest and highest price of a set of variants.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct PriceRange {
    /// The lowest price.
    pub min: Money,
    /// The highest price.
    pub max: Money,
}

/// Exact counts over the products that match a listing's filter. Each facet ignores its own
/// selection, so the other brands (or values) keep their counts while one is chosen.
pub struct ProductFacets {
    /// What the listing matched (its search corrected, its category looked up).
    pub(crate) conditions: Arc<ListingConditions>,
    /// The facets, when the search index counted them with the page (one pass, one
    /// snapshot); else each is counted by PostgreSQL.
    pub(crate) counted: Option<Arc<crate::domain::index::facets::FacetCounts>>,
}

#[Object]
impl ProductFacets {
    /// The brands of the matching products (counted as if no brand were chosen), most
    /// products first, then by name.
    async fn brands(&self, ctx: &Context<'_>) -> Result<Vec<BrandFacet>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let loader = loaders(ctx).brands();
        let by_id =
            async |ids: Vec<uuid::Uuid>| Ok(loader.load_many(ids).await?.into_values().collect());
        let counted =
            listing::brand_facet(&mut conn, self.counted.as_deref(), &self.conditions, by_id)
                .await?;
        Ok(counted
            .into_iter()
            .map(|c| BrandFacet {
                brand: Brand(c.item),
                count: c.count,
            })
            .collect())
    }

    /// Specification attributes and variant options of the matching products, each name
    /// counted as if none of its values were chosen (the other names still apply); names
    /// and values compared whatever their case. Most products first, then by name; at most
    /// 50 names of at most 100 values.
    async fn attributes(&self, ctx: &Context<'_>) -> Result<Vec<AttributeFacet>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let facets =
            listing::attribute_facet(&mut conn, self.counted.as_deref(), &self.conditions).await?;
        Ok(facets
            .into_iter()
            .map(|facet| AttributeFacet {
                name: facet.name,
                values: facet
                    .values
                    .into_iter()
                    .map(|v| FacetValue {
                        value: v.name,
                        count: v.count,
                    })
                    .collect(),
            })
            .collect())
    }

    /// The lowest and highest price of the matching products' active variants (as if no
    /// price bound were given); `null` when nothing matches.
    async fn price_range(&self, ctx: &Context<'_>) -> Result<Option<PriceRange>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let prices =
            listing::price_facet(&mut conn, self.counted.as_deref(), &self.conditions).await?;
        Ok(prices.map(|p| PriceRange {
            min: Money::new(p.min, p.min_currency),
            max: Money::new(p.max, p.max_currency),
        }))
    }
}

/// A brand and how many matching products it has.
#[derive(SimpleObject)]
pub struct BrandFacet {
    pub brand: Brand,
    pub count: i64,
}

/// An attribute name and its values among the matching products.
#[derive(SimpleObject)]
pub struct AttributeFacet {
    pub name: String,
    pub values: Vec<FacetValue>,
}

/// A value and how many matching products have it.
#[derive(SimpleObject)]
pub struct FacetValue {
    pub value: String,
    pub count: i64,
}
