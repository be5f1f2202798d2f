//! The cart subgraph's GraphQL schema: `User.cart`, with lines that reference `Product`.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{CartItemRow, CartRow, cart_items, carts};

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

    /// The user's cart (empty when nothing was ever added).
    async fn cart(&self, ctx: &Context<'_>) -> Result<Option<Cart>> {
        let Ok(user_id) = Uuid::parse_str(&self.id) else {
            return Ok(None);
        };
        Ok(Some(
            load_cart(ctx.data_unchecked::<DbPool>(), user_id).await?,
        ))
    }
}

/// A user's cart.
pub struct Cart {
    id: Uuid,
    items: Vec<CartItemRow>,
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
}

/// The cart of `user_id`; a user without a cart row has an empty cart whose id is the
/// user's (the row is created on first add).
async fn load_cart(db: &DbPool, user_id: Uuid) -> Result<Cart, ApiError> {
    let mut conn = db.get().await?;
    let cart: Option<CartRow> = carts::table
        .filter(carts::user_id.eq(user_id))
        .select(CartRow::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let Some(cart) = cart else {
        return Ok(Cart {
            id: user_id,
            items: Vec::new(),
        });
    };
    let items = cart_items::table
        .filter(cart_items::cart_id.eq(cart.id))
        .order((cart_items::added_at, cart_items::product_id))
        .select(CartItemRow::as_select())
        .load(&mut conn)
        .await?;
    Ok(Cart { id: cart.id, items })
}

/// Root queries of the cart subgraph. The caller's own `cart` query arrives with
/// authentication; until then carts are reached through `User.cart`.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// Lets the router ask this subgraph for `User.cart`.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}
