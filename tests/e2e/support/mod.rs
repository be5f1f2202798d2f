//! End-to-end harness: the five subgraphs (in this process, on free ports, over a fresh
//! database with the demo data) and the real router (the `mall router` child process, with
//! the repository's router configuration) on a free port.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]

pub mod live;
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

pub use tcp_proxy::TcpProxy;

/// Path of the `mall` binary built for these tests.
pub const MALL_BIN: &str = env!("CARGO_BIN_EXE_mall");

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
    /// The order timings every order subgraph of this system runs with.
    pub orders: service_kit::config::OrderSettings,
    /// How long a payment may stay open in this system.
    pub payment_ttl: Duration,
    router: tokio::process::Child,
    /// How the router was started (to start another one like it).
    router_config: std::path::PathBuf,
    router_env: Vec<(String, String)>,
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
            if let Some(orders) = &options.orders {
                config.orders = orders.clone();
            }
            if let Some(ttl) = options.payment_ttl {
                config.payment_ttl = ttl;
            }
            if let Some(grace) = options.refresh_reuse_grace {
                config.auth.refresh_reuse_grace = grace;
            }
            if let Some(limit) = options.flash_purchases_per_second {
                config.flash_purchases_per_second = limit;
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
        let port = free_port();
        let router_config = options
            .router_config
            .clone()
            .unwrap_or_else(default_router_config);
        // The router's per-address and per-user limits share this system's Redis and prefix.
        let relaxed = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/support/rate-limits.relaxed.yaml"
        );
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
        let mut command = router_command(MALL_BIN.as_ref(), &router_config, port, &subgraphs);
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
        let orders = options.orders.clone().unwrap_or_default();
        Self {
            orders,
            payment_ttl: options
                .payment_ttl
                .unwrap_or_else(|| service_config(&database).payment_ttl),
            router_url: format!("http://127.0.0.1:{port}/graphql"),
            redis_prefix: prefix,
            catalog_statements,
            statements,
            subgraph_addrs: subgraphs.addrs.clone(),
            router,
            router_config,
            router_env,
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
        let mut command = router_command(MALL_BIN.as_ref(), &self.router_config, port, subgraphs);
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

    /// Sends a GraphQL request through the router; returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.post(&self.router_url, query, variables).await
    }

    /// Sends a GraphQL request through the router with `Authorization: Bearer <token>`.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post_as(&self.router_url, Some(token), query, variables)
            .await
    }

    /// Signs in through the router; returns the access token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let response = self
            .graphql(
                "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        response["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-in failed: {response}"))
            .to_owned()
    }

    /// Registers a new customer through the router; returns their access token. On a
    /// machine too busy for Redis to answer the rate limiter in time, registration is
    /// refused with `UNAVAILABLE` (it fails closed): tried again, as a client would.
    pub async fn register(&self, email: &str) -> String {
        let mut response = Value::Null;
        for pause in [0, 200, 500, 1000] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            response = self
                .graphql(
                    "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                    json!({ "i": { "email": email, "password": "long enough", "displayName": "Shopper" } }),
                )
                .await;
            if test_support::error_codes(&response) != ["UNAVAILABLE"] {
                break;
            }
        }
        response["data"]["register"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("registration failed: {response}"))
            .to_owned()
    }

    /// Signs in as the demo administrator (role `admin`: every permission).
    pub async fn admin_token(&self) -> String {
        self.sign_in(
            service_kit::demo::DEMO_ADMIN_EMAIL,
            user_subgraph::DEMO_ADMIN_PASSWORD,
        )
        .await
    }

    /// Signs in as the demo customer (who has a cart).
    pub async fn demo_customer_token(&self) -> String {
        self.sign_in(
            service_kit::demo::DEMO_CUSTOMER_EMAIL,
            user_subgraph::DEMO_CUSTOMER_PASSWORD,
        )
        .await
    }

    /// Empties the catalog's product cache (Redis, and every replica's memory), so that the
    /// next reads go to PostgreSQL.
    pub async fn flush_product_cache(&self) {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = service_kit::Redis::connect(&url, &self.redis_prefix, 1)
            .await
            .expect("redis");
        let mut conn = redis.connection().await.expect("redis connection");
        let keys: Vec<String> = service_kit::redis::redis::cmd("KEYS")
            .arg(redis.key("catalog:product:*"))
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            let _: () = service_kit::redis::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("DEL");
        }
        let _receivers: i64 = service_kit::redis::redis::cmd("PUBLISH")
            .arg(catalog_subgraph::cache::invalidation_channel(&redis))
            .arg(catalog_subgraph::cache::FORGET_ALL)
            .query_async(&mut conn)
            .await
            .expect("PUBLISH");
        // Delivered to the subscribed replicas at once; give them a moment to act on it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Sends a GraphQL request to `url` (a subgraph, or the router).
    pub async fn post(&self, url: &str, query: &str, variables: Value) -> Value {
        self.post_as(url, None, query, variables).await
    }

    /// Sends a GraphQL request to `url`, with a bearer token when given.
    pub async fn post_as(
        &self,
        url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self.http.post(url);
        if url != self.router_url {
            // A subgraph directly: it answers only with the secret the router sends.
            request = request.header(
                service_kit::internal::TOKEN_HEADER,
                service_kit::config::DEV_INTERNAL_TOKEN,
            );
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body = response.text().await.expect("response body");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("HTTP {status}, not JSON: {body}"))
    }

    /// Sends a GraphQL request to `url` exactly as given: no secret, no token, and
    /// `headers` added.
    pub async fn post_raw(&self, url: &str, headers: &[(&str, &str)], query: &str) -> Value {
        let mut request = self.http.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request sent");
        let body = response.text().await.expect("response body");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
    }

    /// Sends a POST to the router that announces a body of `length` bytes but stops after the
    /// first 64 KiB, then reads the answer. The router refuses on the announced length and
    /// drains 64 KiB before answering (hive-router's `drain_body_stream`), so that the
    /// connection closes cleanly; a client that keeps writing a real 10 MB body races that
    /// close and may see a reset instead of the answer.
    pub async fn announce_body(&self, length: usize) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self
            .router_url
            .trim_start_matches("http://")
            .trim_end_matches("/graphql");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("router reachable");
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        let sent = length.min(64 * 1024);
        stream
            .write_all(&vec![b' '; sent])
            .await
            .expect("body start sent");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the router answers without waiting for the rest of the body")
            .expect("answer read");
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, body.to_owned())
    }

    /// The GraphQL URL of one subgraph.
    pub fn subgraph_url(&self, name: &str) -> String {
        let (_, addr) = self
            .subgraph_addrs
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known subgraph");
        format!("http://{addr}/graphql")
    }

    /// An HTTP GET; returns status and body.
    pub async fn get(&self, url: &str) -> (u16, String) {
        let response = self.http.get(url).send().await.expect("request sent");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// The configuration of another instance of subgraph `name` of this system (same
    /// database, Redis prefix and peers), listening on `addr` (port 0: any).
    pub fn replica_config(&self, addr: std::net::SocketAddr) -> ServiceConfig {
        let url = |name: &str| self.subgraph_url(name);
        ServiceConfig {
            redis_prefix: self.redis_prefix.clone(),
            listen_addr: addr,
            user_url: url("user"),
            catalog_url: url("catalog"),
            cart_url: url("cart"),
            order_url: url("order"),
            orders: self.orders.clone(),
            payment_ttl: self.payment_ttl,
            ..service_config(&self.database)
        }
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

/// A change to every subgraph's configuration.
pub type ConfigChange = std::sync::Arc<dyn Fn(&mut ServiceConfig) + Send + Sync>;

/// How to start the system.
#[derive(Default)]
pub struct Options {
    /// A public operation list other than the repository's.
    pub public_operations_file: Option<std::path::PathBuf>,
    /// When every subgraph's DataLoaders send their batches, if not the default.
    pub loader_batch: Option<service_kit::loader::BatchWindow>,
    /// The Redis every subgraph uses, if not `REDIS_URL` (a [`TcpProxy`], say).
    pub redis_url: Option<String>,
    /// A router configuration file other than the repository's.
    pub router_config: Option<std::path::PathBuf>,
    /// Order timings (payment TTL, sweeps) other than the defaults.
    pub orders: Option<service_kit::config::OrderSettings>,
    /// How long a payment may stay open (`PAYMENT_TTL_SECONDS`), if not the default.
    pub payment_ttl: Option<Duration>,
    /// The refresh-token reuse grace window, if not the default (10 s).
    pub refresh_reuse_grace: Option<Duration>,
    /// Registrations per client address per hour, if not the harness's (unlimited).
    pub register_limit: Option<u64>,
    /// More environment variables for the router.
    pub router_env: Vec<(&'static str, &'static str)>,
    /// Where the router's output goes (at `info`, the configured level, unless `router_env`
    /// sets `LOG_LEVEL`), if anywhere.
    pub router_log: Option<std::path::PathBuf>,
    /// Flash-sale purchase attempts per customer per second, if not the default.
    pub flash_purchases_per_second: Option<u32>,
    /// The router's rate-limit file, if not the relaxed one of the tests
    /// (`tests/e2e/support/rate-limits.relaxed.yaml`).
    pub rate_limits: Option<std::path::PathBuf>,
    /// Export traces (the subgraphs of this process and the router) to this OTLP endpoint.
    pub otlp: Option<service_kit::telemetry::OtlpSettings>,
    /// Changes every subgraph's configuration last (benchmarks of its switches).
    pub service_config: Option<ConfigChange>,
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

impl Options {
    /// Options whose periodic sweeps (order expiry, payment expiry, flash-sale returns) run
    /// every `interval`: short to see them act, an hour to keep them out of a measurement.
    pub fn sweeping_every(interval: Duration) -> Self {
        Self {
            orders: Some(service_kit::config::OrderSettings {
                sweep_interval: interval,
                expiry_grace: Duration::ZERO,
                ..Default::default()
            }),
            ..Self::default()
        }
    }

    /// Options for counting a request's SQL statements: every periodic sweep and every
    /// outbox relay's idle poll waits an hour (each runs once at start-up).
    pub fn quiet() -> Self {
        Self {
            orders: Some(service_kit::config::OrderSettings {
                sweep_interval: Duration::from_secs(3600),
                outbox_poll: Duration::from_secs(3600),
                expiry_grace: Duration::ZERO,
                ..Default::default()
            }),
            ..Self::default()
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The contract operations the supergraph must serve (`schema/contract-passing.txt`:
/// `file/Operation`, a line).
pub fn contract_passing() -> std::collections::HashSet<String> {
    std::fs::read_to_string(douyin_mall::schema_dir().join("contract-passing.txt"))
        .expect("schema/contract-passing.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The contract's operations that the supergraph serves (`schema/contract/operations`, those
/// listed in `schema/contract-passing.txt`, the contract ratchet), each as a document the
/// router accepts: the operation and the fragments it uses (directly or through other
/// fragments).
pub fn contract_operations() -> Vec<(String, String)> {
    let dir = douyin_mall::schema_dir().join("contract/operations");
    let listed = contract_passing();
    // (file stem, definition text)
    let mut definitions: Vec<(String, String)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("schema/contract/operations")
        .map(|entry| entry.expect("a file").path())
        .collect();
    files.sort();
    for file in files {
        let stem = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&file).expect("an operations file");
        // Every definition starts at the beginning of a line (as the contract is written).
        let mut current: Option<String> = None;
        for line in text.lines() {
            let starts = ["query ", "mutation ", "subscription ", "fragment "]
                .iter()
                .any(|keyword| line.starts_with(keyword));
            if starts {
                definitions.extend(current.take().map(|d| (stem.clone(), d)));
                current = Some(String::new());
            }
            if let Some(definition) = current.as_mut()
                && !line.trim_start().starts_with('#')
            {
                definition.push_str(line);
                definition.push('\n');
            }
        }
        definitions.extend(current.map(|d| (stem.clone(), d)));
    }
    let name_of = |definition: &str| {
        definition
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let fragments: std::collections::HashMap<String, String> = definitions
        .iter()
        .filter(|(_, d)| d.starts_with("fragment "))
        .map(|(_, d)| (name_of(d), d.clone()))
        .collect();
    let spreads = |text: &str| -> Vec<String> {
        text.split("...")
            .skip(1)
            .map(|rest| {
                rest.trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|name| fragments.contains_key(name))
            .collect()
    };
    definitions
        .iter()
        .filter(|(stem, d)| {
            !d.starts_with("fragment ") && listed.contains(&format!("{stem}/{}", name_of(d)))
        })
        .map(|(_, operation)| {
            let mut used: Vec<String> = Vec::new();
            let mut pending = spreads(operation);
            while let Some(name) = pending.pop() {
                if !used.contains(&name) {
                    pending.extend(spreads(&fragments[&name]));
                    used.push(name);
                }
            }
            let mut document = operation.clone();
            for name in &used {
                document.push('\n');
                document.push_str(&fragments[name]);
            }
            (name_of(operation), document)
        })
        .collect()
}

/// The router's trusted documents (`router-config/persisted-documents.json`): id → text.
pub fn trusted_documents() -> std::collections::HashMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/router-config/persisted-documents.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the trusted-document manifest"))
        .expect("manifest JSON")
}
