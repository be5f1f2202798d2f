//! The catalog's root queries and the `Product` entity resolver.

use async_graphql::{Context, ID, Object, Result};
use service_kit::{ApiError, validate};
use uuid::Uuid;

use super::listing::{self, ProductConnection, ProductFilter, ProductSort};
use super::loaders::loaders;
use super::types::{Category, Product};
use crate::db::categories;

/// Most ids `productsByIds` accepts at once.
pub const MAX_IDS: usize = 100;

/// Root queries of the catalog.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// Flash sales of one status (all when omitted); `remainingQuantity` is live. Anyone
    /// may ask.
    async fn flash_sales(
        &self,
        ctx: &Context<'_>,
        status: Option<super::flash_sales::FlashSaleStatus>,
    ) -> Result<Option<Vec<super::flash_sales::FlashSale>>> {
        super::flash_sales::list(ctx, status).await.map(Some)
    }

    /// One of the caller's flash-sale purchases, to follow it from `PENDING` to
    /// `CONFIRMED` (with its order) or `REJECTED`; `NOT_FOUND` when the id is unknown or the
    /// purchase someone else's. Signed in.
    async fn flash_sale_purchase(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<super::flash_purchases::FlashSalePurchase>> {
        Ok(Some(super::flash_purchases::find(ctx, &id).await?))
    }

    /// Brands by name: all of them, or (`categoryId`) those offered in that category or any
    /// category below it (an unknown category is `BAD_USER_INPUT`). Anyone may ask.
    async fn brands(
        &self,
        ctx: &Context<'_>,
        category_id: Option<ID>,
    ) -> Result<Option<Vec<super::brands::Brand>>> {
        super::brands::list(ctx, category_id.as_ref())
            .await
            .map(Some)
    }

    /// The top-level categories; their `children` form the tree.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Option<Vec<Category>>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = categories::top_level(&mut conn)
            .await
            .map_err(ApiError::from)?;
        Ok(Some(rows.into_iter().map(Category).collect()))
    }

    /// One product on sale; `null` when the id is unknown or the product is not active.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        Ok(load_product(ctx, validate::id("id", &id)?)
            .await?
            .filter(Product::is_visible))
    }

    /// Products on sale: filtered, sorted (default newest first), `first` at a time
    /// (default 20, at most 100), with the exact number of matches in `totalCount`.
    #[graphql(directive = service_kit::subgraph::list_size::apply(Some(vec!["first".into()]), Some(vec!["edges".into()]), None, Some(false)))]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ProductFilter>,
        sort: Option<ProductSort>,
    ) -> Result<Option<ProductConnection>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(Some(
            listing::list(
                &mut conn,
                (
                    ctx.data_opt::<std::sync::Arc<crate::search_index::SearchIndex>>()
                        .cloned(),
                    ctx.data_opt::<crate::cache::ProductCache>(),
                    // Counted with the page (one pass, one snapshot) when the query asks.
                    ctx.look_ahead().field("facets").exists(),
                ),
                first,
                after.as_deref(),
                &filter.unwrap_or_default(),
                sort.unwrap_or_default(),
            )
            .await?,
        ))
    }

    /// Products on sale by id, in the order asked; `null` for unknown or inactive ids.
    /// At most 100 ids.
    #[graphql(directive = service_kit::subgraph::list_size::apply(None, None, Some(100), None))]
    async fn products_by_ids(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> Result<Option<Vec<Option<Product>>>> {
        if ids.len() > MAX_IDS {
            return Err(ApiError::bad_input(
                "ids",
                format!("at most {MAX_IDS} ids, got {}", ids.len()),
            )
            .into());
        }
        let loader = loaders(ctx).products();
        let keys: Vec<Uuid> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| validate::id(&format!("ids[{i}]"), id))
            .collect::<Result<_, _>>()?;
        let found = loader.load_many(keys.iter().copied()).await?;
        Ok(Some(
            keys.iter()
                .map(|uuid| {
                    found
                        .get(uuid)
                        .cloned()
                        .map(Product)
                        .filter(Product::is_visible)
                })
                .collect(),
        ))
    }

    /// One variant (SKU) on sale; `null` when the id is unknown or it or its product is not
    /// active.
    async fn product_variant(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<super::types::ProductVariant>> {
        let Some(variant) = super::variants::load_variant(ctx, validate::id("id", &id)?).await?
        else {
            return Ok(None);
        };
        Ok(variant.is_visible(ctx).await?.then_some(variant))
    }

    /// Resolves `ProductVariant` references from other subgraphs (cart and order lines),
    /// in batches, whatever the variant's status.
    #[graphql(entity)]
    async fn find_variant_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<super::types::ProductVariant>> {
        match Uuid::parse_str(&id) {
            Ok(uuid) => super::variants::load_variant(ctx, uuid).await,
            Err(_) => Ok(None),
        }
    }

    /// Resolves `Product` references from other subgraphs (cart lines, order lines), in
    /// batches, whatever the product's status.
    #[graphql(entity)]
    async fn find_product_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        // A reference comes from another subgraph's data, not from a client's argument: one
        // that names no product (malformed or unknown) resolves to null in place.
        match Uuid::parse_str(&id) {
            Ok(uuid) => load_product(ctx, uuid).await,
            Err(_) => Ok(None),
        }
    }
}

pub(crate) async fn load_product(ctx: &Context<'_>, uuid: Uuid) -> Result<Option<Product>> {
    let loader = loaders(ctx).products();
    Ok(loader.load_one(uuid).await?.map(Product))
}
