//! What every Douyin Mall subgraph needs, so that a subgraph crate only holds its domain:
//! configuration from the environment, the PostgreSQL pool (diesel-async + bb8) with its
//! migrations, the Redis pool (bb8-redis) with a key prefix, the error type that maps to the
//! contract's error codes, cursor paging, money, and the HTTP server.

pub mod answers;
pub mod calls;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod internal;
pub mod loader;
pub mod metrics;
pub mod money;
pub mod paging;
pub mod readiness;
pub mod redis;
pub mod sql;
pub mod statements;
pub mod subgraph;
pub mod telemetry;
pub mod validate;

pub use config::ServiceConfig;
pub use db::{DatabaseSpec, DbPool, StatementCounter};
pub use error::{ApiError, ApiResult};
pub use redis::Redis;
pub use subgraph::{Shutdown, Subgraph, Worker};

/// The stores a subgraph talks to, connected and migrated.
#[derive(Clone)]
pub struct Stores {
    /// This subgraph's PostgreSQL pool; every connection has `search_path` set to the
    /// subgraph's own schema.
    pub db: DbPool,
    /// Redis, with this deployment's key prefix.
    pub redis: Redis,
}

impl Stores {
    /// Connects to PostgreSQL (creating the database if needed), applies the subgraph's
    /// pending migrations, and connects to Redis. Errors name the URL that was tried and the
    /// variable that sets it.
    pub async fn connect(
        config: &ServiceConfig,
        spec: &'static DatabaseSpec,
    ) -> anyhow::Result<Self> {
        let db = db::connect_and_migrate(config, spec).await?;
        let redis = Redis::connect(
            &config.redis_url,
            &config.redis_prefix,
            config.redis_pool_size,
        )
        .await?;
        Ok(Self { db, redis })
    }
}
