//! Trusted documents: `ProductList` (the contract's text, with its fragments) sent as text and
//! sent by id (`documentId`), side by side in one run through the same router (development
//! mode accepts both): request body size and throughput. Production refuses the text, so
//! this is what clients gain by sending ids.
//!
//! Run: `cargo bench --bench trusted_documents` (PostgreSQL and Redis like the tests).
//! Options: `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` (default 16).

mod load;
use e2e_harness as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use load::{closed_loop, env_number};
use serde_json::{Value, json};
use support::System;

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let system = System::start().await;
    let manifest = support::trusted_documents();
    let (id, text) = manifest
        .iter()
        .find(|(_, text)| text.contains("query ProductList("))
        .expect("ProductList");
    // Page sizes 10 and 11 alternate; the undeclared nonce keeps the router from merging
    // concurrent requests (see the catalog bench).
    let body_by_text =
        |i: usize| json!({ "query": text, "variables": { "first": 10 + i % 2, "nonce": i } });
    let body_by_id =
        |i: usize| json!({ "documentId": id, "variables": { "first": 10 + i % 2, "nonce": i } });
    let size = |body: Value| serde_json::to_vec(&body).expect("JSON").len();
    println!("\nProductList through the router, {workers} clients, {seconds} s per row\n");
    println!(
        "Request body: text {} bytes, id {} bytes\n",
        size(body_by_text(0)),
        size(body_by_id(0))
    );
    println!("| sent as | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|");
    let client = reqwest::Client::new();
    let run = |by_id: bool, seconds: u64| {
        let (client, url) = (client.clone(), system.router_url.clone());
        let (id, text) = (id.clone(), text.clone());
        let counter = Arc::new(AtomicUsize::new(0));
        closed_loop(workers, seconds, move || {
            let (client, url) = (client.clone(), url.clone());
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let body = if by_id {
                json!({ "documentId": id, "variables": { "first": 10 + i % 2, "nonce": i } })
            } else {
                json!({ "query": text, "variables": { "first": 10 + i % 2, "nonce": i } })
            };
            async move {
                match client.post(&url).json(&body).send().await {
                    Ok(response) => response
                        .json::<Value>()
                        .await
                        .is_ok_and(|body| body["errors"].is_null() && body["data"].is_object()),
                    Err(_) => false,
                }
            }
        })
    };
    run(false, 1).await;
    run(true, 1).await;
    let mut rates = (Vec::new(), Vec::new());
    for round in 1..=2 {
        let text_result = run(false, seconds).await;
        println!("{}", text_result.row(&format!("text (round {round})")));
        let id_result = run(true, seconds).await;
        println!("{}", id_result.row(&format!("id (round {round})")));
        rates.0.push(text_result.rps());
        rates.1.push(id_result.rps());
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "\nBy id ÷ by text throughput: ×{:.3}",
        mean(&rates.1) / mean(&rates.0)
    );
    system.stop().await;
}
