//! Catalog reads under load, side by side in one run (release build): the router's own
//! ceiling (`{ __typename }`, answered without a subgraph), then product detail, the
//! product page (brand, gallery, attributes, options, variants), a 20-item
//! listing and a search through the router, through a router with request deduplication
//! off, and directly against the catalog subgraph. Rows alternate paths and repeat
//! (`BENCH_ROUNDS`), so a noisy moment of the shared machine hits every path alike.
//!
//! Every request differs from the others at the router (another product, page size or term,
//! and a unique undeclared `nonce` variable). The router forwards only declared variables,
//! so concurrent requests with the same page size or term still send the catalog identical
//! requests, which the router deduplicates (`traffic_shaping.all.dedupe_enabled`, on by
//! default); the second system's router has it off, so that every request reaches the
//! catalog, which makes "router ÷ direct" the cost of the router alone.
//!
//! The subgraphs run with their defaults (batches on yield, parsed documents and hot
//! products in memory); `benches/read_path.rs` measures each of those switches alone.
//!
//! Run: `cargo bench --bench catalog` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per row (default 5), `BENCH_WORKERS` concurrent
//! closed-loop clients (default 16), `BENCH_ROUNDS` (default 2).

mod load;
use e2e_harness as support;

use std::collections::BTreeMap;
use std::sync::Arc;

use load::{Latencies, Variables, env_number, measure, router_config_with};
use serde_json::json;
use support::{Options, System};

const TYPENAME: &str = "{ __typename }";
const DETAIL: &str = "query($id: ID!) { product(id: $id) { id name description \
    price { amount currency formatted } inStock category { id name } } }";
const LISTING: &str = "query($n: Int) { products(first: $n) { totalCount edges { cursor \
    node { id name price { amount currency formatted } inStock category { name } } } } }";
const SEARCH: &str = "query($q: String) { products(first: 20, filter: { search: $q }, \
    sort: RELEVANCE) { totalCount edges { node { id name price { amount } } } } }";
/// The contract's `ProductPage` (catalog v2): the product with its brand, gallery,
/// attributes, options, price range and variants.
const PAGE: &str = "query($id: ID!) { product(id: $id) { id name imageUrl price { amount currency formatted } \
    inStock category { id name parent { id name } } description brand { id name logoUrl } \
    images { url alt } attributes { name value } options { name values } \
    priceRange { min { amount currency formatted } max { amount currency formatted } } \
    variants { id sku name options { name value } price { amount currency formatted } imageUrl inStock } } }";
const TERMS: [&str; 8] = [
    "phone", "tea", "case", "iphone", "shoes", "手机", "charger", "lamp",
];

fn requests(ids: Arc<Vec<String>>) -> [(&'static str, &'static str, Variables); 4] {
    let page_ids = ids.clone();
    [
        (
            "product detail",
            DETAIL,
            Arc::new(move |i| json!({ "id": ids[i % ids.len()] })),
        ),
        (
            "product page",
            PAGE,
            Arc::new(move |i| json!({ "id": page_ids[i % page_ids.len()] })),
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

/// All rounds of one request on one path, merged.
#[derive(Default)]
struct Merged(Option<Latencies>);

impl Merged {
    fn add(&mut self, more: Latencies) {
        self.0 = Some(match self.0.take() {
            None => more,
            Some(mut all) => {
                all.micros.extend(more.micros);
                all.micros.sort_unstable();
                all.errors += more.errors;
                all.seconds += more.seconds;
                all
            }
        });
    }

    fn get(&self) -> &Latencies {
        self.0.as_ref().expect("measured")
    }
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let rounds = env_number("BENCH_ROUNDS", 2);
    let client = reqwest::Client::new();

    // The routers log each request at `info`, as in production, to /dev/null rather than
    // over the tables.
    let quiet = || Options {
        router_log: Some("/dev/null".into()),
        ..Options::default()
    };
    let system = System::start_with(quiet()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let no_dedupe = System::start_with(Options {
        router_config: Some(router_config_with(
            dir.path(),
            "router.no-dedupe.yaml",
            &["dedupe_enabled: false"],
        )),
        ..quiet()
    })
    .await;
    // The catalog resolving every product query afresh: its kept answers (product pages,
    // `CATALOG_ANSWER_CACHE_MIB`) off.
    let no_answers = System::start_with(Options {
        service_config: Some(Arc::new(|config: &mut service_kit::ServiceConfig| {
            config
                .change(|catalog: &mut catalog_subgraph::config::CatalogSettings| {
                    catalog.answer_cache_mib = 0;
                })
                .expect("catalog settings");
        })),
        ..quiet()
    })
    .await;
    let router = system.router_url.clone();
    let router_no_dedupe = no_dedupe.router_url.clone();
    let router_no_answers = no_answers.router_url.clone();
    let direct = system.subgraph_url("catalog");
    let ids = Arc::new(system.product_ids(50).await);
    // Both systems seed the same catalog, with the same ids.
    assert_eq!(no_dedupe.product_ids(50).await, *ids);
    assert_eq!(no_answers.product_ids(50).await, *ids);
    let cases = requests(ids);
    let paths = [
        ("router", &router),
        ("router, dedupe off", &router_no_dedupe),
        ("direct", &direct),
        ("router, answers not kept", &router_no_answers),
    ];
    // Warm up every path (connections, caches, query plans).
    for (_, query, variables) in &cases {
        for (_, url) in paths {
            measure(&client, url, query, variables.clone(), workers, 1).await;
        }
    }
    let typename: Variables = Arc::new(|_| json!({}));
    measure(&client, &router, TYPENAME, typename.clone(), workers, 1).await;

    let mut results: BTreeMap<(usize, usize), Merged> = BTreeMap::new();
    let mut ceiling = Merged::default();
    for _ in 0..rounds {
        ceiling.add(
            measure(
                &client,
                &router,
                TYPENAME,
                typename.clone(),
                workers,
                seconds,
            )
            .await,
        );
        for (case, (_, query, variables)) in cases.iter().enumerate() {
            for (path, (_, url)) in paths.iter().enumerate() {
                let measured = measure(&client, url, query, variables.clone(), workers, seconds);
                results.entry((case, path)).or_default().add(measured.await);
            }
        }
    }
    no_answers.stop().await;
    no_dedupe.stop().await;
    system.stop().await;

    println!(
        "\nCatalog reads, {workers} closed-loop clients, {rounds} rounds of {seconds} s per row\n"
    );
    println!("| request | path | req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    println!("{}", ceiling.get().row("`{ __typename }` | router"));
    for ((case, path), measured) in &results {
        let name = format!("{} | {}", cases[*case].0, paths[*path].0);
        println!("{}", measured.get().row(&name));
    }
    println!("\n| request | path | ÷ direct throughput | ÷ direct p50 | ÷ direct p99 |");
    println!("|---|---|---|---|---|");
    for (case, (name, _, _)) in cases.iter().enumerate() {
        let direct = results[&(case, 2)].get();
        for path in [0, 1, 3] {
            let measured = results[&(case, path)].get();
            println!(
                "| {name} | {} | ×{:.2} | ×{:.2} | ×{:.2} |",
                paths[path].0,
                measured.rps() / direct.rps(),
                measured.percentile(0.5) / direct.percentile(0.5),
                measured.percentile(0.99) / direct.percentile(0.99),
            );
        }
    }
    let detail = results[&(0, 0)].get();
    let detail_no_dedupe = results[&(0, 1)].get();
    let detail_direct = results[&(0, 2)].get();
    println!("\nTargets (issue 14):");
    println!(
        "- detail through the router ÷ router `{{ __typename }}`: ×{:.2} (target ≥ 0.5)",
        detail.rps() / ceiling.get().rps()
    );
    println!(
        "- detail, router with dedupe off ÷ direct: ×{:.2} (target ≥ 0.8), p99 ×{:.2}",
        detail_no_dedupe.rps() / detail_direct.rps(),
        detail_no_dedupe.percentile(0.99) / detail_direct.percentile(0.99),
    );
    println!(
        "- product page (catalog v2) ÷ product detail, through the router: ×{:.2} (target ≥ 0.8, issue 25); \
         ÷ the detail with answers not kept: ×{:.2}; with answers not kept, page ÷ detail: ×{:.2}",
        results[&(1, 0)].get().rps() / detail.rps(),
        results[&(1, 0)].get().rps() / results[&(0, 3)].get().rps(),
        results[&(1, 3)].get().rps() / results[&(0, 3)].get().rps(),
    );
}
