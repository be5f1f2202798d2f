//! The cart's GraphQL types: `User.cart`, `Cart`, its lines and the `Product` and
//! `ProductVariant` they reference.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Guard as _, ID, Object, Result, SimpleObject};
use auth::OwnerOnly;
use diesel_async::AsyncPgConnection;
use service_kit::ApiError;
use service_kit::money::{DEFAULT_CURRENCY, Money};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::loaders::CatalogLoader;
use crate::db::{CartItemRow, queries};
use crate::peers::{ProductInfo, VariantInfo};

/// A product of the catalog subgraph, referenced by id; the router fetches its fields there.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// A variant (SKU) of the catalog subgraph, referenced by id; the router fetches its fields
/// there.
#[derive(SimpleObject)]
#[graphql(name = "ProductVariant", unresolvable = "id")]
pub struct VariantRef {
    /// The variant's id.
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
    products: Arc<CartProducts>,
}

impl Cart {
    /// Cart `id` holding `items`.
    pub fn new(id: Uuid, items: Vec<CartItemRow>) -> Self {
        let products = Arc::new(CartProducts {
            ids: items.iter().map(|item| item.product_id).collect(),
            answer: OnceCell::new(),
        });
        Self {
            id,
            items,
            products,
        }
    }
}

/// The catalog's current data for the products of one cart, asked once (through the
/// request's loader, so several carts still share a call) and shared by the subtotal and
/// every line: resolvers that run in separate batches make no second call, and all read
/// the same answer. A failure is shared too (one try per cart and request, not one per
/// field while the catalog is down).
struct CartProducts {
    ids: Vec<Uuid>,
    answer: OnceCell<Result<HashMap<Uuid, ProductInfo>, ApiError>>,
}

impl CartProducts {
    async fn get(&self, ctx: &Context<'_>) -> Result<&HashMap<Uuid, ProductInfo>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<CatalogLoader>>();
        self.answer
            .get_or_init(|| loader.load_many(self.ids.iter().copied()))
            .await
            .as_ref()
            .map_err(ApiError::clone)
    }
}

/// The line's variant as the catalog has it now (none: the catalog does not list it).
fn variant_of<'a>(item: &CartItemRow, product: Option<&'a ProductInfo>) -> Option<&'a VariantInfo> {
    product.and_then(|p| p.variant(item.variant_id))
}

/// Quantity times the variant's current price; 0 for a variant the catalog does not list.
fn line_total(item: &CartItemRow, product: Option<&ProductInfo>) -> Money {
    match variant_of(item, product) {
        Some(v) => Money::new(v.price.amount * i64::from(item.quantity), &v.price.currency),
        None => Money::new(0, DEFAULT_CURRENCY),
    }
}

/// The line can be bought now (see [`ProductInfo::available`]).
fn available(item: &CartItemRow, product: Option<&ProductInfo>) -> bool {
    product.is_some_and(|p| p.available(item.variant_id))
}

#[Object]
impl Cart {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Lines, oldest first.
    async fn items(&self) -> Vec<CartItem> {
        self.items
            .iter()
            .map(|row| CartItem {
                row: row.clone(),
                products: self.products.clone(),
            })
            .collect()
    }

    /// Units over all lines.
    async fn total_quantity(&self) -> i32 {
        self.items.iter().map(|item| item.quantity).sum()
    }

    /// What the lines that can be bought now cost at the catalog's current prices. `null`
    /// (with an `UNAVAILABLE` error) while the catalog cannot be reached: the cart's lines
    /// still show (the contract has `Money!`; a required field would null the whole cart).
    async fn subtotal(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let products = self.products.get(ctx).await?;
        let mut currency = None;
        let mut amount = 0;
        for item in &self.items {
            let product = products.get(&item.product_id);
            if available(item, product) {
                let total = line_total(item, product);
                currency.get_or_insert(total.currency);
                amount += total.amount;
            }
        }
        Ok(Some(Money::new(
            amount,
            currency.unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()),
        )))
    }
}

/// One line of a cart.
pub struct CartItem {
    row: CartItemRow,
    /// Its cart's products (see [`CartProducts`]).
    products: Arc<CartProducts>,
}

impl CartItem {
    /// The line's product as the catalog has it now (none: unknown).
    async fn product_info(&self, ctx: &Context<'_>) -> Result<Option<&ProductInfo>, ApiError> {
        Ok(self.products.get(ctx).await?.get(&self.row.product_id))
    }
}

#[Object]
impl CartItem {
    /// The product, resolved by the catalog subgraph.
    async fn product(&self) -> ProductRef {
        ProductRef {
            id: ID(self.row.product_id.to_string()),
        }
    }

    /// The variant (SKU), resolved by the catalog subgraph (`null` when it no longer knows
    /// it).
    async fn variant(&self) -> Option<VariantRef> {
        Some(VariantRef {
            id: ID(self.row.variant_id.to_string()),
        })
    }

    /// Units of the variant.
    async fn quantity(&self) -> i32 {
        self.row.quantity
    }

    /// Quantity times the variant's current price; `null` while the catalog cannot be
    /// reached (see `Cart.subtotal`).
    async fn line_total(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let product = self.product_info(ctx).await?;
        Ok(Some(line_total(&self.row, product)))
    }

    /// False when the variant is out of stock, it or its product is not on sale, or the
    /// catalog no longer lists it; `null` while the catalog cannot be reached.
    async fn available(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let product = self.product_info(ctx).await?;
        Ok(Some(available(&self.row, product)))
    }
}

/// The cart of `user_id`; a user without a cart row has an empty cart whose id is the
/// user's (a cart created on first add gets that id too).
pub async fn load_cart(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Cart, ApiError> {
    Ok(match queries::find(conn, user_id).await? {
        Some((cart, items)) => Cart::new(cart.id, items),
        None => Cart::new(user_id, Vec::new()),
    })
}
