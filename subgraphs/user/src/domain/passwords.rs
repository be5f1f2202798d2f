//! Password hashing with argon2id. CPU-bound by design: callers run these on the blocking
//! pool (`crate::workflows::passwords`).

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use service_kit::ApiError;

/// The argon2id PHC string of `password`.
pub fn hash(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
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
pub fn verify(password: &str, hash: Option<String>) -> bool {
    let exists = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
    let Ok(parsed) = PasswordHash::new(&hash) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    exists && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse").unwrap();
        assert!(verify("correct horse", Some(hash.clone())));
        assert!(!verify("wrong horse", Some(hash)));
        assert!(!verify("not-a-real-password", None));
    }
}
