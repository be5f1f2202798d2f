//! Configuration from environment variables, with defaults that work on a developer machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Token keys, lifetimes and the public operation list.
    pub auth: AuthSettings,
    /// `CATALOG_SUBGRAPH_URL`: the catalog subgraph's GraphQL URL, for subgraphs that read
    /// current product data service-to-service (the cart). The launcher sets it to the
    /// catalog it started.
    pub catalog_url: String,
    /// `DATALOADER_DELAY_MICROS`: how long the catalog's DataLoaders wait for more keys
    /// before querying (default 1000, async-graphql's default; `benches/catalog.rs`
    /// measures it).
    pub loader_delay: Duration,
    /// `USER_SUBGRAPH_URL`, `CART_SUBGRAPH_URL`: GraphQL URLs of the user and cart
    /// subgraphs, for service-to-service calls (checkout reads addresses and cart lines).
    /// The launcher sets them to the subgraphs it started.
    pub user_url: String,
    pub cart_url: String,
    /// `INTERNAL_API_TOKEN`: the shared secret of service-to-service calls (`/internal/*`
    /// routes). Unset: a public development value.
    pub internal_token: String,
    /// Checkout, expiry and event timings (order subgraph, event relay).
    pub orders: OrderSettings,
}

/// Default `USER_SUBGRAPH_URL`.
pub const DEFAULT_USER_URL: &str = "http://127.0.0.1:4001/graphql";
/// Default `CART_SUBGRAPH_URL`.
pub const DEFAULT_CART_URL: &str = "http://127.0.0.1:4003/graphql";
/// The development value of `INTERNAL_API_TOKEN` (public: never deploy with it).
pub const DEV_INTERNAL_TOKEN: &str = "mall-internal-development-token";

/// Timings of checkout, order expiry and event publishing.
#[derive(Clone, Debug)]
pub struct OrderSettings {
    /// `ORDER_PAYMENT_TTL_SECONDS`: how long an order waits for payment (default 900).
    pub payment_ttl: Duration,
    /// `CHECKOUT_ABANDON_AFTER_SECONDS`: a checkout that reserved stock but did not create
    /// its order within this time (the process died) is abandoned and its stock released
    /// (default 30).
    pub abandon_after: Duration,
    /// `ORDER_SWEEP_INTERVAL_MILLIS`: how often expiry and abandoned checkouts are swept
    /// (default 1000).
    pub sweep_interval: Duration,
    /// `OUTBOX_POLL_MILLIS`: how often an idle outbox relay looks for new events
    /// (default 50).
    pub outbox_poll: Duration,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            payment_ttl: Duration::from_secs(900),
            abandon_after: Duration::from_secs(30),
            sweep_interval: Duration::from_millis(1000),
            outbox_poll: Duration::from_millis(50),
        }
    }
}

impl OrderSettings {
    /// Reads the variables named on the fields.
    pub fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            payment_ttl: Duration::from_secs(env_parse(
                "ORDER_PAYMENT_TTL_SECONDS",
                defaults.payment_ttl.as_secs(),
            )?),
            abandon_after: Duration::from_secs(env_parse(
                "CHECKOUT_ABANDON_AFTER_SECONDS",
                defaults.abandon_after.as_secs(),
            )?),
            sweep_interval: Duration::from_millis(env_parse(
                "ORDER_SWEEP_INTERVAL_MILLIS",
                defaults.sweep_interval.as_millis() as u64,
            )?),
            outbox_poll: Duration::from_millis(env_parse(
                "OUTBOX_POLL_MILLIS",
                defaults.outbox_poll.as_millis() as u64,
            )?),
        })
    }
}

/// Default `CATALOG_SUBGRAPH_URL`.
pub const DEFAULT_CATALOG_URL: &str = "http://127.0.0.1:4002/graphql";

/// Settings of identity and access (read by the `auth` crate).
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `AUTH_SIGNING_KEY` (PEM text) or `AUTH_SIGNING_KEY_FILE` (a path): the Ed25519 key
    /// that signs access tokens. Unset: the public development key of this repository.
    pub signing_key_pem: Option<String>,
    /// `AUTH_KEY_ID`: the `kid` of that key in tokens and in the JWKS.
    pub key_id: String,
    /// `PUBLIC_OPERATIONS_FILE`: root fields callable without a token. Unset: the file in
    /// `router-config/` (the router reads the same variable).
    pub public_operations_file: Option<PathBuf>,
    /// `ACCESS_TOKEN_TTL_SECONDS` (default 900).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECONDS` (default 30 days).
    pub refresh_token_ttl: Duration,
}

impl AuthSettings {
    /// Reads the `AUTH_*`, `PUBLIC_OPERATIONS_FILE` and token lifetime variables.
    pub fn from_env() -> anyhow::Result<Self> {
        let signing_key_pem = match (
            std::env::var("AUTH_SIGNING_KEY")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("AUTH_SIGNING_KEY_FILE")
                .ok()
                .filter(|v| !v.is_empty()),
        ) {
            (Some(pem), _) => Some(pem),
            (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!("AUTH_SIGNING_KEY_FILE={path:?} cannot be read: {e}")
            })?),
            (None, None) => None,
        };
        Ok(Self {
            signing_key_pem,
            key_id: env_or("AUTH_KEY_ID", DEFAULT_KEY_ID),
            public_operations_file: std::env::var_os("PUBLIC_OPERATIONS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            access_token_ttl: Duration::from_secs(env_parse("ACCESS_TOKEN_TTL_SECONDS", 900)?),
            refresh_token_ttl: Duration::from_secs(env_parse(
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 24 * 3600,
            )?),
        })
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            signing_key_pem: None,
            key_id: DEFAULT_KEY_ID.to_owned(),
            public_operations_file: None,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Key id of the development signing key.
pub const DEFAULT_KEY_ID: &str = "mall-dev-2026-11";

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
            auth: AuthSettings::from_env()?,
            catalog_url: env_or("CATALOG_SUBGRAPH_URL", DEFAULT_CATALOG_URL),
            loader_delay: Duration::from_micros(env_parse("DATALOADER_DELAY_MICROS", 1000)?),
            user_url: env_or("USER_SUBGRAPH_URL", DEFAULT_USER_URL),
            cart_url: env_or("CART_SUBGRAPH_URL", DEFAULT_CART_URL),
            internal_token: env_or("INTERNAL_API_TOKEN", DEV_INTERNAL_TOKEN),
            orders: OrderSettings::from_env()?,
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
