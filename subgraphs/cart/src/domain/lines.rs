//! What a cart line may hold, and what a change makes of it.

use service_kit::ApiError;

/// Most units of one product in a cart.
pub const MAX_QUANTITY: i32 = 999;
/// Most lines in a cart.
pub const MAX_LINES: i64 = 100;

/// How a change sets a line's quantity.
#[derive(Clone, Copy)]
pub enum Change {
    Add(i32),
    Set(i32),
    Remove,
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
}
