//! Account input rules and password hashing (argon2id, on the blocking pool).

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use service_kit::ApiError;
use service_kit::validate::required_text;

/// Password length bounds, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 64;

/// The email, trimmed and lower-cased, if it looks like an address: one `@`, a local part
/// of letters, digits and `._%+-`, a dotted domain of letters, digits and `-`.
pub fn normalize_email(field: &str, email: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_input(field, "must be an email address like name@example.com");
    let email = email.trim();
    if email.len() > 254 {
        return Err(ApiError::bad_input(field, "must be at most 254 characters"));
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(bad())
    }
}

/// Checks a new password's length and characters.
pub fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    // Bytes first: a 10 MB string is refused without counting its characters.
    let chars = if password.len() > PASSWORD_CHARS.end() * 4 {
        usize::MAX
    } else {
        password.chars().count()
    };
    if !PASSWORD_CHARS.contains(&chars) {
        return Err(ApiError::bad_input(
            field,
            format!(
                "must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A trimmed display name of 1 to 64 printable characters.
pub fn display_name(field: &str, name: &str) -> Result<String, ApiError> {
    required_text(field, name, DISPLAY_NAME_MAX)
}

/// The argon2id PHC string of `password`.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|_| ApiError::Internal)
}

/// A hash to verify against when the account does not exist, so that an unknown email and
/// a wrong password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"not-a-real-password")
        .expect("argon2 hashes")
        .to_string()
});

/// Whether `password` matches `hash` (`None`: no such account; still costs one hash).
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        exists && matches
    })
    .await
    .map_err(|_| ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "no-at-sign",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "x'; DROP TABLE users; --@evil.com",
            "a@-b.com",
            "\u{202e}a@b.com",
            ".a@b.com",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_bounded() {
        assert!(check_password("password", "12345678").is_ok());
        assert!(check_password("password", "1234567").is_err());
        assert!(check_password("password", &"x".repeat(129)).is_err());
        assert!(check_password("password", &"x".repeat(10 * 1024 * 1024)).is_err());
        assert!(check_password("password", "abcd\u{0}efgh").is_err());
        assert!(check_password("password", "密码密码密码密码").is_ok());
    }
}
