//! Changing a cart: one transaction under a row lock on the cart, so that concurrent
//! changes of one cart take turns and none is lost; taking out what an order bought.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use peer_api::CheckedOut;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{CartItemRow, CartRow, queries};
use crate::domain::lines::{Change, MAX_LINES, wanted_quantity};

/// Applies `change` (to `product`'s line, or to every line for `Clear`) to `user`'s cart,
/// creating the cart on first use; the cart's rows as they are afterwards.
pub async fn change_cart(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    product: Option<Uuid>,
    change: Change,
) -> Result<(CartRow, Vec<CartItemRow>), ApiError> {
    conn.transaction(async |conn| {
        let now = Utc::now();
        queries::create(
            conn,
            CartRow {
                id: user,
                user_id: user,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        let cart = queries::lock(conn, user).await?;
        match (change, product) {
            (Change::Clear, _) => queries::clear(conn, cart).await?,
            (Change::Remove, Some(product)) | (Change::Set(0), Some(product)) => {
                queries::remove_line(conn, cart, product).await?;
            }
            (Change::Add(quantity) | Change::Set(quantity), Some(product)) => {
                let adding = matches!(change, Change::Add(_));
                let current = queries::quantity(conn, cart, product).await?;
                let wanted = wanted_quantity(current, quantity, adding)?;
                if current.is_some() {
                    queries::set_quantity(conn, cart, product, wanted).await?;
                } else {
                    if queries::count_lines(conn, cart).await? >= MAX_LINES {
                        return Err(ApiError::Conflict(format!(
                            "a cart holds at most {MAX_LINES} different products"
                        )));
                    }
                    let line = CartItemRow {
                        cart_id: cart,
                        product_id: product,
                        quantity: wanted,
                        added_at: now,
                    };
                    queries::add_line(conn, line).await?;
                }
            }
            (_, None) => return Err(ApiError::Internal),
        }
        queries::touch(conn, cart, now).await?;
        queries::find(conn, user).await?.ok_or(ApiError::Internal)
    })
    .await
}

/// Takes what `order` bought out of its buyer's cart (a line bought in full disappears, a
/// line the buyer raised meanwhile keeps the rest), once per order: true if this call did.
/// One statement, under the cart's row lock, so it never interleaves with a cart mutation.
pub async fn remove_bought(db: &DbPool, order: &CheckedOut) -> Result<bool, ApiError> {
    let mut conn = db.get().await?;
    let products: Vec<Uuid> = order.lines.iter().map(|l| l.product_id).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
    queries::remove_bought(
        &mut conn,
        (order.order_id, order.user_id),
        &products,
        &quantities,
    )
    .await
}
