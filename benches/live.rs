//! Live status at scale: N = 100, 1,000 and 5,000 `orderUpdated` subscriptions through the
//! router, and for each N the memory of the router and of the order subgraph that serves
//! them, and the time from a committed change to its delivery (p50, p99, max).
//!
//! Set-up, all in one run: the whole system (as the tests start it: subgraphs in this
//! process, router A as a child process) makes the changes; a second order-subgraph
//! process (`mall subgraph order`, a replica on the same database and bus) and a second
//! router (B, pointing at that replica) serve the subscriptions. So every delivery crosses
//! the bus from one replica to another, and the two measured processes hold nothing but the
//! subscriptions (their resident memory is read from /proc).
//!
//! Clients: 50 customers; WebSocket connections to router B of 10 subscriptions each (all
//! of the customer's orders), spread over the customers. Changes: 40 checkouts through
//! router A (each an `OrderPlaced`, status PENDING_PAYMENT), one every 100 ms, rotating
//! over the customers that have subscriptions; every subscription of that customer must
//! receive it. Latency = arrival − the change's `at` (its transaction's time in PostgreSQL,
//! same machine clock). One SSE subscription stays open through all rows and must still
//! deliver at the end, 70 s or more after it opened (past the router's 60 s request timeout).
//!
//! Run: `cargo bench --bench live` (needs PostgreSQL and Redis like the tests; release
//! build). `BENCH_LIVE_SIZES=100,1000` changes the sizes.

mod load;
use e2e_harness as support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use douyin_mall::{default_router_config, wait_until_ready};
use load::checkout_input;
use serde_json::json;
use support::live::{Delivery, LiveClient, WebSocketClient};
use support::{MALL_BIN, System, free_port, open_subscriptions};

const CUSTOMERS: usize = 50;
const PER_CONNECTION: usize = 10;
const CHANGES: usize = 40;
const WATCH: &str = "subscription { orderUpdated { status at order { id } } }";
const CHECKOUT: &str = "mutation($input: CheckoutInput!) { checkout(input: $input) { id } }";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("BENCH_LIVE_SIZES")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("BENCH_LIVE_SIZES: numbers"))
        .collect();
    let system = System::start().await;
    let admin = system.admin_token().await;
    let product = system
        .graphql_as(
            &admin,
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
            json!({ "i": { "name": "Live bench", "description": "bench", "price": 100, "stock": 1_000_000 } }),
        )
        .await["data"]["createProduct"]["id"]
        .as_str()
        .expect("product")
        .to_owned();
    let mut tokens = Vec::new();
    for c in 0..CUSTOMERS {
        tokens.push(
            system
                .register(&format!("live-bench-{c}@example.com"))
                .await,
        );
    }

    // The measured pair: an order-subgraph replica and router B in front of it.
    let order_port = free_port();
    let mut order = tokio::process::Command::new(&*MALL_BIN)
        .args(["subgraph", "order"])
        .env("DATABASE_URL", &system.database.url)
        .env("REDIS_PREFIX", &system.redis_prefix)
        .env("ORDER_SUBGRAPH_ADDR", format!("127.0.0.1:{order_port}"))
        .env("SEED_DEMO_DATA", "false")
        .env("USER_SUBGRAPH_URL", system.subgraph_url("user"))
        .env("CATALOG_SUBGRAPH_URL", system.subgraph_url("catalog"))
        .env("CART_SUBGRAPH_URL", system.subgraph_url("cart"))
        .env("LOG_LEVEL", "warn")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("order subgraph process");
    let order_base = format!("http://127.0.0.1:{order_port}");
    wait_until_ready(&format!("{order_base}/health"), Duration::from_secs(60))
        .await
        .expect("order replica ready");
    let router_port = free_port();
    let user_addr = system.subgraph_url("user").replace("/graphql", "");
    let mut router = tokio::process::Command::new(&*MALL_BIN)
        .arg("router")
        .env(router::CONFIG_ENV, default_router_config())
        .env("PORT", router_port.to_string())
        .env("USER_SUBGRAPH_URL", system.subgraph_url("user"))
        .env("CATALOG_SUBGRAPH_URL", system.subgraph_url("catalog"))
        .env("CART_SUBGRAPH_URL", system.subgraph_url("cart"))
        .env("PAYMENT_SUBGRAPH_URL", system.subgraph_url("payment"))
        .env("ORDER_SUBGRAPH_URL", format!("{order_base}/graphql"))
        .env("JWKS_URL", format!("{user_addr}/.well-known/jwks.json"))
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("router B");
    let router_b = format!("http://127.0.0.1:{router_port}/graphql");
    wait_until_ready(
        &format!("http://127.0.0.1:{router_port}/readiness"),
        Duration::from_secs(60),
    )
    .await
    .expect("router B ready");
    let pids = (
        router.id().expect("router pid"),
        order.id().expect("order pid"),
    );

    let mut sse = LiveClient::open(true, &router_b, Some(&tokens[0]), WATCH, json!({})).await;
    let sse_opened = Instant::now();
    wait_open(&order_base, 1).await;
    let (idle_router, idle_order) = (rss_mib(pids.0), rss_mib(pids.1));
    println!(
        "idle (1 SSE subscription): router {idle_router:.1} MiB, order subgraph {idle_order:.1} MiB"
    );
    println!();
    println!(
        "| N | connections | router RSS (MiB) | order subgraph RSS (MiB) | deliveries | p50 (ms) | p99 (ms) | max (ms) | missing |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut run = 0;
    for n in sizes {
        run += 1;
        let connections = n.div_ceil(PER_CONNECTION);
        let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
        let mut readers = Vec::new();
        for c in 0..connections {
            let mut client =
                WebSocketClient::connect(&router_b, Some(&tokens[c % CUSTOMERS])).await;
            for s in 0..PER_CONNECTION.min(n - c * PER_CONNECTION) {
                client.subscribe(&s.to_string(), WATCH, json!({})).await;
            }
            let latencies = latencies.clone();
            readers.push(tokio::spawn(async move {
                while let Some((_, delivery)) = client.next(Duration::from_secs(3600)).await {
                    if let Some(at) = delivery
                        .data()
                        .and_then(|d| d["orderUpdated"]["at"].as_str())
                    {
                        let at: DateTime<Utc> = at.parse().expect("RFC 3339");
                        let ms = (Utc::now() - at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                        latencies.lock().unwrap().push(ms);
                    }
                }
            }));
        }
        wait_open(&order_base, n + 1).await;
        let (router_mib, order_mib) = (rss_mib(pids.0), rss_mib(pids.1));
        // Subscriptions per customer: connection c belongs to customer c % CUSTOMERS.
        let mut per_customer = vec![0usize; CUSTOMERS];
        for c in 0..connections {
            per_customer[c % CUSTOMERS] += PER_CONNECTION.min(n - c * PER_CONNECTION);
        }
        let watched: Vec<usize> = (0..CUSTOMERS).filter(|&c| per_customer[c] > 0).collect();
        let mut expected = 0;
        for k in 0..CHANGES {
            let customer = watched[k % watched.len()];
            expected += per_customer[customer];
            let placed = system
                .graphql_as(
                    &tokens[customer],
                    CHECKOUT,
                    json!({ "input": checkout_input(&format!("live-bench-{run}-{k:04}"), &product) }),
                )
                .await;
            assert!(placed["errors"].is_null(), "{placed}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while latencies.lock().unwrap().len() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut all = latencies.lock().unwrap().clone();
        all.sort_by(f64::total_cmp);
        let at = |q: f64| {
            all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "| {n} | {connections} | {router_mib:.1} | {order_mib:.1} | {} | {:.1} | {:.1} | {:.1} | {} |",
            all.len(),
            at(0.5),
            at(0.99),
            at(1.0),
            expected.saturating_sub(all.len())
        );
        for reader in readers {
            reader.abort();
        }
        while open_subscriptions(&order_base).await as usize > 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The SSE subscription opened first is still served after more than the router's 60 s
    // request timeout: it sees a change of customer 0.
    let held = Duration::from_secs(70);
    if let Some(left) = held.checked_sub(sse_opened.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let mut delivered = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    let placed = system
        .graphql_as(
            &tokens[0],
            CHECKOUT,
            json!({ "input": checkout_input("live-bench-sse-check", &product) }),
        )
        .await;
    let order_id = placed["data"]["checkout"]["id"].clone();
    while Instant::now() < deadline && !delivered {
        match sse.next(Duration::from_secs(1)).await {
            Some(Delivery::Next(payload)) => {
                delivered = payload["data"]["orderUpdated"]["order"]["id"] == order_id;
            }
            Some(other) => panic!("the SSE subscription ended: {other:?}"),
            None => {}
        }
    }
    println!();
    println!(
        "SSE subscription open for {:.0} s: {}",
        sse_opened.elapsed().as_secs_f64(),
        if delivered {
            "still delivering"
        } else {
            "NOT delivering"
        }
    );
    let _ = router.start_kill();
    let _ = order.start_kill();
    system.stop().await;
}

/// Resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Waits until the order replica counts at least `n` open subscriptions.
async fn wait_open(base: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while (open_subscriptions(base).await as usize) < n {
        assert!(Instant::now() < deadline, "subscriptions did not open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
