//! The payment subgraph's GraphQL schema: the `Payment` entity and `Order.payments`.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, Result};
use auth::CallerExt as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use service_kit::money::Money;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{PaymentRow, payments};

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

    /// Payments of the order, oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> Result<Vec<Payment>> {
        let Ok(order_id) = Uuid::parse_str(&self.id) else {
            return Ok(Vec::new());
        };
        let loader = ctx.data_unchecked::<DataLoader<PaymentsByOrderLoader>>();
        let caller = ctx.caller();
        Ok(loader
            .load_one(order_id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|row| visible(caller, row))
            .map(Payment)
            .collect())
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

    /// When it was created.
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
        let rows = payments::table
            .filter(payments::id.eq_any(ids))
            .select(PaymentRow::as_select())
            .load(&mut conn)
            .await?;
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
        let rows = payments::table
            .filter(payments::order_id.eq_any(order_ids))
            .order((payments::created_at, payments::id))
            .select(PaymentRow::as_select())
            .load(&mut conn)
            .await?;
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

async fn load_payment(ctx: &Context<'_>, id: &ID) -> Result<Payment> {
    let uuid = service_kit::validate::id("id", id)?;
    ctx.caller().identity()?;
    ctx.data_unchecked::<DataLoader<PaymentLoader>>()
        .load_one(uuid)
        .await?
        .filter(|row| visible(ctx.caller(), row))
        .map(Payment)
        .ok_or_else(|| ApiError::NotFound("payment".into()).into())
}
