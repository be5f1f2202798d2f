//! Routes other subgraphs call (never through the router): a user's saved address, for
//! checkout.

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use peer_api::{AddressOf, PostalAddress};
use service_kit::{ApiError, DbPool, internal};

use crate::db::addresses;

/// `/internal/address`, protected by the internal token.
pub fn routes(db: DbPool, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/address", post(saved_address))
            .with_state(db),
        token,
    )
}

/// `POST /internal/address`: a saved address of a user, for checkout. `NOT_FOUND` when the
/// address does not exist or belongs to someone else.
async fn saved_address(
    State(db): State<DbPool>,
    Json(asked): Json<AddressOf>,
) -> axum::response::Response {
    let found = async {
        let mut conn = db.get().await?;
        let row = addresses::saved(&mut conn, asked.user_id, asked.address_id).await?;
        let row = row.ok_or_else(|| ApiError::NotFound("address".into()))?;
        Ok::<_, ApiError>(PostalAddress {
            recipient: row.recipient,
            phone: row.phone,
            province: row.province,
            city: row.city,
            district: row.district,
            line1: row.line1,
            postal_code: row.postal_code,
        })
    };
    internal::respond(found.await)
}
