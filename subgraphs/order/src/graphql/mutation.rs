//! Checkout and the customer's changes to their orders.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::CallerExt as _;
use service_kit::ApiError;
use service_kit::validate::optional_text;

use super::query::{load_visible, parse_order_id};
use super::types::{Order, ShippingAddress, owned};
use crate::domain::Command;
use crate::domain::checkout::{
    AddressChoice, CheckoutRequest, ItemInput, NOTE_MAX, check_key, normalize_lines,
};
use crate::peers::Peers;
use crate::workflows::checkout::Checkout;
use crate::workflows::lifecycle;
use service_kit::telemetry::TraceParent;

/// One product (one of its variants) and how many units to buy.
#[derive(InputObject)]
pub struct CheckoutItemInput {
    /// The product.
    pub product_id: ID,
    /// 1 to 999 units.
    pub quantity: i32,
    /// Required when the product has more than one variant.
    pub variant_id: Option<ID>,
}

/// What to buy and where to ship it.
#[derive(InputObject)]
pub struct CheckoutInput {
    /// Retrying with the same key returns the same order (8 to 128 characters).
    pub idempotency_key: String,
    /// A saved address of the caller. Neither this nor `address`: the default saved address.
    pub address_id: Option<ID>,
    /// An explicit address instead of a saved one.
    pub address: Option<ShippingAddress>,
    /// Buy these items directly instead of the cart's content (1 to 100 products, 1 to 999
    /// units each).
    pub items: Option<Vec<CheckoutItemInput>>,
    /// A note for the shop, up to 500 characters.
    pub note: Option<String>,
}

impl CheckoutInput {
    fn validate(&self) -> Result<CheckoutRequest, ApiError> {
        check_key(&self.idempotency_key)?;
        let items = self
            .items
            .as_ref()
            .map(|items| {
                let lines: Vec<ItemInput<'_>> = items
                    .iter()
                    .map(|i| {
                        (
                            i.product_id.as_str(),
                            i.variant_id.as_ref().map(|v| v.as_str()),
                            i.quantity,
                        )
                    })
                    .collect();
                normalize_lines(&lines)
            })
            .transpose()?;
        let address = match (&self.address_id, &self.address) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_input(
                    "input.address",
                    "give addressId or address, not both",
                ));
            }
            (Some(id), None) => AddressChoice::Saved(
                uuid::Uuid::parse_str(id)
                    .map_err(|_| ApiError::bad_input("input.addressId", "is not an address id"))?,
            ),
            (None, Some(address)) => AddressChoice::Given(address.validate("input.address")?),
            (None, None) => AddressChoice::Default,
        };
        let note = match self.note.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(note) => Some(optional_text("input.note", note, NOTE_MAX)?.to_owned()),
        };
        Ok(CheckoutRequest {
            items,
            address,
            note,
        })
    }
}

fn traceparent(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<TraceParent>().map(|t| t.0.clone())
}

/// Mutations of the order subgraph.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Turns the cart (or `items`) into an order: prices and names from the catalog now,
    /// stock reserved for every line or none, the bought lines taken out of the cart. Each
    /// line is of one variant: `variantId`, or the product's only one. The order waits for
    /// payment until `expiresAt`. Errors: `INSUFFICIENT_STOCK` (with `productId`,
    /// `variantId` and `available`), `NOT_FOUND` (product, variant, address), `CONFLICT` (a
    /// product no longer sold, an empty cart, the key used for another request),
    /// `BAD_USER_INPUT` (also `variantId` missing for a product with several variants, or of
    /// another product).
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> Result<Order> {
        let user = ctx.caller().user_id()?;
        let request = input.validate()?;
        let checkout = ctx.data_unchecked::<Checkout>();
        let row = checkout
            .place(user, &input.idempotency_key, &request, traceparent(ctx))
            .await?;
        Ok(Order(row))
    }

    /// Cancels an unpaid order of the caller; its stock goes back on sale. `CONFLICT` once
    /// it is paid, cancelled or expired.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> Result<Order> {
        let id = parse_order_id("id", &id)?;
        let reason = match reason.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(reason) => Some(optional_text("reason", reason, 200)?.to_owned()),
        };
        let order = owned(ctx, load_visible(ctx, id).await?.0)?;
        let db = ctx.data_unchecked::<service_kit::DbPool>();
        let row = lifecycle::apply(
            db,
            order,
            Command::Cancel,
            reason.as_deref(),
            traceparent(ctx),
        )
        .await?;
        // The catalog also releases on `OrderCancelled`; this makes it immediate.
        if let Err(error) = ctx
            .data_unchecked::<Peers>()
            .release(id, "order cancelled")
            .await
        {
            tracing::warn!(error = %error.message(), order = %id, "stock not released yet; the OrderCancelled event will do it");
        }
        Ok(Order(row))
    }

    /// Ships an unpaid order of the caller to another address. `CONFLICT` once paid.
    async fn update_order_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        address: ShippingAddress,
    ) -> Result<Order> {
        let id = parse_order_id("id", &id)?;
        let address = address.validate("address")?;
        let order = owned(ctx, load_visible(ctx, id).await?.0)?;
        let json = serde_json::to_string(&address).map_err(|_| ApiError::Internal)?;
        let db = ctx.data_unchecked::<service_kit::DbPool>();
        Ok(Order(lifecycle::change_address(db, order, &json).await?))
    }
}
