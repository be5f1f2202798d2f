//! Checks of free-text input shared by the subgraphs. Each returns the cleaned value or a
//! `BAD_USER_INPUT` naming the field and saying why.

use crate::ApiError;

/// An id argument: ids are UUIDs, anything else is `BAD_USER_INPUT` for `field` (in every
/// subgraph alike; an id that parses but names nothing is the caller's `NOT_FOUND`).
pub fn id(field: &str, value: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(value).map_err(|_| ApiError::bad_input(field, "is not a valid id"))
}

/// Trimmed `value`, 1 to `max` characters, without control characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_input(field, "must not be empty"));
    }
    optional_text(field, trimmed, max).map(|v| v.to_owned())
}

/// An idempotency key: trimmed, 8 to 128 characters, no control characters (one rule for
/// checkout, payments and flash-sale purchases).
pub fn idempotency_key(field: &str, key: &str) -> Result<String, ApiError> {
    let key = key.trim();
    if !(8..=128).contains(&key.chars().count()) || key.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "must be 8 to 128 characters without control characters",
        ));
    }
    Ok(key.to_owned())
}

/// `value` (untrimmed), at most `max` characters, without control characters.
pub fn optional_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    // Count cheaply first: a 10 MB string is refused before it is scanned.
    if value.len() > max * 4 || value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value)
}

/// The fields of a postal address as a client sent them.
pub struct AddressParts<'a> {
    pub recipient: &'a str,
    pub phone: &'a str,
    pub province: &'a str,
    pub city: &'a str,
    pub district: &'a str,
    pub line1: &'a str,
    pub postal_code: Option<&'a str>,
}

/// A checked, trimmed postal address; errors name `{prefix}.{field}` (`input.phone`).
pub fn postal_address(
    prefix: &str,
    parts: AddressParts<'_>,
) -> Result<peer_api::PostalAddress, ApiError> {
    let field = |name: &str| format!("{prefix}.{name}");
    let phone = required_text(&field("phone"), parts.phone, 32)?;
    if phone.chars().filter(char::is_ascii_digit).count() < 5
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
    {
        return Err(ApiError::bad_input(
            field("phone"),
            "must be a phone number (digits, spaces, + - ( ))",
        ));
    }
    let postal_code = match parts.postal_code.map(str::trim) {
        None | Some("") => None,
        Some(code) => {
            if code.len() > 16
                || !code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
            {
                return Err(ApiError::bad_input(
                    field("postalCode"),
                    "must be up to 16 letters, digits, spaces or hyphens",
                ));
            }
            Some(code.to_owned())
        }
    };
    Ok(peer_api::PostalAddress {
        recipient: required_text(&field("recipient"), parts.recipient, 64)?,
        phone,
        province: required_text(&field("province"), parts.province, 64)?,
        city: required_text(&field("city"), parts.city, 64)?,
        district: required_text(&field("district"), parts.district, 64)?,
        line1: required_text(&field("line1"), parts.line1, 200)?,
        postal_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_printable() {
        assert_eq!(required_text("name", "  Ada ", 64).unwrap(), "Ada");
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", "bell\u{7}"] {
            let error = required_text("name", bad, 64).unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{bad:?}");
        }
        assert!(required_text("name", &"x".repeat(65), 64).is_err());
        assert!(required_text("name", &"界".repeat(64), 64).is_ok());
    }
}
