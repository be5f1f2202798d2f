//! Clients of the other subgraphs the payment subgraph talks to, over their internal routes:
//! the order subgraph, which says what an order owes and who paid it.

use peer_api::{OrderOf, OrderPayers, OrderSummary, OrdersOf};
use service_kit::internal::InternalClient;
use service_kit::{ApiError, ServiceConfig};
use uuid::Uuid;

/// The order subgraph.
#[derive(Clone)]
pub struct Orders(InternalClient);

impl Orders {
    /// A client of `ORDER_SUBGRAPH_URL` (a circuit breaker of its own).
    pub fn new(config: &ServiceConfig) -> anyhow::Result<Self> {
        Ok(Self(InternalClient::new(
            "the order service",
            config.peer_url("order")?,
            &config.internal_token,
        )?))
    }

    /// Owner, status and amount due of an order (`NOT_FOUND` if there is none).
    pub async fn summary(&self, order_id: Uuid) -> Result<OrderSummary, ApiError> {
        self.0
            .post("/internal/orders/summary", &OrderOf { order_id })
            .await
    }

    /// Status and paying payment of the orders among `order_ids` that exist.
    pub async fn payers(&self, order_ids: Vec<Uuid>) -> Result<OrderPayers, ApiError> {
        self.0
            .post("/internal/orders/payers", &OrdersOf { order_ids })
            .await
    }
}
