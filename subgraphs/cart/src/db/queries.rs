//! Statements on carts and their lines. Values travel as bind parameters only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::{CartItemRow, CartRow, cart_items, carts};

/// The cart of `user` and its lines, oldest first; `None` when they have no cart row.
pub async fn find(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> Result<Option<(CartRow, Vec<CartItemRow>)>, ApiError> {
    let cart: Option<CartRow> = carts::table
        .filter(carts::user_id.eq(user))
        .select(CartRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let Some(cart) = cart else {
        return Ok(None);
    };
    let items = cart_items::table
        .filter(cart_items::cart_id.eq(cart.id))
        .order((cart_items::added_at, cart_items::variant_id))
        .select(CartItemRow::as_select())
        .load(conn)
        .await?;
    Ok(Some((cart, items)))
}

/// Creates `cart` unless its user has one; how many rows it wrote (0 or 1).
pub async fn create(conn: &mut AsyncPgConnection, cart: CartRow) -> Result<usize, ApiError> {
    Ok(diesel::insert_into(carts::table)
        .values(cart)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?)
}

/// The id of `user`'s cart, locked until the transaction ends (changes of one cart take
/// turns).
pub async fn lock(conn: &mut AsyncPgConnection, user: Uuid) -> Result<Uuid, ApiError> {
    Ok(carts::table
        .filter(carts::user_id.eq(user))
        .select(carts::id)
        .for_update()
        .first(conn)
        .await?)
}

/// Empties a cart.
pub async fn clear(conn: &mut AsyncPgConnection, cart: Uuid) -> Result<(), ApiError> {
    diesel::delete(cart_items::table.filter(cart_items::cart_id.eq(cart)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a variant's line.
pub async fn remove_line(
    conn: &mut AsyncPgConnection,
    cart: Uuid,
    variant: Uuid,
) -> Result<(), ApiError> {
    diesel::delete(
        cart_items::table
            .filter(cart_items::cart_id.eq(cart))
            .filter(cart_items::variant_id.eq(variant)),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The product and quantity of a variant's line, if there is one.
pub async fn line(
    conn: &mut AsyncPgConnection,
    cart: Uuid,
    variant: Uuid,
) -> Result<Option<(Uuid, i32)>, ApiError> {
    Ok(cart_items::table
        .filter(cart_items::cart_id.eq(cart))
        .filter(cart_items::variant_id.eq(variant))
        .select((cart_items::product_id, cart_items::quantity))
        .first(conn)
        .await
        .optional()?)
}

/// The variants of a product that have a line in `user`'s cart.
pub async fn variants_in_cart(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    product: Uuid,
) -> Result<Vec<Uuid>, ApiError> {
    Ok(cart_items::table
        .inner_join(carts::table)
        .filter(carts::user_id.eq(user))
        .filter(cart_items::product_id.eq(product))
        .order(cart_items::variant_id)
        .select(cart_items::variant_id)
        .load(conn)
        .await?)
}

/// Sets the quantity of an existing line.
pub async fn set_quantity(
    conn: &mut AsyncPgConnection,
    cart: Uuid,
    variant: Uuid,
    quantity: i32,
) -> Result<(), ApiError> {
    diesel::update(
        cart_items::table
            .filter(cart_items::cart_id.eq(cart))
            .filter(cart_items::variant_id.eq(variant)),
    )
    .set(cart_items::quantity.eq(quantity))
    .execute(conn)
    .await?;
    Ok(())
}

/// How many lines a cart has.
pub async fn count_lines(conn: &mut AsyncPgConnection, cart: Uuid) -> Result<i64, ApiError> {
    Ok(cart_items::table
        .filter(cart_items::cart_id.eq(cart))
        .count()
        .get_result(conn)
        .await?)
}

/// Adds a line (the variant is not in the cart: the caller checked under the cart's lock).
pub async fn add_line(conn: &mut AsyncPgConnection, line: CartItemRow) -> Result<(), ApiError> {
    diesel::insert_into(cart_items::table)
        .values(line)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds lines (those of variants already in the cart are left alone).
pub async fn add_lines(
    conn: &mut AsyncPgConnection,
    lines: Vec<CartItemRow>,
) -> Result<(), ApiError> {
    diesel::insert_into(cart_items::table)
        .values(lines)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a cart changed.
pub async fn touch(
    conn: &mut AsyncPgConnection,
    cart: Uuid,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::update(carts::table.find(cart))
        .set(carts::updated_at.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// `user`'s lines as (product, variant, quantity), oldest first.
pub async fn lines_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> Result<Vec<(Uuid, Uuid, i32)>, ApiError> {
    Ok(cart_items::table
        .inner_join(carts::table)
        .filter(carts::user_id.eq(user))
        .order((cart_items::added_at, cart_items::variant_id))
        .select((
            cart_items::product_id,
            cart_items::variant_id,
            cart_items::quantity,
        ))
        .load(conn)
        .await?)
}

/// What an order bought: the products, their variants (none: the product's only one) and
/// the quantities, one entry per order line.
pub struct Bought<'a> {
    pub products: &'a [Uuid],
    pub variants: &'a [Option<Uuid>],
    pub quantities: &'a [i32],
}

/// Takes what order `order` bought out of `user`'s cart (a line bought in full disappears, a
/// line the buyer raised meanwhile keeps the rest), once per order: true if this call did.
/// A bought line names its variant's line; one without a variant (an order subgraph that
/// does not know variants) names the cart's only line of its product, and none when the cart
/// holds several (which one was bought is unknown: they stay). One statement, under the
/// cart's row lock, so it never interleaves with a cart mutation.
pub async fn remove_bought(
    conn: &mut AsyncPgConnection,
    (order, user): (Uuid, Uuid),
    bought: Bought<'_>,
) -> Result<bool, ApiError> {
    #[derive(diesel::QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        claimed: i64,
    }
    let result: Claimed = diesel::sql_query(
        "WITH claimed AS ( \
             INSERT INTO cart_checkouts (order_id, user_id) VALUES ($1, $2) \
             ON CONFLICT (order_id) DO NOTHING RETURNING order_id \
         ), cart AS ( \
             SELECT c.id FROM carts c WHERE c.user_id = $2 AND EXISTS (SELECT 1 FROM claimed) \
             FOR UPDATE \
         ), bought AS ( \
             SELECT * FROM unnest($3::uuid[], $4::uuid[], $5::int[]) \
                 AS b (product_id, variant_id, quantity) \
         ), hit AS ( \
             SELECT i.variant_id, sum(b.quantity) AS quantity \
               FROM cart_items i \
               JOIN cart ON i.cart_id = cart.id \
               JOIN bought b ON i.variant_id = b.variant_id \
                 OR (b.variant_id IS NULL AND i.product_id = b.product_id \
                     AND NOT EXISTS (SELECT 1 FROM cart_items o \
                                      WHERE o.cart_id = i.cart_id \
                                        AND o.product_id = i.product_id \
                                        AND o.variant_id <> i.variant_id)) \
              GROUP BY i.variant_id \
         ), removed AS ( \
             DELETE FROM cart_items i USING cart, hit h \
             WHERE i.cart_id = cart.id AND i.variant_id = h.variant_id \
               AND i.quantity <= h.quantity RETURNING 1 \
         ), reduced AS ( \
             UPDATE cart_items i SET quantity = (i.quantity - h.quantity)::int FROM cart, hit h \
             WHERE i.cart_id = cart.id AND i.variant_id = h.variant_id \
               AND i.quantity > h.quantity RETURNING 1 \
         ) \
         SELECT count(*) AS claimed FROM claimed",
    )
    .bind::<SqlUuid, _>(order)
    .bind::<SqlUuid, _>(user)
    .bind::<Array<SqlUuid>, _>(bought.products)
    .bind::<Array<Nullable<SqlUuid>>, _>(bought.variants)
    .bind::<Array<Int4>, _>(bought.quantities)
    .get_result(conn)
    .await?;
    Ok(result.claimed > 0)
}
