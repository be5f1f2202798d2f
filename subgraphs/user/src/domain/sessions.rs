//! Session rules: refresh tokens (random, stored only as their SHA-256), the reuse grace
//! window, and when a session can no longer be refreshed.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Longest refresh token accepted (ours are 43 characters).
const REFRESH_TOKEN_MAX: usize = 256;

/// A new refresh token and its hash (what the database keeps).
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The hash under which a refresh token is stored.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `presented` could be a refresh token at all (not empty, not huge).
pub fn plausible_refresh_token(presented: &str) -> bool {
    !presented.is_empty() && presented.len() <= REFRESH_TOKEN_MAX
}

/// What is left of a session's lifetime at `now`, as an allow-list time to live.
pub fn remaining(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (expires_at - now)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
}

/// Whether a refresh token used at `used_at` is presented again within the `grace` window
/// (two tabs refreshing at once) rather than reused later.
pub fn within_grace(used_at: DateTime<Utc>, now: DateTime<Utc>, grace: Duration) -> bool {
    // `now` was taken before waiting for the row lock, so a refresh that won the race may
    // have used the token "after" it: a negative age is within the window too.
    now.signed_duration_since(used_at) <= chrono::Duration::from_std(grace).unwrap_or_default()
}

/// Why a session can no longer be refreshed at `now`, if it cannot.
pub fn refusal(
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if revoked_at.is_some() {
        return Some("this session has been signed out");
    }
    if expires_at <= now {
        return Some("this session has expired: sign in again");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_stored_by_their_hash() {
        let (token, hash) = new_refresh_token();
        assert_eq!(token.len(), 43);
        assert!(plausible_refresh_token(&token));
        assert_eq!(hash, hash_refresh_token(&token));
        assert!(!plausible_refresh_token(""));
        assert!(!plausible_refresh_token(&"x".repeat(257)));
    }

    #[test]
    fn the_grace_window_counts_a_use_after_now_as_within() {
        let now = Utc::now();
        let grace = Duration::from_secs(10);
        assert!(within_grace(
            now - chrono::Duration::seconds(10),
            now,
            grace
        ));
        assert!(!within_grace(
            now - chrono::Duration::seconds(11),
            now,
            grace
        ));
        assert!(within_grace(now + chrono::Duration::seconds(1), now, grace));
    }

    #[test]
    fn revoked_or_expired_sessions_are_refused() {
        let now = Utc::now();
        let later = now + chrono::Duration::hours(1);
        assert_eq!(refusal(later, None, now), None);
        assert_eq!(
            refusal(later, Some(now), now),
            Some("this session has been signed out")
        );
        assert_eq!(
            refusal(now, None, now),
            Some("this session has expired: sign in again")
        );
    }
}
