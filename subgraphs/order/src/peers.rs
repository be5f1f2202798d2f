//! Clients of the other subgraphs the order subgraph talks to, over their internal routes:
//! the catalog holds the stock, the cart the lines, the user subgraph the saved addresses.

use peer_api::{
    AddressOf, AddressesOf, CartLines, CartOf, CheckedOut, GivenBack, OrdersClosed, PostalAddress,
    ReleaseStock, Released, Reservation, ReserveStock, SavedAddresses, StockLine,
};
use service_kit::internal::InternalClient;
use service_kit::{ApiError, ServiceConfig};
use uuid::Uuid;

/// Clients of the catalog, cart and user subgraphs.
#[derive(Clone)]
pub struct Peers {
    catalog: InternalClient,
    cart: InternalClient,
    user: InternalClient,
}

impl Peers {
    pub fn new(config: &ServiceConfig) -> anyhow::Result<Self> {
        let token = &config.internal_token;
        Ok(Self {
            catalog: InternalClient::new("the catalog", config.peer_url("catalog")?, token)?,
            cart: InternalClient::new("the cart", config.peer_url("cart")?, token)?,
            user: InternalClient::new("the user service", config.peer_url("user")?, token)?,
        })
    }

    /// Reserves all lines for the order, or none (idempotent per order).
    pub async fn reserve(
        &self,
        order_id: Uuid,
        lines: &[StockLine],
    ) -> Result<Reservation, ApiError> {
        let body = ReserveStock {
            order_id,
            lines: lines.to_vec(),
        };
        self.catalog.post("/internal/stock/reserve", &body).await
    }

    /// Gives the order's stock back (idempotent); whether this call did.
    pub async fn release(&self, order_id: Uuid, reason: &str) -> Result<bool, ApiError> {
        let body = ReleaseStock {
            order_id,
            reason: reason.to_owned(),
        };
        let released: Released = self.catalog.post("/internal/stock/release", &body).await?;
        Ok(released.released)
    }

    /// Gives back what closed orders hold (idempotent): how many this call gave back for,
    /// and those the catalog could not settle now.
    pub async fn close_orders(
        &self,
        order_ids: Vec<Uuid>,
        reason: &str,
    ) -> Result<GivenBack, ApiError> {
        let body = OrdersClosed {
            order_ids,
            reason: reason.to_owned(),
        };
        self.catalog.post("/internal/orders/closed", &body).await
    }

    /// The lines of the user's cart.
    pub async fn cart_lines(&self, user_id: Uuid) -> Result<Vec<StockLine>, ApiError> {
        let lines: CartLines = self
            .cart
            .post("/internal/cart/lines", &CartOf { user_id })
            .await?;
        Ok(lines.lines)
    }

    /// Takes what the order bought out of the cart (once per order).
    pub async fn remove_from_cart(&self, order: &CheckedOut) -> Result<(), ApiError> {
        let _: bool = self.cart.post("/internal/cart/checked-out", order).await?;
        Ok(())
    }

    /// A saved address of the user (`None`: their default one).
    pub async fn saved_address(
        &self,
        user_id: Uuid,
        address_id: Option<Uuid>,
    ) -> Result<PostalAddress, ApiError> {
        self.user
            .post(
                "/internal/address",
                &AddressOf {
                    user_id,
                    address_id,
                },
            )
            .await
    }

    /// Several saved addresses in one call, in the order asked; `None` where
    /// [`Peers::saved_address`] would answer `NOT_FOUND`. A user subgraph older than
    /// `/internal/addresses` (a rollout that has not reached it yet) is asked one address at
    /// a time.
    pub async fn saved_addresses(
        &self,
        asked: Vec<AddressOf>,
    ) -> Result<Vec<Option<PostalAddress>>, ApiError> {
        let asked = AddressesOf { addresses: asked };
        let found: Result<SavedAddresses, _> = self.user.post("/internal/addresses", &asked).await;
        match found {
            Ok(found) if found.addresses.len() == asked.addresses.len() => Ok(found.addresses),
            Ok(_) => Err(ApiError::Internal),
            Err(ApiError::Internal) => {
                let one_by_one = asked.addresses.into_iter().map(|a| async move {
                    match self.saved_address(a.user_id, a.address_id).await {
                        Ok(address) => Ok(Some(address)),
                        Err(ApiError::NotFound(_) | ApiError::BadUserInput { .. }) => Ok(None),
                        Err(error) => Err(error),
                    }
                });
                futures::future::join_all(one_by_one)
                    .await
                    .into_iter()
                    .collect()
            }
            Err(error) => Err(error),
        }
    }
}
