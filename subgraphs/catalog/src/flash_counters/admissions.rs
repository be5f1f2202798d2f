//! Deciding purchase attempts in the counters (`admit.lua`), a sale's attempts together.
//!
//! In a flash sale most attempts arrive while others of the same sale are being decided:
//! [`Admissions`] sends those in one call of the script (`crate::grouped`), which decides
//! them one after the other, each atomically, exactly as if each had its own call. A storm
//! then costs Redis one round trip and one script call per batch instead of one per attempt.

use std::sync::LazyLock;

use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

use super::{held_key, idempotency_key, rate_key, rejected_key, state_key, unavailable};
use crate::grouped::Grouped;

static ADMIT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("admit.lua")));

/// How long a rejected attempt (and its key) is remembered.
const REJECTION_TTL_SECONDS: u64 = 3600;
/// How long an admitted purchase's key is remembered in Redis (PostgreSQL keeps it).
const ADMISSION_KEY_TTL_SECONDS: u64 = 24 * 3600;
/// Attempts decided in one call at most.
pub const MAX_BATCH: usize = 64;

/// One purchase attempt, as the counters see it.
#[derive(Clone)]
pub struct Attempt {
    pub buyer: Uuid,
    pub sale: Uuid,
    pub quantity: i32,
    pub purchase: Uuid,
    pub idempotency_key: String,
    /// Fingerprint of what was asked (sale, quantity, address): a key reused for something
    /// else is a conflict.
    pub request_hash: String,
    pub per_second: u32,
}

/// What an earlier attempt with the same key got.
pub struct Seen {
    pub purchase: Uuid,
    pub request_hash: String,
    /// `None`: admitted.
    pub rejection: Option<String>,
    /// The epoch of the counters that admitted it (absent from keys written before it was
    /// kept).
    pub epoch: Option<i32>,
}

/// The counters' decision.
pub enum Decision {
    /// Over the buyer's attempts per second; allowed again in this many milliseconds.
    RateLimited(u64),
    /// The key was used before.
    Seen(Seen),
    /// The sale's counters are not in Redis: rebuild them from the record and ask again.
    Rebuild,
    /// `SOLD_OUT`, `LIMIT_EXCEEDED` or `NOT_ACTIVE`.
    Rejected(String),
    /// Admitted by the counters of this epoch; the units are taken.
    Admitted { epoch: i32 },
}

/// The attempts waiting to be decided, by sale.
#[derive(Clone)]
pub struct Admissions(Grouped<Attempt, Result<Decision, ApiError>>);

impl Default for Admissions {
    fn default() -> Self {
        Self(Grouped::new(MAX_BATCH))
    }
}

impl Admissions {
    /// Decides `attempt` with whatever else of its sale is waiting.
    pub async fn admit(&self, redis: &Redis, attempt: Attempt) -> Result<Decision, ApiError> {
        let redis = redis.clone();
        self.0
            .submit(attempt.sale, attempt, move |batch: Vec<Attempt>| {
                let redis = redis.clone();
                async move {
                    metrics::histogram!("flash_sale_admission_batch_size")
                        .record(batch.len() as f64);
                    admit_all(&redis, &batch).await
                }
            })
            .await
            .unwrap_or(Err(ApiError::Internal))
    }
}

/// Runs the admission script for `attempt` alone.
pub async fn admit(redis: &Redis, attempt: &Attempt) -> Result<Decision, ApiError> {
    admit_all(redis, std::slice::from_ref(attempt))
        .await
        .pop()
        .unwrap_or(Err(ApiError::Internal))
}

/// Runs the admission script once for `attempts`, all of one sale: each one's decision, in
/// order. When the call fails, each gets its error.
pub async fn admit_all(redis: &Redis, attempts: &[Attempt]) -> Vec<Result<Decision, ApiError>> {
    let Some(sale) = attempts.first().map(|attempt| attempt.sale) else {
        return Vec::new();
    };
    debug_assert!(attempts.iter().all(|attempt| attempt.sale == sale));
    let mut invocation = ADMIT.key(state_key(redis, sale));
    invocation
        .key(held_key(redis, sale))
        .arg(REJECTION_TTL_SECONDS)
        .arg(ADMISSION_KEY_TTL_SECONDS);
    for attempt in attempts {
        invocation
            .key(rate_key(redis, sale, attempt.buyer))
            .key(idempotency_key(
                redis,
                sale,
                attempt.buyer,
                &attempt.idempotency_key,
            ))
            .key(rejected_key(redis, attempt.purchase))
            .arg(attempt.buyer.to_string())
            .arg(attempt.quantity)
            .arg(attempt.purchase.to_string())
            .arg(&attempt.request_hash)
            .arg(attempt.per_second);
    }
    let answer: Result<Vec<String>, ApiError> = async {
        let mut conn = redis.connection().await.map_err(unavailable)?;
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)
    }
    .await;
    match answer {
        Ok(answer) if answer.len() == 2 * attempts.len() => answer
            .chunks_exact(2)
            .map(|pair| decision(&pair[0], &pair[1]))
            .collect(),
        Ok(answer) => {
            tracing::error!(
                ?answer,
                attempts = attempts.len(),
                "unexpected answer of the flash admission script"
            );
            attempts.iter().map(|_| Err(ApiError::Internal)).collect()
        }
        Err(error) => attempts.iter().map(|_| Err(error.clone())).collect(),
    }
}

/// One attempt's decision from its two entries of the script's answer.
fn decision(kind: &str, value: &str) -> Result<Decision, ApiError> {
    let unreadable = || {
        tracing::error!(
            kind,
            value,
            "unexpected answer of the flash admission script"
        );
        ApiError::Internal
    };
    Ok(match kind {
        "RATE_LIMITED" => Decision::RateLimited(value.parse().unwrap_or(1000)),
        "SEEN" => {
            // `purchase|hash|reason` (rejected) or `purchase|hash||epoch` (admitted).
            let mut parts = value.splitn(4, '|');
            let purchase = parts.next().and_then(|id| id.parse().ok());
            let request_hash = parts.next();
            let rejection = parts.next().filter(|reason| !reason.is_empty());
            let epoch = parts.next().and_then(|epoch| epoch.parse().ok());
            match (purchase, request_hash) {
                (Some(purchase), Some(hash)) => Decision::Seen(Seen {
                    purchase,
                    request_hash: hash.to_owned(),
                    rejection: rejection.map(str::to_owned),
                    epoch,
                }),
                _ => return Err(unreadable()),
            }
        }
        "REBUILD" => Decision::Rebuild,
        "REJECTED" => Decision::Rejected(value.to_owned()),
        "ADMITTED" => Decision::Admitted {
            epoch: value.parse().map_err(|_| unreadable())?,
        },
        _ => return Err(unreadable()),
    })
}
