//! Products: their lifecycle (no I/O).

use async_graphql::Enum;
use service_kit::ApiError;

/// Lifecycle of a product. Only `ACTIVE` products are visible to customers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum ProductStatus {
    /// Being prepared; not visible to customers.
    Draft,
    /// On sale.
    Active,
    /// Withdrawn (soft-deleted); kept for the orders and carts that reference it.
    Archived,
}

impl ProductStatus {
    /// The value stored in `products.status`.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
        }
    }

    /// A stored value; anything else is an error, never a guess.
    pub fn from_db(value: &str) -> Result<Self, ApiError> {
        match value {
            "DRAFT" => Ok(Self::Draft),
            "ACTIVE" => Ok(Self::Active),
            "ARCHIVED" => Ok(Self::Archived),
            other => Err(ApiError::corrupt("products.status", other)),
        }
    }
}

/// A price in minor units, 0 or more, under `field`.
pub fn check_price(field: &str, price: i32) -> Result<i64, ApiError> {
    if price < 0 {
        return Err(ApiError::bad_input(
            field,
            "must be 0 or more (minor units)",
        ));
    }
    Ok(i64::from(price))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_statuses_round_trip_and_unknown_ones_are_errors() {
        for status in [
            ProductStatus::Draft,
            ProductStatus::Active,
            ProductStatus::Archived,
        ] {
            assert_eq!(ProductStatus::from_db(status.as_db()).unwrap(), status);
        }
        let unknown = ProductStatus::from_db("DELETED").unwrap_err();
        assert_eq!(unknown.code(), "INTERNAL_SERVER_ERROR");
    }
}
