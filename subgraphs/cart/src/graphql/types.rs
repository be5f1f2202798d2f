//! The cart's GraphQL types: `User.cart`, `Cart`, its lines and the `Product` they reference.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Guard as _, ID, Object, Result, SimpleObject};
use auth::OwnerOnly;
use diesel_async::AsyncPgConnection;
use service_kit::ApiError;
use service_kit::money::{DEFAULT_CURRENCY, Money};
use uuid::Uuid;

use super::loaders::CatalogLoader;
use crate::db::{CartItemRow, queries};
use crate::peers::ProductInfo;

/// A product of the catalog subgraph, referenced by id; the router fetches its fields there.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// A user of the user subgraph; this subgraph adds `cart`.
pub struct User {
    pub id: ID,
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

impl Cart {
    /// Cart `id` holding `items`.
    pub fn new(id: Uuid, items: Vec<CartItemRow>) -> Self {
        Self { id, items }
    }
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

/// The cart of `user_id`; a user without a cart row has an empty cart whose id is the
/// user's (a cart created on first add gets that id too).
pub async fn load_cart(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Cart, ApiError> {
    Ok(match queries::find(conn, user_id).await? {
        Some((cart, items)) => Cart { id: cart.id, items },
        None => Cart {
            id: user_id,
            items: Vec::new(),
        },
    })
}
