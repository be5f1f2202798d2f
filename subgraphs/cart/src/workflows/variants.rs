//! Which variant (SKU) an add or a set is about, checked with the catalog: the one named,
//! or the product's only one; it and its product must be on sale.

use service_kit::ApiError;
use uuid::Uuid;

use crate::domain::variants::{Named, check_on_sale, check_owner, name_variant};
use crate::peers::{CatalogClient, ProductInfo};

/// The variant of `product` that `given` names (none: the product's only one), on sale.
/// `info` is the product as the catalog has it now (none: unknown, `NOT_FOUND`). A variant
/// the product does not list costs one more catalog call, to tell another product's
/// (`BAD_USER_INPUT`) from an unknown one (`NOT_FOUND`).
pub async fn variant_on_sale(
    catalog: &CatalogClient,
    product: Uuid,
    info: Option<&ProductInfo>,
    given: Option<Uuid>,
) -> Result<Uuid, ApiError> {
    let info = info.ok_or_else(|| ApiError::NotFound("product".into()))?;
    let listed: Vec<Uuid> = info.variants.iter().map(|v| v.id).collect();
    let (variant, status) = match name_variant(&listed, given)? {
        Named::Among(id) => {
            let status = info.variant(id).map(|v| v.status.clone());
            (id, status.ok_or(ApiError::Internal)?)
        }
        Named::Elsewhere(id) => {
            let owner = catalog.variant_owners(&[id]).await?.remove(&id);
            check_owner(product, owner.as_ref().map(|o| o.product.id))?;
            (id, owner.ok_or(ApiError::Internal)?.status)
        }
    };
    check_on_sale(&info.status, &status)?;
    Ok(variant)
}
