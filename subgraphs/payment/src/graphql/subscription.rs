//! `paymentUpdated`: live status changes of one payment, fed from the shared bus (so a
//! change made by any replica, or by the gateway's webhook, reaches every subscriber).

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result, Subscription as GraphQLSubscription};
use auth::Access;
use auth::live::{Watch, watch};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use service_kit::{ApiError, DbPool};

use super::query::load_payment;
use super::types::{Payment, PaymentStatus};
use crate::events::live::{PaymentChange, PaymentFeed};

/// Root subscriptions of the payment subgraph.
#[derive(Default)]
pub struct Subscription;

#[GraphQLSubscription]
impl Subscription {
    /// Status changes of one payment (its payer, or a holder of `payments:read`; anyone
    /// else: `NOT_FOUND`). Ends with `UNAUTHENTICATED` when the caller's session ends.
    async fn payment_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Result<PaymentEvent>> + use<>> {
        let payment_id = load_payment(ctx, &id).await?.0.id;
        let watching = Watch {
            field: "paymentUpdated",
            relevant: Box::new(move |change: &PaymentChange| change.payment_id == payment_id),
            allowed: Box::new(|change: &PaymentChange, caller: &auth::Caller| {
                if caller.may_read_owned(change.user_id, "payments:read") {
                    Ok(())
                } else {
                    Err(ApiError::NotFound("payment".into()))
                }
            }),
        };
        let access = ctx.data_unchecked::<Arc<Access>>().clone();
        let feed = ctx.data_unchecked::<Arc<PaymentFeed>>();
        let db = ctx.data_unchecked::<DbPool>().clone();
        let caller = auth::CallerExt::caller(ctx);
        let changes = watch(access, caller, feed, watching).await?;
        Ok(changes.then(move |change| {
            let db = db.clone();
            async move {
                let change = change?;
                let payment = Payment(change.payment(&db).await?.clone());
                Ok(PaymentEvent { change, payment })
            }
        }))
    }
}

/// One status change of a payment.
pub struct PaymentEvent {
    change: Arc<PaymentChange>,
    payment: Payment,
}

#[Object]
impl PaymentEvent {
    /// The payment now (it may have moved on if changes followed quickly).
    async fn payment(&self) -> &Payment {
        &self.payment
    }

    /// Its status before this change; null when it was just created.
    async fn previous_status(&self) -> Option<PaymentStatus> {
        self.change.previous
    }

    /// Its status after this change.
    async fn status(&self) -> PaymentStatus {
        self.change.status
    }

    /// When the change was committed.
    async fn at(&self) -> DateTime<Utc> {
        self.change.at
    }
}
