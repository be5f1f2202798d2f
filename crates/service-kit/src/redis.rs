//! Redis through a bb8 pool, with every key under one prefix so that deployments and tests
//! can share a server.

use std::time::Duration;

use anyhow::Context as _;
use bb8_redis::RedisConnectionManager;
pub use bb8_redis::redis;

/// The pool type.
pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// A Redis pool plus the key prefix of this deployment.
#[derive(Clone, Debug)]
pub struct Redis {
    pool: RedisPool,
    prefix: String,
}

impl Redis {
    /// Connects and checks the server answers `PING`; the error names the URL tried.
    pub async fn connect(url: &str, prefix: &str, size: u32) -> anyhow::Result<Self> {
        let unreachable = || {
            format!(
                "cannot connect to Redis at {url}. Start Redis there, or point REDIS_URL at a \
                 reachable server (e.g. REDIS_URL=redis://127.0.0.1:6379)"
            )
        };
        let manager = RedisConnectionManager::new(url).with_context(unreachable)?;
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
        };
        redis.ping().await.with_context(unreachable)?;
        Ok(redis)
    }

    /// A pool that connects on first use, without checking the server now: for callers
    /// that must work (degraded) while Redis is down, and for tests of exactly that.
    pub fn connect_lazy(url: &str, prefix: &str, size: u32) -> anyhow::Result<Self> {
        let manager = RedisConnectionManager::new(url)
            .with_context(|| format!("REDIS_URL={url} is not a Redis URL"))?;
        let pool = bb8::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_millis(500))
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
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

    /// The underlying pool, for commands.
    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    /// Round trip to the server (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let _: String = redis::cmd("PING").query_async(&mut *conn).await?;
        Ok(())
    }
}
