//! Buying in a flash sale: `purchaseFlashSale` (signed in) and `flashSalePurchase(id)`
//! (the buyer's own). The purchase itself is `crate::workflows::flash_purchases`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use auth::CallerExt as _;
use service_kit::{DbPool, Redis, validate};

use crate::domain::flash_sales::{self as rules, PurchaseStatus};
use crate::flash_counters::Admissions;
use crate::workflows::flash_purchases::{self, Purchase, PurchaseLimits, Request};
use crate::workflows::flash_recorder::Recorder;

/// Where a purchase is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum FlashSalePurchaseStatus {
    /// Admitted: units taken, the order is being created.
    Pending,
    /// The order exists (`order`).
    Confirmed,
    /// Not admitted, or its order could not be created (`reason`).
    Rejected,
}

impl From<PurchaseStatus> for FlashSalePurchaseStatus {
    fn from(status: PurchaseStatus) -> Self {
        match status {
            PurchaseStatus::Pending => Self::Pending,
            PurchaseStatus::Confirmed => Self::Confirmed,
            PurchaseStatus::Rejected => Self::Rejected,
        }
    }
}

/// An order of the order subgraph, referenced by id.
#[derive(SimpleObject)]
#[graphql(name = "Order", unresolvable = "id")]
pub struct OrderRef {
    pub id: ID,
}

/// One purchase attempt in a flash sale.
pub struct FlashSalePurchase(Purchase);

#[Object]
impl FlashSalePurchase {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn status(&self) -> FlashSalePurchaseStatus {
        self.0.status.into()
    }

    /// Why it was rejected: `SOLD_OUT`, `LIMIT_EXCEEDED`, `NOT_ACTIVE`, or
    /// `ADDRESS_NOT_FOUND` when the order could not be created.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The order, once `CONFIRMED` (it has the purchase's id).
    async fn order(&self) -> Option<OrderRef> {
        (self.0.status == PurchaseStatus::Confirmed).then(|| OrderRef {
            id: ID(self.0.id.to_string()),
        })
    }
}

/// What `purchaseFlashSale` asks for.
#[derive(InputObject)]
pub struct FlashSalePurchaseInput {
    pub flash_sale_id: ID,
    /// Units, 1 to 100 (and within the sale's per-user limit).
    pub quantity: i32,
    /// One of the buyer's saved addresses, to ship the order to.
    pub address_id: ID,
    /// 8 to 128 characters chosen by the client: the same key again returns the same
    /// purchase.
    pub idempotency_key: String,
}

/// Buying in flash sales.
#[derive(Default)]
pub struct FlashPurchaseMutation;

#[Object]
impl FlashPurchaseMutation {
    /// Tries to buy `quantity` units in a flash sale. Answers at once: `PENDING` (admitted;
    /// the order at the sale price follows within seconds, see `flashSalePurchase`) or
    /// `REJECTED` with `SOLD_OUT`, `LIMIT_EXCEEDED` or `NOT_ACTIVE`. Signed in; more than
    /// `FLASH_PURCHASES_PER_SECOND` attempts a second are `RATE_LIMITED`.
    async fn purchase_flash_sale(
        &self,
        ctx: &Context<'_>,
        input: FlashSalePurchaseInput,
    ) -> Result<FlashSalePurchase> {
        let buyer = ctx.caller().user_id()?;
        let sale = validate::id("input.flashSaleId", &input.flash_sale_id)?;
        rules::check_purchase_quantity(input.quantity)?;
        let address = validate::id("input.addressId", &input.address_id)?;
        let key = validate::idempotency_key("input.idempotencyKey", &input.idempotency_key)?;
        let request = Request {
            buyer,
            sale,
            quantity: input.quantity,
            address,
            fingerprint: rules::purchase_fingerprint(sale, input.quantity, address),
            key,
            traceparent: ctx
                .data_opt::<service_kit::telemetry::TraceParent>()
                .map(|t| t.0.clone()),
        };
        Ok(FlashSalePurchase(
            flash_purchases::purchase(
                ctx.data_unchecked::<DbPool>(),
                ctx.data_unchecked::<Redis>(),
                (
                    ctx.data_unchecked::<Admissions>(),
                    ctx.data_unchecked::<Recorder>(),
                ),
                *ctx.data_unchecked::<PurchaseLimits>(),
                request,
            )
            .await?,
        ))
    }
}

/// The caller's purchase `id`; `NOT_FOUND` when unknown or someone else's.
pub async fn find(ctx: &Context<'_>, id: &ID) -> Result<FlashSalePurchase, service_kit::ApiError> {
    let buyer = ctx.caller().user_id()?;
    let id = validate::id("id", id)?;
    flash_purchases::find(
        ctx.data_unchecked::<DbPool>(),
        ctx.data_unchecked::<Redis>(),
        buyer,
        id,
    )
    .await
    .map(FlashSalePurchase)
}
