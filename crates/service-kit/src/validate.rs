//! Checks of free-text input shared by the subgraphs. Each returns the cleaned value or a
//! `BAD_USER_INPUT` naming the field and saying why.

use crate::ApiError;

/// Trimmed `value`, 1 to `max` characters, without control characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_input(field, "must not be empty"));
    }
    optional_text(field, trimmed, max).map(|v| v.to_owned())
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
