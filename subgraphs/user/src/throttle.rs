//! Brute-force protection for `login`: after 5 failures for one account, or 20 from one
//! address, within 15 minutes, attempts are refused with `RATE_LIMITED` until the window
//! ends. Counters live in Redis so that every replica agrees.

use service_kit::redis::redis;
use service_kit::{ApiError, Redis};

/// Failures allowed per account per window.
pub const ACCOUNT_LIMIT: u64 = 5;
/// Failures allowed per client address per window.
pub const ADDRESS_LIMIT: u64 = 20;
/// The window, in seconds.
pub const WINDOW_SECONDS: u64 = 15 * 60;

fn keys(redis: &Redis, email: &str, client_ip: Option<&str>) -> (String, Option<String>) {
    (
        redis.key(&format!("auth:login-failures:account:{email}")),
        client_ip.map(|ip| redis.key(&format!("auth:login-failures:ip:{ip}"))),
    )
}

/// Refuses the attempt when a limit has been reached.
pub async fn check(redis: &Redis, email: &str, client_ip: Option<&str>) -> Result<(), ApiError> {
    let (account, address) = keys(redis, email, client_ip);
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let mut pipe = redis::pipe();
    pipe.get(&account).ttl(&account);
    if let Some(address) = &address {
        pipe.get(address).ttl(address);
    }
    let values: Vec<Option<i64>> = pipe.query_async(&mut *conn).await.map_err(unavailable)?;
    let over = |count: Option<i64>, limit: u64| count.is_some_and(|c| c >= limit as i64);
    let retry = |ttl: Option<i64>| ttl.filter(|t| *t > 0).unwrap_or(WINDOW_SECONDS as i64) as u64;
    if over(values[0], ACCOUNT_LIMIT) {
        return Err(limited(retry(values[1])));
    }
    if values.len() == 4 && over(values[2], ADDRESS_LIMIT) {
        return Err(limited(retry(values[3])));
    }
    Ok(())
}

/// Counts a failed attempt.
pub async fn record_failure(
    redis: &Redis,
    email: &str,
    client_ip: Option<&str>,
) -> Result<(), ApiError> {
    let (account, address) = keys(redis, email, client_ip);
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let mut pipe = redis::pipe();
    for key in std::iter::once(&account).chain(address.as_ref()) {
        // The window starts at the first failure: NX keeps later failures from extending it.
        pipe.incr(key, 1)
            .ignore()
            .cmd("EXPIRE")
            .arg(key)
            .arg(WINDOW_SECONDS)
            .arg("NX")
            .ignore();
    }
    let _: () = pipe.query_async(&mut *conn).await.map_err(unavailable)?;
    Ok(())
}

/// A successful sign-in clears the account's counter (not the address's).
pub async fn record_success(redis: &Redis, email: &str) -> Result<(), ApiError> {
    let (account, _) = keys(redis, email, None);
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let _: () = redis::cmd("DEL")
        .arg(account)
        .query_async(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

fn limited(retry_after_seconds: u64) -> ApiError {
    ApiError::RateLimited {
        message: format!("too many failed sign-ins: try again in {retry_after_seconds} s"),
        retry_after_seconds,
    }
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "login throttle store (Redis) failed");
    ApiError::Unavailable("the session store")
}
