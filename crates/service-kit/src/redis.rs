//! Redis through a bb8 pool, with every key under one prefix so that deployments and tests
//! can share a server.

use std::time::Duration;

use anyhow::Context as _;
pub use redis;
use redis_connect::Timeouts;
pub use redis_connect::{Connection, Topology, slot};

/// Stores versioned JSON records unless the stored one is newer (`store_if_newer.lua`):
/// every Redis copy of a PostgreSQL row goes through it, so an older write never wins.
pub static STORE_IF_NEWER: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("store_if_newer.lua")));

/// The pool type.
pub type RedisPool = bb8::Pool<Reconnecting>;

/// While Redis is down, a request waits for at most one quick reconnection attempt and then
/// fails (UNAVAILABLE or a cache miss); the next request tries again.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_millis(500),
    response: Duration::from_secs(2),
    retries: 1,
};

/// How long a readiness probe waits for its answer (readiness itself waits 2 s, pool
/// checkout included).
const PING_BUDGET: Duration = Duration::from_millis(1500);

/// A bb8 manager of connections that heal themselves: redis's `ConnectionManager` for a
/// server (multiplexed, reconnecting after an I/O error), a cluster connection for a Redis
/// Cluster (reconnecting, following the slot map after a failover). bb8 cannot tell that a
/// plain multiplexed connection died (bb8-redis's `has_broken` is always false), so a Redis
/// restart used to leave every pooled connection dead until the service restarted
/// (tests/e2e/outage.rs).
#[derive(Debug, Clone)]
pub struct Reconnecting {
    topology: Topology,
}

impl Reconnecting {
    fn new(url: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            topology: Topology::parse(url, TIMEOUTS)?,
        })
    }
}

impl bb8::ManageConnection for Reconnecting {
    type Connection = Connection;
    type Error = redis::RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        self.topology.shared(TIMEOUTS).await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        redis::cmd("PING").query_async::<()>(conn).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        // A server connection heals itself; a cluster connection that stopped answering
        // does not always (redis_connect::ClusterLink), and is replaced.
        conn.is_stuck()
    }
}

/// A Redis pool plus the key prefix of this deployment.
#[derive(Clone, Debug)]
pub struct Redis {
    pool: RedisPool,
    prefix: String,
    topology: Topology,
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
        let topology = manager.topology.clone();
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
            topology,
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
        let topology = manager.topology.clone();
        let pool = bb8::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_millis(500))
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
            topology,
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
    pub async fn connection(&self) -> Result<Connection, bb8::RunError<redis::RedisError>> {
        let started = std::time::Instant::now();
        // A stuck connection found here is dropped by the pool as it goes back (`has_broken`)
        // and the next one is taken; once none is left, the pool opens a new one.
        let mut conn = self.pool.get().await;
        // The pool's size is read only when a stuck one was found (it takes the pool's lock).
        let mut left = None;
        while conn.as_ref().is_ok_and(|pooled| pooled.is_stuck()) {
            let left = left.get_or_insert_with(|| self.pool.state().connections);
            if *left == 0 {
                break;
            }
            *left -= 1;
            drop(conn);
            conn = self.pool.get().await;
        }
        metrics::histogram!("redis_pool_wait_seconds").record(started.elapsed().as_secs_f64());
        Ok(conn?.clone())
    }

    /// A connection of its own, outside the pool, for blocking commands (`XREADGROUP …
    /// BLOCK`), which would stall every request sharing a pooled multiplexed connection.
    pub async fn dedicated(&self) -> redis::RedisResult<Connection> {
        self.topology.dedicated().await
    }

    /// A subscriber connection of its own for `channel` (`SUBSCRIBE`; on a cluster, to the
    /// master its publishers reach: see [`Topology::pubsub`]).
    pub async fn pubsub(&self, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
        self.topology.pubsub(channel).await
    }

    /// Whether `REDIS_URL` names a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.topology.is_cluster()
    }

    /// Round trip to the server (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self
            .connection()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // On a cluster, `PING` goes to every master and fails while one fails over; one
        // node's answer is what readiness asks for (a master down is a failover, not a
        // reason to take every replica out of service).
        let probe = if self.is_cluster() {
            redis::cmd("ECHO").arg("ready").clone()
        } else {
            redis::cmd("PING")
        };
        // Readiness gives up before the response timeout would mark a stuck connection, so
        // the probe marks it itself: a replica must not stay unready on a wedged connection.
        match tokio::time::timeout(PING_BUDGET, probe.query_async::<String>(&mut conn)).await {
            Ok(answer) => answer.map(drop).map_err(Into::into),
            Err(_) => {
                conn.mark_stuck();
                anyhow::bail!("Redis did not answer within {PING_BUDGET:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against `REDIS_URL` (a server in `scripts/test`, the cluster in `scripts/redis-cluster`).
    #[tokio::test]
    async fn a_stuck_cluster_connection_is_not_handed_out_again() {
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| crate::config::DEFAULT_REDIS_URL.into());
        let redis = Redis::connect(&url, "service-kit-test:", 1).await.unwrap();
        let mut conn = redis.connection().await.unwrap();
        // Waits longer for an element than an answer may take (2 s).
        let waited: redis::RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
            .arg(redis.key("never"))
            .arg(3)
            .query_async(&mut conn)
            .await;
        assert!(waited.as_ref().is_err_and(|e| e.is_timeout()), "{waited:?}");
        assert_eq!(conn.is_stuck(), redis.is_cluster());

        // The pool's only connection is that one: a cluster's is dropped and a new one
        // opened; a server's healed itself.
        let next = redis.connection().await.unwrap();
        assert!(!next.is_stuck());
        redis.ping().await.unwrap();
        assert_eq!(redis.pool().state().connections, 1);
    }
}
