//! Redis through a bb8 pool, with every key under one prefix so that deployments and tests
//! can share a server.

use std::time::Duration;

use anyhow::Context as _;
pub use redis;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Stores versioned JSON records unless the stored one is newer (`store_if_newer.lua`):
/// every Redis copy of a PostgreSQL row goes through it, so an older write never wins.
pub static STORE_IF_NEWER: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("store_if_newer.lua")));

/// The Redis Cluster hash slot of `key` (CRC16/XMODEM of its hash tag — the part between
/// the first `{` and the next `}`, when not empty — or of the whole key, modulo 16384):
/// every key one script or transaction touches must share one (the cluster refuses it with
/// `CROSSSLOT` otherwise).
pub fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for byte in hashed {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The pool type.
pub type RedisPool = bb8::Pool<Reconnecting>;

/// A bb8 manager whose connections are redis's `ConnectionManager`s: multiplexed connections
/// that reconnect by themselves after an I/O error. bb8 cannot tell that a plain multiplexed
/// connection died (bb8-redis's `has_broken` is always false), so a Redis restart used to
/// leave every pooled connection dead until the service restarted (tests/e2e/outage.rs).
#[derive(Debug, Clone)]
pub struct Reconnecting {
    client: redis::Client,
    config: ConnectionManagerConfig,
}

impl Reconnecting {
    fn new(url: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            // While Redis is down, a request waits for at most one quick reconnection attempt
            // and then fails (UNAVAILABLE or a cache miss); the next request tries again.
            config: ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(200)),
        })
    }
}

impl bb8::ManageConnection for Reconnecting {
    type Connection = ConnectionManager;
    type Error = redis::RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        ConnectionManager::new_with_config(self.client.clone(), self.config.clone()).await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        redis::cmd("PING").query_async::<()>(conn).await
    }

    fn has_broken(&self, _: &mut Self::Connection) -> bool {
        // It heals itself; dropping it would only cost a new TCP connection.
        false
    }
}

/// A Redis pool plus the key prefix of this deployment.
#[derive(Clone, Debug)]
pub struct Redis {
    pool: RedisPool,
    prefix: String,
    client: redis::Client,
}

impl Redis {
    /// Connects and checks the server answers `PING`; the error names the URL tried.
    pub async fn connect(url: &str, prefix: &str, size: u32) -> anyhow::Result<Self> {
        let unreachable = || {
            format!(
                "cannot connect to Redis at {}. Start Redis there, or point REDIS_URL at a \
                 reachable server (e.g. REDIS_URL=redis://127.0.0.1:6379)",
                crate::db::redact_password(url)
            )
        };
        let manager = Reconnecting::new(url).with_context(unreachable)?;
        let client = manager.client.clone();
        let pool = bb8::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_secs(3))
            // A multiplexed connection reports failures on use; a PING per checkout would
            // double the round trips.
            .test_on_check_out(false)
            .build(manager)
            .await
            .with_context(unreachable)?;
        let redis = Self {
            pool,
            prefix: prefix.to_owned(),
            client,
        };
        redis.ping().await.with_context(unreachable)?;
        Ok(redis)
    }

    /// A pool that connects on first use, without checking the server now: for callers
    /// that must work (degraded) while Redis is down, and for tests of exactly that.
    pub fn connect_lazy(url: &str, prefix: &str, size: u32) -> anyhow::Result<Self> {
        let manager = Reconnecting::new(url).with_context(|| {
            format!(
                "REDIS_URL={} is not a Redis URL",
                crate::db::redact_password(url)
            )
        })?;
        let client = manager.client.clone();
        let pool = bb8::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_millis(500))
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
            client,
        })
    }

    /// The full key for `name`: the deployment prefix followed by `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The key prefix of this deployment.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying pool.
    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    /// A connection for commands: a clone of one of the pool's multiplexed connections, so
    /// that its pool slot is free again at once and any number of requests share it. (A
    /// slot held for a whole command made requests queue for the pool under a storm of
    /// them, and fail after the checkout timeout.)
    pub async fn connection(&self) -> Result<ConnectionManager, bb8::RunError<redis::RedisError>> {
        let started = std::time::Instant::now();
        let conn = self.pool.get().await;
        metrics::histogram!("redis_pool_wait_seconds").record(started.elapsed().as_secs_f64());
        Ok(conn?.clone())
    }

    /// A connection of its own, outside the pool, for blocking commands (`XREADGROUP …
    /// BLOCK`), which would stall every request sharing a pooled multiplexed connection.
    pub async fn dedicated(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A subscriber connection of its own (`SUBSCRIBE`).
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    /// Round trip to the server (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let _: String = redis::cmd("PING").query_async(&mut *conn).await?;
        Ok(())
    }
}

#[cfg(test)]
mod slot_tests {
    use super::slot;

    #[test]
    fn slots_are_those_of_redis_cluster() {
        // CLUSTER KEYSLOT answers, and the tag rules of the cluster specification.
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
    }
}
