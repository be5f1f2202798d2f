//! Configuration from environment variables, with defaults that work on a developer machine.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::db::StatementCounter;

/// Default PostgreSQL URL: the database is created on first start if it does not exist.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/mall";
/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default prefix of every Redis key this deployment writes.
pub const DEFAULT_REDIS_PREFIX: &str = "mall:";

/// Settings shared by every subgraph. Each field has an environment variable.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// `DATABASE_URL`: the PostgreSQL database holding every subgraph's schema.
    pub database_url: String,
    /// `DATABASE_POOL_SIZE`: connections per subgraph (default 10).
    pub database_pool_size: u32,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `REDIS_PREFIX`: prefix of every key, so that several deployments (or tests) can
    /// share one Redis.
    pub redis_prefix: String,
    /// `REDIS_POOL_SIZE`: connections per subgraph (default 10).
    pub redis_pool_size: u32,
    /// `SEED_DEMO_DATA`: insert the demo data on start (default true; idempotent).
    pub seed_demo_data: bool,
    /// Where the subgraph listens; set per subgraph (`<NAME>_SUBGRAPH_ADDR`), default
    /// `127.0.0.1:<its default port>`.
    pub listen_addr: SocketAddr,
    /// Counts SQL statements (tests use it to prove batching); `None` in production.
    pub statement_counter: Option<Arc<StatementCounter>>,
}

impl ServiceConfig {
    /// Reads the shared variables; `subgraph` names the per-subgraph listen variable
    /// (`CATALOG_SUBGRAPH_ADDR` for `catalog`).
    pub fn from_env(subgraph: &str, default_port: u16) -> anyhow::Result<Self> {
        let addr_var = format!("{}_SUBGRAPH_ADDR", subgraph.to_uppercase());
        let listen_addr = match std::env::var(&addr_var) {
            Ok(value) => value.parse().map_err(|e| {
                anyhow::anyhow!(
                    "{addr_var}={value:?} is not a socket address like 127.0.0.1:4002: {e}"
                )
            })?,
            Err(_) => SocketAddr::from(([127, 0, 0, 1], default_port)),
        };
        Ok(Self {
            database_url: env_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size: env_parse("DATABASE_POOL_SIZE", 10)?,
            redis_url: env_or("REDIS_URL", DEFAULT_REDIS_URL),
            redis_prefix: env_or("REDIS_PREFIX", DEFAULT_REDIS_PREFIX),
            redis_pool_size: env_parse("REDIS_POOL_SIZE", 10)?,
            seed_demo_data: env_parse("SEED_DEMO_DATA", true)?,
            listen_addr,
            statement_counter: None,
        })
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={value:?} is not valid: {e}")),
        _ => Ok(default),
    }
}
