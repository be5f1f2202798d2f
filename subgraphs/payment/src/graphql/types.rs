//! The payment subgraph's object types: `Payment` (visible to its payer or a holder of
//! `payments:read`), its log and refunds, and `Order.payments`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Object, Result};
use auth::CallerExt as _;
use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::money::Money;
use uuid::Uuid;

use super::loaders::PaymentsByOrderLoader;
use crate::db::{LogRow, PaymentRow, RefundRow, payment_log, refunds};

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
    pub id: ID,
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
        let rows = payment_log::log_of(&mut conn, self.0.id).await?;
        Ok(Some(rows.into_iter().map(PaymentLogEntry).collect()))
    }

    /// Refunds of this payment, oldest first.
    async fn refunds(&self, ctx: &Context<'_>) -> Result<Vec<Refund>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = refunds::refunds_of(&mut conn, self.0.id).await?;
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
pub struct Refund(pub RefundRow, pub PaymentRow);

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

/// Whether the caller may see `row`: the payer, or a holder of `payments:read`.
pub fn visible(caller: &auth::Caller, row: &PaymentRow) -> bool {
    caller.may_read_owned(row.user_id, "payments:read")
}

impl PaymentMethod {
    /// The value stored in `payments.method`.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::SandboxCard => "SANDBOX_CARD",
            Self::SandboxWallet => "SANDBOX_WALLET",
        }
    }
}
