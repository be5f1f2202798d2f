//! Catalog reads under load, through the router and directly against the catalog subgraph,
//! side by side in one run (release build): product detail, a 20-item listing, and a
//! search. Then detail and listing directly with the DataLoader batching delay at
//! async-graphql's default (1 ms) and at 0, on two systems started one after the other.
//!
//! Every request differs from the others at the router (another product, page size or term,
//! and a unique undeclared `nonce` variable). The router forwards only declared variables,
//! so concurrent requests with the same page size or term still send the catalog identical
//! requests, which the router deduplicates (`traffic_shaping.all.dedupe_enabled`, on by
//! default). A second system whose router has deduplication off is measured beside the
//! first, to show what that is worth.
//!
//! Run: `cargo bench --bench catalog` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` concurrent
//! closed-loop clients (default 16).

mod load;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use load::{Variables, env_number, measure};
use serde_json::json;
use support::{Options, System};

const DETAIL: &str = "query($id: ID!) { product(id: $id) { id name description \
    price { amount currency formatted } inStock category { id name } } }";
const LISTING: &str = "query($n: Int) { products(first: $n) { totalCount edges { cursor \
    node { id name price { amount currency formatted } inStock category { name } } } } }";
const SEARCH: &str = "query($q: String) { products(first: 20, filter: { search: $q }, \
    sort: RELEVANCE) { totalCount edges { node { id name price { amount } } } } }";
const TERMS: [&str; 8] = [
    "phone", "tea", "case", "iphone", "shoes", "手机", "charger", "lamp",
];

async fn product_ids(system: &System) -> Arc<Vec<String>> {
    Arc::new(system.product_ids(50).await)
}

fn requests(ids: Arc<Vec<String>>) -> [(&'static str, &'static str, Variables); 3] {
    [
        (
            "product detail",
            DETAIL,
            Arc::new(move |i| json!({ "id": ids[i % ids.len()] })),
        ),
        (
            "20-item listing",
            LISTING,
            Arc::new(|i| json!({ "n": 16 + i % 9 })),
        ),
        (
            "search",
            SEARCH,
            Arc::new(|i| json!({ "q": TERMS[i % TERMS.len()] })),
        ),
    ]
}

/// The repository's router configuration with subgraph request deduplication off, written
/// into `dir` (its relative paths made absolute: they are relative to the file).
fn router_config_without_dedupe(dir: &Path) -> PathBuf {
    let original = douyin_mall::default_router_config();
    let base = original.parent().expect("router-config/");
    let mut text = std::fs::read_to_string(&original).expect("router config");
    for relative in ["../schema/supergraph.graphql", "./public-operations.yaml"] {
        assert!(text.contains(relative), "{relative} in the router config");
        text = text.replace(relative, base.join(relative).to_str().expect("UTF-8 path"));
    }
    assert!(
        !text.contains("traffic_shaping:"),
        "set it in place instead"
    );
    text.push_str("\ntraffic_shaping:\n  all:\n    dedupe_enabled: false\n");
    let file = dir.join("router.no-dedupe.yaml");
    std::fs::write(&file, text).expect("router config written");
    file
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let client = reqwest::Client::new();

    let system = System::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let no_dedupe = System::start_with(Options {
        router_config: Some(router_config_without_dedupe(dir.path())),
        ..Options::default()
    })
    .await;
    let router = system.router_url.clone();
    let router_no_dedupe = no_dedupe.router_url.clone();
    let direct = system.subgraph_url("catalog");
    let cases = requests(product_ids(&system).await);
    // Both systems seed the same catalog, with the same ids.
    assert_eq!(product_ids(&no_dedupe).await, product_ids(&system).await);
    // Warm up every path (connections, caches, query plans).
    for (_, query, variables) in &cases {
        for url in [&router, &router_no_dedupe, &direct] {
            measure(&client, url, query, variables.clone(), workers, 1).await;
        }
    }
    println!("\nCatalog reads, {workers} closed-loop clients, {seconds} s per row\n");
    println!("| request | path | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (name, query, variables) in &cases {
        let via_router =
            measure(&client, &router, query, variables.clone(), workers, seconds).await;
        let via_router_no_dedupe = measure(
            &client,
            &router_no_dedupe,
            query,
            variables.clone(),
            workers,
            seconds,
        )
        .await;
        let direct_only =
            measure(&client, &direct, query, variables.clone(), workers, seconds).await;
        println!("{}", via_router.row(&format!("{name} | router")));
        println!(
            "{}",
            via_router_no_dedupe.row(&format!("{name} | router, dedupe off"))
        );
        println!("{}", direct_only.row(&format!("{name} | direct")));
        for (path, measured) in [
            ("router", &via_router),
            ("router, dedupe off", &via_router_no_dedupe),
        ] {
            ratios.push((
                *name,
                path,
                measured.rps() / direct_only.rps(),
                measured.percentile(0.5) / direct_only.percentile(0.5),
                measured.percentile(0.99) / direct_only.percentile(0.99),
            ));
        }
    }
    println!("\n| request | path | ÷ direct throughput | ÷ direct p50 | ÷ direct p99 |");
    println!("|---|---|---|---|---|");
    for (name, path, throughput, p50, p99) in ratios {
        println!("| {name} | {path} | ×{throughput:.2} | ×{p50:.2} | ×{p99:.2} |");
    }
    no_dedupe.stop().await;
    system.stop().await;

    // The DataLoader's batching delay: a product detail loads one key and waits the whole
    // delay for company that never comes.
    println!("\nDataLoader delay, direct to the catalog, {workers} clients, {seconds} s per row\n");
    println!("| request | delay | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    for delay in [Duration::from_millis(1), Duration::ZERO] {
        let system = System::start_with(Options {
            loader_delay: Some(delay),
            ..Options::default()
        })
        .await;
        let direct = system.subgraph_url("catalog");
        let [detail, listing, _] = requests(product_ids(&system).await);
        for (name, query, variables) in [detail, listing] {
            measure(&client, &direct, query, variables.clone(), workers, 1).await;
            let result = measure(&client, &direct, query, variables, workers, seconds).await;
            println!(
                "{}",
                result.row(&format!("{name} | {} µs", delay.as_micros()))
            );
        }
        system.stop().await;
    }
}
