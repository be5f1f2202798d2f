//! Routes the order subgraph calls (never through the router): a user's cart lines for
//! checkout, and removing what an order bought.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use peer_api::{CartLines, CartOf, CheckedOut, StockLine};
use service_kit::{ApiError, DbPool, internal};

use crate::db::queries;

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
        let rows = queries::lines_of(&mut conn, asked.user_id).await?;
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
    queries::remove_bought(
        &mut conn,
        (order.order_id, order.user_id),
        &products,
        &quantities,
    )
    .await
}
