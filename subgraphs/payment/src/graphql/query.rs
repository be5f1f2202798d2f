//! Root queries and entity resolvers of the payment subgraph.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use auth::CallerExt as _;
use service_kit::ApiError;

use super::loaders::PaymentLoader;
use super::types::{Order, Payment, visible};

/// Root queries of the payment subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// One payment: its payer's, or with `payments:read`. `NOT_FOUND` for anyone else, as
    /// for an id that does not exist.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        load_payment(ctx, &id).await.map(Some)
    }

    /// Resolves `Payment` references, in batches, with the same visibility as `payment`:
    /// the router's reference (or anyone asking this subgraph) learns nothing more.
    #[graphql(entity)]
    async fn find_payment_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        load_payment(ctx, &id).await.map(Some)
    }

    /// Lets the router ask this subgraph for `Order.payments`.
    #[graphql(entity)]
    async fn find_order_by_id(&self, id: ID) -> Order {
        Order { id }
    }
}

/// The payment with this id if the caller may see it; `NOT_FOUND` otherwise.
pub(crate) async fn load_payment(ctx: &Context<'_>, id: &ID) -> Result<Payment> {
    let uuid = service_kit::validate::id("id", id)?;
    ctx.caller().identity()?;
    ctx.data_unchecked::<DataLoader<PaymentLoader>>()
        .load_one(uuid)
        .await?
        .filter(|row| visible(ctx.caller(), row))
        .map(Payment)
        .ok_or_else(|| ApiError::NotFound("payment".into()).into())
}
