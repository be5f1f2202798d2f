//! A flash sale under load, through the router (release build), beside product-detail
//! reads in the same run: purchase attempts per second from 64 closed-loop clients (64
//! buyers) on one sale, p50/p99 of the answer (`PENDING` or `REJECTED`, decided in Redis),
//! how long after the last admission the last order exists, and whether anything was
//! oversold.
//!
//! The per-buyer rate limit is raised for the run (`FLASH_PURCHASES_PER_SECOND`): at the
//! default 5 a second, 64 buyers could not make more than 320 attempts a second, and that
//! is the limit working, not the admission path being measured.
//!
//! Run: `cargo bench --bench flash_sale` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` clients
//! (default 64), `BENCH_UNITS` units on sale (default 1000), `BENCH_DIRECT=1` (the two reads
//! also sent to the catalog itself, without the router), `BENCH_ROUNDS` (default 2):
//! the anonymous and signed-in read rows alternate that many times, each kind reported
//! over all its rounds.

mod load;
use e2e_harness as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use load::{closed_loop, env_number, measure};
use serde_json::{Value, json};
use support::{Options, System};

const DETAIL: &str = "query($id: ID!) { product(id: $id) { id name description \
    price { amount currency formatted } inStock category { id name } } }";
const BUY: &str = "mutation($input: FlashSalePurchaseInput!) { purchaseFlashSale(input: $input) { \
    id status reason } }";

/// A buyer's token and saved address.
struct Buyer {
    token: String,
    address: String,
}

async fn buyer(system: &System, i: usize) -> Buyer {
    let token = system.register(&format!("bench-{i}@flash.test")).await;
    let response = system
        .graphql_as(
            &token,
            "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
            json!({ "i": { "recipient": "Bench", "phone": "13800000000", "province": "Zhejiang",
                           "city": "Hangzhou", "district": "Xihu", "line1": "1 Bench Road" } }),
        )
        .await;
    let address = response["data"]["addAddress"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned();
    Buyer { token, address }
}

/// A new product with `stock` units and a sale of `units` of it, running for ten minutes,
/// at most `units` per buyer; (product, sale).
async fn sale(system: &System, admin: &str, stock: i64, units: i64) -> (String, String) {
    let created = system
        .graphql_as(
            admin,
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
            json!({ "i": { "name": "Bench flash item", "description": "bench", "price": 9999, "stock": stock } }),
        )
        .await;
    let product = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let now = chrono::Utc::now();
    let sale = system
        .graphql_as(
            admin,
            "mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { id } }",
            json!({ "input": { "productId": product, "price": 99, "quantity": units,
                "perUserLimit": units, "startsAt": now.to_rfc3339(),
                "endsAt": (now + chrono::Duration::minutes(10)).to_rfc3339() } }),
        )
        .await;
    let sale = sale["data"]["createFlashSale"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sale}"))
        .to_owned();
    (product, sale)
}

/// Orders of the product and their units (order subgraph).
async fn orders_of(conn: &mut diesel_async::AsyncPgConnection, product: &str) -> (i64, i64) {
    use diesel::sql_types::{BigInt, Text};
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        orders: i64,
        #[diesel(sql_type = BigInt)]
        units: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT count(DISTINCT order_id)::bigint AS orders, \
                coalesce(sum(quantity), 0)::bigint AS units \
         FROM order_items WHERE product_id = $1::uuid",
    )
    .bind::<Text, _>(product)
    .get_result(conn)
    .await
    .expect("order counts");
    (counts.orders, counts.units)
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 64) as usize;
    let units = env_number("BENCH_UNITS", 1000) as i64;
    let rounds = env_number("BENCH_ROUNDS", 2);
    let client = reqwest::Client::new();
    let system = System::start_with(Options {
        flash_purchases_per_second: Some(100_000),
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let buyers: Arc<Vec<Buyer>> = Arc::new(
        futures::stream::iter(0..workers)
            .map(|i| buyer(&system, i))
            .buffer_unordered(16)
            .collect()
            .await,
    );
    let (warm_product, warm_sale) = sale(&system, &admin, 100_000, 100_000).await;
    let (product, sale) = sale(&system, &admin, units + 10, units).await;
    let detail_ids = Arc::new(vec![product.clone(), warm_product.clone()]);
    let router = system.router_url.clone();

    let failures: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>> = Arc::default();
    let purchases = |sale: String,
                     admitted: Arc<AtomicUsize>,
                     last_admission: Arc<std::sync::Mutex<Instant>>| {
        let (client, router, buyers) = (client.clone(), router.clone(), buyers.clone());
        let failures = failures.clone();
        let next = Arc::new(AtomicUsize::new(0));
        move || {
            let (client, router, buyers, sale) =
                (client.clone(), router.clone(), buyers.clone(), sale.clone());
            let (admitted, last_admission) = (admitted.clone(), last_admission.clone());
            let failures = failures.clone();
            let i = next.fetch_add(1, Ordering::Relaxed);
            async move {
                let buyer = &buyers[i % buyers.len()];
                let variables = json!({ "input": { "flashSaleId": sale, "quantity": 1,
                    "addressId": buyer.address, "idempotencyKey": format!("bench-{sale}-{i}") } });
                let failed = |why: String| {
                    *failures.lock().unwrap().entry(why).or_default() += 1;
                    false
                };
                let response = match client
                    .post(router.as_str())
                    .bearer_auth(&buyer.token)
                    .json(&json!({ "query": BUY, "variables": variables }))
                    .send()
                    .await
                {
                    Ok(response) => response,
                    Err(error) => return failed(format!("transport: {error}")),
                };
                let body = match response.json::<Value>().await {
                    Ok(body) => body,
                    Err(error) => return failed(format!("body: {error}")),
                };
                let answer = &body["data"]["purchaseFlashSale"];
                match answer["status"].as_str() {
                    Some("PENDING" | "CONFIRMED") => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        *last_admission.lock().unwrap() = Instant::now();
                        true
                    }
                    Some("REJECTED") => true,
                    _ => failed(format!(
                        "{}: {}",
                        body["errors"][0]["extensions"]["code"], body["errors"][0]["message"]
                    )),
                }
            }
        }
    };

    // Warm up both paths (connections, query plans, scripts) on the other sale.
    let warm_admitted = Arc::new(AtomicUsize::new(0));
    closed_loop(
        workers,
        1,
        purchases(
            warm_sale,
            warm_admitted,
            Arc::new(std::sync::Mutex::new(Instant::now())),
        ),
    )
    .await;
    // A nonce in every read, anonymous or signed in: the router never merges two of them
    // (identical anonymous reads in flight would be answered once), so both rows measure
    // the same work.
    let anonymous = {
        let (client, ids) = (client.clone(), detail_ids.clone());
        move |url: String, seconds: u64| {
            let (client, ids) = (client.clone(), ids.clone());
            async move {
                let variables =
                    Arc::new(move |i: usize| json!({ "id": ids[i % ids.len()], "nonce": i }));
                measure(&client, &url, DETAIL, variables, workers, seconds).await
            }
        }
    };
    // The same read signed in: what authentication (the router's token check, the
    // subgraph's token and session check) costs, which every purchase pays too.
    let signed_in = {
        let (client, buyers, ids) = (client.clone(), buyers.clone(), detail_ids.clone());
        move |url: String, seconds: u64| {
            let (client, buyers, ids) = (client.clone(), buyers.clone(), ids.clone());
            let url = Arc::new(url);
            let next = Arc::new(AtomicUsize::new(0));
            closed_loop(workers, seconds, move || {
                let (client, url, buyers, ids) =
                    (client.clone(), url.clone(), buyers.clone(), ids.clone());
                let i = next.fetch_add(1, Ordering::Relaxed);
                async move {
                    let token = &buyers[i % buyers.len()].token;
                    let variables = json!({ "id": ids[i % ids.len()], "nonce": i });
                    load::post(&client, &url, Some(token), DETAIL, variables).await
                }
            })
        }
    };
    // Both read paths warmed, then their rows alternate over `BENCH_ROUNDS`, so a noisy
    // moment, or caches expiring together (the router keeps a token's check 5 s, the
    // subgraphs a session 10 s), fall on either row alike.
    // The rows of one kind of read (anonymous, then signed in), alternating over the rounds.
    let alternate = |url: String, rows: [&'static str; 2]| {
        let (anonymous, signed_in) = (anonymous.clone(), signed_in.clone());
        async move {
            anonymous(url.clone(), 1).await;
            signed_in(url.clone(), 1).await;
            mark(rows[0]);
            let mut reads = anonymous(url.clone(), seconds).await;
            mark(rows[1]);
            let mut signed_in_reads = signed_in(url.clone(), seconds).await;
            for _ in 1..rounds {
                mark(rows[0]);
                reads = reads.merge(anonymous(url.clone(), seconds).await);
                mark(rows[1]);
                signed_in_reads = signed_in_reads.merge(signed_in(url.clone(), seconds).await);
            }
            (reads, signed_in_reads)
        }
    };
    let (reads, signed_in_reads) = alternate(
        router.clone(),
        ["product detail", "product detail, signed in"],
    )
    .await;
    // The same two reads sent to the catalog itself (`BENCH_DIRECT=1`): whether what being
    // signed in costs is the router's or the subgraph's.
    let direct = if env_number("BENCH_DIRECT", 0) == 1 {
        let catalog = system
            .subgraph_addrs
            .iter()
            .find(|(name, _)| *name == "catalog")
            .map(|(_, addr)| format!("http://{addr}/graphql"))
            .expect("the catalog's address");
        Some(
            alternate(
                catalog,
                [
                    "product detail, direct",
                    "product detail, signed in, direct",
                ],
            )
            .await,
        )
    } else {
        None
    };
    failures.lock().unwrap().clear();
    let admitted = Arc::new(AtomicUsize::new(0));
    let last_admission = Arc::new(std::sync::Mutex::new(Instant::now()));
    mark("purchase attempt");
    // The orders are counted during the row too, so that the time the last one appeared is
    // known even when it came before the row ended.
    let row_done = std::sync::atomic::AtomicBool::new(false);
    let row_started = Instant::now();
    let mut orders = (0, 0);
    let mut last_order = Instant::now();
    let (attempts, ()) = tokio::join!(
        async {
            let attempts = closed_loop(
                workers,
                seconds,
                purchases(sale.clone(), admitted.clone(), last_admission.clone()),
            )
            .await;
            row_done.store(true, Ordering::Relaxed);
            attempts
        },
        async {
            // One connection held: not a new one per count.
            let mut conn = system.sql("order").await;
            let started = Instant::now();
            loop {
                let counted = orders_of(&mut conn, &product).await;
                if counted.0 > orders.0 {
                    (orders, last_order) = (counted, Instant::now());
                }
                let everyone = admitted.load(Ordering::Relaxed) as i64;
                let done = row_done.load(Ordering::Relaxed) && orders.0 >= everyone;
                if done || started.elapsed() > Duration::from_secs(seconds + 120) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    );
    let admitted = admitted.load(Ordering::Relaxed) as i64;
    let last_admitted = *last_admission.lock().unwrap();
    let all_orders = last_order.saturating_duration_since(last_admitted);
    let admissions_took = last_admitted.saturating_duration_since(row_started);
    let remaining = system
        .graphql(
            "query { flashSales(status: ACTIVE) { id remainingQuantity } }",
            json!({}),
        )
        .await;
    let remaining = remaining["data"]["flashSales"]
        .as_array()
        .expect("sales")
        .iter()
        .find(|s| s["id"] == sale.as_str())
        .and_then(|s| s["remainingQuantity"].as_i64())
        .expect("the sale's remaining units");

    println!(
        "\nFlash sale through the router: {workers} clients, {seconds} s per row, {units} units\n"
    );
    println!("| request | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|");
    println!("{}", reads.row("product detail"));
    println!("{}", signed_in_reads.row("product detail, signed in"));
    println!("{}", attempts.row("purchase attempt"));
    println!(
        "\nattempts ÷ product-detail reads: ×{:.2} (target ≥ ×0.7)",
        attempts.rps() / reads.rps()
    );
    println!(
        "attempts ÷ signed-in product-detail reads: ×{:.2}",
        attempts.rps() / signed_in_reads.rps()
    );
    println!(
        "signed-in ÷ anonymous product-detail reads: ×{:.2} (target ≥ ×0.9), p99 ×{:.2}",
        signed_in_reads.rps() / reads.rps(),
        signed_in_reads.percentile(0.99) / reads.percentile(0.99)
    );
    if let Some((reads, signed_in_reads)) = &direct {
        println!("\nThe same reads sent to the catalog itself (no router):\n");
        println!("| request | req/s | p50 ms | p99 ms | max ms | errors |");
        println!("|---|---|---|---|---|---|");
        println!("{}", reads.row("product detail, direct"));
        println!(
            "{}",
            signed_in_reads.row("product detail, signed in, direct")
        );
        println!(
            "direct: signed-in ÷ anonymous ×{:.2}, p99 ×{:.2}\n",
            signed_in_reads.rps() / reads.rps(),
            signed_in_reads.percentile(0.99) / reads.percentile(0.99)
        );
    }
    println!(
        "admitted {admitted} of {} attempts; orders {} ({} units); remaining {remaining}; \
         oversold {}",
        attempts.micros.len(),
        orders.0,
        orders.1,
        (orders.1 - units).max(0) + (admitted - units).max(0),
    );
    for (why, count) in failures.lock().unwrap().iter() {
        println!("failed attempts: {count} × {why}");
    }
    println!(
        "the last admission answered {:.2} s into the row; the last order existed {:.2} s after it{}",
        admissions_took.as_secs_f64(),
        all_orders.as_secs_f64(),
        if orders.0 < admitted {
            " (NOT ALL ORDERS CAME)"
        } else {
            ""
        }
    );
    assert!(admitted <= units && orders.1 <= units, "oversold");
    assert_eq!(
        remaining,
        units - admitted,
        "counters disagree with the admissions"
    );
    system.stop().await;
}

/// Prints when a row starts (Unix time, on stderr), to cut a system-wide profile taken with
/// `perf record -k realtime` into rows.
fn mark(row: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!("row starts: {row} at {:.3}", now.as_secs_f64());
}
