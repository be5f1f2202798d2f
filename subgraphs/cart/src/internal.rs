//! Routes the order subgraph calls (never through the router): a user's cart lines for
//! checkout (each naming its variant), and removing what an order bought (by variant; a
//! line without one means the cart's only line of its product).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use peer_api::{CartLines, CartOf, CheckedOut, StockLine};
use service_kit::{ApiError, DbPool, internal};

use crate::db::queries;
use crate::workflows::change::remove_bought;

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
                .map(|(product_id, variant_id, quantity)| StockLine {
                    product_id,
                    variant_id: Some(variant_id),
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
