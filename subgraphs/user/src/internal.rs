//! Routes other subgraphs call (never through the router): a user's saved address, for
//! checkout, or several at once, for the orders of flash-sale purchases.

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use peer_api::{AddressOf, AddressesOf, MAX_ADDRESSES, PostalAddress, SavedAddresses};
use service_kit::{ApiError, DbPool, internal};

use crate::db::{AddressRow, addresses};

/// `/internal/address` and `/internal/addresses`, protected by the internal token.
pub fn routes(db: DbPool, token: &str) -> axum::Router {
    internal::protect(
        axum::Router::new()
            .route("/internal/address", post(saved_address))
            .route("/internal/addresses", post(saved_addresses))
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
        Ok::<_, ApiError>(postal(row))
    };
    internal::respond(found.await)
}

/// `POST /internal/addresses`: several saved addresses in one statement, each answered as
/// `/internal/address` would (`null` for its `NOT_FOUND`).
async fn saved_addresses(
    State(db): State<DbPool>,
    Json(asked): Json<AddressesOf>,
) -> axum::response::Response {
    let found = async {
        if asked.addresses.len() > MAX_ADDRESSES {
            return Err(ApiError::bad_input(
                "addresses",
                format!("at most {MAX_ADDRESSES} at once"),
            ));
        }
        let ids: Vec<_> = asked
            .addresses
            .iter()
            .filter_map(|a| a.address_id)
            .collect();
        let defaults_of: Vec<_> = asked
            .addresses
            .iter()
            .filter(|a| a.address_id.is_none())
            .map(|a| a.user_id)
            .collect();
        let rows = if asked.addresses.is_empty() {
            Vec::new()
        } else {
            let mut conn = db.get().await?;
            addresses::saved_many(&mut conn, &ids, &defaults_of).await?
        };
        // Each answer only from an address of the user who asked for it.
        let addresses = asked
            .addresses
            .iter()
            .map(|a| {
                rows.iter()
                    .find(|row| {
                        row.user_id == a.user_id
                            && a.address_id.map_or(row.is_default, |id| row.id == id)
                    })
                    .cloned()
                    .map(postal)
            })
            .collect();
        Ok::<_, ApiError>(SavedAddresses { addresses })
    };
    internal::respond(found.await)
}

fn postal(row: AddressRow) -> PostalAddress {
    PostalAddress {
        recipient: row.recipient,
        phone: row.phone,
        province: row.province,
        city: row.city,
        district: row.district,
        line1: row.line1,
        postal_code: row.postal_code,
    }
}
