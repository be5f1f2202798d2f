//! Account rules: what an email, a password and a display name must be, and when an
//! administrator may ban an account. Password hashing is in `passwords`.

use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::validate::required_text;
use uuid::Uuid;

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

/// Checks a password presented to sign in: bounded in bytes before it is hashed (a wrong
/// length is otherwise just a wrong password).
pub fn check_presented_password(field: &str, password: &str) -> Result<(), ApiError> {
    if password.len() > PASSWORD_CHARS.end() * 4 {
        return Err(ApiError::bad_input(field, "is too long"));
    }
    Ok(())
}

/// Checks a ban of `target` by `admin` that ends at `until` (`None`: until lifted).
pub fn check_ban(
    admin: Uuid,
    target: Uuid,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if until.is_some_and(|until| until <= now) {
        return Err(ApiError::bad_input("until", "must be in the future"));
    }
    if target == admin {
        return Err(ApiError::Conflict("you cannot ban yourself".into()));
    }
    Ok(())
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
        assert!(check_presented_password("password", &"x".repeat(512)).is_ok());
        assert!(check_presented_password("password", &"x".repeat(513)).is_err());
    }

    #[test]
    fn bans_end_in_the_future_and_spare_the_admin() {
        let now = Utc::now();
        let (admin, target) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(check_ban(admin, target, None, now).is_ok());
        assert!(check_ban(admin, target, Some(now + chrono::Duration::hours(1)), now).is_ok());
        assert!(check_ban(admin, target, Some(now), now).is_err());
        assert!(check_ban(admin, admin, None, now).is_err());
    }
}
