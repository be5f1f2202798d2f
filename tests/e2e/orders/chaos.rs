//! The chaos soak (issue 23): a mixed workload (browse, checkout, pay through the sandbox
//! gateway, cancel, refund, a flash-sale storm) against three replicas of catalog, order and
//! payment (one in this process, two child processes killed with SIGKILL at random and
//! started again), on a `redis-server` of its own (restarted empty, restored from an older
//! snapshot, paused) and a database of its own (connections terminated). Then the faults
//! stop, it waits for convergence and checks that nothing was lost: every succeeded payment
//! paid its order or was refunded, no flash sale sold beyond its quantity or a buyer beyond
//! the limit, every unit of stock is accounted for, no reservation is held for a closed
//! order, refunds never exceed what was paid, and every event was applied.
//!
//! Run with `scripts/chaos [SECONDS]` (default 180 s of faults); ignored by the test command.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use super::support::{MALL_BIN, Options, System, free_port};

/// The subgraphs that run as three replicas, two of them killable.
const REPLICATED: [&str; 3] = ["catalog", "order", "payment"];
const PRODUCTS: usize = 8;
const START_STOCK: i64 = 500;
const SALE_UNITS: i64 = 40;
const SALE_LIMIT: i64 = 2;

/// A small deterministic generator (no dependency for it).
#[derive(Clone)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A TCP proxy that spreads connections over the live replicas of one subgraph.
struct RoundRobin {
    addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
}

impl RoundRobin {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let backends: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let pool = backends.clone();
        tokio::spawn(async move {
            let turn = AtomicUsize::new(0);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let candidates = pool.lock().unwrap().clone();
                let first = turn.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for i in 0..candidates.len() {
                        let backend = candidates[(first + i) % candidates.len()];
                        if let Ok(mut upstream) = TcpStream::connect(backend).await {
                            let mut client = client;
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, backends }
    }

    fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }
}

/// One killable replica: a `mall subgraph NAME` child process.
struct Replica {
    name: &'static str,
    addr: SocketAddr,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
}

impl Replica {
    fn start(&mut self) {
        let child = tokio::process::Command::new(&*MALL_BIN)
            .arg("subgraph")
            .arg(self.name)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(
                format!("{}_SUBGRAPH_ADDR", self.name.to_uppercase()),
                self.addr.to_string(),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("replica starts");
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill(); // SIGKILL
            let _ = child.wait().await;
        }
    }
}

/// The soak's own `redis-server`.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<tokio::process::Child>,
}

impl RedisServer {
    async fn start(dir: PathBuf) -> Self {
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.run().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dbfilename",
                "dump.rdb",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian's redis package) starts");
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start");
    }

    async fn command(&self, args: &[&str]) {
        let client = service_kit::redis::redis::Client::open(self.url()).unwrap();
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let mut cmd = service_kit::redis::redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            let _: Result<service_kit::redis::redis::Value, _> = cmd.query_async(&mut conn).await;
        }
    }

    /// Saves what Redis has now as the snapshot a later [`RedisServer::restore`] loads.
    async fn snapshot(&self) {
        self.command(&["SAVE"]).await;
        let _ = std::fs::copy(self.dir.join("dump.rdb"), self.dir.join("snapshot.rdb"));
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// A restart without persistence: everything gone.
    async fn restart_empty(&mut self) {
        self.stop().await;
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.run().await;
    }

    /// A restart from the older snapshot (RDB): everything since rolled back.
    async fn restore(&mut self) {
        self.stop().await;
        let _ = std::fs::copy(self.dir.join("snapshot.rdb"), self.dir.join("dump.rdb"));
        self.run().await;
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
    }
}

/// Posts a GraphQL request to the router as `token` (if any); a transport failure (a
/// connection reset while the faults run) is an answer with a `TRANSPORT` error, not a
/// panic.
async fn post(system: &System, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(&system.router_url)
        .timeout(Duration::from_secs(30))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => response.json().await.unwrap_or_else(|error| {
            json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": "TRANSPORT" } }] })
        }),
        Err(error) => {
            json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": "TRANSPORT" } }] })
        }
    }
}

/// A customer of the workload; signs in again when Redis lost its session.
struct Customer {
    email: String,
    token: tokio::sync::RwLock<String>,
    address: String,
}

impl Customer {
    async fn call(&self, system: &System, query: &str, variables: Value) -> Value {
        let token = self.token.read().await.clone();
        let answer = post(system, Some(&token), query, variables).await;
        if super::error_codes(&answer)
            .iter()
            .any(|c| c == "UNAUTHENTICATED")
        {
            let fresh = sign_in(system, &self.email).await;
            if let Some(fresh) = fresh {
                *self.token.write().await = fresh;
            }
        }
        answer
    }
}

async fn sign_in(system: &System, email: &str) -> Option<String> {
    let answer = post(
        system,
        None,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        json!({ "i": { "email": email, "password": "chaos-password-1" } }),
    )
    .await;
    answer["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
}

#[derive(Default)]
struct Counters {
    operations: AtomicU64,
    checkouts: AtomicU64,
    payments_approved: AtomicU64,
    cancels: AtomicU64,
    refunds: AtomicU64,
    flash_attempts: AtomicU64,
    flash_admitted: AtomicU64,
    errors: AtomicU64,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn count(system: &System, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl as _;
    let mut conn = system.sql("public").await;
    match diesel::sql_query(sql).get_result::<Count>(&mut conn).await {
        Ok(row) => row.count,
        Err(error) => panic!("{sql}: {error}"),
    }
}

/// What the soak's checks are about, bound as `$1` (its products), `$2` (their starting
/// stock) and `$3` (its flash sale).
struct Scope {
    products: Vec<uuid::Uuid>,
    start: i64,
    sale: uuid::Uuid,
}

/// `sql` (a count) with the soak's [`Scope`] bound.
async fn count_in(system: &System, sql: &str, scope: &Scope) -> i64 {
    use diesel::sql_types::{Array, Uuid as SqlUuid};
    use diesel_async::RunQueryDsl as _;
    let mut conn = system.sql("public").await;
    match diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(&scope.products)
        .bind::<BigInt, _>(scope.start)
        .bind::<SqlUuid, _>(scope.sale)
        .get_result::<Count>(&mut conn)
        .await
    {
        Ok(row) => row.count,
        Err(error) => panic!("{sql}: {error}"),
    }
}

/// The invariants, each with the number of rows that break it (0: holds).
async fn invariants(system: &System, scope: &Scope) -> Vec<(&'static str, i64)> {
    vec![
        (
            "every succeeded payment paid its order",
            count(system, "SELECT count(*) AS count FROM payment.payments p JOIN \"order\".orders o ON o.id = p.order_id \
                 WHERE p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED') AND o.status <> 'PAID'").await,
        ),
        (
            "no order paid without a payment that succeeded",
            count(system, "SELECT count(*) AS count FROM \"order\".orders o WHERE o.status = 'PAID' AND NOT EXISTS \
                 (SELECT 1 FROM payment.payments p WHERE p.order_id = o.id AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED'))").await,
        ),
        (
            "refunds never exceed what was paid",
            count(system, "SELECT count(*) AS count FROM payment.payments p WHERE p.refunded_amount > p.amount \
                 OR p.refunded_amount <> (SELECT coalesce(sum(r.amount), 0) FROM payment.refunds r WHERE r.payment_id = p.id)").await,
        ),
        (
            "no flash sale sold beyond its quantity",
            count(system, "SELECT count(*) AS count FROM catalog.flash_sales s WHERE \
                 (SELECT coalesce(sum(quantity), 0) FROM catalog.flash_sale_purchases p WHERE p.sale_id = s.id AND p.returned_at IS NULL) > s.total_quantity \
                 OR s.held <> (SELECT coalesce(sum(quantity), 0) FROM catalog.flash_sale_purchases p WHERE p.sale_id = s.id AND p.returned_at IS NULL)").await,
        ),
        (
            "no buyer beyond the flash sale's limit",
            count(system, "SELECT count(*) AS count FROM (SELECT p.sale_id, p.user_id, sum(p.quantity) AS units \
                 FROM catalog.flash_sale_purchases p WHERE p.returned_at IS NULL GROUP BY 1, 2) b \
                 JOIN catalog.flash_sales s ON s.id = b.sale_id WHERE b.units > s.per_user_limit").await,
        ),
        (
            "no flash order beyond the sale's quantity",
            count(system, "SELECT count(*) AS count FROM catalog.flash_sales s WHERE (SELECT coalesce(sum(i.quantity), 0) \
                 FROM \"order\".order_items i JOIN \"order\".orders o ON o.id = i.order_id \
                 JOIN catalog.flash_sale_purchases p ON p.id = o.id \
                 WHERE p.sale_id = s.id AND o.status IN ('PENDING_PAYMENT', 'PAID')) > s.total_quantity").await,
        ),
        (
            "the stock ledger explains every product's stock",
            count_in(system, "SELECT count(*) AS count FROM catalog.products p WHERE p.id = ANY($1) AND p.stock <> \
                 (SELECT coalesce(sum(l.delta), 0) FROM catalog.stock_ledger l WHERE l.product_id = p.id)", scope).await,
        ),
        (
            "stock + reserved + on flash sale equals the start, per product",
            count_in(system, "SELECT count(*) AS count FROM catalog.products p WHERE p.id = ANY($1) AND \
                 p.stock + (SELECT coalesce(sum(l.quantity), 0) FROM catalog.stock_reservation_lines l \
                     JOIN catalog.stock_reservations r ON r.order_id = l.order_id WHERE l.product_id = p.id AND r.status = 'RESERVED') \
                 + (SELECT coalesce(sum(CASE WHEN s.returned_at IS NULL THEN s.total_quantity ELSE s.sold END), 0) \
                     FROM catalog.flash_sales s WHERE s.product_id = p.id) <> $2", scope).await,
        ),
        (
            "no reservation held for a closed or missing order",
            count(system, "SELECT count(*) AS count FROM catalog.stock_reservations r WHERE r.status = 'RESERVED' AND NOT EXISTS \
                 (SELECT 1 FROM \"order\".orders o WHERE o.id = r.order_id AND o.status IN ('PENDING_PAYMENT', 'PAID'))").await,
        ),
        (
            "every flash purchase has its order",
            count(system, "SELECT count(*) AS count FROM catalog.flash_sale_purchases p WHERE p.status <> 'REJECTED' AND \
                 (p.status = 'PENDING' OR NOT EXISTS (SELECT 1 FROM \"order\".orders o WHERE o.id = p.id))").await,
        ),
        (
            "every flash order of a closed order gave its units back",
            count(system, "SELECT count(*) AS count FROM catalog.flash_sale_purchases p JOIN \"order\".orders o ON o.id = p.id \
                 WHERE o.status IN ('CANCELLED', 'EXPIRED', 'REFUNDED') AND p.returned_at IS NULL").await,
        ),
        (
            "no event left unapplied",
            count(system, "SELECT (SELECT count(*) FROM catalog.outbox WHERE acked_at IS NULL) \
                 + (SELECT count(*) FROM \"order\".outbox WHERE acked_at IS NULL) \
                 + (SELECT count(*) FROM payment.outbox WHERE acked_at IS NULL) AS count").await,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "the chaos soak: minutes long, run by scripts/chaos"]
async fn chaos_soak() {
    let seconds: u64 = std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path().to_path_buf()).await;
    let proxies = [
        RoundRobin::start().await,
        RoundRobin::start().await,
        RoundRobin::start().await,
    ];
    let urls: Vec<String> = proxies.iter().map(RoundRobin::url).collect();
    let orders = order_subgraph::config::OrderSettings {
        payment_ttl: Duration::from_secs(20),
        abandon_after: Duration::from_secs(3),
        expiry_grace: Duration::from_secs(4),
    };
    let events = service_kit::config::EventSettings {
        sweep_interval: Duration::from_millis(500),
        outbox_poll: Duration::from_millis(50),
        // The reconcilers check what the events settle, within the convergence wait.
        reconcile_every: Duration::from_secs(2),
        reconcile_after: Duration::from_secs(5),
    };
    let router_env: Vec<(&'static str, &'static str)> = REPLICATED
        .iter()
        .zip(&urls)
        .map(|(name, url)| {
            let var: &'static str = format!("{}_SUBGRAPH_URL", name.to_uppercase()).leak();
            (var, &*url.clone().leak())
        })
        .collect();
    let gateway = format!("http://{}", proxies[2].addr);
    let peer_urls: Vec<(String, String)> = REPLICATED
        .iter()
        .zip(&urls)
        .map(|(name, url)| (format!("{}_SUBGRAPH_URL", name.to_uppercase()), url.clone()))
        .collect();
    let system = System::start_with(Options {
        redis_url: Some(redis.url()),
        orders: Some(orders),
        events: Some(events),
        payment_ttl: Some(Duration::from_secs(20)),
        router_env,
        router_log: Some(dir.path().join("router.log")),
        service_config: Some(Arc::new({
            let (gateway, peer_urls) = (gateway.clone(), peer_urls.clone());
            move |config| {
                config
                    .change(|payment: &mut payment_subgraph::config::PaymentSettings| {
                        payment.webhook_grace = Duration::from_secs(2);
                        payment.gateway_url = Some(gateway.clone());
                    })
                    .unwrap();
                for (var, url) in &peer_urls {
                    match var.as_str() {
                        "CATALOG_SUBGRAPH_URL" => config.peers.set("catalog", url.clone()),
                        "ORDER_SUBGRAPH_URL" => config.peers.set("order", url.clone()),
                        _ => {}
                    }
                }
            }
        })),
        ..Options::default()
    })
    .await;
    let mut replicas: Vec<Replica> = Vec::new();
    for (i, name) in REPLICATED.iter().enumerate() {
        let own: SocketAddr = system.subgraph_base(name)[7..].parse().unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), system.database.url.clone()),
            ("DATABASE_POOL_SIZE".into(), "6".into()),
            ("REDIS_URL".into(), redis.url()),
            ("REDIS_PREFIX".into(), system.redis_prefix.clone()),
            ("SEED_DEMO_DATA".into(), "false".into()),
            ("RUST_LOG".into(), "error".into()),
            ("USER_SUBGRAPH_URL".into(), system.subgraph_url("user")),
            ("CART_SUBGRAPH_URL".into(), system.subgraph_url("cart")),
            ("ORDER_PAYMENT_TTL_SECONDS".into(), "20".into()),
            ("PAYMENT_TTL_SECONDS".into(), "20".into()),
            ("CHECKOUT_ABANDON_AFTER_SECONDS".into(), "3".into()),
            ("ORDER_SWEEP_INTERVAL_MILLIS".into(), "500".into()),
            ("ORDER_EXPIRY_GRACE_SECONDS".into(), "4".into()),
            ("PAYMENT_WEBHOOK_GRACE_SECONDS".into(), "2".into()),
            ("PAYMENT_GATEWAY_URL".into(), gateway.clone()),
        ];
        env.extend(peer_urls.iter().cloned());
        let mut backends = vec![own];
        for _ in 0..2 {
            let mut replica = Replica {
                name,
                addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
                env: env.clone(),
                child: None,
            };
            replica.start();
            backends.push(replica.addr);
            replicas.push(replica);
        }
        *proxies[i].backends.lock().unwrap() = backends;
    }
    // Give the child replicas time to migrate and listen.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The catalog, the customers, the flash sale.
    let admin = system.admin_token().await;
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        products.push(
            super::product(
                &system,
                &admin,
                &format!("Chaos {i}"),
                100 + i as i64,
                START_STOCK,
            )
            .await,
        );
    }
    let now = chrono::Utc::now();
    let sale = system
        .graphql_as(
            &admin,
            "mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { id } }",
            json!({ "input": { "productId": products[0], "price": 9, "quantity": SALE_UNITS, "perUserLimit": SALE_LIMIT,
                "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::seconds(seconds as i64 + 600)).to_rfc3339() } }),
        )
        .await;
    let sale = sale["data"]["createFlashSale"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sale}"))
        .to_owned();
    let mut customers = Vec::new();
    for i in 0..24 {
        let email = format!("chaos-{i}@example.com");
        let registered = system
            .graphql(
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                json!({ "i": { "email": email, "password": "chaos-password-1", "displayName": "Chaos" } }),
            )
            .await;
        let token = registered["data"]["register"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{registered}"))
            .to_owned();
        let address = super::saved_address(&system, &token).await;
        customers.push(Arc::new(Customer {
            email,
            token: tokio::sync::RwLock::new(token),
            address,
        }));
    }
    let system = Arc::new(system);
    let counters = Arc::new(Counters::default());
    let paid: Arc<Mutex<Vec<String>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);

    // The workload.
    let mut workers = tokio::task::JoinSet::new();
    for (w, customer) in customers.iter().enumerate() {
        let (system, counters, paid, products, customer) = (
            system.clone(),
            counters.clone(),
            paid.clone(),
            products.clone(),
            customer.clone(),
        );
        let sale = sale.clone();
        workers.spawn(async move {
            let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                counters.operations.fetch_add(1, Ordering::Relaxed);
                let product = &products[1 + dice.below(products.len() - 1)];
                match dice.below(10) {
                    0 | 1 => {
                        let _ = post(&system, None, "query($id: ID!) { product(id: $id) { name price { amount } inStock } }", json!({ "id": product }))
                            .await;
                    }
                    2 if w % 3 == 0 => {
                        counters.flash_attempts.fetch_add(1, Ordering::Relaxed);
                        let answer = customer
                            .call(&system, "mutation($input: FlashSalePurchaseInput!) { purchaseFlashSale(input: $input) { id status } }",
                                json!({ "input": { "flashSaleId": sale, "quantity": 1, "addressId": customer.address,
                                    "idempotencyKey": format!("chaos-flash-{w}-{n}") } }))
                            .await;
                        if answer["data"]["purchaseFlashSale"]["status"] == "PENDING" {
                            counters.flash_admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        // Checkout, retried with its key (the same order every time).
                        let key = format!("chaos-order-{w}-{n}");
                        let input = json!({ "input": { "idempotencyKey": key, "addressId": customer.address,
                            "items": [{ "productId": product, "quantity": 1 + dice.below(2) }] } });
                        let mut order = None;
                        for _ in 0..3 {
                            let answer = customer
                                .call(&system, "mutation($input: CheckoutInput!) { checkout(input: $input) { id total { amount } } }", input.clone())
                                .await;
                            if let Some(id) = answer["data"]["checkout"]["id"].as_str() {
                                order = Some(id.to_owned());
                                break;
                            }
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let Some(order) = order else { continue };
                        counters.checkouts.fetch_add(1, Ordering::Relaxed);
                        if dice.chance(15) {
                            customer.call(&system, "mutation($id: ID!) { cancelOrder(id: $id) { id } }", json!({ "id": order })).await;
                            counters.cancels.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if dice.chance(15) {
                            continue; // left to expire
                        }
                        let answer = customer
                            .call(&system, super::PAY, super::pay(&order, &format!("chaos-pay-{w}-{n}")))
                            .await;
                        let (Some(payment), Some(redirect)) = (
                            answer["data"]["payOrder"]["id"].as_str(),
                            answer["data"]["payOrder"]["redirectUrl"].as_str(),
                        ) else {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let decision = if dice.chance(10) { "decline" } else { "approve" };
                        for _ in 0..3 {
                            let sent = reqwest::Client::new()
                                .post(format!("{redirect}/{decision}"))
                                .header("accept", "application/json")
                                .timeout(Duration::from_secs(5))
                                .send()
                                .await;
                            if sent.is_ok_and(|r| r.status().is_success() || r.status().as_u16() == 409) {
                                break;
                            }
                        }
                        if decision == "approve" {
                            counters.payments_approved.fetch_add(1, Ordering::Relaxed);
                            paid.lock().unwrap().push(payment.to_owned());
                        }
                    }
                }
            }
        });
    }
    // The flash-sale storm: every 2 s, a third of the customers try at once.
    {
        let (system, counters, customers) = (system.clone(), counters.clone(), customers.clone());
        let sale = sale.clone();
        workers.spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(2)).await;
                round += 1;
                let attempts = customers.iter().enumerate().filter(|(c, _)| (c + round) % 3 == 0).map(|(c, customer)| {
                    let (system, counters, sale) = (system.clone(), counters.clone(), sale.clone());
                    let customer = customer.clone();
                    async move {
                        counters.flash_attempts.fetch_add(1, Ordering::Relaxed);
                        let answer = customer
                            .call(&system, "mutation($input: FlashSalePurchaseInput!) { purchaseFlashSale(input: $input) { id status } }",
                                json!({ "input": { "flashSaleId": sale, "quantity": 1, "addressId": customer.address,
                                    "idempotencyKey": format!("chaos-storm-{round}-{c}") } }))
                            .await;
                        if answer["data"]["purchaseFlashSale"]["status"] == "PENDING" {
                            counters.flash_admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
                futures::future::join_all(attempts).await;
            }
        });
    }
    // Refunds, by the admin, of payments approved a while ago.
    {
        let (system, counters, paid) = (system.clone(), counters.clone(), paid.clone());
        let mut admin = admin.clone();
        workers.spawn(async move {
            let mut dice = Dice(7);
            let mut n = 0;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(700)).await;
                let payment = {
                    let mut paid = paid.lock().unwrap();
                    if paid.len() < 5 { continue; }
                    let i = dice.below(paid.len() - 3);
                    paid.remove(i)
                };
                n += 1;
                let amount = if dice.chance(50) { json!(null) } else { json!(50) };
                for _ in 0..3 {
                    let answer = post(&system, Some(&admin), "mutation($input: RefundInput!) { refundPayment(input: $input) { id } }",
                            json!({ "input": { "paymentId": payment, "amount": amount, "reason": "chaos", "idempotencyKey": format!("chaos-refund-{n}") } }))
                        .await;
                    let codes = super::error_codes(&answer);
                    if codes.iter().any(|c| c == "UNAUTHENTICATED") {
                        if let Some(fresh) = sign_in_admin(&system).await { admin = fresh; }
                        continue;
                    }
                    if codes.iter().any(|c| c == "TRANSPORT" || c == "UNAVAILABLE") {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        continue;
                    }
                    if answer["data"]["refundPayment"]["id"].is_string() {
                        counters.refunds.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
            }
        });
    }

    // The faults.
    let mut faults: HashMap<&'static str, u64> = HashMap::new();
    let mut dice = Dice(0xC0FFEE);
    let mut snapshot_taken = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2500 + dice.below(3000) as u64)).await;
        if !snapshot_taken || dice.chance(30) {
            redis.snapshot().await;
            snapshot_taken = true;
        }
        let fault = match dice.below(6) {
            0 | 1 => {
                let replica = &mut replicas[dice.below(6)];
                replica.kill().await;
                tokio::time::sleep(Duration::from_millis(500 + dice.below(1500) as u64)).await;
                replica.start();
                "SIGKILL of a subgraph replica (started again)"
            }
            2 => {
                redis.restart_empty().await;
                "Redis restarted empty"
            }
            3 => {
                redis.restore().await;
                "Redis restored from an older snapshot"
            }
            4 => {
                redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]).await;
                "Redis paused (CLIENT PAUSE 1.5 s)"
            }
            _ => {
                use diesel_async::RunQueryDsl as _;
                let mut conn = system.sql("public").await;
                let _ = diesel::sql_query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .execute(&mut conn)
                .await;
                "PostgreSQL connections terminated"
            }
        };
        *faults.entry(fault).or_default() += 1;
    }
    while workers.join_next().await.is_some() {}
    for replica in replicas.iter_mut().filter(|r| r.child.is_none()) {
        replica.start();
    }

    // Convergence: every invariant within 90 s.
    let scope = Scope {
        products: products.iter().map(|p| p.parse().unwrap()).collect(),
        start: START_STOCK,
        sale: sale.parse().unwrap(),
    };
    let started = Instant::now();
    let mut last = Vec::new();
    while started.elapsed() < Duration::from_secs(90) {
        last = invariants(&system, &scope).await;
        if last.iter().all(|(_, broken)| *broken == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let converged = started.elapsed();
    let dead_letters: Vec<String> = {
        let client = service_kit::redis::redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        service_kit::redis::redis::cmd("KEYS")
            .arg(format!("{}events:*:dead-letters", system.redis_prefix))
            .query_async(&mut conn)
            .await
            .unwrap_or_default()
    };
    let paid_orders = count(
        &system,
        "SELECT count(*) AS count FROM \"order\".orders WHERE status = 'PAID'",
    )
    .await;
    let refunded = count(&system, "SELECT count(*) AS count FROM payment.payments WHERE status IN ('REFUNDED', 'PARTIALLY_REFUNDED')").await;
    let sold = count_in(
        &system,
        "SELECT coalesce(sum(quantity), 0)::bigint AS count FROM catalog.flash_sale_purchases \
         WHERE sale_id = $3 AND returned_at IS NULL",
        &scope,
    )
    .await;
    eprintln!("\n== chaos soak: {seconds} s of faults ==");
    eprintln!(
        "operations {} · checkouts {} · payments approved {} · cancels {} · refunds {} · flash attempts {} (admitted {}, {sold} of {SALE_UNITS} units held at the end) · client errors seen {}",
        counters.operations.load(Ordering::Relaxed),
        counters.checkouts.load(Ordering::Relaxed),
        counters.payments_approved.load(Ordering::Relaxed),
        counters.cancels.load(Ordering::Relaxed),
        counters.refunds.load(Ordering::Relaxed),
        counters.flash_attempts.load(Ordering::Relaxed),
        counters.flash_admitted.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    eprintln!(
        "orders paid at the end {paid_orders} · payments refunded (in part or in full) {refunded}"
    );
    let mut faults: Vec<_> = faults.into_iter().collect();
    faults.sort();
    for (fault, n) in &faults {
        eprintln!("fault: {fault} × {n}");
    }
    eprintln!("converged after {converged:.1?}; dead-letter keys: {dead_letters:?}");
    for (invariant, broken) in &last {
        eprintln!(
            "{} {invariant}{}",
            if *broken == 0 { "PASS" } else { "FAIL" },
            if *broken == 0 {
                String::new()
            } else {
                format!(" ({broken} rows)")
            }
        );
    }
    for replica in &mut replicas {
        replica.kill().await;
    }
    assert!(
        last.iter().all(|(_, broken)| *broken == 0),
        "invariants broken: {last:?}"
    );
    redis.stop().await;
}

async fn sign_in_admin(system: &System) -> Option<String> {
    let answer = post(
        system,
        None,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        json!({ "i": { "email": "admin@douyin-mall.dev", "password": "admin-password" } }),
    )
    .await;
    answer["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
}
