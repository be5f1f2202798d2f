//! Product search through the router at two catalog sizes, in one run: the demo catalog
//! topped up to 1,000 products, then to 100,000 (generated here with SQL, never committed;
//! each generated word is in about one product in ten, so a common term matches ~10,000).
//! Every search branch is index-served (words, category, substring, typo), so latency
//! should grow far slower than the catalog; the target is p99 < 50 ms at 100,000.
//!
//! Two rows per size: latency at a fixed arrival rate (open loop, `BENCH_RATE` searches per
//! second: what one search costs when the machine is not saturated), and throughput with
//! `BENCH_WORKERS` clients that each wait for their answer (closed loop: the machine
//! saturated, so latency there is queueing).
//!
//! Run: `cargo bench --bench search` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_RATE` (default 20),
//! `BENCH_WORKERS` (default 16).

mod load;
use e2e_harness as support;

use std::sync::Arc;

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use load::{Latencies, Variables, at_fixed_rate, env_number, measure, post};
use serde_json::json;
use support::System;

const SEARCH: &str = "query($q: String) { products(first: 20, filter: { search: $q }, \
    sort: RELEVANCE) { totalCount edges { node { id name price { amount } } } } }";

/// Terms of every kind: common and rare words, two words, CJK substring, a typo.
const TERMS: [&str; 8] = [
    "phone",
    "tea",
    "blue lamp",
    "charger",
    "手机",
    "chargr",
    "walnut",
    "case",
];

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Adds generated active products until the catalog holds `total`, then vacuums and
/// analyzes the table. Names combine an adjective, a noun (some Chinese) and a number,
/// so that terms match a realistic share of the catalog.
async fn grow_catalog(system: &System, total: i64) {
    let mut conn = system.sql("catalog").await;
    let have: Count = diesel::sql_query("SELECT count(*) AS count FROM products")
        .get_result(&mut conn)
        .await
        .expect("count");
    if have.count >= total {
        return;
    }
    diesel::sql_query(
        "WITH words AS (SELECT
             ARRAY['blue','red','smart','classic','wireless','organic','compact','premium',
                   'walnut','steel','silk','travel','kids','pro','mini','ultra','green',
                   'vintage','soft','golden'] AS adjectives,
             ARRAY['phone','tea','lamp','charger','case','shoes','mug','kettle','jacket',
                   'watch','speaker','notebook','backpack','cable','pillow','手机','茶叶',
                   '运动鞋','台灯','充电器'] AS nouns,
             (SELECT array_agg(id) FROM categories) AS categories)
         INSERT INTO products (id, category_id, name, description, price_amount, currency,
                               status, stock, sales_count)
         SELECT gen_random_uuid(),
                categories[1 + i % array_length(categories, 1)],
                adjectives[1 + i % 20] || ' ' || nouns[1 + (i / 20) % 20] || ' ' || i,
                'Generated for the search benchmark: ' || adjectives[1 + (i / 7) % 20] || ' '
                    || nouns[1 + (i / 3) % 20] || ', model ' || i,
                100 + i % 100000, 'CNY', 'ACTIVE', i % 40, i % 1000
         FROM words, generate_series($1, $2) AS i",
    )
    .bind::<BigInt, _>(have.count)
    .bind::<BigInt, _>(total - 1)
    .execute(&mut conn)
    .await
    .expect("generated products");
    // What autovacuum does to a real catalog after a bulk load: statistics for the planner,
    // and hint bits and the visibility map set once, not by the first searches.
    diesel::sql_query("VACUUM ANALYZE products")
        .execute(&mut conn)
        .await
        .expect("VACUUM ANALYZE");
}

fn term(i: usize) -> serde_json::Value {
    json!({ "q": TERMS[i % TERMS.len()], "nonce": i })
}

fn search(
    client: &reqwest::Client,
    url: &str,
    workers: usize,
    seconds: u64,
) -> impl Future<Output = Latencies> {
    let variables: Variables = Arc::new(term);
    measure(client, url, SEARCH, variables, workers, seconds)
}

/// Searches arriving at `rate` per second, whatever the answers' speed.
async fn search_at(client: &reqwest::Client, url: &str, rate: u64, seconds: u64) -> Latencies {
    let (client, url) = (client.clone(), Arc::new(url.to_owned()));
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    at_fixed_rate(rate, seconds, move || {
        let (client, url) = (client.clone(), url.clone());
        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { post(&client, &url, None, SEARCH, term(i)).await }
    })
    .await
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let rate = env_number("BENCH_RATE", 20);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let client = reqwest::Client::new();
    let system = System::start().await;
    println!("\nSearch through the router, {seconds} s per row, terms {TERMS:?}\n");
    println!("| products | load | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for total in [1_000, 100_000] {
        grow_catalog(&system, total).await;
        // Warm-up: connections, plans, the pages the indexes live on.
        search(&client, &system.router_url, workers, 1).await;
        let paced = search_at(&client, &system.router_url, rate, seconds).await;
        println!("{}", paced.row(&format!("{total} | {rate}/s")));
        let saturated = search(&client, &system.router_url, workers, seconds).await;
        println!("{}", saturated.row(&format!("{total} | {workers} clients")));
        rows.push((paced, saturated));
    }
    let ((small, small_max), (large, large_max)) = (&rows[0], &rows[1]);
    println!(
        "\n100,000 ÷ 1,000 products: p50 ×{:.2}, p99 ×{:.2} at {rate}/s; throughput ×{:.2} \
         with {workers} clients. p99 at 100,000 and {rate}/s: {:.1} ms (target < 50 ms)",
        large.percentile(0.5) / small.percentile(0.5),
        large.percentile(0.99) / small.percentile(0.99),
        large_max.rps() / small_max.rps(),
        large.percentile(0.99),
    );
    system.stop().await;
}
