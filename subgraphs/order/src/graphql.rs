//! The order subgraph's GraphQL schema: the `Order` entity, whose lines reference `Product`.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use auth::CallerExt as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use service_kit::money::Money;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{OrderItemRow, OrderRow, order_items, orders};

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum OrderStatus {
    /// Created, stock reserved, waiting for payment.
    PendingPayment,
    /// Paid.
    Paid,
    /// Cancelled by the customer before payment.
    Cancelled,
    /// Not paid in time.
    Expired,
    /// Paid, then fully refunded.
    Refunded,
}

impl OrderStatus {
    fn from_db(value: &str) -> Self {
        match value {
            "PAID" => Self::Paid,
            "CANCELLED" => Self::Cancelled,
            "EXPIRED" => Self::Expired,
            "REFUNDED" => Self::Refunded,
            _ => Self::PendingPayment,
        }
    }
}

/// A product of the catalog subgraph, referenced by id.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// A customer's order.
pub struct Order(pub OrderRow);

#[Object]
impl Order {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Human-friendly order number, unique.
    async fn number(&self) -> &str {
        &self.0.number
    }

    /// Current status.
    async fn status(&self) -> OrderStatus {
        OrderStatus::from_db(&self.0.status)
    }

    /// The lines, in the order they were bought.
    async fn items(&self, ctx: &Context<'_>) -> Result<Vec<OrderItem>> {
        let loader = ctx.data_unchecked::<DataLoader<OrderItemsLoader>>();
        Ok(loader
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(OrderItem)
            .collect())
    }

    /// Sum of the lines.
    async fn subtotal(&self) -> Money {
        Money::new(self.0.subtotal_amount, self.0.currency.clone())
    }

    /// Discount applied.
    async fn discount(&self) -> Money {
        Money::new(self.0.discount_amount, self.0.currency.clone())
    }

    /// What the customer pays.
    async fn total(&self) -> Money {
        Money::new(self.0.total_amount, self.0.currency.clone())
    }

    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One line of an order.
pub struct OrderItem(OrderItemRow);

#[Object]
impl OrderItem {
    /// The product, resolved by the catalog subgraph.
    async fn product(&self) -> ProductRef {
        ProductRef {
            id: ID(self.0.product_id.to_string()),
        }
    }

    /// Product name at purchase time.
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }

    /// Unit price at purchase time.
    async fn unit_price(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(Money::new(
            self.0.unit_price,
            currency_of(ctx, self.0.order_id).await?,
        ))
    }

    /// Units bought.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }

    /// Unit price times quantity.
    async fn line_total(&self, ctx: &Context<'_>) -> Result<Money> {
        let amount = self.0.unit_price * i64::from(self.0.quantity);
        Ok(Money::new(amount, currency_of(ctx, self.0.order_id).await?))
    }
}

async fn currency_of(ctx: &Context<'_>, order_id: Uuid) -> Result<String> {
    let order = ctx
        .data_unchecked::<DataLoader<OrderLoader>>()
        .load_one(order_id)
        .await?;
    Ok(order
        .map(|o| o.currency)
        .ok_or(ApiError::NotFound("order".into()))?)
}

/// Orders by id, one query per batch.
pub struct OrderLoader(pub DbPool);

impl Loader<Uuid> for OrderLoader {
    type Value = OrderRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, OrderRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = orders::table
            .filter(orders::id.eq_any(ids))
            .select(OrderRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Lines of orders, by order id, one query per batch.
pub struct OrderItemsLoader(pub DbPool);

impl Loader<Uuid> for OrderItemsLoader {
    type Value = Vec<OrderItemRow>;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<OrderItemRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = order_items::table
            .filter(order_items::order_id.eq_any(ids))
            .order((order_items::order_id, order_items::position))
            .select(OrderItemRow::as_select())
            .load(&mut conn)
            .await?;
        let mut by_order: HashMap<Uuid, Vec<OrderItemRow>> = HashMap::new();
        for row in rows {
            by_order.entry(row.order_id).or_default().push(row);
        }
        Ok(by_order)
    }
}

/// Root queries of the order subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// One order of the caller (any order with `orders:read`); `null` when the id is
    /// unknown or the order is not visible to the caller.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let caller = ctx.caller();
        caller.identity()?;
        Ok(load_order(ctx, &id)
            .await?
            .filter(|order| caller.may_read_owned(order.0.user_id, "orders:read")))
    }

    /// Resolves `Order` references from other subgraphs, in batches.
    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        load_order(ctx, &id).await
    }
}

async fn load_order(ctx: &Context<'_>, id: &ID) -> Result<Option<Order>> {
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(ctx
        .data_unchecked::<DataLoader<OrderLoader>>()
        .load_one(uuid)
        .await?
        .map(Order))
}
