//! `orderUpdated`: live status changes of one order, or of all the caller's orders, fed
//! from the shared bus (so a change made by any replica reaches every subscriber).

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result, Subscription as GraphQLSubscription};
use auth::live::{Watch, watch};
use auth::{Access, CallerExt as _};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use service_kit::{ApiError, DbPool};

use super::query::{load_visible, parse_order_id};
use super::types::Order;
use crate::domain::OrderStatus;
use crate::events::live::{OrderChange, OrderFeed};

/// Root subscriptions of the order subgraph.
#[derive(Default)]
pub struct Subscription;

#[GraphQLSubscription]
impl Subscription {
    /// Status changes of one order (its owner, or a holder of `orders:read`; anyone else:
    /// `NOT_FOUND`), or of all the caller's own orders when `id` is omitted. Ends with
    /// `UNAUTHENTICATED` when the caller's session ends.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<OrderEvent>> + use<>> {
        let caller = ctx.caller();
        let user_id = caller.user_id()?;
        let watching = match id {
            Some(id) => {
                let id = parse_order_id("id", &id)?;
                load_visible(ctx, id).await?;
                Watch {
                    field: "orderUpdated",
                    relevant: Box::new(move |change: &OrderChange| change.order_id == id),
                    allowed: Box::new(|change: &OrderChange, caller: &auth::Caller| {
                        if caller.may_read_owned(change.user_id, "orders:read") {
                            Ok(())
                        } else {
                            Err(ApiError::NotFound("order".into()))
                        }
                    }),
                }
            }
            None => Watch {
                field: "orderUpdated",
                relevant: Box::new(move |change: &OrderChange| change.user_id == user_id),
                allowed: Box::new(|_: &OrderChange, _: &auth::Caller| Ok(())),
            },
        };
        let access = ctx.data_unchecked::<Arc<Access>>().clone();
        let feed = ctx.data_unchecked::<Arc<OrderFeed>>();
        let db = ctx.data_unchecked::<DbPool>().clone();
        let changes = watch(access, caller, feed, watching).await?;
        Ok(changes.then(move |change| {
            let db = db.clone();
            async move {
                let change = change?;
                let order = Order(change.order(&db).await?.clone());
                Ok(OrderEvent { change, order })
            }
        }))
    }
}

/// One status change of an order.
pub struct OrderEvent {
    change: Arc<OrderChange>,
    order: Order,
}

#[Object]
impl OrderEvent {
    /// The order now (it may have moved on if changes followed quickly).
    async fn order(&self) -> &Order {
        &self.order
    }

    /// Its status before this change; null when it was just placed.
    async fn previous_status(&self) -> Option<OrderStatus> {
        self.change.previous
    }

    /// Its status after this change.
    async fn status(&self) -> OrderStatus {
        self.change.status
    }

    /// When the change was committed.
    async fn at(&self) -> DateTime<Utc> {
        self.change.at
    }
}
