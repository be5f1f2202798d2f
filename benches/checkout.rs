//! Checkout under load, through the router (release build), side by side in one run with
//! this machine's ceiling for the same writes:
//!
//! 1. 16 closed-loop clients (16 customers), each checking out 1 unit of its own product
//!    ("distinct"), then all of one product ("hot"): checkouts/s, p50, p99.
//! 2. An open loop at a fixed 100 checkouts/s (distinct products): p50, p99.
//! 3. SQL statements per checkout in every subgraph (diesel instrumentation counters),
//!    with the background work of an idle interval of the same length subtracted.
//! 4. The ceiling: `pgbench` running `benches/sql/checkout-ceiling.sql` — the rows one
//!    checkout writes, in one transaction — with the same 16 clients on distinct products
//!    and on one product; then checkout ÷ ceiling.
//!
//! Checkouts buy explicit `items` to an explicit address (no cart read, no address lookup)
//! and ask for `id number status total`.
//!
//! Run: `cargo bench --bench checkout` (needs PostgreSQL, Redis and `pgbench` like the
//! tests). Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS`
//! (default 16), `BENCH_RATE` for the open loop (default 100).

mod load;
use e2e_harness as support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::RunQueryDsl;
use load::{Latencies, at_fixed_rate, checkout_input, closed_loop, env_number, post};
use serde_json::json;
use support::System;

const CHECKOUT: &str = "mutation($input: CheckoutInput!) { checkout(input: $input) { id number status total { amount } } }";
const STOCK: i64 = 1_000_000;

/// Client `c` (token `tokens[c]`) buys `products[c % products.len()]`.
#[derive(Clone)]
struct Buyers {
    client: reqwest::Client,
    url: Arc<String>,
    tokens: Arc<Vec<String>>,
    products: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    run: &'static str,
}

impl Buyers {
    fn request(&self) -> impl Future<Output = bool> + Send + use<> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let c = i % self.tokens.len();
        let (client, url, token) = (
            self.client.clone(),
            self.url.clone(),
            self.tokens[c].clone(),
        );
        let variables = json!({ "input": checkout_input(
            &format!("bench-{}-{i:08}", self.run),
            &self.products[c % self.products.len()],
        ) });
        async move { post(&client, &url, Some(&token), CHECKOUT, variables).await }
    }

    fn with(&self, products: Arc<Vec<String>>, run: &'static str) -> Self {
        Self {
            products,
            run,
            next: Arc::new(AtomicUsize::new(0)),
            ..self.clone()
        }
    }
}

async fn closed(buyers: &Buyers, workers: usize, seconds: u64) -> Latencies {
    let buyers = buyers.clone();
    closed_loop(workers, seconds, move || buyers.request()).await
}

async fn create_products(system: &System, admin: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let response = system
            .graphql_as(
                admin,
                "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
                json!({ "i": { "name": format!("Bench product {i}"), "description": "bench",
                               "price": 100, "stock": STOCK } }),
            )
            .await;
        ids.push(
            response["data"]["createProduct"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{response}"))
                .to_owned(),
        );
    }
    ids
}

fn statement_counts(system: &System) -> Vec<(&'static str, u64)> {
    system
        .statements
        .iter()
        .map(|(name, counter)| (*name, counter.get()))
        .collect()
}

fn reset_statements(system: &System) {
    for (_, counter) in &system.statements {
        counter.reset();
    }
}

/// pgbench with the ceiling script: transactions per second.
fn pgbench(url: &str, workers: usize, seconds: u64, hot: bool) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sql/checkout-ceiling.sql");
    // Client k uses bench product k (distinct) or product 0 (hot); pgbench numbers clients
    // from 0 and sets `:client_id`.
    let product = if hot { "0" } else { ":client_id" };
    let script_text = std::fs::read_to_string(&script)
        .expect("ceiling script")
        .replace(":product", product);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("ceiling.sql");
    std::fs::write(&file, script_text).expect("script written");
    let output = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &workers.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&file)
        .arg(url)
        .output()
        .expect("pgbench runs (install PostgreSQL's client tools)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pgbench answered no tps: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let rate = env_number("BENCH_RATE", 100);
    let system = System::start().await;
    let admin = system.admin_token().await;
    let products = Arc::new(create_products(&system, &admin, workers).await);
    let hot = Arc::new(vec![products[0].clone()]);
    let mut tokens = Vec::new();
    for c in 0..workers {
        tokens.push(
            system
                .register(&format!("bench-buyer-{c}@example.com"))
                .await,
        );
    }
    let buyers = Buyers {
        client: reqwest::Client::new(),
        url: Arc::new(system.router_url.clone()),
        tokens: Arc::new(tokens),
        products: products.clone(),
        next: Arc::new(AtomicUsize::new(0)),
        run: "warm",
    };
    // Warm up: connections, query plans, caches.
    closed(&buyers, workers, 1).await;

    println!("\nCheckout through the router, {workers} customers, {seconds} s per row\n");
    println!("| run | checkouts/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|");
    let distinct = closed(&buyers.with(products.clone(), "distinct"), workers, seconds).await;
    println!("{}", distinct.row("closed loop, distinct products"));
    let hot_run = closed(&buyers.with(hot, "hot"), workers, seconds).await;
    println!("{}", hot_run.row("closed loop, one hot product"));
    let open = {
        let buyers = buyers.with(products.clone(), "open");
        at_fixed_rate(rate, seconds, move || buyers.request()).await
    };
    println!(
        "{}",
        open.row(&format!("open loop at {rate}/s, distinct products"))
    );

    // Statements: an idle interval first (relay polls, sweeps), then the same interval with
    // checkouts; the difference over the checkouts made.
    let settle = Duration::from_secs(2);
    reset_statements(&system);
    tokio::time::sleep(Duration::from_secs(seconds) + settle).await;
    let idle = statement_counts(&system);
    reset_statements(&system);
    let counted = closed(&buyers.with(products.clone(), "counted"), workers, seconds).await;
    tokio::time::sleep(settle).await; // events relayed and consumed
    let busy = statement_counts(&system);
    let checkouts = (counted.micros.len() - counted.errors) as f64;
    println!(
        "\nSQL statements per checkout ({checkouts:.0} checkouts; idle background subtracted)\n"
    );
    println!("| subgraph | per checkout | idle background in the same time |");
    println!("|---|---|---|");
    let mut total = 0.0;
    for ((name, busy), (_, idle)) in busy.iter().zip(&idle) {
        let per = (*busy as f64 - *idle as f64).max(0.0) / checkouts;
        total += per;
        println!("| {name} | {per:.2} | {idle} |");
    }
    println!("| **all** | **{total:.2}** | |");

    // The ceiling, on the same database.
    let url = system.database.url.clone();
    {
        let mut conn = system.sql("catalog").await;
        diesel::sql_query(
            "CREATE TABLE bench_products AS \
             SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id FROM products \
             WHERE id = ANY($1::uuid[])",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(products.as_slice())
        .execute(&mut conn)
        .await
        .expect("bench products");
    }
    let ceiling_distinct = pgbench(&url, workers, seconds, false);
    let ceiling_hot = pgbench(&url, workers, seconds, true);
    println!("\nCeiling: the same rows' writes in one transaction (pgbench, {workers} clients)\n");
    println!("| run | ceiling tx/s | checkout/s | checkout ÷ ceiling |");
    println!("|---|---|---|---|");
    println!(
        "| distinct products | {ceiling_distinct:.0} | {:.0} | ×{:.2} |",
        distinct.rps(),
        distinct.rps() / ceiling_distinct
    );
    println!(
        "| one hot product | {ceiling_hot:.0} | {:.0} | ×{:.2} |",
        hot_run.rps(),
        hot_run.rps() / ceiling_hot
    );
    system.stop().await;
}
