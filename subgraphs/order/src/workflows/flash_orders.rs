//! Orders of flash-sale purchases: the catalog admits a purchase (its units are already
//! set aside for the sale, so nothing is reserved here) and publishes
//! `FlashSalePurchaseAdmitted`; this creates the order at the sale price, in
//! `PENDING_PAYMENT` with the normal expiry, with the purchase's id, so that however often
//! the event arrives (redelivered, or sent again by the catalog) there is one order; an
//! admission whose order exists already is answered with `FlashOrderExists`. When
//! the order cannot be created (the address is not the buyer's), `FlashOrderRefused` lets
//! the catalog reject the purchase and give its units back.

use std::collections::HashMap;

use diesel_async::AsyncConnection as _;
use event_bus::NewEvent;
use peer_api::{AddressOf, PostalAddress, ReservedLine, SelectedOption};
use serde::Deserialize;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::config::OrderSettings;
use crate::db::orders::{self, NewOrder};
use crate::db::{ORDERS_STREAM, OrderRow};
use crate::peers::Peers;

/// Payload of the catalog's `FlashSalePurchaseAdmitted` v1.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admitted {
    pub purchase_id: Uuid,
    pub sale_id: Uuid,
    pub user_id: Uuid,
    pub product_id: Uuid,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub currency: String,
    pub address_id: Uuid,
    /// The variant on sale and its snapshot. Absent from admissions made before variants
    /// (still in flight after the upgrade): those were of the product's only variant,
    /// which has the product's id ([`Admitted::line`]).
    #[serde(default)]
    pub variant_id: Option<Uuid>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub variant_name: Option<String>,
    #[serde(default)]
    pub options: Option<Vec<SelectedOption>>,
}

impl Admitted {
    /// The order's one line: the purchase at the sale price, with its variant's snapshot
    /// (an admission from before variants: the product's only variant, as the catalog's
    /// migration made it).
    pub fn line(&self) -> ReservedLine {
        ReservedLine {
            product_id: self.product_id,
            variant_id: self.variant_id.unwrap_or(self.product_id),
            quantity: self.quantity,
            product_name: self.product_name.clone(),
            unit_price: self.unit_price,
            currency: self.currency.clone(),
            sku: self
                .sku
                .clone()
                .unwrap_or_else(|| peer_api::default_sku(self.product_id)),
            variant_name: self
                .variant_name
                .clone()
                .unwrap_or_else(|| self.product_name.clone()),
            options: self.options.clone().unwrap_or_default(),
        }
    }
}

/// An admitted purchase, with the trace of the request that admitted it.
pub struct Admission {
    pub purchase: Admitted,
    pub traceparent: Option<String>,
}

/// Creates the orders of admitted purchases, once each, for a read of the `flash-sales`
/// stream at a time: one look for the orders that exist, one call to the user subgraph for
/// the addresses, and one transaction for all the new orders and the answers to the
/// catalog (a thousand admissions in a second cost a few dozen commits, not a thousand).
/// Errors are transient: the whole read is retried (each order still once).
pub async fn place_all(
    db: &DbPool,
    services: &Peers,
    settings: &OrderSettings,
    mut admissions: Vec<Admission>,
) -> Result<(), ApiError> {
    // Sorted by purchase (and each once): two replicas placing overlapping reads (one
    // took over the other's late entries) insert in the same order and never deadlock.
    admissions.sort_by_key(|a| a.purchase.purchase_id);
    admissions.dedup_by_key(|a| a.purchase.purchase_id);
    if admissions.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = admissions.iter().map(|a| a.purchase.purchase_id).collect();
    let existing: HashMap<Uuid, String> = {
        let mut conn = db.get().await?;
        orders::statuses_of(&mut conn, &ids)
            .await?
            .into_iter()
            .collect()
    };
    let (new, sent_again): (Vec<_>, Vec<_>) = admissions
        .into_iter()
        .partition(|a| !existing.contains_key(&a.purchase.purchase_id));
    let asked = new
        .iter()
        .map(|a| AddressOf {
            user_id: a.purchase.user_id,
            address_id: Some(a.purchase.address_id),
        })
        .collect::<Vec<_>>();
    let addresses = if asked.is_empty() {
        Vec::new()
    } else {
        services.saved_addresses(asked).await?
    };
    let mut conn = db.get().await?;
    let placed = conn
        .transaction(async |conn| {
            // Sent again (its first `OrderPlaced` may have been lost with a Redis
            // restart): tell the catalog where the order is.
            for admission in &sent_again {
                let status = &existing[&admission.purchase.purchase_id];
                exists(conn, admission, status).await?;
            }
            let mut placed = Vec::with_capacity(new.len());
            for (admission, address) in new.iter().zip(&addresses) {
                let Some(address) = address else {
                    refuse(conn, admission, "ADDRESS_NOT_FOUND").await?;
                    continue;
                };
                if let Some(order) = place(conn, settings, admission, address).await? {
                    placed.push(order);
                }
            }
            Ok::<_, ApiError>(placed)
        })
        .await?;
    for (order, admission) in placed {
        tracing::info!(order = %order.id, number = %order.number, sale = %admission.sale_id, total = order.total_amount, "flash sale order placed");
    }
    Ok(())
}

/// Places the order of one admission (`None`: it exists already).
async fn place<'a>(
    conn: &mut diesel_async::AsyncPgConnection,
    settings: &OrderSettings,
    admission: &'a Admission,
    address: &PostalAddress,
) -> Result<Option<(OrderRow, &'a Admitted)>, ApiError> {
    let purchase = &admission.purchase;
    let address_json = serde_json::to_string(address).map_err(|_| ApiError::Internal)?;
    let subtotal = purchase
        .unit_price
        .checked_mul(i64::from(purchase.quantity))
        .ok_or(ApiError::Internal)?;
    let lines = [purchase.line()];
    let order = NewOrder {
        id: purchase.purchase_id,
        user_id: purchase.user_id,
        currency: &purchase.currency,
        subtotal,
        payment_ttl: settings.payment_ttl,
        shipping_address: &address_json,
        note: None,
        from_cart: false,
        lines: &lines,
        traceparent: admission.traceparent.clone(),
        flash_sale: Some(purchase.sale_id),
    };
    Ok(orders::place_order(conn, &order)
        .await?
        .map(|placed| (placed, purchase)))
}

/// Payload of `FlashOrderExists` v1.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Exists<'a> {
    purchase_id: Uuid,
    order_id: Uuid,
    status: &'a str,
}

/// Tells the catalog that the purchase's order exists, and its status (idempotent there:
/// the purchase is confirmed once; an order already closed gives its units back once).
async fn exists(
    conn: &mut diesel_async::AsyncPgConnection,
    admission: &Admission,
    status: &str,
) -> Result<(), ApiError> {
    let purchase = &admission.purchase;
    NewEvent::new(
        ORDERS_STREAM,
        "FlashOrderExists",
        purchase.purchase_id,
        &Exists {
            purchase_id: purchase.purchase_id,
            order_id: purchase.purchase_id,
            status,
        },
        admission.traceparent.clone(),
    )
    .insert(conn)
    .await?;
    Ok(())
}

/// Payload of `FlashOrderRefused` v1.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Refused<'a> {
    purchase_id: Uuid,
    sale_id: Uuid,
    user_id: Uuid,
    reason: &'a str,
}

/// Tells the catalog the purchase gets no order (idempotent there: a purchase is
/// rejected and its units given back once).
async fn refuse(
    conn: &mut diesel_async::AsyncPgConnection,
    admission: &Admission,
    reason: &str,
) -> Result<(), ApiError> {
    let purchase = &admission.purchase;
    tracing::warn!(purchase = %purchase.purchase_id, reason, "flash sale order refused");
    NewEvent::new(
        ORDERS_STREAM,
        "FlashOrderRefused",
        purchase.purchase_id,
        &Refused {
            purchase_id: purchase.purchase_id,
            sale_id: purchase.sale_id,
            user_id: purchase.user_id,
            reason,
        },
        admission.traceparent.clone(),
    )
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(extra: serde_json::Value) -> Admitted {
        let mut payload = serde_json::json!({
            "purchaseId": Uuid::now_v7(), "saleId": Uuid::now_v7(), "userId": Uuid::now_v7(),
            "productId": "0b9a3a3e-8c1f-4a43-9a36-1c1d2f0e7a10", "productName": "Phone",
            "quantity": 2, "unitPrice": 100, "currency": "CNY", "addressId": Uuid::now_v7(),
        });
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(payload).unwrap()
    }

    #[test]
    fn an_admission_from_before_variants_is_of_the_only_variant() {
        let line = admitted(serde_json::json!({})).line();
        assert_eq!(line.variant_id, line.product_id);
        assert_eq!(line.sku, "SKU-0B9A3A3E8C1F4A439A361C1D2F0E7A10");
        assert_eq!(line.variant_name, "Phone");
        assert!(line.options.is_empty());
        assert_eq!((line.quantity, line.unit_price), (2, 100));
    }

    #[test]
    fn an_admission_names_its_variant() {
        let variant = Uuid::now_v7();
        let line = admitted(serde_json::json!({
            "variantId": variant, "sku": "PH-RED", "variantName": "Red",
            "options": [{ "name": "Color", "value": "Red" }],
        }))
        .line();
        assert_eq!(line.variant_id, variant);
        assert_eq!(
            (line.sku.as_str(), line.variant_name.as_str()),
            ("PH-RED", "Red")
        );
        assert_eq!(
            line.options,
            [SelectedOption {
                name: "Color".into(),
                value: "Red".into()
            }]
        );
    }
}
