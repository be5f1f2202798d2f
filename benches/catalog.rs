//! Catalog reads under load, through the router and directly against the catalog subgraph,
//! side by side in one run (release build): product detail, a 20-item listing, and a
//! search. Then detail and listing directly with the DataLoader batching delay at
//! async-graphql's default (1 ms) and at 0, on two systems started one after the other.
//!
//! Every request differs from the others (another product, page size or term, and a unique
//! undeclared `nonce` variable): identical concurrent requests would be merged by the
//! router's request deduplication, and the comparison would measure that instead of the
//! router's cost.
//!
//! Run: `cargo bench --bench catalog` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` concurrent
//! closed-loop clients (default 16).

mod load;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use load::{Latencies, closed_loop, env_number, post};
use serde_json::{Value, json};
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

/// The variables of the i-th request.
type Variables = Arc<dyn Fn(usize) -> Value + Send + Sync>;

async fn measure(
    client: &reqwest::Client,
    url: &str,
    query: &'static str,
    variables: Variables,
    workers: usize,
    seconds: u64,
) -> Latencies {
    let (client, url) = (client.clone(), Arc::new(url.to_owned()));
    let counter = Arc::new(AtomicUsize::new(0));
    closed_loop(workers, seconds, move || {
        let (client, url) = (client.clone(), url.clone());
        let i = counter.fetch_add(1, Ordering::Relaxed);
        let mut variables = variables(i);
        // An undeclared variable unique to this request: ignored by GraphQL, but part of the
        // router's deduplication key.
        variables["nonce"] = json!(i);
        async move { post(&client, &url, None, query, variables).await }
    })
    .await
}

async fn product_ids(system: &System) -> Arc<Vec<String>> {
    let response = system
        .graphql(
            "{ products(first: 50) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    Arc::new(
        response["data"]["products"]["edges"]
            .as_array()
            .expect("products")
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect(),
    )
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

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let client = reqwest::Client::new();

    let system = System::start().await;
    let router = system.router_url.clone();
    let direct = system.subgraph_url("catalog");
    let cases = requests(product_ids(&system).await);
    // Warm up both paths (connections, caches, query plans).
    for (_, query, variables) in &cases {
        for url in [&router, &direct] {
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
        let direct_only =
            measure(&client, &direct, query, variables.clone(), workers, seconds).await;
        println!("{}", via_router.row(&format!("{name} | router")));
        println!("{}", direct_only.row(&format!("{name} | direct")));
        ratios.push((
            *name,
            via_router.rps() / direct_only.rps(),
            via_router.percentile(0.5) / direct_only.percentile(0.5),
            via_router.percentile(0.99) / direct_only.percentile(0.99),
        ));
    }
    println!("\n| request | router/direct throughput | router/direct p50 | router/direct p99 |");
    println!("|---|---|---|---|");
    for (name, throughput, p50, p99) in ratios {
        println!("| {name} | ×{throughput:.2} | ×{p50:.2} | ×{p99:.2} |");
    }
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
