//! The shopping assistant under load, in one run (release build): what our own code adds to
//! a turn on top of the model's time, and what an open reply stream costs in memory.
//!
//! The model is the sandbox (`assistant_subgraph::sandbox_model`, scripted, deterministic:
//! "find tea" is one `search_products` call and then a text answer, 2 model calls; "buy 1
//! longjing tea" is a search, `propose_place_order` and a text, 3 model calls) behind a fixed
//! delay before each answer, as `SandboxModel::new(latency)` waits: 200 ms during the turns,
//! 5 s during the streams (so that all of them are open at once). It runs in a helper process
//! (this binary again, see [`helper`]) together with the stream clients, so that neither is
//! counted in the memory of the processes measured. Its sockets have `TCP_NODELAY`, as a
//! model's API would (`BENCH_MODEL_NODELAY=0`: without, as `SandboxModel::serve` serves: the
//! reply's pieces then wait on delayed ACKs, ~20 ms per model call).
//!
//! 1. Turns: `AskAssistant` through the system's router (the six subgraphs in this process,
//!    as the tests run them), from 1 client (`BENCH_SINGLE_ROUNDS` conversations one after
//!    the other) and then from 50 customers at once, each one conversation of 10 turns
//!    ("find tea", follow-ups that search, view the cart or list the orders: 2 model calls
//!    each), then 4 proposals each ("buy 1 longjing tea": 3 model calls). Overhead per turn
//!    = its latency − model calls × 200 ms; the sandbox counts the model calls (per turn for
//!    1 client; per row for 50, where they must add up to the script's).
//! 2. Streams: `StreamAssistant` subscriptions ("find tea") over WebSocket, through a router
//!    and an assistant subgraph process that serve nothing else (`mall subgraph assistant`
//!    on the system's database, Redis and router): 200 on one socket per customer (50
//!    sockets), then 200 more on a socket each, all open together. The resident memory
//!    (`/proc/<pid>/status` `VmRSS`) of both processes is read before, after each step once
//!    the sandbox counts every open stream's model call in flight, and after all completed.
//!    `BENCH_BROADCAST_CAPACITY=32` runs that router with another
//!    `subscriptions.broadcast_capacity` (the repository's is 1024).
//!
//! Run: `cargo bench --bench assistant` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_TURNS` per conversation (default 10), `BENCH_CLIENTS`
//! (default 50), `BENCH_PROPOSALS` per client (default 4), `BENCH_SINGLE_ROUNDS` (default 3),
//! `BENCH_STREAMS` (default 200 in each step).

mod load;
use e2e_harness as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assistant_subgraph::config::AssistantSettings;
use assistant_subgraph::sandbox_model::SandboxModel;
use futures::StreamExt as _;
use load::{Latencies, env_number};
use serde_json::{Value, json};
use support::live::{Delivery, WebSocketClient};
use support::{Options, System, contract_operation};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// The sandbox's delay before each answer during the turns.
const TURN_LATENCY: Duration = Duration::from_millis(200);
/// ... and while the streams are measured: long enough for all of them to be open at once.
const STREAM_LATENCY: Duration = Duration::from_secs(5);
/// Set in the helper process's environment.
const HELPER_ENV: &str = "ASSISTANT_BENCH_HELPER";

/// One conversation's messages in order, with the model calls the script answers each with.
const TURNS: [(&str, u64); 10] = [
    ("find tea", 2),
    ("find longjing tea", 2),
    ("show my cart", 2),
    ("find green tea", 2),
    ("my orders", 2),
    ("find tea", 2),
    ("find jasmine tea", 2),
    ("show my cart", 2),
    ("find pu'er tea", 2),
    ("my orders", 2),
];
const PROPOSAL: (&str, u64) = ("buy 1 longjing tea", 3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os(HELPER_ENV).is_some() {
        runtime.block_on(helper::run());
    } else {
        runtime.block_on(run());
    }
}

async fn run() {
    let turns = env_number("BENCH_TURNS", TURNS.len() as u64) as usize;
    let clients = env_number("BENCH_CLIENTS", 50) as usize;
    let proposals = env_number("BENCH_PROPOSALS", 4) as usize;
    let streams = env_number("BENCH_STREAMS", 200) as usize;
    let single_rounds = env_number("BENCH_SINGLE_ROUNDS", 3);
    let script: Vec<(&str, u64)> = TURNS.iter().copied().cycle().take(turns).collect();
    let proposal_script = vec![PROPOSAL; proposals];

    let mut helper = Helper::start().await;
    let url = helper.model_url.clone();
    let system = System::start_with(Options {
        service_config: Some(Arc::new(move |config| {
            config
                .change::<AssistantSettings>(|s| {
                    s.model_url = Some(url.clone());
                    s.messages_per_minute = 100_000;
                    s.token_budget = i64::MAX;
                })
                .expect("assistant settings");
        })),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let tokens: Vec<String> = futures::stream::iter(0..clients)
        .map(|c| {
            let system = &system;
            async move {
                system
                    .register(&format!("assistant-bench-{c}@example.com"))
                    .await
            }
        })
        .buffered(4)
        .collect()
        .await;
    // A saved address each: a proposal to place an order ships there.
    for token in &tokens {
        let added = system
            .graphql_as(
                token,
                "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
                json!({ "i": { "recipient": "Bench", "phone": "13800000000", "province": "Zhejiang",
                               "city": "Hangzhou", "district": "Xihu", "line1": "1 Bench Road",
                               "isDefault": true } }),
            )
            .await;
        assert!(added["errors"].is_null(), "{added}");
    }
    println!(
        "{} customers registered in {:.1} s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );

    // Streams first (the helper's sandbox then waits 5 s per call), then turns (200 ms).
    let (memory, streams_summary) = streams_memory(&system, &mut helper, &tokens, streams).await;

    // Turns, at 200 ms a model call.
    helper.latency(TURN_LATENCY).await;
    let client = reqwest::Client::new();
    let ask = contract_operation("AskAssistant");
    let conversation = |token: String, script: Vec<(&'static str, u64)>| {
        let (client, ask, url) = (client.clone(), ask.clone(), system.router_url.clone());
        async move { converse(&client, &url, &ask, &token, &script).await }
    };
    // Warm-up: one conversation per customer, one turn (their first conversation row).
    let warm = futures::future::join_all(
        tokens
            .iter()
            .map(|t| conversation(t.clone(), vec![TURNS[0]])),
    )
    .await;
    assert!(
        warm.iter().flatten().all(|t| t.ok),
        "warm-up turns must succeed"
    );
    let mut rows = Vec::new();
    for (name, script) in [
        ("find & follow-ups", &script),
        ("proposal", &proposal_script),
    ] {
        // One client, one conversation after another: the model calls of each turn
        // counted by the sandbox.
        let started = Instant::now();
        let mut samples = Vec::new();
        for _ in 0..single_rounds {
            let mut conversation_id: Option<String> = None;
            for &(text, expected) in script {
                let before = helper.requests().await;
                let sample = turn(
                    &client,
                    &system.router_url,
                    &ask,
                    &tokens[0],
                    conversation_id.as_deref(),
                    text,
                    expected,
                )
                .await;
                let calls = helper.requests().await - before;
                conversation_id = conversation_id.or(sample.conversation.clone());
                samples.push(TurnSample { calls, ..sample });
            }
        }
        rows.push(TurnRow::of(
            name,
            1,
            samples,
            started.elapsed().as_secs_f64(),
            None,
        ));
        // All clients at once: the row's model calls must be the script's.
        let before = helper.requests().await;
        let started = Instant::now();
        let all = futures::future::join_all(
            tokens
                .iter()
                .map(|t| tokio::spawn(conversation(t.clone(), script.clone()))),
        )
        .await;
        let seconds = started.elapsed().as_secs_f64();
        let counted = helper.requests().await - before;
        let samples: Vec<TurnSample> = all
            .into_iter()
            .flat_map(|r| r.expect("conversation task"))
            .collect();
        rows.push(TurnRow::of(
            name,
            tokens.len(),
            samples,
            seconds,
            Some(counted),
        ));
    }

    println!();
    println!(
        "Turns through the router (AskAssistant), sandbox model at {} ms a call; \
         overhead = latency − model calls × {} ms",
        TURN_LATENCY.as_millis(),
        TURN_LATENCY.as_millis()
    );
    println!();
    println!(
        "| turns | clients | turns | model calls / turn | turns/s | latency p50 / p99 ms | overhead p50 / p99 / max ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", row.line());
    }
    let ratio = |name: &str| {
        let of = |clients: usize| {
            rows.iter()
                .find(|r| r.name == name && (r.clients == 1) == (clients == 1))
                .map_or(f64::NAN, |r| r.overhead.percentile(0.5))
        };
        of(clients) / of(1)
    };
    println!();
    println!(
        "Overhead p50, {clients} clients ÷ 1 client: find & follow-ups ×{:.2}, proposal ×{:.2}",
        ratio("find & follow-ups"),
        ratio("proposal")
    );
    println!();
    println!(
        "Memory per open reply stream (StreamAssistant over WebSocket, sandbox model at {} s a call; \
         VmRSS of an assistant subgraph process and a router serving only the streams)",
        STREAM_LATENCY.as_secs()
    );
    println!();
    println!(
        "| streams | sockets | assistant MiB before → open | router MiB before → open | assistant KiB / stream | router KiB / stream |"
    );
    println!("|---|---|---|---|---|---|");
    for row in &memory {
        println!("{}", row.line());
    }
    println!();
    println!("{streams_summary}");
    drop(helper);
    system.stop().await;
}

/// Opens the reply streams through a router and an assistant subgraph of their own (a
/// `mall subgraph assistant` process beside this system, on its database, Redis and router
/// for the tools; the helper's sandbox as its model), so that the memory read is theirs
/// alone: this process also holds the five other subgraphs, and its allocator's retained
/// memory moved by tens of MiB without them. Both sets stay open together: each step is
/// measured while the processes grow to a new high, so neither reuses what the other freed.
/// The rows, and a line on how they went.
async fn streams_memory(
    system: &System,
    helper: &mut Helper,
    tokens: &[String],
    streams: usize,
) -> (Vec<MemoryRow>, String) {
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut assistant = tokio::process::Command::new(&*support::MALL_BIN)
        .args(["subgraph", "assistant"])
        .env("DATABASE_URL", &system.database.url)
        .env("REDIS_PREFIX", &system.redis_prefix)
        .env("ASSISTANT_SUBGRAPH_ADDR", format!("127.0.0.1:{port}"))
        .env("ROUTER_URL", &system.router_url)
        .env("SEED_DEMO_DATA", "false")
        .env("ASSISTANT_MODEL_URL", &helper.model_url)
        .env("ASSISTANT_MESSAGES_PER_MINUTE", "100000")
        .env("ASSISTANT_TOKEN_BUDGET", i64::MAX.to_string())
        .env("LOG_LEVEL", "warn")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("assistant subgraph process");
    douyin_mall::wait_until_ready(&format!("{base}/health"), Duration::from_secs(60))
        .await
        .expect("assistant subgraph ready");
    let mut router_env = vec![("ASSISTANT_SUBGRAPH_URL", format!("{base}/graphql"))];
    let dir = tempfile::tempdir().expect("temporary directory");
    if let Ok(capacity) = std::env::var("BENCH_BROADCAST_CAPACITY") {
        let file = router_config_with_capacity(dir.path(), &capacity);
        router_env.push((router::CONFIG_ENV, file.to_string_lossy().into_owned()));
    }
    let (mut router, router_url) = system.start_another_router_with(&router_env).await;
    let pids = (
        assistant.id().expect("assistant pid"),
        router.id().expect("router pid"),
    );

    // A few first, at the turns' latency: the router's plan, the subgraph's sockets and
    // pools are not counted.
    helper.latency(TURN_LATENCY).await;
    let few = tokens.len().min(10);
    helper
        .call(json!({ "open": { "router": router_url, "tokens": &tokens[..few], "sockets": few, "per_socket": 1 } }))
        .await;
    let warm_up = helper.call(json!({ "finish": true })).await;
    assert_eq!(warm_up["completed"], few, "warm-up streams: {warm_up}");
    helper.latency(STREAM_LATENCY).await;

    let per_customer = streams.div_ceil(tokens.len());
    let baseline = quiet_rss(&base, &router_url, pids).await;
    let opened = Instant::now();
    let mut memory = Vec::new();
    let (mut before, mut open_total) = (baseline, 0);
    for (sockets, per_socket) in [(tokens.len(), per_customer), (streams, 1)] {
        let k = sockets * per_socket;
        let open = helper
            .call(json!({ "open": { "router": router_url, "tokens": tokens, "sockets": sockets, "per_socket": per_socket } }))
            .await;
        open_total += k;
        // Every stream's turn is waiting on the model: all of them are open end to end.
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut in_flight = 0;
        while Instant::now() < deadline {
            in_flight = helper.call(json!({ "status": true })).await["in_flight"]
                .as_u64()
                .unwrap_or(0);
            if in_flight >= open_total as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let during = rss_of(pids);
        let measured_ms = opened.elapsed().as_millis() as u64;
        println!(
            "{k} streams on {sockets} sockets subscribed in {} ms; {in_flight} model calls in flight at {measured_ms} ms",
            open["opened_ms"]
        );
        memory.push(MemoryRow {
            k,
            sockets,
            before,
            during,
            in_flight_ok: in_flight >= open_total as u64,
            measured_ms,
        });
        before = during;
    }
    let finished = helper.call(json!({ "finish": true })).await;
    let after = quiet_rss(&base, &router_url, pids).await;
    let first_complete_ms = finished["first_complete_ms"].as_u64().unwrap_or(0);
    let all_open = memory
        .iter()
        .all(|row| row.in_flight_ok && row.measured_ms < first_complete_ms);
    println!("streams finished: {finished}");
    let _ = router.start_kill();
    let _ = assistant.start_kill();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let summary = format!(
        "All {open_total} open at once when measured: {}; {} of {open_total} completed with their message ({} errors). \
         Resident after they completed: assistant {:.1} MiB, router {:.1} MiB (before: {:.1}, {:.1}).",
        if all_open { "yes" } else { "NO" },
        finished["with_message"],
        finished["errors"],
        mib(after.0),
        mib(after.1),
        mib(baseline.0),
        mib(baseline.1),
    );
    (memory, summary)
}

/// One turn as the client saw it.
#[derive(Clone)]
struct TurnSample {
    micros: u64,
    /// Model calls: counted by the sandbox (1 client) or the script's (many).
    calls: u64,
    ok: bool,
    conversation: Option<String>,
}

/// The turns of `script` in one conversation (the first starts it).
async fn converse(
    client: &reqwest::Client,
    url: &str,
    ask: &str,
    token: &str,
    script: &[(&str, u64)],
) -> Vec<TurnSample> {
    let mut conversation: Option<String> = None;
    let mut samples = Vec::with_capacity(script.len());
    for &(text, calls) in script {
        let sample = turn(
            client,
            url,
            ask,
            token,
            conversation.as_deref(),
            text,
            calls,
        )
        .await;
        conversation = conversation.or(sample.conversation.clone());
        samples.push(sample);
    }
    samples
}

/// Sends one message; checks the reply (text; products for a search, a proposal for a buy).
async fn turn(
    client: &reqwest::Client,
    url: &str,
    ask: &str,
    token: &str,
    conversation: Option<&str>,
    text: &str,
    calls: u64,
) -> TurnSample {
    let sent = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({
            "query": ask,
            "variables": { "input": { "conversationId": conversation, "text": text } },
        }))
        .send()
        .await;
    let body = match response {
        Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let micros = sent.elapsed().as_micros() as u64;
    let message = &body["data"]["sendAssistantMessage"];
    let has_products = message["products"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let ok = body["errors"].is_null()
        && message["text"].as_str().is_some_and(|t| !t.is_empty())
        && (!text.starts_with("find tea") || has_products)
        && (!text.starts_with("buy ") || message["action"]["status"] == "PROPOSED");
    if !ok {
        eprintln!("turn {text:?} failed: {body}");
    }
    TurnSample {
        micros,
        calls,
        ok,
        conversation: message["conversationId"].as_str().map(str::to_owned),
    }
}

struct TurnRow {
    name: &'static str,
    clients: usize,
    latency: Latencies,
    overhead: Latencies,
    calls_per_turn: f64,
    /// Model calls counted in a row of many clients, against the script's.
    counted: Option<(u64, u64)>,
}

impl TurnRow {
    fn of(
        name: &'static str,
        clients: usize,
        samples: Vec<TurnSample>,
        seconds: f64,
        counted: Option<u64>,
    ) -> Self {
        let errors = samples.iter().filter(|s| !s.ok).count();
        let ok: Vec<&TurnSample> = samples.iter().filter(|s| s.ok).collect();
        let model_micros = TURN_LATENCY.as_micros() as u64;
        let calls: u64 = samples.iter().map(|s| s.calls).sum();
        let latencies = |f: &dyn Fn(&TurnSample) -> u64| {
            let mut micros: Vec<u64> = ok.iter().map(|s| f(s)).collect();
            micros.sort_unstable();
            Latencies {
                micros,
                errors,
                seconds,
            }
        };
        TurnRow {
            name,
            clients,
            latency: latencies(&|s| s.micros),
            overhead: latencies(&|s| s.micros.saturating_sub(s.calls * model_micros)),
            calls_per_turn: counted.unwrap_or(calls) as f64 / samples.len().max(1) as f64,
            counted: counted.map(|c| (c, calls)),
        }
    }

    fn line(&self) -> String {
        let calls = match self.counted {
            Some((counted, expected)) if counted != expected => {
                format!("{:.2} (script: {expected})", self.calls_per_turn)
            }
            _ => format!("{:.2}", self.calls_per_turn),
        };
        format!(
            "| {} | {} | {} | {calls} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {} |",
            self.name,
            self.clients,
            self.latency.micros.len() + self.latency.errors,
            self.latency.rps(),
            self.latency.percentile(0.5),
            self.latency.percentile(0.99),
            self.overhead.percentile(0.5),
            self.overhead.percentile(0.99),
            self.overhead.percentile(1.0),
            self.latency.errors,
        )
    }
}

struct MemoryRow {
    k: usize,
    sockets: usize,
    /// (this process, router) in KiB.
    before: (u64, u64),
    during: (u64, u64),
    /// The sandbox counted every open stream's model call in flight.
    in_flight_ok: bool,
    measured_ms: u64,
}

impl MemoryRow {
    fn line(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let per = |during: u64, before: u64| (during as f64 - before as f64) / self.k as f64;
        format!(
            "| {} | {} | {:.1} → {:.1} | {:.1} → {:.1} | {:.1} | {:.1} |",
            self.k,
            self.sockets,
            mib(self.before.0),
            mib(self.during.0),
            mib(self.before.1),
            mib(self.during.1),
            per(self.during.0, self.before.0),
            per(self.during.1, self.before.1),
        )
    }
}

/// The repository's router configuration with another `subscriptions.broadcast_capacity`
/// (its relative paths made absolute), written into `dir`.
fn router_config_with_capacity(dir: &std::path::Path, capacity: &str) -> std::path::PathBuf {
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
        text = text.replace(relative, base.join(relative).to_str().expect("UTF-8 path"));
    }
    let line = "  broadcast_capacity: 1024\n";
    assert!(
        text.contains(line),
        "router.config.yaml's broadcast_capacity changed: adapt this"
    );
    let text = text.replacen(line, &format!("  broadcast_capacity: {capacity}\n"), 1);
    let file = dir.join("router.config.yaml");
    std::fs::write(&file, text).expect("router config written");
    file
}

/// Resident memory of the streams' assistant process and router, KiB.
fn rss_of((assistant, router): (u32, u32)) -> (u64, u64) {
    (rss_kib(assistant), rss_kib(router))
}

/// [`rss_of`] once it has stopped moving: within 512 KiB over four readings 250 ms apart,
/// or after 20 s. Between readings a few requests reach both processes: the allocator
/// returns freed memory to the system on its next calls after a short delay, so a process
/// left idle keeps showing what it has already freed.
async fn quiet_rss(assistant: &str, router_url: &str, pids: (u32, u32)) -> (u64, u64) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut readings = std::collections::VecDeque::new();
    loop {
        futures::future::join_all((0..20).map(|_| async {
            let _ = client.get(format!("{assistant}/health")).send().await;
            // Refused by the assistant (anonymous), after the router has planned it.
            load::post(
                &client,
                router_url,
                None,
                "{ assistantConversation(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
                json!({}),
            )
            .await;
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_of(pids);
        readings.push_back(now);
        if readings.len() > 4 {
            readings.pop_front();
        }
        let spread = |f: fn(&(u64, u64)) -> u64| {
            let values = readings.iter().map(f);
            values.clone().max().unwrap_or(0) - values.min().unwrap_or(0)
        };
        if (readings.len() == 4 && spread(|r| r.0) < 512 && spread(|r| r.1) < 512)
            || Instant::now() > deadline
        {
            return now;
        }
    }
}

/// Resident memory of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The helper process, from this side: one JSON line per command, one per answer.
struct Helper {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    model_url: String,
}

impl Helper {
    async fn start() -> Self {
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("this binary"))
            .env(HELPER_ENV, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("helper process");
        let stdin = child.stdin.take().expect("helper stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("helper stdout")).lines();
        let first = lines
            .next_line()
            .await
            .expect("helper output")
            .expect("the helper's model URL");
        let model_url: Value = serde_json::from_str(&first).expect("JSON");
        Self {
            child,
            stdin,
            lines,
            model_url: model_url["model_url"]
                .as_str()
                .expect("model URL")
                .to_owned(),
        }
    }

    async fn call(&mut self, command: Value) -> Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("to the helper");
        let answer = self
            .lines
            .next_line()
            .await
            .expect("helper output")
            .expect("an answer from the helper");
        serde_json::from_str(&answer).expect("JSON")
    }

    async fn latency(&mut self, latency: Duration) {
        self.call(json!({ "latency_ms": latency.as_millis() as u64 }))
            .await;
    }

    /// Model calls the sandbox has answered so far.
    async fn requests(&mut self) -> u64 {
        self.call(json!({ "status": true })).await["requests"]
            .as_u64()
            .expect("requests")
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The other process: the sandbox model (behind a delay this side sets) and the stream
/// clients. Reads commands from stdin, answers each with one line on stdout.
mod helper {
    use super::*;

    use axum::extract::{Request, State};
    use axum::middleware::Next;
    use axum::response::Response;

    /// The delay before each model answer, and the answers under way.
    #[derive(Default)]
    struct Gate {
        latency_ms: AtomicU64,
        in_flight: AtomicU64,
    }

    struct InFlight(Arc<Gate>);

    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn delay(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
        gate.in_flight.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight(gate.clone());
        let latency = gate.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        next.run(request).await
    }

    /// What one socket's subscriptions got.
    #[derive(Default)]
    struct Outcome {
        completed: u64,
        with_message: u64,
        errors: u64,
        first_complete: Option<Duration>,
    }

    pub async fn run() {
        // The sandbox answers at once; the gate waits first, as `SandboxModel::new(latency)`
        // would, but the bench can change how long between its measurements.
        let sandbox = SandboxModel::new(Duration::ZERO);
        let gate = Arc::new(Gate::default());
        let app = sandbox
            .routes()
            .layer(axum::middleware::from_fn_with_state(gate.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("model port");
        let address = listener.local_addr().expect("model address");
        let nodelay = std::env::var("BENCH_MODEL_NODELAY").map_or(true, |v| v != "0");
        let listener = axum::serve::ListenerExt::tap_io(listener, move |tcp| {
            if nodelay {
                let _ = tcp.set_nodelay(true);
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut out = tokio::io::stdout();
        let say = |value: Value| format!("{value}\n");
        out.write_all(say(json!({ "model_url": format!("http://{address}/v1") })).as_bytes())
            .await
            .expect("stdout");
        out.flush().await.expect("stdout");

        let stream = contract_operation("StreamAssistant");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut sockets: Vec<tokio::task::JoinHandle<Outcome>> = Vec::new();
        let mut opened_at = Instant::now();
        while let Ok(Some(line)) = lines.next_line().await {
            let command: Value = serde_json::from_str(&line).expect("a JSON command");
            let answer = if let Some(ms) = command["latency_ms"].as_u64() {
                gate.latency_ms.store(ms, Ordering::SeqCst);
                json!({ "latency_ms": ms })
            } else if command["status"].as_bool() == Some(true) {
                json!({
                    "requests": sandbox.requests(),
                    "in_flight": gate.in_flight.load(Ordering::SeqCst),
                })
            } else if let Some(open) = command.get("open") {
                opened_at = Instant::now();
                let (subscribed, mut ready) = tokio::sync::mpsc::unbounded_channel();
                let connecting = Arc::new(tokio::sync::Semaphore::new(16));
                let tokens = open["tokens"].as_array().expect("tokens").clone();
                let count = open["sockets"].as_u64().expect("sockets") as usize;
                let per_socket = open["per_socket"].as_u64().expect("per_socket") as usize;
                for s in 0..count {
                    let router = open["router"].as_str().expect("router").to_owned();
                    let token = tokens[s % tokens.len()].as_str().expect("token").to_owned();
                    let (stream, subscribed, connecting) =
                        (stream.clone(), subscribed.clone(), connecting.clone());
                    sockets.push(tokio::spawn(async move {
                        let permit = connecting.acquire_owned().await.expect("semaphore");
                        let mut client = WebSocketClient::connect(&router, Some(&token)).await;
                        for id in 0..per_socket {
                            let variables = json!({ "input": { "text": "find tea" } });
                            client.subscribe(&id.to_string(), &stream, variables).await;
                        }
                        drop(permit);
                        let _ = subscribed.send(());
                        let mut outcome = Outcome::default();
                        while outcome.completed < per_socket as u64 {
                            match client.next(Duration::from_secs(60)).await {
                                Some((_, Delivery::Next(payload))) => {
                                    let reply = &payload["data"]["assistantReply"];
                                    if !payload["errors"].is_null() {
                                        outcome.errors += 1;
                                    } else if reply["message"]["text"].is_string() {
                                        outcome.with_message += 1;
                                    }
                                }
                                Some((_, Delivery::Error(_))) => outcome.errors += 1,
                                Some((_, Delivery::Complete)) => {
                                    outcome.completed += 1;
                                    outcome.first_complete.get_or_insert(opened_at.elapsed());
                                }
                                None => break,
                            }
                        }
                        outcome
                    }));
                }
                drop(subscribed);
                // One signal per socket once its subscriptions are sent (none from a socket
                // that failed: the channel then closes early).
                let mut open_sockets = 0;
                while open_sockets < count && ready.recv().await.is_some() {
                    open_sockets += 1;
                }
                json!({ "opened_ms": opened_at.elapsed().as_millis() as u64, "sockets": open_sockets })
            } else if command["finish"].as_bool() == Some(true) {
                let mut total = Outcome::default();
                let mut failed_sockets = 0;
                for socket in sockets.drain(..) {
                    match socket.await {
                        Ok(outcome) => {
                            total.completed += outcome.completed;
                            total.with_message += outcome.with_message;
                            total.errors += outcome.errors;
                            total.first_complete =
                                match (total.first_complete, outcome.first_complete) {
                                    (Some(a), Some(b)) => Some(a.min(b)),
                                    (a, b) => a.or(b),
                                };
                        }
                        Err(_) => failed_sockets += 1,
                    }
                }
                json!({
                    "completed": total.completed,
                    "with_message": total.with_message,
                    "errors": total.errors,
                    "failed_sockets": failed_sockets,
                    "first_complete_ms": total.first_complete.map(|d| d.as_millis() as u64),
                    "done_ms": opened_at.elapsed().as_millis() as u64,
                })
            } else {
                json!({ "unknown": command })
            };
            out.write_all(say(answer).as_bytes()).await.expect("stdout");
            out.flush().await.expect("stdout");
        }
    }
}
