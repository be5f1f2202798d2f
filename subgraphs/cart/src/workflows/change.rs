//! Changing a cart: one transaction under a row lock on the cart, so that concurrent
//! changes of one cart take turns and none is lost; taking out what an order bought.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use peer_api::CheckedOut;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::queries::{self, Bought};
use crate::db::{CartItemRow, CartRow};
use crate::domain::lines::{
    Change, MAX_LINES, Pick, check_line_product, only_line, wanted_quantity,
};

/// Applies `change` to `user`'s cart, creating the cart on first use; the cart's rows as
/// they are afterwards.
pub async fn change_cart(
    conn: &mut AsyncPgConnection,
    user: Uuid,
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
        match change {
            Change::Clear => queries::clear(conn, cart).await?,
            Change::Remove(pick) => {
                let variant = match pick {
                    Pick::Variant(key) => match queries::line(conn, cart, key.variant).await? {
                        Some((line_product, _)) => {
                            check_line_product(key.product, line_product)?;
                            Some(key.variant)
                        }
                        None => None,
                    },
                    Pick::OnlyLineOf(product) => {
                        only_line(&queries::variants_in_cart(conn, user, product).await?)?
                    }
                };
                if let Some(variant) = variant {
                    queries::remove_line(conn, cart, variant).await?;
                }
            }
            Change::Add(key, quantity) | Change::Set(key, quantity) => {
                let adding = matches!(change, Change::Add(..));
                let current = queries::line(conn, cart, key.variant).await?;
                let wanted = wanted_quantity(current.map(|(_, q)| q), quantity, adding)?;
                if current.is_some() {
                    queries::set_quantity(conn, cart, key.variant, wanted).await?;
                } else {
                    if queries::count_lines(conn, cart).await? >= MAX_LINES {
                        return Err(ApiError::Conflict(format!(
                            "a cart holds at most {MAX_LINES} lines"
                        )));
                    }
                    let line = CartItemRow {
                        cart_id: cart,
                        product_id: key.product,
                        variant_id: key.variant,
                        quantity: wanted,
                        added_at: now,
                    };
                    queries::add_line(conn, line).await?;
                }
            }
        }
        queries::touch(conn, cart, now).await?;
        queries::find(conn, user).await?.ok_or(ApiError::Internal)
    })
    .await
}

/// The variant of the cart's only line of `product` (none when it has no line of it;
/// `BAD_USER_INPUT` naming `variantId` when it has several): what a change without
/// `variantId` means for a product already in the cart.
pub async fn line_of_product(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    product: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    only_line(&queries::variants_in_cart(conn, user, product).await?)
}

/// Takes what `order` bought out of its buyer's cart (a line bought in full disappears, a
/// line the buyer raised meanwhile keeps the rest), once per order: true if this call did.
/// Lines are matched by variant; a bought line without one means the cart's only line of
/// its product ([`queries::remove_bought`]). One statement, under the cart's row lock, so
/// it never interleaves with a cart mutation.
pub async fn remove_bought(db: &DbPool, order: &CheckedOut) -> Result<bool, ApiError> {
    let mut conn = db.get().await?;
    let products: Vec<Uuid> = order.lines.iter().map(|l| l.product_id).collect();
    let variants: Vec<Option<Uuid>> = order.lines.iter().map(|l| l.variant_id).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
    queries::remove_bought(
        &mut conn,
        (order.order_id, order.user_id),
        Bought {
            products: &products,
            variants: &variants,
            quantities: &quantities,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use peer_api::StockLine;

    use super::*;
    use crate::domain::lines::LineKey;

    fn line(product: Uuid, variant: Option<Uuid>, quantity: i32) -> StockLine {
        StockLine {
            product_id: product,
            variant_id: variant,
            quantity,
        }
    }

    /// The cart's lines as (variant, quantity), by variant.
    async fn lines(db: &DbPool, user: Uuid) -> Vec<(Uuid, i32)> {
        let mut conn = db.get().await.unwrap();
        let mut lines: Vec<_> = queries::lines_of(&mut conn, user)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, variant, quantity)| (variant, quantity))
            .collect();
        lines.sort();
        lines
    }

    #[tokio::test]
    async fn variants_of_one_product_are_lines_of_their_own() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let db = &test.stores.db;
        let mut conn = db.get().await.unwrap();
        let user = Uuid::new_v4();
        let product = Uuid::new_v4();
        let (red, blue) = (Uuid::new_v4(), Uuid::new_v4());
        let key = |variant| LineKey { product, variant };
        change_cart(&mut conn, user, Change::Add(key(red), 2))
            .await
            .unwrap();
        change_cart(&mut conn, user, Change::Add(key(blue), 1))
            .await
            .unwrap();
        let (_, items) = change_cart(&mut conn, user, Change::Add(key(red), 1))
            .await
            .unwrap();
        assert_eq!(items.len(), 2);

        // Without a variant, two lines of the product are ambiguous; by variant, one goes.
        let ambiguous = change_cart(&mut conn, user, Change::Remove(Pick::OnlyLineOf(product)))
            .await
            .unwrap_err();
        assert_eq!(ambiguous.code(), "BAD_USER_INPUT");
        let foreign = LineKey {
            product: Uuid::new_v4(),
            variant: red,
        };
        let refused = change_cart(&mut conn, user, Change::Remove(Pick::Variant(foreign)))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            "BAD_USER_INPUT",
            "a line of another product"
        );
        change_cart(&mut conn, user, Change::Remove(Pick::Variant(key(blue))))
            .await
            .unwrap();
        assert_eq!(lines(db, user).await, [(red, 3)]);
        // Now the cart holds one line of the product: the product alone names it.
        change_cart(&mut conn, user, Change::Remove(Pick::OnlyLineOf(product)))
            .await
            .unwrap();
        assert_eq!(lines(db, user).await, []);
    }

    #[tokio::test]
    async fn an_order_takes_out_its_variants_and_without_one_the_product_s_only_line() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let db = &test.stores.db;
        let mut conn = db.get().await.unwrap();
        let user = Uuid::new_v4();
        let (shirt, mug) = (Uuid::new_v4(), Uuid::new_v4());
        let (red, blue, plain) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for (product, variant, quantity) in [(shirt, red, 3), (shirt, blue, 1), (mug, plain, 2)] {
            change_cart(
                &mut conn,
                user,
                Change::Add(LineKey { product, variant }, quantity),
            )
            .await
            .unwrap();
        }
        let order = |lines| CheckedOut {
            user_id: user,
            order_id: Uuid::new_v4(),
            lines,
        };

        // By variant: red keeps what was not bought, blue goes; the mug is untouched.
        let first = order(vec![line(shirt, Some(red), 2), line(shirt, Some(blue), 1)]);
        assert!(remove_bought(db, &first).await.unwrap());
        assert!(!remove_bought(db, &first).await.unwrap(), "once per order");
        let mut expected = vec![(red, 1), (plain, 2)];
        expected.sort();
        assert_eq!(lines(db, user).await, expected);

        // Without a variant: the product's only line (the mug's, and now the shirt's too).
        let second = order(vec![line(mug, None, 2), line(shirt, None, 5)]);
        assert!(remove_bought(db, &second).await.unwrap());
        assert_eq!(lines(db, user).await, []);

        // With two lines of the product, which one was bought is unknown: both stay.
        for variant in [red, blue] {
            change_cart(
                &mut conn,
                user,
                Change::Add(
                    LineKey {
                        product: shirt,
                        variant,
                    },
                    1,
                ),
            )
            .await
            .unwrap();
        }
        assert!(
            remove_bought(db, &order(vec![line(shirt, None, 1)]))
                .await
                .unwrap()
        );
        assert_eq!(lines(db, user).await.len(), 2);
    }
}
