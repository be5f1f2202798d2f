//! Load generation shared by the benchmark targets: open-loop (fixed rate) and closed-loop
//! (fixed concurrency) runs, latency percentiles, and a GraphQL POST.

#![allow(dead_code, reason = "each benchmark uses a different part")]

use std::time::Duration;

/// The subgraphs of a benchmark run in its process: they get the allocator `mall` gives
/// them in production (and the router has), unless the benchmark is built with the
/// `bench-system-allocator` feature to measure glibc's.
#[cfg(not(feature = "bench-system-allocator"))]
#[global_allocator]
static GLOBAL: router::RouterGlobalAllocator = router::RouterGlobalAllocator;

use serde_json::{Value, json};

/// The `CheckoutInput` of one unit of `product` to a fixed address (no cart read, no
/// address lookup), with idempotency key `key`.
pub fn checkout_input(key: &str, product: &str) -> Value {
    json!({
        "idempotencyKey": key,
        "items": [{ "productId": product, "quantity": 1 }],
        "address": { "recipient": "Bench", "phone": "13800000000", "province": "Zhejiang",
                     "city": "Hangzhou", "district": "Xihu", "line1": "1 Bench Road" },
    })
}

/// Latencies of one measurement, in microseconds, sorted.
pub struct Latencies {
    pub micros: Vec<u64>,
    pub errors: usize,
    pub seconds: f64,
}

impl Latencies {
    pub fn percentile(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let index = ((self.micros.len() as f64 - 1.0) * p).round() as usize;
        self.micros[index] as f64 / 1000.0
    }

    /// The answers of two measurements of the same request (rounds of one row).
    pub fn merge(mut self, other: Latencies) -> Latencies {
        self.micros.extend(other.micros);
        self.micros.sort_unstable();
        self.errors += other.errors;
        self.seconds += other.seconds;
        self
    }

    /// Answers per second.
    pub fn rps(&self) -> f64 {
        self.micros.len() as f64 / self.seconds
    }

    pub fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            self.micros.len() as f64 / self.seconds,
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0),
            self.errors
        )
    }
}

/// Sends `request` `rate` times a second for `seconds`, each on its own task.
pub async fn at_fixed_rate<F, Fut>(rate: u64, seconds: u64, request: F) -> Latencies
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let total = rate * seconds;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due).await;
        let call = request();
        tasks.push(tokio::spawn(async move {
            let ok = call.await;
            (due.elapsed(), ok)
        }));
    }
    let mut micros = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for task in tasks {
        let (elapsed, ok) = task.await.expect("request task");
        micros.push(elapsed.as_micros() as u64);
        if !ok {
            errors += 1;
        }
    }
    micros.sort_unstable();
    Latencies {
        micros,
        errors,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The variables of the i-th request.
pub type Variables = std::sync::Arc<dyn Fn(usize) -> Value + Send + Sync>;

/// `query` with `variables(i)` for the i-th request, from `workers` closed loops for
/// `seconds`. Each request also carries an undeclared variable unique to it: ignored by
/// GraphQL, but part of the router's deduplication key, so no two are merged.
pub async fn measure(
    client: &reqwest::Client,
    url: &str,
    query: &'static str,
    variables: Variables,
    workers: usize,
    seconds: u64,
) -> Latencies {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (client, url) = (client.clone(), Arc::new(url.to_owned()));
    let counter = Arc::new(AtomicUsize::new(0));
    closed_loop(workers, seconds, move || {
        let (client, url) = (client.clone(), url.clone());
        let i = counter.fetch_add(1, Ordering::Relaxed);
        let mut variables = variables(i);
        variables["nonce"] = json!(i);
        async move { post(&client, &url, None, query, variables).await }
    })
    .await
}

pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> bool {
    // Subgraphs answer GraphQL only with the shared secret (the router inserts it, replacing
    // any client's value), so direct measurements send it; through the router it is inert.
    let mut request = client.post(url).header(
        service_kit::internal::TOKEN_HEADER,
        service_kit::config::DEV_INTERNAL_TOKEN,
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
    {
        Ok(response) => response
            .json::<Value>()
            .await
            .is_ok_and(|body| body["errors"].is_null()),
        Err(_) => false,
    }
}

/// Sends `request` from `workers` loops, each waiting for its answer, for `seconds`.
pub async fn closed_loop<F, Fut>(workers: usize, seconds: u64, request: F) -> Latencies
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut micros = Vec::new();
                let mut errors = 0;
                while tokio::time::Instant::now() < deadline {
                    let sent = std::time::Instant::now();
                    if !request().await {
                        errors += 1;
                    }
                    micros.push(sent.elapsed().as_micros() as u64);
                }
                (micros, errors)
            })
        })
        .collect();
    let mut all = Latencies {
        micros: Vec::new(),
        errors: 0,
        seconds: 0.0,
    };
    for task in tasks {
        let (micros, errors) = task.await.expect("worker");
        all.micros.extend(micros);
        all.errors += errors;
    }
    all.seconds = start.elapsed().as_secs_f64();
    all.micros.sort_unstable();
    all
}

/// Reads a number from the environment.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The repository's router configuration with `traffic_shaping.all` settings added (YAML
/// lines such as `dedupe_enabled: false`), written into `dir` as `name` (its relative paths
/// made absolute: they are relative to the file).
pub fn router_config_with(
    dir: &std::path::Path,
    name: &str,
    traffic_shaping_all: &[&str],
) -> std::path::PathBuf {
    let original = douyin_mall::default_router_config();
    let base = original.parent().expect("router-config/");
    let mut text = std::fs::read_to_string(&original).expect("router config");
    for relative in [
        "../schema/supergraph.graphql",
        "./public-operations.yaml",
        "./persisted-documents.json",
        "./rate-limits.yaml",
        "../web-playground/dist",
    ] {
        if text.contains(relative) {
            text = text.replace(relative, base.join(relative).to_str().expect("UTF-8 path"));
        }
    }
    // Under the existing `traffic_shaping:` block (which has no `all:` yet).
    let mut all = String::from("\ntraffic_shaping:\n  all:\n");
    for line in traffic_shaping_all {
        all.push_str(&format!("    {line}\n"));
    }
    assert!(
        text.contains("\ntraffic_shaping:\n") && !text.contains("\ntraffic_shaping:\n  all:"),
        "router.config.yaml's traffic_shaping block changed: adapt this"
    );
    let text = text.replacen("\ntraffic_shaping:\n", &all, 1);
    let file = dir.join(name);
    std::fs::write(&file, text).expect("router config written");
    file
}
