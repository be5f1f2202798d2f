//! The fast path of flash sales: per-sale counters in Redis that admit or reject a purchase
//! attempt in one atomic script (`flash_counters/admit.lua`), without touching PostgreSQL
//! for the rejected ones.
//!
//! Keys (under the deployment's prefix), each sale's expiring a day after the sale ends; every
//! key of a sale carries the sale's hash tag `{tttt}` ([`shard`]: the last four hex digits of
//! its id), so that one script touches one Redis Cluster slot:
//! - `flash:{tttt}:<sale>:state`: hash `remaining`, `epoch`, `starts`/`ends` (ms), `limit`,
//!   `expires`;
//! - `flash:{tttt}:<sale>:held`: units held per buyer;
//! - `flash:{tttt}:<sale>:key:<buyer>:<idempotency key>`: what that key got in this sale
//!   (purchase id, request hash, rejection reason; a key reused in another sale is caught by
//!   the record, whose key is unique per buyer);
//! - `flash:{tttt}:rejected:<purchase>`: a rejected attempt, for `flashSalePurchase(id)`: a
//!   purchase id ends with its sale's four digits ([`purchase_id`]), so the record is found
//!   by the id alone and still lives in the sale's slot;
//! - `flash:{tttt}:<sale>:rate:<buyer>`: the buyer's attempts on this sale in the current
//!   second.
//!
//! The counters are a cache of the record (`db::flash_purchases`): when Redis lost them they
//! are rebuilt from it ([`crate::workflows::flash_sales::rebuild_counters`]) under a new
//! epoch. This module knows Redis only: what to install comes as an [`Install`].

use std::sync::LazyLock;

mod admissions;
pub use admissions::{Admissions, Attempt, Decision, Seen, admit, admit_all};

use chrono::{DateTime, Utc};
use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

static GIVE_BACK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("flash_counters/give_back.lua")));
static INSTALL: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("flash_counters/install.lua")));
/// Forgets a buyer's record of a key (KEYS[1]) and the rejection record (KEYS[2]) if they
/// are still purchase ARGV[1]'s.
static FORGET_REJECTION: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local record = redis.call('GET', KEYS[1]) \
         if record and string.sub(record, 1, #ARGV[1]) == ARGV[1] then \
           redis.call('DEL', KEYS[1], KEYS[2]) return 1 end return 0",
    )
});

/// The hash tag of a sale's keys: the last four hex digits of its id (65,536 tags, spread
/// over the cluster's slots).
pub fn shard(id: Uuid) -> String {
    let bytes = id.as_bytes();
    format!("{:02x}{:02x}", bytes[14], bytes[15])
}

/// A new purchase id for `sale`: time-ordered (UUIDv7), ending with the sale's [`shard`]
/// (its last 16 bits, random in a UUIDv7, are the sale's).
pub fn purchase_id(sale: Uuid) -> Uuid {
    let mut bytes = Uuid::now_v7().into_bytes();
    bytes[14..].copy_from_slice(&sale.as_bytes()[14..]);
    Uuid::from_bytes(bytes)
}

/// `flash:{tttt}:<sale>:<what>`.
fn sale_key(redis: &Redis, sale: Uuid, what: &str) -> String {
    redis.key(&format!("flash:{{{}}}:{sale}:{what}", shard(sale)))
}

/// The key of a sale's counters (a hash: `remaining`, `epoch`, …).
pub fn state_key(redis: &Redis, sale: Uuid) -> String {
    sale_key(redis, sale, "state")
}

fn held_key(redis: &Redis, sale: Uuid) -> String {
    sale_key(redis, sale, "held")
}

fn idempotency_key(redis: &Redis, sale: Uuid, buyer: Uuid, key: &str) -> String {
    sale_key(redis, sale, &format!("key:{buyer}:{key}"))
}

fn rate_key(redis: &Redis, sale: Uuid, buyer: Uuid) -> String {
    sale_key(redis, sale, &format!("rate:{buyer}"))
}

fn rejected_key(redis: &Redis, purchase: Uuid) -> String {
    redis.key(&format!(
        "flash:{{{}}}:rejected:{purchase}",
        shard(purchase)
    ))
}

/// Units going back into a sale's counters.
pub struct GiveBack {
    pub sale: Uuid,
    pub buyer: Uuid,
    pub quantity: i32,
    pub epoch: i32,
    pub purchase: Uuid,
}

/// Puts units back into the counters of epoch `back.epoch` (a no-op for other counters,
/// which were rebuilt without them). With `forget_key`, the buyer's key is forgotten too
/// (an admission that was not recorded). Whether the counters took them.
pub async fn give_back(
    redis: &Redis,
    back: &GiveBack,
    forget_key: Option<&str>,
) -> Result<bool, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let mut invocation = GIVE_BACK.key(state_key(redis, back.sale));
    invocation.key(held_key(redis, back.sale));
    if let Some(key) = forget_key {
        invocation.key(idempotency_key(redis, back.sale, back.buyer, key));
    }
    let taken: i64 = invocation
        .arg(back.buyer.to_string())
        .arg(back.quantity)
        .arg(back.epoch)
        .arg(back.purchase.to_string())
        .invoke_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(taken == 1)
}

/// A sale's counters as computed from the record at `epoch`.
pub struct Install<'a> {
    pub sale: Uuid,
    pub epoch: i32,
    /// Units left: the sale's quantity less what its buyers hold.
    pub remaining: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub per_user_limit: i32,
    /// Units held per buyer.
    pub held: &'a [(Uuid, i64)],
}

/// Installs a sale's counters as computed from the record at `counters.epoch`. A no-op if
/// counters of that epoch or a later one are there.
pub async fn install(redis: &Redis, counters: &Install<'_>) -> Result<(), ApiError> {
    let expires = (counters.ends_at + chrono::Duration::days(1)).timestamp();
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let mut invocation = INSTALL.key(state_key(redis, counters.sale));
    invocation
        .key(held_key(redis, counters.sale))
        .arg(counters.epoch)
        .arg(counters.remaining)
        .arg(counters.starts_at.timestamp_millis())
        .arg(counters.ends_at.timestamp_millis())
        .arg(counters.per_user_limit)
        .arg(expires);
    for (buyer, units) in counters.held {
        invocation.arg(buyer.to_string()).arg(units);
    }
    let _installed: i64 = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Deletes a sale's counters (they did not match the record).
pub async fn forget(redis: &Redis, sale: Uuid) -> Result<(), ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    redis::cmd("DEL")
        .arg(state_key(redis, sale))
        .arg(held_key(redis, sale))
        .query_async::<()>(&mut conn)
        .await
        .map_err(unavailable)
}

/// Units left in each sale by its counters; `None` where Redis has none.
pub async fn remaining(redis: &Redis, sales: &[Uuid]) -> Result<Vec<Option<i64>>, ApiError> {
    if sales.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let mut pipe = redis::pipe();
    for sale in sales {
        pipe.hget(state_key(redis, *sale), "remaining");
    }
    pipe.query_async(&mut conn).await.map_err(unavailable)
}

/// A sale's counters as Redis has them.
#[derive(Clone, Copy, Debug)]
pub struct CounterState {
    pub remaining: i64,
    pub epoch: i32,
}

/// `sale`'s counters; `None` where Redis has none.
pub async fn state(redis: &Redis, sale: Uuid) -> Result<Option<CounterState>, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let (remaining, epoch): (Option<i64>, Option<i32>) = redis::cmd("HMGET")
        .arg(state_key(redis, sale))
        .arg("remaining")
        .arg("epoch")
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(remaining
        .zip(epoch)
        .map(|(remaining, epoch)| CounterState { remaining, epoch }))
}

/// Whether this caller may check a rejection of `sale` against the record now: one check
/// per `every` and sale, shared by every replica (`SET NX PX`), so that a storm of
/// rejections costs a few reads, and a check that mistakes admissions still being recorded
/// for lost units rebuilds the counters at most that often.
pub async fn audit_turn(
    redis: &Redis,
    sale: Uuid,
    every: std::time::Duration,
) -> Result<bool, ApiError> {
    // A storm's rejections would each ask Redis: this replica asks once per `every` at most
    // (a throttle only; Redis decides across replicas).
    static ASKED: LazyLock<std::sync::Mutex<std::collections::HashMap<Uuid, std::time::Instant>>> =
        LazyLock::new(Default::default);
    {
        let mut asked = ASKED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        if asked
            .get(&sale)
            .is_some_and(|at| now.duration_since(*at) < every)
        {
            return Ok(false);
        }
        asked.retain(|_, at| now.duration_since(*at) < every);
        asked.insert(sale, now);
    }
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let taken: Option<String> = redis::cmd("SET")
        .arg(sale_key(redis, sale, "audit"))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(every.as_millis() as u64)
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(taken.is_some())
}

/// Records that the record held `held` units of `sale` at this check, and says whether
/// the previous check (within a few seconds) saw the same: nothing was recorded or given
/// back in between, so no admission still being recorded can explain a difference between
/// the counters and the record.
pub async fn held_unchanged_since_last_check(
    redis: &Redis,
    sale: Uuid,
    held: i32,
    every: std::time::Duration,
) -> Result<bool, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    // Kept for a few audit turns: the previous check is the one of the last turn.
    let previous: Option<String> = redis::cmd("SET")
        .arg(sale_key(redis, sale, "audit:held"))
        .arg(held)
        .arg("PX")
        .arg(every.as_millis() as u64 * 3)
        .arg("GET")
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(previous.is_some_and(|previous| previous == held.to_string()))
}

/// Forgets the rejection of `attempt` (the counters that rejected it were wrong), so that it
/// can be decided again under the same key.
pub async fn forget_rejection(redis: &Redis, attempt: &Attempt) -> Result<(), ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let _forgotten: i64 = FORGET_REJECTION
        .key(idempotency_key(
            redis,
            attempt.sale,
            attempt.buyer,
            &attempt.idempotency_key,
        ))
        .key(rejected_key(redis, attempt.purchase))
        .arg(attempt.purchase.to_string())
        .invoke_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// A rejected attempt by its purchase id: the buyer and the reason.
pub async fn rejection(redis: &Redis, purchase: Uuid) -> Result<Option<(Uuid, String)>, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let record: Option<String> = redis::cmd("GET")
        .arg(rejected_key(redis, purchase))
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(record.and_then(|record| {
        let (buyer, reason) = record.split_once('|')?;
        Some((buyer.parse().ok()?, reason.to_owned()))
    }))
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "flash sale counters (Redis) failed");
    ApiError::Unavailable("the flash sale counters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sales_keys_and_its_purchases_rejections_share_one_cluster_slot() {
        let redis = Redis::connect_lazy("redis://127.0.0.1:1", "mall:", 1).unwrap();
        for _ in 0..50 {
            let (sale, buyer) = (Uuid::new_v4(), Uuid::now_v7());
            let purchase = purchase_id(sale);
            assert_eq!(purchase.get_version_num(), 7, "{purchase}");
            assert!(purchase.to_string().ends_with(&shard(sale)));
            let keys = [
                state_key(&redis, sale),
                held_key(&redis, sale),
                idempotency_key(&redis, sale, buyer, "k-1"),
                rate_key(&redis, sale, buyer),
                rejected_key(&redis, purchase),
                sale_key(&redis, sale, "audit"),
            ];
            let slot = service_kit::redis::slot(&keys[0]);
            for key in &keys {
                assert_eq!(service_kit::redis::slot(key), slot, "{key}");
            }
        }
        // Time order is kept: a later purchase id sorts after an earlier one.
        let sale = Uuid::new_v4();
        let first = purchase_id(sale);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(purchase_id(sale) > first);
    }
}
