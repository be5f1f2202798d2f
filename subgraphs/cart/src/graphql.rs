//! The cart subgraph's GraphQL schema: the caller's `cart`, `User.cart`, and the cart
//! mutations. Lines reference `Product`; their prices, totals and availability are read from
//! the catalog on every request (one batched call), never stored here.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Guard as _, ID, Object, Result, SimpleObject};
use auth::{CallerExt as _, OwnerOnly};
use diesel_async::AsyncPgConnection;
use service_kit::ApiError;
use service_kit::money::{DEFAULT_CURRENCY, Money};
use uuid::Uuid;

use crate::db::{CartItemRow, queries};
use crate::peers::{CatalogLoader, ProductInfo};
use crate::workflows::change::{self, Change};

pub use crate::workflows::change::{MAX_LINES, MAX_QUANTITY};

/// A product of the catalog subgraph, referenced by id; the router fetches its fields there.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// A user of the user subgraph; this subgraph adds `cart`.
pub struct User {
    id: ID,
}

#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The user's cart (empty when nothing was ever added). Owner only.
    async fn cart(&self, ctx: &Context<'_>) -> Result<Option<Cart>> {
        let Ok(user_id) = Uuid::parse_str(&self.id) else {
            return Ok(None);
        };
        OwnerOnly::new(user_id).check(ctx).await?;
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(Some(load_cart(&mut conn, user_id).await?))
    }
}

/// A user's cart.
pub struct Cart {
    id: Uuid,
    items: Vec<CartItemRow>,
}

async fn products_of(ctx: &Context<'_>, items: &[CartItemRow]) -> Result<Vec<Option<ProductInfo>>> {
    let loader = ctx.data_unchecked::<DataLoader<CatalogLoader>>();
    let found = loader
        .load_many(items.iter().map(|item| item.product_id))
        .await?;
    Ok(items
        .iter()
        .map(|item| found.get(&item.product_id).cloned())
        .collect())
}

fn line_total(item: &CartItemRow, product: Option<&ProductInfo>) -> Money {
    match product {
        Some(p) => Money::new(p.price.amount * i64::from(item.quantity), &p.price.currency),
        None => Money::new(0, DEFAULT_CURRENCY),
    }
}

#[Object]
impl Cart {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Lines, oldest first.
    async fn items(&self) -> Vec<CartItem> {
        self.items.iter().cloned().map(CartItem).collect()
    }

    /// Units over all lines.
    async fn total_quantity(&self) -> i32 {
        self.items.iter().map(|item| item.quantity).sum()
    }

    /// What the lines that can be bought now cost at the catalog's current prices. `null`
    /// (with an `UNAVAILABLE` error) while the catalog cannot be reached: the cart's lines
    /// still show (the contract has `Money!`; a required field would null the whole cart).
    async fn subtotal(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let products = products_of(ctx, &self.items).await?;
        let mut currency = None;
        let mut amount = 0;
        for (item, product) in self.items.iter().zip(&products) {
            if let Some(product) = product.as_ref().filter(|p| p.available()) {
                currency.get_or_insert_with(|| product.price.currency.clone());
                amount += line_total(item, Some(product)).amount;
            }
        }
        Ok(Some(Money::new(
            amount,
            currency.unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()),
        )))
    }
}

/// One line of a cart.
pub struct CartItem(CartItemRow);

#[Object]
impl CartItem {
    /// The product, resolved by the catalog subgraph.
    async fn product(&self) -> ProductRef {
        ProductRef {
            id: ID(self.0.product_id.to_string()),
        }
    }

    /// Units of the product.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }

    /// Quantity times the catalog's current price; `null` while the catalog cannot be
    /// reached (see `Cart.subtotal`).
    async fn line_total(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let products = products_of(ctx, std::slice::from_ref(&self.0)).await?;
        Ok(Some(line_total(&self.0, products[0].as_ref())))
    }

    /// False when the product is out of stock, archived or deleted; `null` while the
    /// catalog cannot be reached.
    async fn available(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let products = products_of(ctx, std::slice::from_ref(&self.0)).await?;
        Ok(Some(
            products[0].as_ref().is_some_and(ProductInfo::available),
        ))
    }
}
/// user's (a cart created on first add gets that id too).
/// The cart of `user_id`; a user without a cart row has an empty cart whose id is the
/// user's (a cart created on first add gets that id too).
async fn load_cart(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Cart, ApiError> {
    Ok(match queries::find(conn, user_id).await? {
        Some((cart, items)) => Cart { id: cart.id, items },
        None => Cart {
            id: user_id,
            items: Vec::new(),
        },
    })
}

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

fn check_quantity(quantity: i32, min: i32) -> Result<(), ApiError> {
    if (min..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "quantity",
            format!("must be between {min} and {MAX_QUANTITY}, got {quantity}"),
        ))
    }
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
    Ok(Cart { id: cart.id, items })
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
