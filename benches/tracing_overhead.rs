//! What traces cost: product detail and a 20-item listing through the router, with traces
//! off and with traces on at 10 % sampling, side by side in one run (release build).
//!
//! Set-up: the whole system (subgraphs in this process, traces off) provides the user,
//! cart, order and payment subgraphs. Two catalog replicas run as processes of their own
//! (`mall subgraph catalog`, same database and Redis): A with no `OTEL_*` variable, B
//! exporting to an OTLP receiver in this process (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_TRACES_SAMPLER_ARG=0.1`). Router A is in front of catalog A with traces off, router
//! B in front of catalog B with `ROUTER_TRACES_SAMPLING=0.1`. Rows alternate A, B, A, B so
//! that the machine's noise falls on both. Metrics are on in both (they always are).
//!
//! Run: `cargo bench --bench tracing_overhead` (PostgreSQL and Redis like the tests).
//! Options: `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` (default 16).

mod load;
use e2e_harness as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use douyin_mall::{default_router_config, wait_until_ready};
use load::{Variables, env_number, measure};
use serde_json::json;
use service_kit::telemetry::OtlpSettings;
use support::{MALL_BIN, System, free_port};

const DETAIL: &str = "query($id: ID!) { product(id: $id) { id name description \
    price { amount currency formatted } inStock category { id name } } }";
const LISTING: &str = "query($n: Int) { products(first: $n) { totalCount edges { cursor \
    node { id name price { amount currency formatted } inStock category { name } } } } }";

/// An OTLP endpoint that counts the bytes it is sent and keeps nothing.
async fn otlp_sink() -> (String, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            counter.fetch_add(body.len() as u64, Ordering::Relaxed);
            async { axum::http::StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("sink port");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// A catalog replica process, traces on or off; its base URL.
async fn catalog(system: &System, otlp: Option<&str>) -> (tokio::process::Child, String) {
    let port = free_port();
    let mut command = tokio::process::Command::new(&*MALL_BIN);
    command
        .args(["subgraph", "catalog"])
        .env("DATABASE_URL", &system.database.url)
        .env("REDIS_PREFIX", &system.redis_prefix)
        .env("CATALOG_SUBGRAPH_ADDR", format!("127.0.0.1:{port}"))
        .env("SEED_DEMO_DATA", "false")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some(endpoint) = otlp {
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_TRACES_SAMPLER_ARG", "0.1");
    }
    let child = command.spawn().expect("catalog replica");
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&format!("{base}/health"), Duration::from_secs(60))
        .await
        .expect("catalog replica ready");
    (child, base)
}

/// A router in front of `catalog` (the system's other subgraphs), traces on or off; its
/// GraphQL URL.
async fn router(
    system: &System,
    catalog: &str,
    otlp: Option<&str>,
) -> (tokio::process::Child, String) {
    let port = free_port();
    let user = system.subgraph_url("user");
    let mut command = tokio::process::Command::new(&*MALL_BIN);
    command
        .arg("router")
        .env(router::CONFIG_ENV, default_router_config())
        .env("PORT", port.to_string())
        .env("USER_SUBGRAPH_URL", &user)
        .env("CATALOG_SUBGRAPH_URL", format!("{catalog}/graphql"))
        .env("CART_SUBGRAPH_URL", system.subgraph_url("cart"))
        .env("ORDER_SUBGRAPH_URL", system.subgraph_url("order"))
        .env("PAYMENT_SUBGRAPH_URL", system.subgraph_url("payment"))
        .env(
            "JWKS_URL",
            user.replace("/graphql", "/.well-known/jwks.json"),
        )
        .env("REDIS_PREFIX", &system.redis_prefix)
        .env(
            "RATE_LIMITS_FILE",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/crates/e2e-harness/rate-limits.relaxed.yaml"
            ),
        )
        .env("PLAYGROUND_ENABLED", "false")
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true);
    let settings = otlp.map(|endpoint| OtlpSettings {
        endpoint: format!("{endpoint}/v1/traces"),
        sampling: 0.1,
        service_name: "router".to_owned(),
    });
    douyin_mall::router_traces(&mut command, settings.as_ref());
    let child = command.spawn().expect("router");
    wait_until_ready(
        &format!("http://127.0.0.1:{port}/readiness"),
        Duration::from_secs(60),
    )
    .await
    .expect("router ready");
    (child, format!("http://127.0.0.1:{port}/graphql"))
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let client = reqwest::Client::new();
    let system = System::start().await;
    let (sink, received) = otlp_sink().await;
    let (_catalog_a, catalog_a) = catalog(&system, None).await;
    let (_catalog_b, catalog_b) = catalog(&system, Some(&sink)).await;
    let (_router_a, router_a) = router(&system, &catalog_a, None).await;
    let (_router_b, router_b) = router(&system, &catalog_b, Some(&sink)).await;

    let ids: Arc<Vec<String>> = Arc::new(system.product_ids(50).await);
    let detail_ids = ids.clone();
    let cases: [(&str, &'static str, Variables); 2] = [
        (
            "product detail",
            DETAIL,
            Arc::new(move |i| json!({ "id": detail_ids[i % detail_ids.len()] })),
        ),
        (
            "listing of 20",
            LISTING,
            Arc::new(|i| json!({ "n": 20 + (i % 2) })),
        ),
    ];
    for (_, query, variables) in &cases {
        for url in [&router_a, &router_b] {
            measure(&client, url, query, variables.clone(), workers, 1).await;
        }
    }
    println!(
        "\nTraces off (A) and on at 10 % sampling (B), {workers} clients, {seconds} s per row\n"
    );
    println!("| request | traces | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (name, query, variables) in &cases {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for round in 1..=2 {
            for (label, url, results) in [
                ("off", &router_a, &mut off),
                ("on, 10 %", &router_b, &mut on),
            ] {
                let result =
                    measure(&client, url, query, variables.clone(), workers, seconds).await;
                println!(
                    "{}",
                    result.row(&format!("{name} | {label} (round {round})"))
                );
                results.push(result);
            }
        }
        let rps =
            |r: &Vec<load::Latencies>| r.iter().map(|l| l.rps()).sum::<f64>() / r.len() as f64;
        let p99 = |r: &Vec<load::Latencies>| {
            r.iter().map(|l| l.percentile(0.99)).sum::<f64>() / r.len() as f64
        };
        summary.push((*name, rps(&on) / rps(&off), p99(&on) / p99(&off)));
    }
    println!("\n| request | on ÷ off throughput | on ÷ off p99 |");
    println!("|---|---|---|");
    for (name, throughput, p99) in summary {
        println!("| {name} | ×{throughput:.3} | ×{p99:.2} |");
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    println!(
        "\nOTLP bytes received from router B and catalog B: {}",
        received.load(Ordering::Relaxed)
    );
    system.stop().await;
}
