//! Routes the order subgraph calls (never through the router): a user's cart lines for
//! checkout, and removing what an order bought.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use diesel::prelude::{ExpressionMethods as _, QueryDsl as _};
use diesel::sql_types::{Array, Int4, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use peer_api::{CartLines, CartOf, CheckedOut, StockLine};
use service_kit::{ApiError, DbPool, internal};

use crate::db::{cart_items, carts};

/// The `/internal/cart/*` routes, protected by the internal token.
pub fn routes(db: DbPool, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/cart/lines", post(lines))
            .route("/internal/cart/checked-out", post(checked_out))
            .with_state(db),
        token,
    )
}

async fn lines(State(db): State<DbPool>, Json(asked): Json<CartOf>) -> Response {
    let found = async {
        let mut conn = db.get().await?;
        let rows: Vec<(uuid::Uuid, i32)> = cart_items::table
            .inner_join(carts::table)
            .filter(carts::user_id.eq(asked.user_id))
            .order((cart_items::added_at, cart_items::product_id))
            .select((cart_items::product_id, cart_items::quantity))
            .load(&mut conn)
            .await?;
        Ok::<_, ApiError>(CartLines {
            lines: rows
                .into_iter()
                .map(|(product_id, quantity)| StockLine {
                    product_id,
                    quantity,
                })
                .collect(),
        })
    };
    internal::respond(found.await)
}

async fn checked_out(State(db): State<DbPool>, Json(order): Json<CheckedOut>) -> Response {
    internal::respond(remove_bought(&db, &order).await)
}

/// Takes what `order` bought out of its buyer's cart (a line bought in full disappears, a
/// line the buyer raised meanwhile keeps the rest), once per order: true if this call did.
/// One statement, under the cart's row lock, so it never interleaves with a cart mutation.
pub async fn remove_bought(db: &DbPool, order: &CheckedOut) -> Result<bool, ApiError> {
    let mut conn = db.get().await?;
    let products: Vec<uuid::Uuid> = order.lines.iter().map(|l| l.product_id).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
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
             SELECT * FROM unnest($3::uuid[], $4::int[]) AS b (product_id, quantity) \
         ), removed AS ( \
             DELETE FROM cart_items i USING cart, bought b \
             WHERE i.cart_id = cart.id AND i.product_id = b.product_id \
               AND i.quantity <= b.quantity RETURNING 1 \
         ), reduced AS ( \
             UPDATE cart_items i SET quantity = i.quantity - b.quantity FROM cart, bought b \
             WHERE i.cart_id = cart.id AND i.product_id = b.product_id \
               AND i.quantity > b.quantity RETURNING 1 \
         ) \
         SELECT count(*) AS claimed FROM claimed",
    )
    .bind::<SqlUuid, _>(order.order_id)
    .bind::<SqlUuid, _>(order.user_id)
    .bind::<Array<SqlUuid>, _>(&products)
    .bind::<Array<Int4>, _>(&quantities)
    .get_result(&mut conn)
    .await?;
    Ok(result.claimed > 0)
}
