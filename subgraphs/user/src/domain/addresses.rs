//! Address rules: how many a user may keep, and which one is the default (exactly one, as
//! long as they have any).

use service_kit::ApiError;

/// Most addresses one user may keep.
pub const MAX_ADDRESSES: i64 = 20;

/// Whether a new address is the default, given how many the user has `saved`: the first
/// one is, and so is one `asked` to be. `CONFLICT` when no more may be saved.
pub fn new_is_default(saved: i64, asked: Option<bool>) -> Result<bool, ApiError> {
    if saved >= MAX_ADDRESSES {
        return Err(ApiError::Conflict(format!(
            "at most {MAX_ADDRESSES} addresses can be saved"
        )));
    }
    Ok(saved == 0 || asked == Some(true))
}

/// Whether a replaced address is the default: `asked: true` makes it so; the default cannot
/// be unset (another address must be made the default instead).
pub fn replaced_is_default(was_default: bool, asked: Option<bool>) -> Result<bool, ApiError> {
    match asked {
        Some(false) if was_default => Err(ApiError::Conflict(
            "this is the default address: make another address the default instead".into(),
        )),
        Some(true) => Ok(true),
        _ => Ok(was_default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_address_or_one_asked_for_is_the_default() {
        assert!(new_is_default(0, None).unwrap());
        assert!(new_is_default(0, Some(false)).unwrap());
        assert!(!new_is_default(1, None).unwrap());
        assert!(new_is_default(1, Some(true)).unwrap());
        assert!(new_is_default(MAX_ADDRESSES, Some(true)).is_err());
    }

    #[test]
    fn the_default_cannot_be_unset() {
        assert!(replaced_is_default(true, Some(false)).is_err());
        assert!(replaced_is_default(true, None).unwrap());
        assert!(!replaced_is_default(false, Some(false)).unwrap());
        assert!(replaced_is_default(false, Some(true)).unwrap());
    }
}
