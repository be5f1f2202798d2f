//! The order subgraph's object types.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use auth::CallerExt as _;
use chrono::{DateTime, Utc};
use peer_api::PostalAddress;
use service_kit::ApiError;
use service_kit::money::Money;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::validate::{AddressParts, postal_address};
use uuid::Uuid;

use super::loaders::{HistoryLoader, OrderItemsLoader};
use crate::db::orders::{self, OrderCursor, OrderFilter};
use crate::db::{HistoryRow, OrderItemRow, OrderRow};
use crate::domain::OrderStatus;
use crate::workflows::lifecycle::status_of;

/// Who may see an order: its owner, or a holder of `orders:read`. Every way of reaching an
/// order (root fields, `_entities`, `User.orders`, mutations) goes through here; for anyone
/// else the order does not exist (`NOT_FOUND`).
pub fn visible(ctx: &Context<'_>, row: OrderRow) -> Result<Order, ApiError> {
    let caller = ctx.caller();
    caller.identity()?;
    if caller.may_read_owned(row.user_id, "orders:read") {
        Ok(Order(row))
    } else {
        Err(ApiError::NotFound("order".into()))
    }
}

/// An order of the caller's own; `NOT_FOUND` for anyone else's (also for `orders:read`
/// holders: only the customer changes their order).
pub fn owned(ctx: &Context<'_>, row: OrderRow) -> Result<OrderRow, ApiError> {
    if ctx.caller().user_id()? == row.user_id {
        Ok(row)
    } else {
        Err(ApiError::NotFound("order".into()))
    }
}

/// A product of the catalog subgraph, referenced by id.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// A variant (SKU) of a product in the catalog subgraph, referenced by id.
#[derive(SimpleObject)]
#[graphql(name = "ProductVariant", unresolvable = "id")]
pub struct ProductVariantRef {
    /// The variant's id.
    pub id: ID,
}

/// One option value of a variant, e.g. Color: Red (a value type the catalog defines too).
#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct SelectedOption {
    /// The option, e.g. Color.
    pub name: String,
    /// Its value, e.g. Red.
    pub value: String,
}

/// A user of the user subgraph; this subgraph adds `orders`.
pub struct User {
    pub id: ID,
}

#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The user's orders, newest first (`first` default 20, at most 100), optionally of one
    /// status. Owner or `orders:read`.
    #[graphql(directive = service_kit::subgraph::list_size::apply(Some(vec!["first".into()]), Some(vec!["edges".into()]), None, Some(false)))]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<OrderStatus>,
    ) -> Result<Option<OrderConnection>> {
        let user =
            Uuid::parse_str(&self.id).map_err(|_| ApiError::bad_input("id", "is not a user id"))?;
        ctx.caller().require_owner_or(user, "orders:read")?;
        let filter = OrderFilter {
            user: Some(user),
            status,
        };
        Ok(Some(
            OrderConnection::load(ctx, filter, first, after.as_deref()).await?,
        ))
    }
}

/// A customer's order.
pub struct Order(pub OrderRow);

impl Order {
    fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.0.currency.clone())
    }
}

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
    async fn status(&self) -> Result<OrderStatus> {
        Ok(status_of(&self.0)?)
    }

    /// Who placed it (fields from the user subgraph).
    async fn customer(&self) -> User {
        User {
            id: ID(self.0.user_id.to_string()),
        }
    }

    /// The lines, in the order they were bought.
    async fn items(&self, ctx: &Context<'_>) -> Result<Vec<OrderItem>> {
        let loader = ctx.data_unchecked::<DataLoader<OrderItemsLoader>>();
        Ok(loader
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|row| OrderItem {
                row,
                currency: self.0.currency.clone(),
            })
            .collect())
    }

    /// Sum of the lines.
    async fn subtotal(&self) -> Money {
        self.money(self.0.subtotal_amount)
    }

    /// Discount applied.
    async fn discount(&self) -> Money {
        self.money(self.0.discount_amount)
    }

    /// What the customer pays.
    async fn total(&self) -> Money {
        self.money(self.0.total_amount)
    }

    /// Where it ships: a copy taken at checkout (or at the last address change).
    async fn shipping_address(&self) -> Result<ShippingAddress> {
        let address: PostalAddress =
            serde_json::from_str(&self.0.shipping_address).map_err(|error| {
                tracing::error!(%error, order = %self.0.id, "unreadable shipping address");
                ApiError::Internal
            })?;
        Ok(ShippingAddress::from(address))
    }

    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Until when it can be paid; after that it expires and its stock goes back on sale.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// When it was paid.
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }

    /// When it was cancelled.
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }

    /// Why it was cancelled, as the customer said.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }

    /// The customer's note for the shop.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// Statuses this order may move to from here.
    async fn next_statuses(&self) -> Result<Vec<OrderStatus>> {
        Ok(status_of(&self.0)?.next())
    }

    /// Every status change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<OrderStatusChange>> {
        let loader = ctx.data_unchecked::<DataLoader<HistoryLoader>>();
        let rows = loader.load_one(self.0.id).await?.unwrap_or_default();
        rows.into_iter()
            .map(|row| OrderStatusChange::try_from(row).map_err(Into::into))
            .collect()
    }
}

/// One line of an order.
pub struct OrderItem {
    row: OrderItemRow,
    currency: String,
}

#[Object]
impl OrderItem {
    /// The product, resolved by the catalog subgraph (also when no longer sold).
    async fn product(&self) -> ProductRef {
        ProductRef {
            id: ID(self.row.product_id.to_string()),
        }
    }

    /// Product name at purchase time.
    async fn product_name(&self) -> &str {
        &self.row.product_name
    }

    /// The variant bought, resolved by the catalog subgraph (also when no longer sold).
    async fn variant(&self) -> Option<ProductVariantRef> {
        Some(ProductVariantRef {
            id: ID(self.row.variant_id.to_string()),
        })
    }

    /// The variant's SKU code at purchase time.
    async fn sku(&self) -> &str {
        &self.row.sku
    }

    /// The variant's name at purchase time ("Red / M"; the product's name without options).
    async fn variant_name(&self) -> &str {
        &self.row.variant_name
    }

    /// The variant's option values at purchase time.
    async fn options(&self) -> Result<Vec<SelectedOption>> {
        let options: Vec<peer_api::SelectedOption> = serde_json::from_str(&self.row.options)
            .map_err(|error| {
                tracing::error!(%error, order = %self.row.order_id, "unreadable line options");
                ApiError::Internal
            })?;
        Ok(options
            .into_iter()
            .map(|o| SelectedOption {
                name: o.name,
                value: o.value,
            })
            .collect())
    }

    /// Unit price at purchase time.
    async fn unit_price(&self) -> Money {
        Money::new(self.row.unit_price, self.currency.clone())
    }

    /// Units bought.
    async fn quantity(&self) -> i32 {
        self.row.quantity
    }

    /// Unit price times quantity.
    async fn line_total(&self) -> Money {
        let amount = self.row.unit_price * i64::from(self.row.quantity);
        Money::new(amount, self.currency.clone())
    }
}

/// Where an order ships; also the input of an explicit address (`ShippingAddressInput`).
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "ShippingAddressInput")]
pub struct ShippingAddress {
    /// Who receives it, 1 to 64 characters.
    pub recipient: String,
    /// Digits, spaces and + - ( ), at least 5 digits.
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    /// Street and number, 1 to 200 characters.
    pub line1: String,
    pub postal_code: Option<String>,
}

impl ShippingAddress {
    /// The address checked and trimmed; errors name `{prefix}.{field}`.
    pub fn validate(&self, prefix: &str) -> Result<PostalAddress, ApiError> {
        postal_address(
            prefix,
            AddressParts {
                recipient: &self.recipient,
                phone: &self.phone,
                province: &self.province,
                city: &self.city,
                district: &self.district,
                line1: &self.line1,
                postal_code: self.postal_code.as_deref(),
            },
        )
    }
}

impl From<PostalAddress> for ShippingAddress {
    fn from(a: PostalAddress) -> Self {
        Self {
            recipient: a.recipient,
            phone: a.phone,
            province: a.province,
            city: a.city,
            district: a.district,
            line1: a.line1,
            postal_code: a.postal_code,
        }
    }
}

/// A status change of an order.
#[derive(SimpleObject)]
pub struct OrderStatusChange {
    /// The status before; `null` for the order's creation.
    pub from: Option<OrderStatus>,
    /// The status after.
    pub to: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, when known (the customer's cancel reason, "not paid in time").
    pub reason: Option<String>,
}

impl TryFrom<HistoryRow> for OrderStatusChange {
    type Error = ApiError;

    fn try_from(row: HistoryRow) -> Result<Self, ApiError> {
        let parse = |value: &str| {
            OrderStatus::from_db(value).map_err(|error| {
                tracing::error!(%error, "unreadable history row");
                ApiError::Internal
            })
        };
        Ok(Self {
            from: row.from_status.as_deref().map(parse).transpose()?,
            to: parse(&row.to_status)?,
            at: row.at,
            reason: row.reason,
        })
    }
}

/// A page of orders.
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// How many orders match, over all pages.
    pub total_count: i64,
    /// Paging state.
    pub page_info: PageInfo,
    /// The orders of this page, newest first.
    pub edges: Vec<OrderEdge>,
}

/// An order and its position.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// Pass as `after` to continue after this order.
    pub cursor: String,
    /// The order.
    pub node: Order,
}

impl OrderConnection {
    /// One page of the orders `filter` selects (the caller was authorized for all of them).
    pub async fn load(
        ctx: &Context<'_>,
        filter: OrderFilter,
        first: Option<i32>,
        after: Option<&str>,
    ) -> Result<Self, ApiError> {
        let page = PageRequest::<OrderCursor>::parse(first, after)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let (mut rows, total_count) =
            orders::page(&mut conn, filter, page.after, page.limit).await?;
        let has_next_page = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let edges: Vec<OrderEdge> = rows
            .into_iter()
            .map(|row| OrderEdge {
                cursor: encode_cursor(&(row.created_at, row.id)),
                node: Order(row),
            })
            .collect();
        let page_info = PageInfo::of_page(
            edges.iter().map(|e| &e.cursor),
            has_next_page,
            page.after.is_some(),
        );
        Ok(Self {
            total_count,
            page_info,
            edges,
        })
    }
}
