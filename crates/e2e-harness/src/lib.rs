//! End-to-end harness: the six subgraphs (in this process, on free ports, over a fresh
//! database with the demo data) and the real router (the `mall router` child process, with
//! the repository's router configuration) on a free port.

mod contract;
pub mod live;
mod options;
mod requests;
mod tcp_proxy;

use std::net::TcpListener;
use std::time::Duration;

use douyin_mall::{
    RunningSubgraphs, SUBGRAPHS, default_router_config, router_command, start_subgraphs,
    wait_until_ready,
};
use serde_json::{Value, json};
use service_kit::ServiceConfig;
use test_support::{TestDatabase, redis_prefix, service_config};

pub use contract::{contract_operation, contract_operations, contract_passing, trusted_documents};
pub use options::{ConfigChange, Options};
pub use tcp_proxy::TcpProxy;

/// Path of the `mall` binary: `MALL_BIN` when set, otherwise the one Cargo built next to the
/// running test or bench (`target/<profile>/deps/<it>` → `target/<profile>/mall`; Cargo builds
/// a package's binaries for its tests and benches).
pub static MALL_BIN: std::sync::LazyLock<std::path::PathBuf> = std::sync::LazyLock::new(|| {
    if let Some(path) = std::env::var_os("MALL_BIN").filter(|p| !p.is_empty()) {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the running executable's path");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("mall{}", std::env::consts::EXE_SUFFIX))
});

/// The whole system, stopped when dropped.
pub struct System {
    /// `http://127.0.0.1:<port>/graphql` of the router.
    pub router_url: String,
    /// Counts the SQL statements of the catalog subgraph (batching proofs).
    pub catalog_statements: std::sync::Arc<service_kit::StatementCounter>,
    /// Counts the SQL statements of each subgraph (benchmarks).
    pub statements: Vec<(&'static str, std::sync::Arc<service_kit::StatementCounter>)>,
    /// The Redis key prefix every subgraph of this system uses.
    pub redis_prefix: String,
    /// Name and address of each subgraph.
    pub subgraph_addrs: Vec<(&'static str, std::net::SocketAddr)>,
    /// The subgraph settings (order timings, payment TTL, ...) and event timings every
    /// subgraph of this system runs with, for its replicas.
    settings: service_kit::config::SettingsOverrides,
    events: service_kit::config::EventSettings,
    router: tokio::process::Child,
    /// How the router was started (to start another one like it).
    router_config: std::path::PathBuf,
    router_env: Vec<(String, String)>,
    /// Keeps the router's port this system's while it runs (see [`router_port`]).
    _port_claim: PortClaim,
    subgraphs: Option<RunningSubgraphs>,
    http: reqwest::Client,
    /// Dropped last, after every connection to it is gone.
    pub database: TestDatabase,
}

impl System {
    /// Starts everything and waits until the router is ready.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Starts everything with `options`.
    pub async fn start_with(options: Options) -> Self {
        let database = TestDatabase::create(&SUBGRAPHS.map(|s| s.database))
            .await
            .expect("test database");
        let prefix = redis_prefix();
        let statements: Vec<_> = SUBGRAPHS
            .iter()
            .map(|s| {
                (
                    s.name,
                    std::sync::Arc::new(service_kit::StatementCounter::default()),
                )
            })
            .collect();
        let counter_of = |name: &str| {
            statements
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c.clone())
                .expect("a counter per subgraph")
        };
        let catalog_statements = counter_of("catalog");
        if let Some(otlp) = &options.otlp {
            // Before any subgraph starts: their connections make SQL spans from the start.
            service_kit::telemetry::init_with(Some(otlp.clone()));
        }
        let settings = options::settings_of(&options);
        // Known before the subgraphs start (the assistant calls the router), and taken from
        // outside the kernel's ephemeral range: a port of that range, free now, could be
        // handed to another test's `bind(0)` while these subgraphs start.
        let (port, port_claim) = router_port();
        let subgraphs = start_subgraphs(|subgraph| {
            let mut config = ServiceConfig {
                seed_demo_data: true,
                redis_prefix: prefix.clone(),
                ..service_config(&database)
            };
            config.statement_counter = Some(counter_of(subgraph.name));
            config.auth.public_operations_file = options.public_operations_file.clone();
            if let Some(window) = options.loader_batch {
                config.loader_batch = window;
            }
            if let Some(url) = &options.redis_url {
                config.redis_url = url.clone();
            }
            config.overrides = settings.clone();
            config.peers.set(
                service_kit::config::ROUTER,
                format!("http://127.0.0.1:{port}/graphql"),
            );
            if let Some(events) = &options.events {
                config.events = events.clone();
            }
            if let Some(grace) = options.refresh_reuse_grace {
                config.auth.refresh_reuse_grace = grace;
            }
            if let Some(limit) = options.register_limit {
                config.auth.register_limit_per_address = limit;
            }
            if let Some(tweak) = &options.service_config {
                tweak(&mut config);
            }
            Ok(config)
        })
        .await
        .expect("subgraphs start");
        let router_config = options
            .router_config
            .clone()
            .unwrap_or_else(default_router_config);
        // The router's per-address and per-user limits share this system's Redis and prefix.
        let relaxed = concat!(env!("CARGO_MANIFEST_DIR"), "/rate-limits.relaxed.yaml");
        let mut router_env: Vec<(String, String)> = vec![
            ("REDIS_PREFIX".into(), prefix.clone()),
            (
                "REDIS_URL".into(),
                options
                    .redis_url
                    .clone()
                    .unwrap_or_else(|| service_config(&database).redis_url),
            ),
            (
                "RATE_LIMITS_FILE".into(),
                options.rate_limits.clone().map_or_else(
                    || relaxed.to_owned(),
                    |path| path.to_string_lossy().into_owned(),
                ),
            ),
        ];
        if let Some(file) = &options.public_operations_file {
            router_env.push((
                "PUBLIC_OPERATIONS_FILE".into(),
                file.to_string_lossy().into_owned(),
            ));
        }
        router_env.extend(
            options
                .router_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut command = router_command(&MALL_BIN, &router_config, port, &subgraphs);
        command.envs(router_env.iter().map(|(k, v)| (k, v)));
        if options.otlp.is_some() {
            douyin_mall::router_traces(&mut command, options.otlp.as_ref());
        }
        if let Some(file) = &options.router_log {
            let log = std::fs::File::create(file).expect("router log file");
            if !options
                .router_env
                .iter()
                .any(|(name, _)| *name == "LOG_LEVEL")
            {
                command.env("LOG_LEVEL", "info");
            }
            command
                .stdout(log.try_clone().expect("log file"))
                .stderr(log);
        }
        let router = command.spawn().expect("router starts");
        wait_until_ready(
            &format!("http://127.0.0.1:{port}/readiness"),
            Duration::from_secs(60),
        )
        .await
        .expect("router ready");
        Self {
            events: options
                .events
                .clone()
                .unwrap_or_else(|| service_config(&database).events),
            settings,
            router_url: format!("http://127.0.0.1:{port}/graphql"),
            redis_prefix: prefix,
            catalog_statements,
            statements,
            subgraph_addrs: subgraphs.addrs.clone(),
            router,
            router_config,
            router_env,
            _port_claim: port_claim,
            subgraphs: Some(subgraphs),
            http: reqwest::Client::new(),
            database,
        }
    }

    /// The ids of the first `n` products of the catalog listing (newest first).
    pub async fn product_ids(&self, n: usize) -> Vec<String> {
        let response = self
            .graphql(
                "query($n: Int) { products(first: $n) { edges { node { id } } } }",
                json!({ "n": n }),
            )
            .await;
        response["data"]["products"]["edges"]
            .as_array()
            .expect("products")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// The SQL statements run so far by the user, catalog and cart subgraphs, which do
    /// nothing in the background under [`Options::quiet`]: unchanged means no request
    /// reached them.
    pub fn quiet_subgraph_statements(&self) -> Vec<u64> {
        self.statements
            .iter()
            .filter(|(name, _)| ["user", "catalog", "cart"].contains(name))
            .map(|(_, c)| c.get())
            .collect()
    }

    /// Starts a second router like the first (same configuration, subgraphs, Redis and
    /// prefix), for limits shared between replicas; its process and GraphQL URL. It stops
    /// when the child is dropped.
    pub async fn start_another_router(&self) -> (tokio::process::Child, String) {
        self.start_another_router_with(&[]).await
    }

    /// Like [`System::start_another_router`], with more environment variables (another
    /// subgraph URL, say).
    pub async fn start_another_router_with(
        &self,
        env: &[(&str, String)],
    ) -> (tokio::process::Child, String) {
        let port = free_port();
        let subgraphs = self.subgraphs.as_ref().expect("running");
        let mut command = router_command(&MALL_BIN, &self.router_config, port, subgraphs);
        command.envs(self.router_env.iter().map(|(k, v)| (k, v)));
        command.envs(env.iter().map(|(k, v)| (*k, v)));
        let child = command.spawn().expect("router starts");
        wait_until_ready(
            &format!("http://127.0.0.1:{port}/readiness"),
            Duration::from_secs(60),
        )
        .await
        .expect("router ready");
        (child, format!("http://127.0.0.1:{port}/graphql"))
    }

    /// The configuration of another instance of subgraph `name` of this system (same
    /// database, Redis prefix and peers), listening on `addr` (port 0: any).
    pub fn replica_config(&self, addr: std::net::SocketAddr) -> ServiceConfig {
        let url = |name: &str| self.subgraph_url(name);
        let mut config = ServiceConfig {
            redis_prefix: self.redis_prefix.clone(),
            listen_addr: addr,
            events: self.events.clone(),
            overrides: self.settings.clone(),
            ..service_config(&self.database)
        };
        for name in ["user", "catalog", "cart", "order", "payment"] {
            config.peers.set(name, url(name));
        }
        config
    }

    /// Starts another instance of a subgraph (a replica) beside the running ones.
    pub async fn start_replica(
        &self,
        subgraph: &'static service_kit::Subgraph,
        addr: std::net::SocketAddr,
    ) -> douyin_mall::Server {
        douyin_mall::serve_subgraph(subgraph, &self.replica_config(addr))
            .await
            .expect("replica starts")
    }

    /// A connection to the database of this system, in subgraph `schema`.
    pub async fn sql(&self, schema: &str) -> diesel_async::AsyncPgConnection {
        use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.database.url)
            .await
            .expect("database");
        conn.batch_execute(&format!("SET search_path TO \"{schema}\""))
            .await
            .expect("search_path");
        conn
    }

    /// Redis of this system.
    pub async fn redis(&self) -> service_kit::Redis {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        service_kit::Redis::connect(&url, &self.redis_prefix, 1)
            .await
            .expect("redis")
    }

    /// The events on stream `name` (`orders`), oldest first.
    pub async fn events(&self, name: &str) -> Vec<event_bus::Event> {
        let redis = self.redis().await;
        let mut conn = redis.connection().await.expect("redis connection");
        let entries: service_kit::redis::redis::streams::StreamRangeReply =
            service_kit::redis::redis::cmd("XRANGE")
                .arg(event_bus::stream_key(&redis, name))
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .expect("XRANGE");
        entries
            .ids
            .iter()
            .map(|entry| {
                let json: String = entry.get("event").expect("event field");
                serde_json::from_str(&json).expect("event JSON")
            })
            .collect()
    }

    /// Waits until subgraph `name` of this system counts at least `open` open
    /// subscriptions, so that a test makes its change only once the subscription is in place.
    pub async fn wait_for_subscriptions(&self, name: &str, open: u64) {
        let base = self.subgraph_base(name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let now = open_subscriptions(&base).await;
            if now >= open {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} has {now} open subscriptions, not {open}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `http://<addr>` of one subgraph of this system.
    pub fn subgraph_base(&self, name: &str) -> String {
        self.subgraph_url(name)
            .trim_end_matches("/graphql")
            .to_owned()
    }

    /// Stops one subgraph, as if its process died; the rest keeps running.
    pub async fn stop_subgraph(&mut self, name: &str) {
        self.subgraphs.as_mut().expect("running").stop(name).await;
    }

    /// The router's process id (profiling).
    pub fn router_pid(&self) -> Option<u32> {
        self.router.id()
    }

    /// Stops the subgraphs gracefully and the router.
    pub async fn stop(mut self) {
        let _ = self.router.start_kill();
        let _ = self.router.wait().await;
        if let Some(subgraphs) = self.subgraphs.take() {
            subgraphs.shutdown().await;
        }
    }
}

/// The subscriptions open in the subgraph at `base` (`GET /internal/live`).
pub async fn open_subscriptions(base: &str) -> u64 {
    let status: Value = reqwest::Client::new()
        .get(format!("{base}/internal/live"))
        .header(
            service_kit::internal::TOKEN_HEADER,
            service_kit::config::DEV_INTERNAL_TOKEN,
        )
        .send()
        .await
        .expect("live status")
        .json()
        .await
        .expect("live status JSON");
    status["open"].as_u64().expect("open subscriptions")
}

/// A port for a system's router, chosen before its subgraphs start (the assistant calls
/// the router), so that nothing else takes it meanwhile: below the kernel's ephemeral range
/// (32768–60999 on Linux), where no `bind(0)` or outgoing connection lands, free now, and
/// claimed by a file that other systems starting at the same time (in other test processes)
/// respect until this one is dropped. A claim older than a day is stale (a killed run).
pub fn router_port() -> (u16, PortClaim) {
    use std::hash::{BuildHasher as _, Hasher as _};
    let dir = std::env::temp_dir().join("douyin-mall-router-ports");
    let _ = std::fs::create_dir_all(&dir);
    for _ in 0..1000 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        let path = dir.join(port.to_string());
        let stale = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().unwrap_or_default() > Duration::from_secs(86_400));
        if stale {
            let _ = std::fs::remove_file(&path);
        }
        let claimed = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_ok();
        if !claimed {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return (port, PortClaim(path));
        }
        let _ = std::fs::remove_file(&path);
    }
    panic!("no free router port in 20000–31999");
}

/// A claimed router port (see [`router_port`]); released when dropped.
pub struct PortClaim(std::path::PathBuf);

impl Drop for PortClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
