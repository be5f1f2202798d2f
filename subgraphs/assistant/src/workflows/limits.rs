//! The per-customer message limit: a counter per customer and minute in Redis, incremented
//! and given its expiry in one atomic transaction on one key (so it works unchanged on
//! Redis Cluster). Checked and counted in the same step: concurrent messages cannot all
//! slip under the limit.
//!
//! When Redis cannot be reached the message is refused (`UNAVAILABLE`): the limit protects
//! the model's budget. (Signed-in requests need Redis anyway, for the session check.) A
//! Redis that lost or rolled back the counter lets a customer send up to one more
//! minute's worth: the limit bounds spending, it is not a record.

use chrono::Utc;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

/// Counts one message of `user`; `RATE_LIMITED` beyond `per_minute` in this minute.
pub async fn count_message(redis: &Redis, user: Uuid, per_minute: u32) -> Result<(), ApiError> {
    let now = Utc::now().timestamp();
    let window = now / 60;
    let key = redis.key(&format!("assistant:messages:{{{user}}}:{window}"));
    let counted: redis::RedisResult<(u64,)> = async {
        let mut conn = redis
            .connection()
            .await
            .map_err(|e| redis::RedisError::from((redis::ErrorKind::Io, "pool", e.to_string())))?;
        redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 120)
            .ignore()
            .query_async(&mut conn)
            .await
    }
    .await;
    match counted {
        Ok((count,)) if count > u64::from(per_minute) => {
            metrics::counter!("assistant_rate_limited_total").increment(1);
            Err(ApiError::RateLimited {
                message: format!(
                    "at most {per_minute} messages a minute to the assistant: try again shortly"
                ),
                retry_after_seconds: (60 - now % 60).max(1) as u64,
            })
        }
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "assistant message limit not checked: Redis unavailable");
            Err(ApiError::Unavailable("the assistant's message limit"))
        }
    }
}
