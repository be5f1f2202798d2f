//! Root queries and entity resolvers of the order subgraph.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use auth::RequirePermission;
use service_kit::ApiError;
use uuid::Uuid;

use super::loaders::OrderLoader;
use super::types::{Order, OrderConnection, User, visible};
use crate::db::orders::OrderFilter;
use crate::domain::OrderStatus;

/// Root queries of the order subgraph.
#[derive(Default)]
pub struct Query;

/// An order id from a client: malformed is `BAD_USER_INPUT`.
pub fn parse_order_id(field: &str, id: &ID) -> Result<Uuid, ApiError> {
    service_kit::validate::id(field, id)
}

/// The order with this id if the caller may see it; `NOT_FOUND` otherwise.
pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> Result<Order, ApiError> {
    let row = ctx
        .data_unchecked::<DataLoader<OrderLoader>>()
        .load_one(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("order".into()))?;
    visible(ctx, row)
}

#[Object]
impl Query {
    /// One order of the caller (any order with `orders:read`); `NOT_FOUND` when the id is
    /// unknown or the order is someone else's.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let id = parse_order_id("id", &id)?;
        Ok(Some(load_visible(ctx, id).await?))
    }

    /// Every customer's orders, newest first (`first` default 20, at most 100), optionally
    /// of one status. Needs `orders:read`.
    #[graphql(
        directive = service_kit::subgraph::list_size::apply(Some(vec!["first".into()]), Some(vec!["edges".into()]), None, Some(false)),
        guard = "RequirePermission(\"orders:read\")"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<OrderStatus>,
    ) -> Result<Option<OrderConnection>> {
        let filter = OrderFilter { user: None, status };
        Ok(Some(
            OrderConnection::load(ctx, filter, first, after.as_deref()).await?,
        ))
    }

    /// Resolves `Order` references from other subgraphs, in batches; the same visibility as
    /// `order`.
    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let id = parse_order_id("id", &id)?;
        Ok(Some(load_visible(ctx, id).await?))
    }

    /// Lets the router ask this subgraph for `User.orders`.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}
