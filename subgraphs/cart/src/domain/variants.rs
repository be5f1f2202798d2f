//! Which variant (SKU) of a product a cart change names (contract, "Variants"): `productId`
//! alone means the product's only variant; with several, `variantId` is required. A
//! `variantId` of another product is `BAD_USER_INPUT`, an unknown one `NOT_FOUND`.

use service_kit::ApiError;
use uuid::Uuid;

/// What a change names among the variants the catalog lists for its product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    /// One of the product's variants.
    Among(Uuid),
    /// Not one of them: another product's, or unknown (only the catalog can tell).
    Elsewhere(Uuid),
}

/// The variant `given` names among `variants` (the product's, in any status), or the
/// product's only one when none is given.
pub fn name_variant(variants: &[Uuid], given: Option<Uuid>) -> Result<Named, ApiError> {
    match (given, variants) {
        (Some(given), _) if variants.contains(&given) => Ok(Named::Among(given)),
        (Some(given), _) => Ok(Named::Elsewhere(given)),
        (None, [only]) => Ok(Named::Among(*only)),
        // Every product has one; none listed means nothing can be sold.
        (None, []) => Err(ApiError::Conflict(
            "this product has nothing to sell".into(),
        )),
        (None, several) => Err(ApiError::bad_input(
            "variantId",
            format!("the product has {} variants: name one", several.len()),
        )),
    }
}

/// A variant not among the product's: `owner` is the product it belongs to, as the
/// catalog says (none: unknown). Its own product means the product's list was read
/// before the variant was added: it is fine.
pub fn check_owner(product: Uuid, owner: Option<Uuid>) -> Result<(), ApiError> {
    match owner {
        Some(owner) if owner == product => Ok(()),
        Some(_) => Err(ApiError::bad_input(
            "variantId",
            "this variant belongs to another product",
        )),
        None => Err(ApiError::NotFound("variant".into())),
    }
}

/// Only what is on sale may be added: the product and its variant both `ACTIVE`.
pub fn check_on_sale(product_status: &str, variant_status: &str) -> Result<(), ApiError> {
    if product_status != "ACTIVE" {
        return Err(ApiError::Conflict("this product is no longer sold".into()));
    }
    if variant_status != "ACTIVE" {
        return Err(ApiError::Conflict("this variant is no longer sold".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: ApiError) -> String {
        match error {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("not BAD_USER_INPUT: {}", other.code()),
        }
    }

    #[test]
    fn a_product_alone_means_its_only_variant() {
        let a = Uuid::new_v4();
        assert_eq!(name_variant(&[a], None).unwrap(), Named::Among(a));
        assert_eq!(name_variant(&[], None).unwrap_err().code(), "CONFLICT");
    }

    #[test]
    fn a_product_with_several_variants_needs_one_named() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(field(name_variant(&[a, b], None).unwrap_err()), "variantId");
        assert_eq!(name_variant(&[a, b], Some(b)).unwrap(), Named::Among(b));
    }

    #[test]
    fn a_variant_not_listed_is_another_product_s_or_unknown() {
        let (product, other, v) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            name_variant(&[Uuid::new_v4()], Some(v)).unwrap(),
            Named::Elsewhere(v)
        );
        assert_eq!(
            field(check_owner(product, Some(other)).unwrap_err()),
            "variantId"
        );
        assert_eq!(check_owner(product, None).unwrap_err().code(), "NOT_FOUND");
        assert!(check_owner(product, Some(product)).is_ok());
    }

    #[test]
    fn only_active_products_and_variants_are_on_sale() {
        assert!(check_on_sale("ACTIVE", "ACTIVE").is_ok());
        assert_eq!(
            check_on_sale("ARCHIVED", "ACTIVE").unwrap_err().code(),
            "CONFLICT"
        );
        assert_eq!(
            check_on_sale("ACTIVE", "DRAFT").unwrap_err().code(),
            "CONFLICT"
        );
    }
}
