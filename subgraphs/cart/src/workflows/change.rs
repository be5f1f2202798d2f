//! Changing a cart: one transaction under a row lock on the cart, so that concurrent
//! changes of one cart take turns and none is lost.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::db::{CartItemRow, CartRow, queries};

/// Most units of one product in a cart.
pub const MAX_QUANTITY: i32 = 999;
/// Most lines in a cart.
pub const MAX_LINES: i64 = 100;

/// How a change sets a line's quantity.
#[derive(Clone, Copy)]
pub enum Change {
    Add(i32),
    Set(i32),
    Remove,
    Clear,
}

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
                let wanted = match (current, adding) {
                    (Some(current), true) => current + quantity,
                    _ => quantity,
                };
                if wanted > MAX_QUANTITY {
                    return Err(ApiError::bad_input(
                        "quantity",
                        format!(
                            "at most {MAX_QUANTITY} units per line; the cart already has {}",
                            current.unwrap_or(0)
                        ),
                    ));
                }
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
