//! Password hashing off the async runtime: argon2id (`crate::domain::passwords`) is slow on
//! purpose, so it runs on the blocking pool.

use service_kit::ApiError;

use crate::domain::passwords;

/// The argon2id PHC string of `password`.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await
        .map_err(|_| ApiError::Internal)?
}

/// Whether `password` matches `hash` (`None`: no such account; still costs one hash).
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || passwords::verify(&password, hash))
        .await
        .map_err(|_| ApiError::Internal)
}
