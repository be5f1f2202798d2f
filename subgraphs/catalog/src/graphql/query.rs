//! The catalog's root queries and the `Product` entity resolver.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use super::loaders::ProductLoader;
use super::types::{Category, Product, ProductConnection, ProductEdge, ProductStatus};
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::schema::{categories, products};

/// Most ids `productsByIds` accepts at once.
pub const MAX_IDS: usize = 100;

/// Position of a product in the newest-first listing.
type NewestCursor = (DateTime<Utc>, Uuid);

/// Root queries of the catalog.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// The top-level categories; their `children` form the tree.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let mut conn = ctx
            .data_unchecked::<DbPool>()
            .get()
            .await
            .map_err(ApiError::from)?;
        let rows = categories::table
            .filter(categories::parent_id.is_null())
            .order((categories::position, categories::name))
            .select(CategoryRow::as_select())
            .load(&mut conn)
            .await
            .map_err(ApiError::from)?;
        Ok(rows.into_iter().map(Category).collect())
    }

    /// One product on sale; `null` when the id is unknown or the product is not active.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        Ok(load_product(ctx, &id).await?.filter(Product::is_visible))
    }

    /// Products on sale, newest first, `first` at a time (default 20, at most 100).
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProductConnection> {
        let page = PageRequest::<NewestCursor>::parse(first, after.as_deref())?;
        let mut conn = ctx
            .data_unchecked::<DbPool>()
            .get()
            .await
            .map_err(ApiError::from)?;

        let visible = products::status.eq(ProductStatus::Active.as_db());
        let mut query = products::table
            .filter(visible)
            .order((products::created_at.desc(), products::id.desc()))
            .limit(page.limit + 1)
            .select(ProductRow::as_select())
            .into_boxed();
        if let Some((created_at, id)) = page.after {
            query = query.filter(
                products::created_at
                    .lt(created_at)
                    .or(products::created_at.eq(created_at).and(products::id.lt(id))),
            );
        }
        let mut rows = query.load(&mut conn).await.map_err(ApiError::from)?;
        let total_count: i64 = products::table
            .filter(visible)
            .count()
            .get_result(&mut conn)
            .await
            .map_err(ApiError::from)?;

        let has_next_page = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let edges: Vec<ProductEdge> = rows
            .into_iter()
            .map(|row| ProductEdge {
                cursor: encode_cursor(&(row.created_at, row.id)),
                node: Product(row),
            })
            .collect();
        Ok(ProductConnection {
            total_count,
            page_info: PageInfo {
                has_next_page,
                has_previous_page: page.after.is_some(),
                start_cursor: <[ProductEdge]>::first(&edges).map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// Products on sale by id, in the order asked; `null` for unknown or inactive ids.
    /// At most 100 ids.
    async fn products_by_ids(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> Result<Vec<Option<Product>>> {
        if ids.len() > MAX_IDS {
            return Err(ApiError::bad_input(
                "ids",
                format!("at most {MAX_IDS} ids, got {}", ids.len()),
            )
            .into());
        }
        let loader = ctx.data_unchecked::<DataLoader<ProductLoader>>();
        let keys: Vec<Uuid> = ids.iter().filter_map(parse_id).collect();
        let found = loader.load_many(keys).await?;
        Ok(ids
            .iter()
            .map(|id| {
                parse_id(id)
                    .and_then(|uuid| found.get(&uuid).cloned())
                    .map(Product)
                    .filter(Product::is_visible)
            })
            .collect())
    }

    /// Resolves `Product` references from other subgraphs (cart lines, order lines), in
    /// batches, whatever the product's status.
    #[graphql(entity)]
    async fn find_product_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        load_product(ctx, &id).await
    }
}

async fn load_product(ctx: &Context<'_>, id: &ID) -> Result<Option<Product>> {
    let Some(uuid) = parse_id(id) else {
        return Ok(None);
    };
    let loader = ctx.data_unchecked::<DataLoader<ProductLoader>>();
    Ok(loader.load_one(uuid).await?.map(Product))
}

/// Ids are UUIDs; anything else names no product.
fn parse_id(id: &ID) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}
