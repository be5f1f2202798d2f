//! Product search through the router at two catalog sizes, in one run: the demo catalog
//! topped up to 1,000 products, then to 100,000 (generated here with SQL, never committed;
//! each generated word is in about one product in ten, so a common term matches ~10,000).
//! Every generated product has 1 to 12 variants (colour and size options; about one in
//! seventeen archived), zero to two specification attributes and, mostly, one of 30
//! brands. Every search branch is index-served (words, category, substring, typo), so
//! latency should grow far slower than the catalog; the target is p99 < 50 ms at 100,000.
//!
//! Two kinds of search: the plain one (`SEARCH`: a page of names and prices), and the
//! storefront's search page with its facets (`SEARCH_PAGE`: the contract's
//! `ProductSearchPage`, exact counts of brands, attributes and options, and the price range)
//! for common terms only; its targets at 100,000 are p99 < 50 ms at 20 searches/s and
//! p99 < 100 ms with 16 clients.
//!
//! Two rows per size: latency at a fixed arrival rate (open loop, `BENCH_RATE` searches per
//! second: what one search costs when the machine is not saturated), and throughput with
//! `BENCH_WORKERS` clients that each wait for their answer (closed loop: the machine
//! saturated, so latency there is queueing).
//!
//! Run: `cargo bench --bench search` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_RATE` (default 20),
//! `BENCH_WORKERS` (default 16), `BENCH_SIZES` (default `1000,100000`).

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

/// The contract's `ProductSearchPage` (fragments inlined), sorted by relevance.
const SEARCH_PAGE: &str = "query($q: String) { products(first: 20, filter: { search: $q }, \
    sort: RELEVANCE) { totalCount pageInfo { hasNextPage endCursor } \
    edges { cursor node { id name imageUrl price { amount currency formatted } inStock \
      category { id name } brand { id name } \
      priceRange { min { amount currency formatted } max { amount currency formatted } } } } \
    facets { brands { count brand { id name logoUrl } } attributes { name values { value count } } \
      priceRange { min { amount currency formatted } max { amount currency formatted } } } } }";

/// Common terms (each in about one generated product in ten), for the search page.
const COMMON_TERMS: [&str; 5] = ["phone", "tea", "charger", "case", "walnut"];

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
    add_variants_and_details(&mut conn).await;
    // What autovacuum does to a real catalog after a bulk load: statistics for the planner,
    // and hint bits and the visibility map set once, not by the first searches.
    for vacuum in [
        "VACUUM ANALYZE products",
        "VACUUM ANALYZE product_variants",
        "VACUUM ANALYZE product_attributes",
        // The bulk load's pages written out now, not in a checkpoint during a measured row.
        "CHECKPOINT",
    ] {
        diesel::sql_query(vacuum)
            .execute(&mut conn)
            .await
            .expect("VACUUM ANALYZE");
    }
}

/// After products written with SQL behind the catalog's back, as an operator would: the
/// product cache emptied and the catalog's search index told to read everything again
/// (`FORGET_ALL`); then waits until the index holds every active product, so the rows
/// measure the index (`SEARCH_INDEX_RECONCILE_SECONDS=0`: PostgreSQL alone).
async fn index_everything(system: &System, client: &reqwest::Client) {
    system.flush_product_cache().await;
    let active: Count =
        diesel::sql_query("SELECT count(*) AS count FROM products WHERE status = 'ACTIVE'")
            .get_result(&mut system.sql("catalog").await)
            .await
            .expect("count");
    let ready = format!("{}/ready", system.subgraph_base("catalog"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let answer: serde_json::Value = client
            .get(&ready)
            .send()
            .await
            .expect("/ready")
            .json()
            .await
            .expect("JSON");
        let index = &answer["searchIndex"];
        if index.is_null() {
            println!("(search index off: PostgreSQL answers)");
            return;
        }
        if index["status"] == "current" && index["products"] == active.count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "search index not current: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// This process's resident memory (`VmRSS`), in MiB.
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

/// Gives every generated product (those without variants) 1 to 12 variants, colour and
/// size options (a single variant has none), one in seventeen archived, prices from the
/// product's up; then the product's summary (lowest active price, total stock) as the
/// catalog keeps it, 0 to 2 attributes (material, origin) and, for 30 in 31, a brand.
async fn add_variants_and_details(conn: &mut diesel_async::AsyncPgConnection) {
    let statements = [
        "INSERT INTO brands (id, name)
         SELECT gen_random_uuid(), 'Bench Brand ' || n FROM generate_series(1, 30) AS n
         ON CONFLICT DO NOTHING",
        "CREATE TEMPORARY TABLE bench_new ON COMMIT DROP AS
         SELECT p.id, p.price_amount, abs(hashtext(p.id::text)::bigint) AS h FROM products p
         WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)",
        "INSERT INTO product_options (product_id, position, name, \"values\")
         SELECT id, 0, 'Color', ARRAY['Red','Blue','Green','Black','White','Pink','Grey',
                                      'Navy'] FROM bench_new WHERE h % 12 > 0
         UNION ALL
         SELECT id, 1, 'Size', ARRAY['S','M','L'] FROM bench_new WHERE h % 12 > 0",
        "INSERT INTO product_variants (id, product_id, position, sku, options, price_amount,
                                       stock, status)
         SELECT gen_random_uuid(), n.id, j,
                'BENCH-' || replace(n.id::text, '-', '') || '-' || j,
                CASE WHEN n.h % 12 = 0 THEN '[]'::jsonb ELSE jsonb_build_array(
                    jsonb_build_object('name', 'Color', 'value',
                        (ARRAY['Red','Blue','Green','Black','White','Pink','Grey','Navy'])
                        [1 + (n.h / 12 + j % 4) % 8]),
                    jsonb_build_object('name', 'Size', 'value', (ARRAY['S','M','L'])[1 + j / 4]))
                END,
                n.price_amount + 100 * j, (n.h + j) % 7,
                CASE WHEN j > 0 AND (n.h + j) % 17 = 0 THEN 'ARCHIVED' ELSE 'ACTIVE' END
         FROM bench_new n, generate_series(0, n.h % 12) AS j",
        "UPDATE products p SET price_amount = s.price, stock = s.stock
         FROM (SELECT v.product_id, min(v.price_amount) FILTER (WHERE v.status = 'ACTIVE')
                      AS price, sum(v.stock) AS stock
               FROM product_variants v JOIN bench_new n ON n.id = v.product_id
               GROUP BY v.product_id) s
         WHERE p.id = s.product_id",
        "INSERT INTO product_attributes (product_id, position, name, value)
         SELECT id, 0, 'Material', (ARRAY['Cotton','Linen','Wool','Steel','Glass','Bamboo',
                                          'Leather','Ceramic'])[1 + h / 7 % 8]
         FROM bench_new WHERE h % 3 > 0
         UNION ALL
         SELECT id, 1, 'Origin', (ARRAY['China','Japan','Vietnam','Italy','Germany','USA'])
                                 [1 + h / 5 % 6]
         FROM bench_new WHERE h % 3 = 2",
        "UPDATE products p SET brand_id = b.id
         FROM bench_new n, (SELECT id, row_number() OVER (ORDER BY name) AS k FROM brands
                            WHERE name LIKE 'Bench Brand %') b
         WHERE p.id = n.id AND b.k = 1 + n.h % 31",
    ];
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        for statement in statements {
            diesel::sql_query(statement).execute(conn).await?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .await
    .expect("variants, attributes and brands");
}

fn term(i: usize) -> serde_json::Value {
    json!({ "q": TERMS[i % TERMS.len()], "nonce": i })
}

fn common_term(i: usize) -> serde_json::Value {
    json!({ "q": COMMON_TERMS[i % COMMON_TERMS.len()], "nonce": i })
}

/// A kind of search: its document and the variables of the i-th request.
#[derive(Clone, Copy)]
struct Kind {
    query: &'static str,
    variables: fn(usize) -> serde_json::Value,
}

const PLAIN: Kind = Kind {
    query: SEARCH,
    variables: term,
};
const WITH_FACETS: Kind = Kind {
    query: SEARCH_PAGE,
    variables: common_term,
};

fn search(
    client: &reqwest::Client,
    url: &str,
    kind: Kind,
    workers: usize,
    seconds: u64,
) -> impl Future<Output = Latencies> {
    let variables: Variables = Arc::new(kind.variables);
    measure(client, url, kind.query, variables, workers, seconds)
}

/// Searches arriving at `rate` per second, whatever the answers' speed.
async fn search_at(
    client: &reqwest::Client,
    url: &str,
    kind: Kind,
    rate: u64,
    seconds: u64,
) -> Latencies {
    let (client, url) = (client.clone(), Arc::new(url.to_owned()));
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    at_fixed_rate(rate, seconds, move || {
        let (client, url) = (client.clone(), url.clone());
        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { post(&client, &url, None, kind.query, (kind.variables)(i)).await }
    })
    .await
}

/// One answer of `kind`, checked, so that a broken document fails the run loudly.
async fn check(client: &reqwest::Client, url: &str, kind: Kind) {
    let response: serde_json::Value = client
        .post(url)
        .json(&json!({ "query": kind.query, "variables": (kind.variables)(0) }))
        .send()
        .await
        .expect("a search")
        .json()
        .await
        .expect("JSON");
    assert!(response["errors"].is_null(), "{response}");
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let rate = env_number("BENCH_RATE", 20);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let sizes: Vec<i64> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("BENCH_SIZES"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 100_000]);
    let client = reqwest::Client::new();
    // SEARCH_INDEX_RECONCILE_SECONDS=0 measures PostgreSQL alone (the index off).
    let reconcile = env_number("SEARCH_INDEX_RECONCILE_SECONDS", 30);
    let system = System::start_with(support::Options {
        search_index_reconcile: Some(std::time::Duration::from_secs(reconcile)),
        ..support::Options::default()
    })
    .await;
    println!(
        "\nSearch through the router, {seconds} s per row, terms {TERMS:?}; \
         search page with facets: {COMMON_TERMS:?}\n"
    );
    println!("| products | search | load | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    let mut faceted = Vec::new();
    for &total in &sizes {
        grow_catalog(&system, total).await;
        index_everything(&system, &client).await;
        // The subgraphs run in this process: compare with SEARCH_INDEX_RECONCILE_SECONDS=0
        // for the index's share.
        println!(
            "(this process's resident memory at {total} products: {} MiB)",
            rss_mib()
        );
        for (name, kind) in [("plain", PLAIN), ("page + facets", WITH_FACETS)] {
            check(&client, &system.router_url, kind).await;
            // Warm-up: connections, plans, the pages the indexes live on.
            search(&client, &system.router_url, kind, workers, 1).await;
            let paced = search_at(&client, &system.router_url, kind, rate, seconds).await;
            println!("{}", paced.row(&format!("{total} | {name} | {rate}/s")));
            let saturated = search(&client, &system.router_url, kind, workers, seconds).await;
            println!(
                "{}",
                saturated.row(&format!("{total} | {name} | {workers} clients"))
            );
            if name == "plain" {
                rows.push((paced, saturated));
            } else {
                faceted.push((total, paced, saturated));
            }
        }
    }
    if let Some((total, paced, saturated)) = faceted.last() {
        println!(
            "\nSearch page with facets at {total}: p99 {:.1} ms at {rate}/s (target < 50 ms), \
             {:.1} ms with {workers} clients (target < 100 ms)",
            paced.percentile(0.99),
            saturated.percentile(0.99),
        );
    }
    if rows.len() < 2 {
        system.stop().await;
        return;
    }
    let ((small, small_max), (large, large_max)) = (&rows[0], &rows[rows.len() - 1]);
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
