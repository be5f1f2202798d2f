//! `payOrder` and `refundPayment`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::CallerExt as _;
use chrono::Utc;
use service_kit::ApiError;
use service_kit::telemetry::TraceParent;
use uuid::Uuid;

use super::types::{Payment, PaymentMethod, Refund};
use crate::db::payments::NewPayment;
use crate::domain::payable::new_payment_expiry;
use crate::workflows::payments::{Created, create_pending};
use crate::workflows::refunds::{self, NewRefund};

/// What `payOrder` pays.
#[derive(InputObject)]
pub struct PayOrderInput {
    pub order_id: ID,
    pub method: PaymentMethod,
    /// 8 to 128 characters chosen by the client: the same key again returns the same payment.
    pub idempotency_key: String,
}

/// What `refundPayment` gives back.
#[derive(InputObject)]
pub struct RefundInput {
    pub payment_id: ID,
    /// Minor units; omitted = the full remaining amount.
    pub amount: Option<i32>,
    pub reason: String,
    pub idempotency_key: String,
}

/// How payments reach the order subgraph and how long they stay open.
pub struct PaymentSetup {
    pub orders: crate::peers::Orders,
    pub ttl: std::time::Duration,
}

fn traceparent(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<TraceParent>().map(|t| t.0.clone())
}

/// Mutations of the payment subgraph.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Starts paying an order of the caller that waits for payment: a `PENDING` payment of
    /// the order's total, with the gateway page in `redirectUrl`. The same key again returns
    /// the same payment; another key while one is open is `CONFLICT`.
    async fn pay_order(&self, ctx: &Context<'_>, input: PayOrderInput) -> Result<Payment> {
        let user = ctx.caller().user_id()?;
        let order_id = service_kit::validate::id("input.orderId", &input.order_id)?;
        let key =
            service_kit::validate::idempotency_key("input.idempotencyKey", &input.idempotency_key)?;
        let setup = ctx.data_unchecked::<PaymentSetup>();
        let order = setup.orders.summary(order_id).await?;
        let expires_at = new_payment_expiry(&order, user, Utc::now(), setup.ttl)?;
        let id = Uuid::now_v7();
        let mut conn = service_kit::db::connection(ctx).await?;
        let created = create_pending(
            &mut conn,
            NewPayment {
                id,
                order_id,
                user_id: user,
                method: input.method.as_db(),
                amount: order.total_amount,
                currency: order.currency,
                idempotency_key: key,
                gateway_reference: format!("sandbox-{}", Uuid::new_v4().simple()),
                expires_at,
            },
            traceparent(ctx),
        )
        .await?;
        Ok(match created {
            Created::New(row) | Created::Existing(row) => Payment(row),
        })
    }

    /// Gives back part or all of a payment (never more than was paid minus earlier
    /// refunds). The same key again returns the same refund. Needs `payments:refund`.
    #[graphql(guard = "auth::RequirePermission(\"payments:refund\")")]
    async fn refund_payment(&self, ctx: &Context<'_>, input: RefundInput) -> Result<Refund> {
        let admin = ctx.caller().user_id()?;
        let payment_id = service_kit::validate::id("input.paymentId", &input.payment_id)?;
        let key =
            service_kit::validate::idempotency_key("input.idempotencyKey", &input.idempotency_key)?;
        let reason = service_kit::validate::required_text("input.reason", &input.reason, 500)?;
        if input.amount.is_some_and(|amount| amount <= 0) {
            return Err(ApiError::bad_input("input.amount", "must be more than 0").into());
        }
        let mut conn = service_kit::db::connection(ctx).await?;
        let (refund, payment) = refunds::refund(
            &mut conn,
            NewRefund {
                payment_id,
                amount: input.amount.map(i64::from),
                reason,
                idempotency_key: key,
                created_by: Some(admin),
            },
            traceparent(ctx),
        )
        .await?;
        Ok(Refund(refund, payment))
    }
}
