//! Configuration from environment variables, with defaults that work on a developer machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::statements::StatementCounter;

/// Default PostgreSQL URL: the database is created on first start if it does not exist.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/mall";
/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default prefix of every Redis key this deployment writes.
pub const DEFAULT_REDIS_PREFIX: &str = "mall:";

/// `MALL_ENV`: how strict start-up is. `development` (the default) runs on the public
/// development secrets of this repository and seeds demo data; `production` refuses to start
/// with any of them (see [`ServiceConfig::check_deployable`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MallEnv {
    #[default]
    Development,
    Production,
}

impl std::str::FromStr for MallEnv {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            other => Err(format!(
                "{other:?} is neither `development` nor `production`"
            )),
        }
    }
}

/// Settings shared by every subgraph. Each field has an environment variable.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// `MALL_ENV`: `development` (default) or `production`.
    pub env: MallEnv,
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
    /// `127.0.0.1:<its default port>`. Once bound, the actual address (port 0 becomes the
    /// port given).
    pub listen_addr: SocketAddr,
    /// Counts SQL statements (tests use it to prove batching); `None` in production.
    pub statement_counter: Option<Arc<StatementCounter>>,
    /// Token keys, lifetimes and the public operation list.
    pub auth: AuthSettings,
    /// `DATALOADER_DELAY_MICROS`: when every subgraph's DataLoaders send a batch: 0 (the
    /// default) once the request's resolvers have yielded, otherwise that many microseconds
    /// after the first key (async-graphql's way; `benches/read_path.rs` compares them).
    pub loader_batch: crate::loader::BatchWindow,
    /// `PARSED_DOCUMENT_CACHE`: how many parsed GraphQL documents each subgraph keeps, by
    /// text (default 1000; 0 parses every request).
    pub parsed_document_cache: u64,
    /// `INTERNAL_API_TOKEN`: the shared secret of service-to-service calls (`/internal/*`
    /// routes). Unset: a public development value.
    pub internal_token: String,
    /// `METRICS_TOKEN` (or `METRICS_TOKEN_FILE`): when set, `GET /metrics` answers only
    /// with `Authorization: Bearer <it>`. Required in production: the metrics name
    /// operations, codes and volumes nobody outside should read.
    pub metrics_token: Option<String>,
    /// `SHUTDOWN_DELAY_SECONDS` (default 0) and `SHUTDOWN_TIMEOUT_SECONDS` (default 10): how
    /// the subgraph stops on SIGTERM or Ctrl-C (see `http::serve`).
    pub stop: crate::http::StopSettings,
    /// Where the other subgraphs are (see [`ServiceConfig::peer_url`]).
    pub peers: PeerUrls,
    /// Timings of the event relays, sweepers and reconcilers every subgraph with events runs.
    pub events: EventSettings,
    /// Settings of one subgraph set in code (tests, the launcher) instead of read from the
    /// environment (see [`ServiceConfig::settings`]).
    pub overrides: SettingsOverrides,
}

/// A subgraph's own settings (the `config.rs` of its crate), read from environment variables
/// unless set on the [`ServiceConfig`] with [`ServiceConfig::set`]. Keeping them in the
/// subgraph means a setting of one subgraph compiles and concerns that subgraph only.
pub trait SubgraphSettings: Clone + Send + Sync + 'static {
    /// Reads the variables this subgraph's settings name, with their defaults.
    fn from_env() -> anyhow::Result<Self>;
}

/// Subgraph settings set in code, by type.
#[derive(Clone, Default)]
pub struct SettingsOverrides(
    Arc<std::collections::HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>>,
);

impl SettingsOverrides {
    /// Sets one subgraph's settings (replacing any set before).
    pub fn set<T: SubgraphSettings>(&mut self, settings: T) {
        Arc::make_mut(&mut self.0).insert(std::any::TypeId::of::<T>(), Arc::new(settings));
    }
}

impl std::fmt::Debug for SettingsOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SettingsOverrides({} set)", self.0.len())
    }
}

/// `<NAME>_SUBGRAPH_URL` for each subgraph: its GraphQL URL, for service-to-service calls
/// (internal routes are its siblings). The launcher sets the ones it started; on Kubernetes
/// they are Service names.
#[derive(Clone, Debug, Default)]
pub struct PeerUrls(std::collections::BTreeMap<String, String>);

/// The subgraphs and their development ports (the default URLs of [`PeerUrls`]).
pub const SUBGRAPH_PORTS: [(&str, u16); 6] = [
    ("user", 4001),
    ("catalog", 4002),
    ("cart", 4003),
    ("order", 4004),
    ("payment", 4005),
    ("assistant", 4006),
];

/// The peer name of the router's own GraphQL endpoint (`ROUTER_URL`, default
/// `http://127.0.0.1:4000/graphql`): the assistant calls the public API through it, with
/// the customer's token, like any frontend.
pub const ROUTER: &str = "router";

impl PeerUrls {
    /// Every subgraph's `<NAME>_SUBGRAPH_URL`, default `http://127.0.0.1:<its port>/graphql`,
    /// and the router's `ROUTER_URL`.
    pub fn from_env() -> Self {
        let mut urls = Self::defaults();
        for (name, url) in &mut urls.0 {
            *url = if name == ROUTER {
                env_or("ROUTER_URL", url)
            } else {
                env_or(&format!("{}_SUBGRAPH_URL", name.to_uppercase()), url)
            };
        }
        urls
    }

    /// The development defaults, whatever the environment says (tests).
    pub fn defaults() -> Self {
        Self(
            SUBGRAPH_PORTS
                .iter()
                .chain([(ROUTER, 4000)].iter())
                .map(|(name, port)| (name.to_string(), format!("http://127.0.0.1:{port}/graphql")))
                .collect(),
        )
    }

    /// Points `name` at `url`.
    pub fn set(&mut self, name: &str, url: impl Into<String>) {
        self.0.insert(name.to_owned(), url.into());
    }
}

/// Timings of event publishing and of the background rounds that repair what events missed.
#[derive(Clone, Debug)]
pub struct EventSettings {
    /// `OUTBOX_POLL_MILLIS`: how often an idle outbox relay looks for new events
    /// (default 50).
    pub outbox_poll: Duration,
    /// `ORDER_SWEEP_INTERVAL_MILLIS`: how often sweepers (order expiry, abandoned checkouts,
    /// payment expiry) run (default 1000).
    pub sweep_interval: Duration,
    /// `RECONCILE_INTERVAL_SECONDS` (default 30): how often each order and payment replica
    /// checks money and stock against the other subgraph's record (see `docs/events.md`).
    pub reconcile_every: Duration,
    /// `RECONCILE_AFTER_SECONDS` (default 120): how long events get to settle a change
    /// before a reconciler looks at it.
    pub reconcile_after: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            outbox_poll: Duration::from_millis(50),
            sweep_interval: Duration::from_millis(1000),
            reconcile_every: Duration::from_secs(30),
            reconcile_after: Duration::from_secs(120),
        }
    }
}

impl EventSettings {
    /// Reads the variables named on the fields.
    pub fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            outbox_poll: Duration::from_millis(env_parse(
                "OUTBOX_POLL_MILLIS",
                defaults.outbox_poll.as_millis() as u64,
            )?),
            sweep_interval: Duration::from_millis(env_parse(
                "ORDER_SWEEP_INTERVAL_MILLIS",
                defaults.sweep_interval.as_millis() as u64,
            )?),
            reconcile_every: Duration::from_secs(env_parse(
                "RECONCILE_INTERVAL_SECONDS",
                defaults.reconcile_every.as_secs(),
            )?),
            reconcile_after: Duration::from_secs(env_parse(
                "RECONCILE_AFTER_SECONDS",
                defaults.reconcile_after.as_secs(),
            )?),
        })
    }
}

/// The development value of `INTERNAL_API_TOKEN` (public: never deploy with it).
pub const DEV_INTERNAL_TOKEN: &str = "mall-internal-development-token";

/// Settings of identity and access (read by the `auth` crate).
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `MALL_ENV=production` (set with [`ServiceConfig::env`]): no development key, no
    /// signing without a configured key.
    pub production: bool,
    /// `AUTH_SIGNING_KEY` (PEM text) or `AUTH_SIGNING_KEY_FILE` (a path): the Ed25519 key
    /// that signs access tokens. Unset: the public development key of this repository.
    pub signing_key_pem: Option<String>,
    /// `AUTH_KEY_ID`: the `kid` of that key in tokens and in the JWKS.
    pub key_id: String,
    /// `AUTH_SECOND_KEY` / `AUTH_SECOND_KEY_FILE` and `AUTH_SECOND_KEY_ID`: a second
    /// Ed25519 key that verifies tokens and is published in the JWKS but never signs: the
    /// previous key after a rotation (its tokens stay valid until they expire), or the next
    /// key before one (so that routers fetch it before any token uses it).
    pub second_key: Option<(String, String)>,
    /// `PUBLIC_OPERATIONS_FILE`: root fields callable without a token. Unset: the file in
    /// `router-config/` (the router reads the same variable).
    pub public_operations_file: Option<PathBuf>,
    /// `ACCESS_TOKEN_TTL_SECONDS` (default 900).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECONDS` (default 30 days).
    pub refresh_token_ttl: Duration,
    /// `REFRESH_REUSE_GRACE_SECONDS` (default 10): a refresh token presented again within
    /// this time of its use (two tabs refreshing at once) gets the same new pair; later, reuse
    /// revokes the session.
    pub refresh_reuse_grace: Duration,
    /// `REGISTER_LIMIT_PER_ADDRESS` (default 20 in production, 10,000 in development):
    /// registrations per client address per hour.
    pub register_limit_per_address: u64,
    /// `SESSION_CACHE_SECONDS` (default 10; 0: off): how long a process may hold a session
    /// it checked in Redis, kept exact by the `access` stream's notices in the meantime
    /// (the `auth` crate's `sessions`).
    pub session_cache: Duration,
}

impl AuthSettings {
    /// Reads the `AUTH_*`, `PUBLIC_OPERATIONS_FILE` and token lifetime variables.
    pub fn from_env() -> anyhow::Result<Self> {
        let second_key = match secret_from_env("AUTH_SECOND_KEY")? {
            Some(pem) => {
                let id = std::env::var("AUTH_SECOND_KEY_ID")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!("AUTH_SECOND_KEY is set: AUTH_SECOND_KEY_ID must name it")
                    })?;
                Some((pem, id))
            }
            None => None,
        };
        let production = env_parse("MALL_ENV", MallEnv::Development)? == MallEnv::Production;
        Ok(Self {
            production,
            signing_key_pem: secret_from_env("AUTH_SIGNING_KEY")?,
            key_id: env_or("AUTH_KEY_ID", DEFAULT_KEY_ID),
            second_key,
            public_operations_file: std::env::var_os("PUBLIC_OPERATIONS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            access_token_ttl: Duration::from_secs(env_parse("ACCESS_TOKEN_TTL_SECONDS", 900)?),
            refresh_token_ttl: Duration::from_secs(env_parse(
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 24 * 3600,
            )?),
            refresh_reuse_grace: Duration::from_secs(env_parse("REFRESH_REUSE_GRACE_SECONDS", 10)?),
            // Development: a local end-to-end suite registers many accounts from one address.
            register_limit_per_address: env_parse(
                "REGISTER_LIMIT_PER_ADDRESS",
                if production { 20 } else { 10_000 },
            )?,
            session_cache: Duration::from_secs(env_parse("SESSION_CACHE_SECONDS", 10)?),
        })
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            production: false,
            signing_key_pem: None,
            key_id: DEFAULT_KEY_ID.to_owned(),
            second_key: None,
            public_operations_file: None,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            register_limit_per_address: 20,
            session_cache: Duration::from_secs(10),
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
        let env = env_parse("MALL_ENV", MallEnv::Development)?;
        Ok(Self {
            env,
            metrics_token: secret_from_env("METRICS_TOKEN")?,
            database_url: env_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size: env_parse("DATABASE_POOL_SIZE", 10)?,
            redis_url: env_or("REDIS_URL", DEFAULT_REDIS_URL),
            redis_prefix: env_or("REDIS_PREFIX", DEFAULT_REDIS_PREFIX),
            redis_pool_size: env_parse("REDIS_POOL_SIZE", 10)?,
            seed_demo_data: env_parse("SEED_DEMO_DATA", true)?,
            listen_addr,
            statement_counter: None,
            auth: AuthSettings::from_env()?,
            loader_batch: crate::loader::BatchWindow::from_micros(env_parse(
                "DATALOADER_DELAY_MICROS",
                0,
            )?),
            parsed_document_cache: env_parse("PARSED_DOCUMENT_CACHE", 1000)?,
            internal_token: secret_from_env("INTERNAL_API_TOKEN")?
                .unwrap_or_else(|| DEV_INTERNAL_TOKEN.to_owned()),
            stop: crate::http::StopSettings {
                delay: Duration::from_secs(env_parse("SHUTDOWN_DELAY_SECONDS", 0)?),
                timeout: Duration::from_secs(env_parse("SHUTDOWN_TIMEOUT_SECONDS", 10)?),
            },
            peers: PeerUrls::from_env(),
            events: EventSettings::from_env()?,
            overrides: SettingsOverrides::default(),
        })
    }

    /// The GraphQL URL of the subgraph `name` (`<NAME>_SUBGRAPH_URL`).
    pub fn peer_url(&self, name: &str) -> anyhow::Result<&str> {
        self.peers
            .0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("no URL for a subgraph named {name:?}"))
    }

    /// This subgraph's own settings: the ones [`ServiceConfig::set`] gave, otherwise read
    /// from the environment.
    pub fn settings<T: SubgraphSettings>(&self) -> anyhow::Result<T> {
        match self.overrides.0.get(&std::any::TypeId::of::<T>()) {
            Some(set) => Ok(set
                .downcast_ref::<T>()
                .expect("overrides are keyed by their type")
                .clone()),
            None => T::from_env(),
        }
    }

    /// Changes a subgraph's settings in code (tests, benches): the ones set or read so far.
    pub fn change<T: SubgraphSettings>(
        &mut self,
        change: impl FnOnce(&mut T),
    ) -> anyhow::Result<()> {
        let mut settings = self.settings::<T>()?;
        change(&mut settings);
        self.set(settings);
        Ok(())
    }

    /// Sets a subgraph's settings in code (tests, benches).
    pub fn set<T: SubgraphSettings>(&mut self, settings: T) {
        self.overrides.set(settings);
    }

    /// In production, refuses what only a development machine may run with: the public
    /// internal token, demo data (a known administrator password). The signing key is
    /// checked by the `auth` crate, which knows the development key.
    pub fn check_deployable(&self) -> anyhow::Result<()> {
        if self.env != MallEnv::Production {
            return Ok(());
        }
        if self.seed_demo_data {
            anyhow::bail!(
                "MALL_ENV=production refuses demo data (it creates a known administrator \
                 password): set SEED_DEMO_DATA=false"
            );
        }
        if self.internal_token == DEV_INTERNAL_TOKEN || self.internal_token.len() < 32 {
            anyhow::bail!(
                "MALL_ENV=production needs INTERNAL_API_TOKEN (or INTERNAL_API_TOKEN_FILE): a \
                 secret of at least 32 characters, not the development value"
            );
        }
        if self
            .metrics_token
            .as_ref()
            .is_none_or(|token| token.len() < 32)
        {
            anyhow::bail!(
                "MALL_ENV=production needs METRICS_TOKEN (or METRICS_TOKEN_FILE): a secret of \
                 at least 32 characters that Prometheus sends to read /metrics"
            );
        }
        Ok(())
    }
}

/// `NAME` (the value) or `NAME_FILE` (a file holding it, as Docker secrets are mounted).
pub fn secret_from_env(name: &str) -> anyhow::Result<Option<String>> {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    match (set(name), set(&format!("{name}_FILE"))) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|text| Some(text.trim_end().to_owned()))
            .map_err(|e| anyhow::anyhow!("{name}_FILE={path:?} cannot be read: {e}")),
        (None, None) => Ok(None),
    }
}

/// `NAME`'s value, or `default` when unset or empty.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `NAME` parsed, or `default` when unset or empty; an error names the variable.
pub fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
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
