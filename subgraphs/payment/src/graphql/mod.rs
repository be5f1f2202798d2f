//! The payment subgraph's GraphQL schema: the `Payment` entity, `Order.payments`,
//! `payOrder`, `refundPayment` and `paymentUpdated`.

pub mod subscription;

pub use subscription::Subscription;

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, Result};
use auth::CallerExt as _;
use chrono::{DateTime, Utc};
use service_kit::money::Money;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{LogRow, PaymentRow, RefundRow, reads};

pub use crate::domain::status::PaymentStatus;

/// How the customer pays (sandbox gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum PaymentMethod {
    /// Sandbox card.
    SandboxCard,
    /// Sandbox wallet.
    SandboxWallet,
}

/// An order of the order subgraph; this subgraph adds `payments`.
pub struct Order {
    id: ID,
}

#[Object]
impl Order {
    /// The order's id.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// Payments of the order, oldest first (`null` only when the payment service fails:
    /// the order itself still answers; docs/operations.md, "Degradation").
    async fn payments(&self, ctx: &Context<'_>) -> Result<Option<Vec<Payment>>> {
        let Ok(order_id) = Uuid::parse_str(&self.id) else {
            return Ok(Some(Vec::new()));
        };
        let loader = ctx.data_unchecked::<DataLoader<PaymentsByOrderLoader>>();
        let caller = ctx.caller();
        Ok(Some(
            loader
                .load_one(order_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|row| visible(caller, row))
                .map(Payment)
                .collect(),
        ))
    }
}

/// A payment of an order.
pub struct Payment(pub PaymentRow);

#[Object]
impl Payment {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The order paid for (its fields come from the order subgraph).
    async fn order(&self) -> Order {
        Order {
            id: ID(self.0.order_id.to_string()),
        }
    }

    /// Current status.
    async fn status(&self) -> Result<PaymentStatus, ApiError> {
        PaymentStatus::from_db(&self.0.status)
            .ok_or_else(|| ApiError::corrupt("payments.status", &self.0.status))
    }

    /// Payment method.
    async fn method(&self) -> Result<PaymentMethod, ApiError> {
        match self.0.method.as_str() {
            "SANDBOX_CARD" => Ok(PaymentMethod::SandboxCard),
            "SANDBOX_WALLET" => Ok(PaymentMethod::SandboxWallet),
            other => Err(ApiError::corrupt("payments.method", other)),
        }
    }

    /// Amount charged; always the order total.
    async fn amount(&self) -> Money {
        Money::new(self.0.amount, self.0.currency.clone())
    }

    /// Given back so far.
    async fn refunded_amount(&self) -> Money {
        Money::new(self.0.refunded_amount, self.0.currency.clone())
    }

    /// Where the customer approves or declines the payment (sandbox gateway page), while
    /// it is open.
    async fn redirect_url(&self, ctx: &Context<'_>) -> Option<String> {
        (self.0.status == PaymentStatus::Pending.as_db()).then(|| {
            crate::gateway::page_url(
                &ctx.data_unchecked::<GatewayBase>().0,
                &self.0.gateway_reference,
            )
        })
    }

    /// When an open payment expires.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == PaymentStatus::Pending.as_db()).then_some(self.0.expires_at)
    }

    /// The gateway's reference. Needs `payments:read`.
    #[graphql(guard = "auth::RequirePermission(\"payments:read\")")]
    async fn gateway_reference(&self) -> Option<&str> {
        Some(&self.0.gateway_reference)
    }

    /// Every status change, oldest first. Needs `payments:read`.
    #[graphql(guard = "auth::RequirePermission(\"payments:read\")")]
    async fn log(&self, ctx: &Context<'_>) -> Result<Option<Vec<PaymentLogEntry>>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = reads::log_of(&mut conn, self.0.id).await?;
        Ok(Some(rows.into_iter().map(PaymentLogEntry).collect()))
    }

    /// Refunds of this payment, oldest first.
    async fn refunds(&self, ctx: &Context<'_>) -> Result<Vec<Refund>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = reads::refunds_of(&mut conn, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| Refund(row, self.0.clone()))
            .collect())
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The base address of the sandbox gateway's pages (`PAYMENT_GATEWAY_URL`, or this
/// subgraph's own address).
pub struct GatewayBase(pub String);

/// One status change of a payment.
pub struct PaymentLogEntry(LogRow);

#[Object]
impl PaymentLogEntry {
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn from(&self) -> Option<PaymentStatus> {
        self.0
            .from_status
            .as_deref()
            .and_then(PaymentStatus::from_db)
    }
    async fn to(&self) -> Result<PaymentStatus, ApiError> {
        PaymentStatus::from_db(&self.0.to_status)
            .ok_or_else(|| ApiError::corrupt("payment_log.to_status", &self.0.to_status))
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

/// Money given back from a payment.
pub struct Refund(RefundRow, PaymentRow);

#[Object]
impl Refund {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The payment refunded (as it was when this refund was read).
    async fn payment(&self) -> Payment {
        Payment(self.1.clone())
    }
    async fn amount(&self) -> Money {
        Money::new(self.0.amount, self.1.currency.clone())
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Payments by id, one query per batch.
pub struct PaymentLoader(pub DbPool);

impl Loader<Uuid> for PaymentLoader {
    type Value = PaymentRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, PaymentRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = reads::by_ids(&mut conn, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Payments by order id, one query per batch.
pub struct PaymentsByOrderLoader(pub DbPool);

impl Loader<Uuid> for PaymentsByOrderLoader {
    type Value = Vec<PaymentRow>;
    type Error = ApiError;

    async fn load(&self, order_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<PaymentRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = reads::of_orders(&mut conn, order_ids).await?;
        let mut by_order: HashMap<Uuid, Vec<PaymentRow>> = HashMap::new();
        for row in rows {
            by_order.entry(row.order_id).or_default().push(row);
        }
        Ok(by_order)
    }
}

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

/// Whether the caller may see `row`: the payer, or a holder of `payments:read`.
fn visible(caller: &auth::Caller, row: &PaymentRow) -> bool {
    caller.may_read_owned(row.user_id, "payments:read")
}

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

/// What `payOrder` pays.
#[derive(async_graphql::InputObject)]
pub struct PayOrderInput {
    pub order_id: ID,
    pub method: PaymentMethod,
    /// 8 to 128 characters chosen by the client: the same key again returns the same payment.
    pub idempotency_key: String,
}

/// What `refundPayment` gives back.
#[derive(async_graphql::InputObject)]
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

impl PaymentMethod {
    fn as_db(self) -> &'static str {
        match self {
            Self::SandboxCard => "SANDBOX_CARD",
            Self::SandboxWallet => "SANDBOX_WALLET",
        }
    }
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
        // Another customer's order is as good as none.
        if order.user_id != user {
            return Err(ApiError::NotFound("order".into()).into());
        }
        if order.status != "PENDING_PAYMENT" {
            return Err(ApiError::Conflict(format!(
                "an order that is {} cannot be paid",
                order.status
            ))
            .into());
        }
        let now = Utc::now();
        // In the order's grace after its expiry, a payment started before may still be
        // reported; a new one may not start.
        if order.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(ApiError::Conflict("this order's time to pay is over".into()).into());
        }
        let ttl = chrono::Duration::from_std(setup.ttl).unwrap_or(chrono::Duration::minutes(15));
        let expires_at = order
            .expires_at
            .map_or(now + ttl, |order_expiry| (now + ttl).min(order_expiry));
        let id = Uuid::now_v7();
        let mut conn = service_kit::db::connection(ctx).await?;
        let trace = ctx
            .data_opt::<service_kit::telemetry::TraceParent>()
            .map(|t| t.0.clone());
        let created = crate::db::store::create_pending(
            &mut conn,
            crate::db::store::NewPayment {
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
            trace,
        )
        .await?;
        Ok(match created {
            crate::db::store::Created::New(row) | crate::db::store::Created::Existing(row) => {
                Payment(row)
            }
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
        let trace = ctx
            .data_opt::<service_kit::telemetry::TraceParent>()
            .map(|t| t.0.clone());
        let (refund, payment) = crate::db::store::refund(
            &mut conn,
            crate::db::store::NewRefund {
                payment_id,
                amount: input.amount.map(i64::from),
                reason,
                idempotency_key: key,
                created_by: Some(admin),
            },
            trace,
        )
        .await?;
        Ok(Refund(refund, payment))
    }
}
