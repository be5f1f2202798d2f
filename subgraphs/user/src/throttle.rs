//! Brute-force protection. Sign-in: at most 5 attempts in flight or failed per account, and
//! 20 per client address, within 15 minutes; registration: `REGISTER_LIMIT_PER_ADDRESS` per
//! address per hour. Beyond that, `RATE_LIMITED` with `retryAfterSeconds`. An attempt is
//! counted atomically *before* the password is checked (`count_attempt.lua`), so parallel
//! guesses cannot all pass a check that has not counted them yet; a successful sign-in
//! gives its count back. Counters live in Redis so that every replica agrees.

use std::sync::LazyLock;

use service_kit::redis::redis;
use service_kit::{ApiError, Redis};

/// Sign-in attempts per account per window.
pub const ACCOUNT_LIMIT: u64 = 5;
/// Sign-in attempts per client address per window.
pub const ADDRESS_LIMIT: u64 = 20;
/// The sign-in window, in seconds.
pub const WINDOW_SECONDS: u64 = 15 * 60;
/// The registration window, in seconds.
pub const REGISTER_WINDOW_SECONDS: u64 = 3600;

static COUNT_ATTEMPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("count_attempt.lua")));

fn account_key(redis: &Redis, email: &str) -> String {
    redis.key(&format!("auth:login-attempts:account:{email}"))
}

fn address_key(redis: &Redis, ip: &str) -> String {
    redis.key(&format!("auth:login-attempts:ip:{ip}"))
}

/// Counts the attempt on `counters` (key, limit); refuses when one is over its limit. Each
/// counter is counted by a script call of its own (one key each, so that they may live in
/// different Redis Cluster slots): every attempt is counted on every counter either way,
/// and a counter counts before it decides, so N parallel attempts take N distinct counts.
async fn count(
    redis: &Redis,
    counters: &[(String, u64)],
    window: u64,
    what: &str,
) -> Result<(), ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let mut wait: u64 = 0;
    for (key, limit) in counters {
        let waited: u64 = COUNT_ATTEMPT
            .key(key)
            .arg(window)
            .arg(*limit)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        wait = wait.max(waited);
    }
    if wait == 0 {
        Ok(())
    } else {
        Err(ApiError::RateLimited {
            message: format!("too many {what}: try again in {wait} s"),
            retry_after_seconds: wait,
        })
    }
}

/// Counts a sign-in attempt for `email` from `client_ip`, or refuses it.
pub async fn admit_login(
    redis: &Redis,
    email: &str,
    client_ip: Option<&str>,
) -> Result<(), ApiError> {
    let mut counters = vec![(account_key(redis, email), ACCOUNT_LIMIT)];
    if let Some(ip) = client_ip {
        counters.push((address_key(redis, ip), ADDRESS_LIMIT));
    }
    count(redis, &counters, WINDOW_SECONDS, "sign-in attempts").await
}

/// A successful sign-in clears the account's counter and gives the address its count back
/// (only failures should use up an address's budget).
pub async fn login_succeeded(
    redis: &Redis,
    email: &str,
    client_ip: Option<&str>,
) -> Result<(), ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let mut pipe = redis::pipe();
    pipe.del(account_key(redis, email)).ignore();
    if let Some(ip) = client_ip {
        pipe.decr(address_key(redis, ip), 1).ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.map_err(unavailable)?;
    Ok(())
}

/// Counts a registration from `client_ip`, or refuses it (`limit` per hour).
pub async fn admit_registration(
    redis: &Redis,
    client_ip: Option<&str>,
    limit: u64,
) -> Result<(), ApiError> {
    let Some(ip) = client_ip else {
        return Ok(());
    };
    let key = redis.key(&format!("auth:registrations:ip:{ip}"));
    count(
        redis,
        &[(key, limit)],
        REGISTER_WINDOW_SECONDS,
        "registrations",
    )
    .await
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    // Failing closed: without the counters, guessing would be unlimited.
    tracing::error!(%error, "sign-in throttle store (Redis) failed");
    ApiError::Unavailable("the session store")
}
