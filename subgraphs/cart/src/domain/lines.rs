//! What a cart line may hold, and what a change makes of it.

use service_kit::ApiError;
use uuid::Uuid;

/// Most units of one variant in a cart.
pub const MAX_QUANTITY: i32 = 999;
/// Most lines in a cart.
pub const MAX_LINES: i64 = 100;

/// A line's identity: one variant (SKU) of a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineKey {
    pub product: Uuid,
    pub variant: Uuid,
}

/// The line a removal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The line of this variant.
    Variant(LineKey),
    /// The cart's only line of this product (no `variantId` given): see [`only_line`].
    OnlyLineOf(Uuid),
}

/// A change of a cart. The variants of `Add` and `Set` were checked with the catalog; a
/// removal needs only the cart.
#[derive(Clone, Copy, Debug)]
pub enum Change {
    /// Adds units to the variant's line (creating it).
    Add(LineKey, i32),
    /// Sets the variant's line to at least one unit (creating it).
    Set(LineKey, i32),
    /// Removes a line (nothing happens when there is none).
    Remove(Pick),
    /// Removes every line.
    Clear,
}

/// A quantity asked for in a mutation: `min` (1 to add, 0 to set) up to [`MAX_QUANTITY`].
pub fn check_quantity(quantity: i32, min: i32) -> Result<(), ApiError> {
    if (min..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "quantity",
            format!("must be between {min} and {MAX_QUANTITY}, got {quantity}"),
        ))
    }
}

/// The line's quantity after adding (`adding`) or setting `quantity` when it holds
/// `current` (none: no line yet); more than [`MAX_QUANTITY`] is refused.
pub fn wanted_quantity(current: Option<i32>, quantity: i32, adding: bool) -> Result<i32, ApiError> {
    let wanted = match (current, adding) {
        (Some(current), true) => current + quantity,
        _ => quantity,
    };
    if wanted > MAX_QUANTITY {
        return Err(ApiError::bad_input(
            "quantity",
            format!(
                "at most {MAX_QUANTITY} units per line; the cart already has {}",
                current.unwrap_or(0)
            ),
        ));
    }
    Ok(wanted)
}

/// The line a change without `variantId` means, given the variants of the cart's lines of
/// that product: its only line, or none when the cart has no line of it. The cart alone
/// decides, so a line can be changed or removed while the catalog is down or no longer
/// knows the product; with two lines of the product, which one is meant is unclear.
pub fn only_line(variants: &[Uuid]) -> Result<Option<Uuid>, ApiError> {
    match variants {
        [] => Ok(None),
        [only] => Ok(Some(*only)),
        _ => Err(ApiError::bad_input(
            "variantId",
            format!(
                "the cart holds {} variants of this product: name one",
                variants.len()
            ),
        )),
    }
}

/// A line named by its variant must be of the product named with it.
pub fn check_line_product(product: Uuid, line_product: Uuid) -> Result<(), ApiError> {
    if product == line_product {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "variantId",
            "this variant belongs to another product",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_sums_and_setting_replaces_within_the_bound() {
        assert_eq!(wanted_quantity(Some(2), 3, true).unwrap(), 5);
        assert_eq!(wanted_quantity(Some(2), 3, false).unwrap(), 3);
        assert_eq!(wanted_quantity(None, 3, true).unwrap(), 3);
        assert!(wanted_quantity(Some(998), 2, true).is_err());
        assert_eq!(wanted_quantity(Some(998), 1, true).unwrap(), MAX_QUANTITY);
    }

    #[test]
    fn quantities_outside_the_range_are_bad_input() {
        assert!(check_quantity(0, 1).is_err());
        assert!(check_quantity(0, 0).is_ok());
        assert!(check_quantity(MAX_QUANTITY + 1, 0).is_err());
    }

    #[test]
    fn without_a_variant_the_cart_s_only_line_of_the_product_is_meant() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(only_line(&[]).unwrap(), None);
        assert_eq!(only_line(&[a]).unwrap(), Some(a));
        let two = only_line(&[a, b]).unwrap_err();
        assert_eq!(two.code(), "BAD_USER_INPUT");
        assert!(matches!(two, ApiError::BadUserInput { field, .. } if field == "variantId"));
    }

    #[test]
    fn a_line_of_another_product_is_bad_input() {
        let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(check_line_product(p, p).is_ok());
        assert!(matches!(
            check_line_product(p, q),
            Err(ApiError::BadUserInput { field, .. }) if field == "variantId"
        ));
    }
}
