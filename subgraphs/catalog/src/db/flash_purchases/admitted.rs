//! The `FlashSalePurchaseAdmitted` event of a recorded purchase, written to the outbox in
//! the transaction that records it (or resends it).

use diesel::QueryableByName;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use event_bus::NewEvent;
use uuid::Uuid;

use super::{FLASH_SALES_STREAM, PurchaseRow};

/// A purchase with the variant it bought, as recorded (the columns past diesel's 16).
#[derive(QueryableByName)]
pub(super) struct WithVariant {
    #[diesel(embed)]
    pub(super) purchase: PurchaseRow,
    #[diesel(sql_type = SqlUuid)]
    pub(super) variant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub(super) sku: String,
    #[diesel(sql_type = Text)]
    pub(super) variant_name: String,
    #[diesel(sql_type = Text)]
    pub(super) options_json: String,
}

/// Payload of `FlashSalePurchaseAdmitted` v1 (the variant's fields came with catalog v2:
/// an order subgraph that does not know them ignores them).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Admitted<'a> {
    purchase_id: Uuid,
    sale_id: Uuid,
    user_id: Uuid,
    product_id: Uuid,
    product_name: &'a str,
    quantity: i32,
    unit_price: i64,
    currency: &'a str,
    address_id: Uuid,
    variant_id: Uuid,
    sku: &'a str,
    variant_name: &'a str,
    options: serde_json::Value,
}

pub(super) fn admitted_event(recorded: &WithVariant, traceparent: Option<String>) -> NewEvent {
    let purchase = &recorded.purchase;
    let options = serde_json::from_str(&recorded.options_json).unwrap_or_else(|error| {
        tracing::error!(%error, purchase = %purchase.id, "unreadable variant options");
        serde_json::Value::Array(Vec::new())
    });
    NewEvent::new(
        FLASH_SALES_STREAM,
        "FlashSalePurchaseAdmitted",
        purchase.id,
        &Admitted {
            purchase_id: purchase.id,
            sale_id: purchase.sale_id,
            user_id: purchase.user_id,
            product_id: purchase.product_id,
            product_name: &purchase.product_name,
            quantity: purchase.quantity,
            unit_price: purchase.unit_price,
            currency: &purchase.currency,
            address_id: purchase.address_id,
            variant_id: recorded.variant_id,
            sku: &recorded.sku,
            variant_name: &recorded.variant_name,
            options,
        },
        traceparent,
    )
}
