//! The cart subgraph's GraphQL schema: the caller's `cart`, `User.cart`, and the cart
//! mutations. Lines reference `Product`; their prices, totals and availability are read from
//! the catalog on every request (one batched call), never stored here.

pub mod loaders;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use auth::CallerExt as _;
use service_kit::ApiError;
use uuid::Uuid;

use crate::domain::lines::{Change, check_quantity};
use crate::workflows::change;
use loaders::CatalogLoader;
use types::{Cart, User, load_cart};

/// Root queries of the cart subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user's cart (`null` only when the cart service fails: see
    /// docs/operations.md, "Degradation").
    async fn cart(&self, ctx: &Context<'_>) -> Result<Option<Cart>> {
        let user = ctx.caller().user_id()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(Some(load_cart(&mut conn, user).await?))
    }

    /// Lets the router ask this subgraph for `User.cart`.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

fn parse_product_id(id: &str) -> Result<Uuid, ApiError> {
    service_kit::validate::id("productId", id)
}

/// The product must exist (`NOT_FOUND`) and be on sale (`CONFLICT`).
async fn check_product(ctx: &Context<'_>, id: Uuid) -> Result<(), ApiError> {
    let loader = ctx.data_unchecked::<DataLoader<CatalogLoader>>();
    match loader.load_one(id).await? {
        None => Err(ApiError::NotFound("product".into())),
        Some(product) if product.status != "ACTIVE" => {
            Err(ApiError::Conflict("this product is no longer sold".into()))
        }
        Some(_) => Ok(()),
    }
}

/// Applies `change` to the caller's cart ([`change::change_cart`]).
async fn change_cart(ctx: &Context<'_>, product: Option<Uuid>, change: Change) -> Result<Cart> {
    let user = ctx.caller().user_id()?;
    let mut conn = service_kit::db::connection(ctx).await?;
    let (cart, items) = change::change_cart(&mut conn, user, product, change).await?;
    Ok(Cart::new(cart.id, items))
}

/// Cart mutations; each returns the cart as it is afterwards.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Adds `quantity` (1–999) units to the product's line (creating it). Unknown products:
    /// `NOT_FOUND`; products no longer sold: `CONFLICT`; at most 100 lines.
    async fn add_to_cart(&self, ctx: &Context<'_>, product_id: ID, quantity: i32) -> Result<Cart> {
        check_quantity(quantity, 1)?;
        let product = parse_product_id(&product_id)?;
        check_product(ctx, product).await?;
        change_cart(ctx, Some(product), Change::Add(quantity)).await
    }

    /// Sets the line's quantity (0 removes the line).
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        quantity: i32,
    ) -> Result<Cart> {
        check_quantity(quantity, 0)?;
        let product = parse_product_id(&product_id)?;
        if quantity > 0 {
            check_product(ctx, product).await?;
        }
        change_cart(ctx, Some(product), Change::Set(quantity)).await
    }

    /// Removes the product's line (nothing happens if it is not in the cart).
    async fn remove_from_cart(&self, ctx: &Context<'_>, product_id: ID) -> Result<Cart> {
        let product = parse_product_id(&product_id)?;
        change_cart(ctx, Some(product), Change::Remove).await
    }

    /// Empties the cart.
    async fn clear_cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        change_cart(ctx, None, Change::Clear).await
    }
}
