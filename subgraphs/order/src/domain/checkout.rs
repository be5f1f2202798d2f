//! What a customer may buy in one checkout, and how a checkout request is recognised when
//! it is retried.

use peer_api::{PostalAddress, ReservedLine, StockLine};
use service_kit::ApiError;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Most different lines (product and variant) in one order (as in a cart).
pub const MAX_LINES: usize = 100;
/// Most units of one line (product and variant) in one order (as in a cart).
pub const MAX_QUANTITY: i32 = 999;
/// Idempotency keys are 8 to 128 characters (the contract).
pub const KEY_LENGTH: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest order note.
pub const NOTE_MAX: usize = 500;

/// Where the shipping address comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum AddressChoice {
    /// A saved address of the caller.
    Saved(Uuid),
    /// The caller's default saved address (neither `addressId` nor `address` given).
    Default,
    /// Given in the request (already checked).
    Given(PostalAddress),
}

/// A checkout request after its shape was checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckoutRequest {
    /// `None`: buy what is in the cart.
    pub items: Option<Vec<StockLine>>,
    pub address: AddressChoice,
    pub note: Option<String>,
}

impl CheckoutRequest {
    /// A fingerprint of the request: the same key with a different request is `CONFLICT`.
    /// Lines are merged and sorted first, so the same purchase written differently matches.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).expect("requests serialize");
        let digest = Sha256::digest(json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The idempotency key, checked.
pub fn check_key(key: &str) -> Result<&str, ApiError> {
    let length = key.chars().count();
    if KEY_LENGTH.contains(&length) && !key.chars().any(char::is_control) {
        Ok(key)
    } else {
        Err(ApiError::bad_input(
            "input.idempotencyKey",
            "must be 8 to 128 characters without control characters",
        ))
    }
}

/// One requested line as the client wrote it: product id, variant id (optional: a
/// product's only variant) and quantity.
pub type ItemInput<'a> = (&'a str, Option<&'a str>, i32);

/// Explicit lines: ids must be ids, quantities 1–999 per line (duplicates of a product and
/// variant are added up), 1–100 lines. Sorted by product, then variant. A line without a
/// variant and one naming its product's only variant are merged by the catalog, which
/// alone knows they are the same.
pub fn normalize_lines(items: &[ItemInput<'_>]) -> Result<Vec<StockLine>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::bad_input("input.items", "must not be empty"));
    }
    let mut lines: Vec<StockLine> = Vec::new();
    for (index, &(product_id, variant_id, quantity)) in items.iter().enumerate() {
        let field = |name: &str| format!("input.items[{index}].{name}");
        let product_id = Uuid::parse_str(product_id)
            .map_err(|_| ApiError::bad_input(field("productId"), "is not a product id"))?;
        let variant_id = variant_id
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| ApiError::bad_input(field("variantId"), "is not a variant id"))?;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(ApiError::bad_input(
                field("quantity"),
                format!("must be between 1 and {MAX_QUANTITY}, got {quantity}"),
            ));
        }
        match lines
            .iter_mut()
            .find(|l| l.product_id == product_id && l.variant_id == variant_id)
        {
            Some(line) => line.quantity += quantity,
            None => lines.push(StockLine {
                product_id,
                variant_id,
                quantity,
            }),
        }
    }
    check_lines("input.items", &mut lines)?;
    Ok(lines)
}

/// The limits on lines wherever they come from (the cart has the same ones); sorts them.
pub fn check_lines(field: &str, lines: &mut [StockLine]) -> Result<(), ApiError> {
    if lines.len() > MAX_LINES {
        return Err(ApiError::bad_input(
            field,
            format!(
                "at most {MAX_LINES} different products or variants, got {}",
                lines.len()
            ),
        ));
    }
    if let Some(line) = lines.iter().find(|l| l.quantity > MAX_QUANTITY) {
        let what = match line.variant_id {
            Some(variant) => format!("variant {variant} of {}", line.product_id),
            None => line.product_id.to_string(),
        };
        return Err(ApiError::bad_input(
            field,
            format!(
                "at most {MAX_QUANTITY} units of a product, got {} of {what}",
                line.quantity
            ),
        ));
    }
    lines.sort_by_key(|l| (l.product_id, l.variant_id));
    Ok(())
}

/// What the order costs: the sum of its reserved lines, in their one currency.
pub fn subtotal(lines: &[ReservedLine]) -> Result<(i64, String), ApiError> {
    let currency = lines
        .first()
        .map(|l| l.currency.clone())
        .ok_or(ApiError::Internal)?;
    if lines.iter().any(|l| l.currency != currency) {
        return Err(ApiError::Conflict(
            "these products are priced in different currencies: buy them in separate orders".into(),
        ));
    }
    let amount = lines
        .iter()
        .map(|l| l.unit_price * i64::from(l.quantity))
        .sum();
    Ok((amount, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> String {
        Uuid::from_bytes([n; 16]).to_string()
    }

    fn items(lines: &[(String, i32)]) -> Vec<ItemInput<'_>> {
        lines.iter().map(|(p, q)| (p.as_str(), None, *q)).collect()
    }

    #[test]
    fn lines_are_checked_merged_and_sorted() {
        let lines = normalize_lines(&items(&[(id(2), 1), (id(1), 3), (id(2), 4)])).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].product_id.to_string(), lines[0].quantity),
            (id(1), 3)
        );
        assert_eq!(lines[1].quantity, 5);

        let field_of = |lines: &[(String, i32)]| match normalize_lines(&items(lines)).unwrap_err() {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field_of(&[]), "input.items");
        assert_eq!(field_of(&[(id(1), 0)]), "input.items[0].quantity");
        assert_eq!(field_of(&[(id(1), -1)]), "input.items[0].quantity");
        assert_eq!(field_of(&[(id(1), 1000)]), "input.items[0].quantity");
        assert_eq!(
            field_of(&[(id(1), 1), ("x".into(), 1)]),
            "input.items[1].productId"
        );
        assert_eq!(field_of(&[(id(1), 600), (id(1), 600)]), "input.items");
        let many: Vec<(String, i32)> = (0..=100u8).map(|n| (id(n), 1)).collect();
        assert_eq!(field_of(&many), "input.items");
    }

    #[test]
    fn lines_of_variants_merge_per_variant() {
        let (product, red, blue) = (id(1), id(7), id(8));
        let lines = normalize_lines(&[
            (&product, Some(&blue), 1),
            (&product, Some(&red), 2),
            (&product, Some(&blue), 3),
            (&product, None, 1),
        ])
        .unwrap();
        let summary: Vec<(Option<String>, i32)> = lines
            .iter()
            .map(|l| (l.variant_id.map(|v| v.to_string()), l.quantity))
            .collect();
        // No variant first (the catalog resolves it), then by variant id; duplicates added.
        assert_eq!(
            summary,
            [(None, 1), (Some(red.clone()), 2), (Some(blue.clone()), 4)]
        );
        let bad = normalize_lines(&[(&product, Some("x"), 1)]).unwrap_err();
        assert!(
            matches!(&bad, ApiError::BadUserInput { field, .. } if field == "input.items[0].variantId"),
            "{bad:?}"
        );
        // 999 units per variant, not per product.
        assert!(
            normalize_lines(&[(&product, Some(&red), 999), (&product, Some(&blue), 999)]).is_ok()
        );
    }

    #[test]
    fn keys_and_fingerprints() {
        assert!(check_key("12345678").is_ok());
        assert!(check_key("1234567").is_err());
        assert!(check_key(&"k".repeat(129)).is_err());
        assert!(check_key("abc\ndefgh").is_err());
        let request = |variant: Option<&str>, quantity| CheckoutRequest {
            items: Some(normalize_lines(&[(&id(1), variant, quantity)]).unwrap()),
            address: AddressChoice::Default,
            note: None,
        };
        assert_eq!(
            request(None, 1).fingerprint(),
            request(None, 1).fingerprint()
        );
        assert_ne!(
            request(None, 1).fingerprint(),
            request(None, 2).fingerprint()
        );
        assert_ne!(
            request(None, 1).fingerprint(),
            request(Some(&id(2)), 1).fingerprint()
        );
        // A request without variants has the fingerprint it had before variants existed
        // (a retry across the upgrade is still the same request).
        let json = serde_json::to_string(&request(None, 1)).unwrap();
        assert!(!json.contains("variant"), "{json}");
    }

    #[test]
    fn subtotal_needs_one_currency() {
        let line = |price, quantity, currency: &str| ReservedLine {
            product_id: Uuid::nil(),
            variant_id: Uuid::nil(),
            quantity,
            product_name: "x".into(),
            unit_price: price,
            currency: currency.into(),
            sku: "SKU-X".into(),
            variant_name: "x".into(),
            options: Vec::new(),
        };
        assert_eq!(
            subtotal(&[line(250, 2, "CNY"), line(100, 1, "CNY")]).unwrap(),
            (600, "CNY".to_owned())
        );
        let error = subtotal(&[line(1, 1, "CNY"), line(1, 1, "USD")]).unwrap_err();
        assert_eq!(error.code(), "CONFLICT");
    }
}
