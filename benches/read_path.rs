//! The product-detail read path, lever by lever (issue 14): each switch of the path measured
//! alone against the configuration from before it existed, side by side in one run, in
//! rounds (baseline, lever, baseline, lever…), through the router and directly against the
//! catalog. Then the defaults the repository ships (every winning lever) the same way.
//!
//! Baseline ("before"): DataLoader batches after a fixed 1 ms; every document parsed; products
//! from Redis and categories from PostgreSQL on every request; router logs at `info`;
//! HTTP/1.1 from router to subgraphs; pools of 10. The allocator is chosen at build time:
//! the subgraphs here run on mimalloc as in `mall` (hive-router's choice, also the
//! router's); `--features bench-system-allocator` builds this benchmark on glibc's instead,
//! to compare in two runs.
//!
//! With `PROFILE=<seconds>`, it instead loads the router with product details for that long
//! under `perf record` (router process and this one, which runs the subgraphs) and prints
//! the hottest functions of each (`perf` from Debian's `linux-perf`; no hardware counters
//! needed, it samples on the CPU clock).
//!
//! Run: `cargo bench --bench read_path`. Options (environment): `BENCH_SECONDS` per row
//! (default 5), `BENCH_WORKERS` closed-loop clients (default 16), `BENCH_ROUNDS` (default 2).

mod load;
use e2e_harness as support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use load::{Latencies, Variables, env_number, measure, router_config_with};
use serde_json::json;
use service_kit::ServiceConfig;
use service_kit::loader::BatchWindow;
use support::{Options, System};

const DETAIL: &str = "query($id: ID!) { product(id: $id) { id name description \
    price { amount currency formatted } inStock category { id name } } }";

/// The subgraph side of the baseline.
fn before(config: &mut ServiceConfig) {
    config.loader_batch = BatchWindow::Timer(std::time::Duration::from_millis(1));
    config.parsed_document_cache = 0;
    memory_cache(config, 0);
}

/// How many products and categories each catalog replica keeps in memory.
fn memory_cache(config: &mut ServiceConfig, entries: u64) {
    config
        .change(|catalog: &mut catalog_subgraph::config::CatalogSettings| {
            catalog.memory_cache = entries;
        })
        .expect("catalog settings");
}

/// The defaults (no change).
fn defaults(_: &mut ServiceConfig) {}

/// The subgraphs configured by `base`, then `tweak`; the router as [`quiet`].
fn tweaked(base: fn(&mut ServiceConfig), tweak: fn(&mut ServiceConfig)) -> Options {
    Options {
        service_config: Some(Arc::new(move |config| {
            base(config);
            tweak(config);
        })),
        ..quiet()
    }
}

/// One way to run the system.
struct Variant {
    name: &'static str,
    options: Options,
}

/// The router's output goes to /dev/null (it logs each request at `info`): written, as in
/// production, but not over the tables.
fn quiet() -> Options {
    Options {
        router_log: Some("/dev/null".into()),
        ..Options::default()
    }
}

/// Section 1: each lever alone, on top of the baseline.
fn levers_alone(dir: &Path) -> Vec<Variant> {
    let baseline = || tweaked(before, defaults);
    vec![
        Variant {
            name: "batch once resolvers yielded (no 1 ms timer)",
            options: tweaked(before, |config| {
                config.loader_batch = BatchWindow::Yield;
            }),
        },
        Variant {
            name: "hot products and categories in memory",
            options: tweaked(before, |config| memory_cache(config, 10_000)),
        },
        Variant {
            name: "parsed documents cached in subgraphs",
            options: tweaked(before, |config| {
                config.parsed_document_cache = 1000;
            }),
        },
        Variant {
            name: "router logs at warn (no access log line)",
            options: Options {
                router_env: vec![("LOG_LEVEL", "warn")],
                ..baseline()
            },
        },
        Variant {
            name: "HTTP/2 (h2c) router → subgraphs",
            options: Options {
                router_config: Some(router_config_with(
                    dir,
                    "router.h2.yaml",
                    &["allow_only_http2: true"],
                )),
                ..baseline()
            },
        },
        Variant {
            name: "pools of 4 (not 10) PostgreSQL and Redis connections",
            options: tweaked(before, |config| {
                config.database_pool_size = 4;
                config.redis_pool_size = 4;
            }),
        },
        Variant {
            name: "all defaults of the repository",
            options: quiet(),
        },
    ]
}

/// Section 2: each lever taken out of (or, for those not adopted, added to) the defaults:
/// what it is worth once the others are in.
fn levers_at_the_defaults(dir: &Path) -> Vec<Variant> {
    vec![
        Variant {
            name: "without batching on yield (1 ms timer)",
            options: tweaked(defaults, |config| {
                config.loader_batch = BatchWindow::Timer(std::time::Duration::from_millis(1));
            }),
        },
        Variant {
            name: "without products and categories in memory",
            options: tweaked(defaults, |config| memory_cache(config, 0)),
        },
        Variant {
            name: "without parsed documents cached",
            options: tweaked(defaults, |config| config.parsed_document_cache = 0),
        },
        Variant {
            name: "with router logs at warn (no access log line)",
            options: Options {
                router_env: vec![("LOG_LEVEL", "warn")],
                ..quiet()
            },
        },
        Variant {
            name: "with HTTP/2 (h2c) router → subgraphs",
            options: Options {
                router_config: Some(router_config_with(
                    dir,
                    "router.h2-defaults.yaml",
                    &["allow_only_http2: true"],
                )),
                ..quiet()
            },
        },
    ]
}

struct Paths {
    router: String,
    direct: String,
}

impl Paths {
    fn of(system: &System) -> Self {
        Self {
            router: system.router_url.clone(),
            direct: system.subgraph_url("catalog"),
        }
    }
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let workers = env_number("BENCH_WORKERS", 16) as usize;
    let rounds = env_number("BENCH_ROUNDS", 2);
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("temporary directory");

    if let Some(profile_seconds) = std::env::var("PROFILE").ok().and_then(|s| s.parse().ok()) {
        for (name, options) in [
            ("baseline", tweaked(before, defaults)),
            ("defaults", quiet()),
        ] {
            profile(&client, name, options, workers, profile_seconds, dir.path()).await;
        }
        return;
    }

    let sections = [
        (
            "Each lever alone against the baseline",
            tweaked(before, defaults),
            levers_alone(dir.path()),
        ),
        (
            "Each lever taken out of (or added to) the defaults, against the defaults",
            quiet(),
            levers_at_the_defaults(dir.path()),
        ),
    ];
    println!(
        "\nProduct detail, {workers} closed-loop clients, {seconds} s per row, {rounds} rounds"
    );
    for (title, base_options, variants) in sections {
        let base_system = System::start_with(base_options).await;
        let ids = Arc::new(base_system.product_ids(50).await);
        let detail: Variables = Arc::new(move |i| json!({ "id": ids[i % ids.len()] }));
        let base = Paths::of(&base_system);
        println!("\n{title}, rows alternating (base, variant, base, variant …)\n");
        println!(
            "| lever | path | round | base req/s | variant req/s | ×throughput | base p99 ms | variant p99 ms | ×p99 | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for variant in variants {
            let system = System::start_with(variant.options).await;
            let lever = Paths::of(&system);
            for url in [&base.router, &base.direct, &lever.router, &lever.direct] {
                assert_detail_answers(&client, url, &detail).await;
                measure(&client, url, DETAIL, detail.clone(), workers, 1).await;
            }
            for round in 1..=rounds {
                for (path, from, to) in [
                    ("router", &base.router, &lever.router),
                    ("direct", &base.direct, &lever.direct),
                ] {
                    let before = measure(&client, from, DETAIL, detail.clone(), workers, seconds);
                    let before = before.await;
                    let after = measure(&client, to, DETAIL, detail.clone(), workers, seconds);
                    let after = after.await;
                    println!("{}", compare(variant.name, path, round, &before, &after));
                }
            }
            system.stop().await;
        }
        base_system.stop().await;
    }
}

/// A product detail on `url` names the product asked for (the load counts answers without
/// errors; this makes sure they are not empty ones).
async fn assert_detail_answers(client: &reqwest::Client, url: &str, detail: &Variables) {
    let answer: serde_json::Value = client
        .post(url)
        .header(
            service_kit::internal::TOKEN_HEADER,
            service_kit::config::DEV_INTERNAL_TOKEN,
        )
        .json(&json!({ "query": DETAIL, "variables": detail(7) }))
        .send()
        .await
        .expect("detail sent")
        .json()
        .await
        .expect("detail JSON");
    assert_eq!(answer["data"]["product"]["id"], detail(7)["id"], "{answer}");
    assert!(
        answer["data"]["product"]["category"]["name"].is_string(),
        "{answer}"
    );
}

/// `  4.58%  mall  [.] symbol  …` of `perf report --sort dso,symbol`: share, dso, symbol.
fn sample(line: &str) -> Option<(f64, &str, &str)> {
    let line = line.trim();
    let (share, rest) = line.split_once('%')?;
    let share: f64 = share.trim().parse().ok()?;
    let (dso, rest) = rest.trim_start().split_once(' ')?;
    let symbol = rest.trim_start();
    let symbol = symbol.split_once("] ").map_or(symbol, |(_, s)| s);
    Some((
        share,
        dso,
        symbol.trim_end().trim_end_matches('-').trim_end(),
    ))
}

/// What a symbol belongs to: the kernel, the allocator, libc, or the crate it comes from.
fn group_of(dso: &str, symbol: &str) -> String {
    if dso.contains("kernel") {
        return "kernel (scheduler, TCP, syscalls)".into();
    }
    if symbol.starts_with("mi_") || symbol.starts_with("_mi_") {
        return "allocator (mimalloc)".into();
    }
    if dso.starts_with("libc") || dso.contains("vdso") {
        return "libc (memcpy, memcmp, clock)".into();
    }
    // `<a::B as c::D>::f` belongs to `a`; `a::b::f` to `a`.
    let path = symbol.trim_start_matches('<').trim_start_matches('&');
    let path = path.trim_start_matches("mut ").trim_start_matches("dyn ");
    let krate = path.split("::").next().unwrap_or(path);
    match krate {
        "core" | "alloc" | "std" => "Rust std (hashing, copies, strings)".into(),
        "" => "other".into(),
        krate => krate.to_owned(),
    }
}

fn compare(name: &str, path: &str, round: u64, before: &Latencies, after: &Latencies) -> String {
    format!(
        "| {name} | {path} | {round} | {:.0} | {:.0} | ×{:.2} | {:.2} | {:.2} | ×{:.2} | {} |",
        before.rps(),
        after.rps(),
        after.rps() / before.rps(),
        before.percentile(0.99),
        after.percentile(0.99),
        after.percentile(0.99) / before.percentile(0.99),
        before.errors + after.errors,
    )
}

/// Product details through the router for `seconds` under `perf record`, on the router and
/// on this process; prints the hottest symbols of each.
async fn profile(
    client: &reqwest::Client,
    name: &str,
    options: Options,
    workers: usize,
    seconds: u64,
    dir: &Path,
) {
    let system = System::start_with(options).await;
    let ids = Arc::new(system.product_ids(50).await);
    let detail: Variables = Arc::new(move |i| json!({ "id": ids[i % ids.len()] }));
    measure(
        client,
        &system.router_url,
        DETAIL,
        detail.clone(),
        workers,
        2,
    )
    .await;
    let processes = [
        ("router", system.router_pid().expect("router running")),
        ("subgraphs and load generator", std::process::id()),
    ];
    let recorders: Vec<_> = processes
        .iter()
        .map(|(name, pid)| {
            let data = dir.join(format!("{pid}.perf.data"));
            let child = std::process::Command::new("perf")
                .args(["record", "-F", "997", "-q", "-o"])
                .arg(&data)
                .args(["-p", &pid.to_string(), "--", "sleep", &seconds.to_string()])
                .spawn()
                .expect("perf record (apt install linux-perf)");
            (*name, data, child)
        })
        .collect();
    let measured = measure(client, &system.router_url, DETAIL, detail, workers, seconds).await;
    println!(
        "\n# {name}: {seconds} s of product detail through the router: {:.0} req/s, p99 {:.2} ms",
        measured.rps(),
        measured.percentile(0.99)
    );
    for (process, data, mut child) in recorders {
        child.wait().expect("perf record finished");
        let report = std::process::Command::new("perf")
            .args([
                "report",
                "--no-children",
                "--sort",
                "dso,symbol",
                "--stdio",
                "-q",
                "-i",
            ])
            .arg(&data)
            .output()
            .expect("perf report");
        let report = String::from_utf8_lossy(&report.stdout);
        let samples: Vec<(f64, &str, &str)> = report.lines().filter_map(sample).collect();
        let mut groups: BTreeMap<String, f64> = BTreeMap::new();
        for (share, dso, symbol) in &samples {
            *groups.entry(group_of(dso, symbol)).or_default() += share;
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
        let header = std::process::Command::new("perf")
            .args(["report", "--stdio", "--sort", "dso", "-i"])
            .arg(&data)
            .output()
            .expect("perf report");
        let header = String::from_utf8_lossy(&header.stdout);
        let samples_line = header
            .lines()
            .find(|l| l.starts_with("# Samples"))
            .unwrap_or("");
        println!("\n## {name}, {process}: CPU samples by component ({samples_line})\n");
        println!("| component | share |\n|---|---|");
        for (group, share) in groups.iter().take(15) {
            println!("| {group} | {share:.1} % |");
        }
        println!("\nhottest symbols:");
        for (share, _, symbol) in samples.iter().take(15) {
            println!(
                "  {share:5.2} %  {}",
                symbol.chars().take(110).collect::<String>()
            );
        }
    }
    system.stop().await;
}
