//! The cart subgraph's GraphQL schema: the caller's `cart`, `User.cart`, and the cart
//! mutations. Lines reference `Product` and `ProductVariant`; their prices, totals and
//! availability are the variant's, read from the catalog on every request (one batched
//! call), never stored here.

pub mod loaders;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use auth::CallerExt as _;
use service_kit::ApiError;
use uuid::Uuid;

use crate::domain::lines::{Change, LineKey, Pick, check_quantity};
use crate::peers::CatalogClient;
use crate::workflows::{change, variants};
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

fn parse_ids(product_id: &ID, variant_id: Option<&ID>) -> Result<(Uuid, Option<Uuid>), ApiError> {
    let product = service_kit::validate::id("productId", product_id)?;
    let variant = variant_id
        .map(|id| service_kit::validate::id("variantId", id))
        .transpose()?;
    Ok((product, variant))
}

/// The variant an add or a set is about, checked with the catalog
/// ([`variants::variant_on_sale`]); the product comes through the request's loader, so the
/// cart returned reuses it.
async fn variant_on_sale(
    ctx: &Context<'_>,
    product: Uuid,
    given: Option<Uuid>,
) -> Result<LineKey, ApiError> {
    let info = ctx
        .data_unchecked::<DataLoader<CatalogLoader>>()
        .load_one(product)
        .await?;
    let catalog = ctx.data_unchecked::<CatalogClient>();
    let variant = variants::variant_on_sale(catalog, product, info.as_ref(), given).await?;
    Ok(LineKey { product, variant })
}

/// The line a removal without `variantId` means is the cart's only line of the product:
/// no catalog call, so a product the catalog no longer knows can still be removed.
fn removal(product: Uuid, given: Option<Uuid>) -> Pick {
    match given {
        Some(variant) => Pick::Variant(LineKey { product, variant }),
        None => Pick::OnlyLineOf(product),
    }
}

/// Applies `change` to the caller's cart ([`change::change_cart`]).
async fn change_cart(ctx: &Context<'_>, change: Change) -> Result<Cart> {
    let user = ctx.caller().user_id()?;
    let mut conn = service_kit::db::connection(ctx).await?;
    let (cart, items) = change::change_cart(&mut conn, user, change).await?;
    Ok(Cart::new(cart.id, items))
}

/// Cart mutations; each returns the cart as it is afterwards. A line is one variant (SKU)
/// of a product; `productId` alone means the product's only variant.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Adds `quantity` (1–999) units to the variant's line (creating it). variantId is
    /// required when the product has more than one variant. Unknown products or variants:
    /// `NOT_FOUND`; a variant of another product: `BAD_USER_INPUT`; not sold any more:
    /// `CONFLICT`; at most 100 lines.
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        quantity: i32,
        variant_id: Option<ID>,
    ) -> Result<Cart> {
        check_quantity(quantity, 1)?;
        let (product, given) = parse_ids(&product_id, variant_id.as_ref())?;
        let key = variant_on_sale(ctx, product, given).await?;
        change_cart(ctx, Change::Add(key, quantity)).await
    }

    /// Sets the line's quantity (0 removes the line, as `removeFromCart`). Without
    /// variantId: the cart's only line of the product, else the product's only variant.
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        quantity: i32,
        variant_id: Option<ID>,
    ) -> Result<Cart> {
        check_quantity(quantity, 0)?;
        let (product, given) = parse_ids(&product_id, variant_id.as_ref())?;
        if quantity == 0 {
            return change_cart(ctx, Change::Remove(removal(product, given))).await;
        }
        let given = match given {
            Some(variant) => Some(variant),
            None => {
                let user = ctx.caller().user_id()?;
                let mut conn = service_kit::db::connection(ctx).await?;
                change::line_of_product(&mut conn, user, product).await?
            }
        };
        let key = variant_on_sale(ctx, product, given).await?;
        change_cart(ctx, Change::Set(key, quantity)).await
    }

    /// Removes the variant's line (nothing happens if it is not in the cart). Without
    /// variantId: the cart's only line of the product (`BAD_USER_INPUT` when it holds
    /// several).
    async fn remove_from_cart(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        variant_id: Option<ID>,
    ) -> Result<Cart> {
        let (product, given) = parse_ids(&product_id, variant_id.as_ref())?;
        change_cart(ctx, Change::Remove(removal(product, given))).await
    }

    /// Empties the cart.
    async fn clear_cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        change_cart(ctx, Change::Clear).await
    }
}
