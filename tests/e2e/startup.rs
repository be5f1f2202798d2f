//! `cargo run` (the `mall` binary) when PostgreSQL or Redis cannot be reached: one clear
//! message naming the URL it tried and how to provide another; no panic, no backtrace.

use crate::support;

use std::process::Output;
use std::time::Duration;

use support::{MALL_BIN, free_port};
use test_support::TestDatabase;

async fn run_mall(envs: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(&*MALL_BIN);
    command
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    // Subgraph ports nobody uses, in case start-up got as far as listening.
    for name in ["USER", "CATALOG", "CART", "ORDER", "PAYMENT", "ASSISTANT"] {
        command.env(
            format!("{name}_SUBGRAPH_ADDR"),
            format!("127.0.0.1:{}", free_port()),
        );
    }
    command.envs(envs.iter().map(|(k, v)| (*k, v.as_str())));
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("mall exits instead of hanging")
        .expect("mall runs")
}

/// A migrated database of its own.
async fn fresh_database() -> TestDatabase {
    TestDatabase::create(&douyin_mall::SUBGRAPHS.map(|s| s.database))
        .await
        .expect("test database")
}

fn assert_clean_failure(output: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status; stderr: {stderr}"
    );
    for text in expected {
        assert!(
            stderr.contains(text),
            "stderr should contain {text:?}: {stderr}"
        );
    }
    for forbidden in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(forbidden),
            "stderr should not contain {forbidden:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_postgres_exits_with_one_clear_message() {
    let url = format!("postgres://postgres@127.0.0.1:{}/mall", free_port());
    let output = run_mall(&[("DATABASE_URL", url.clone())]).await;
    assert_clean_failure(
        &output,
        &[
            &format!("cannot connect to PostgreSQL at {url}"),
            "DATABASE_URL=",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_redis_exits_with_one_clear_message() {
    let database = fresh_database().await;
    let url = format!("redis://127.0.0.1:{}", free_port());
    let output = run_mall(&[
        ("DATABASE_URL", database.url.clone()),
        ("REDIS_URL", url.clone()),
    ])
    .await;
    assert_clean_failure(
        &output,
        &[&format!("cannot connect to Redis at {url}"), "REDIS_URL="],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_database_url_is_not_printed() {
    let url = format!("postgres://app:s3cret@127.0.0.1:{}/mall", free_port());
    let output = run_mall(&[("DATABASE_URL", url)]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(stderr.contains("postgres://app:***@127.0.0.1"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_redis_url_is_not_printed() {
    let database = fresh_database().await;
    let url = format!("redis://:r3dis-s3cret@127.0.0.1:{}", free_port());
    let output = run_mall(&[("DATABASE_URL", database.url.clone()), ("REDIS_URL", url)]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("r3dis-s3cret"), "{stderr}");
    assert!(stderr.contains("redis://:***@127.0.0.1"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn production_mode_refuses_development_secrets_and_demo_data() {
    let database = fresh_database().await;
    let own_key = include_str!("../../crates/auth/dev-keys/ed25519-second.pem").to_owned();
    let strong_token = "x".repeat(40);
    let production = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut envs = vec![
            ("DATABASE_URL", database.url.clone()),
            ("MALL_ENV", "production".to_owned()),
            ("SEED_DEMO_DATA", "false".to_owned()),
            ("AUTH_SIGNING_KEY", own_key.clone()),
            ("INTERNAL_API_TOKEN", strong_token.clone()),
            ("PAYMENT_WEBHOOK_SECRET", strong_token.clone()),
            ("METRICS_TOKEN", strong_token.clone()),
            // A real model endpoint (nothing calls it before start-up fails).
            (
                "ASSISTANT_MODEL_URL",
                "https://ark.cn-beijing.volces.com/api/v3".to_owned(),
            ),
        ];
        for (name, value) in extra {
            envs.retain(|(n, _)| n != name);
            envs.push((name, value.clone()));
        }
        envs
    };
    let cases = [
        (
            production(&[("AUTH_SIGNING_KEY", String::new())]),
            "needs AUTH_SIGNING_KEY",
        ),
        (
            production(&[(
                "AUTH_SIGNING_KEY",
                auth::keys::DEV_SIGNING_KEY_PEM.to_owned(),
            )]),
            "development signing key",
        ),
        (
            production(&[("SEED_DEMO_DATA", "true".to_owned())]),
            "refuses demo data",
        ),
        (
            production(&[("INTERNAL_API_TOKEN", String::new())]),
            "needs INTERNAL_API_TOKEN",
        ),
        (
            production(&[("INTERNAL_API_TOKEN", "short".to_owned())]),
            "needs INTERNAL_API_TOKEN",
        ),
        (
            production(&[("PAYMENT_WEBHOOK_SECRET", String::new())]),
            "needs PAYMENT_WEBHOOK_SECRET",
        ),
        (
            production(&[("METRICS_TOKEN", String::new())]),
            "needs METRICS_TOKEN",
        ),
        (
            production(&[("PAYMENT_SANDBOX_GATEWAY", "true".to_owned())]),
            "refuses PAYMENT_SANDBOX_GATEWAY=true",
        ),
        (
            production(&[("ASSISTANT_MODEL_URL", String::new())]),
            "needs ASSISTANT_MODEL_URL",
        ),
        (
            production(&[("MALL_ENV", "staging".to_owned())]),
            "MALL_ENV=\"staging\" is not valid",
        ),
    ];
    for (envs, expected) in cases {
        let output = run_mall(&envs).await;
        assert_clean_failure(&output, &[expected]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_mall_stops_the_router_gracefully() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let database = fresh_database().await;
    // Ports are chosen free, then bound by mall a moment later: another test may take one
    // in between. Mall then exits at once saying which; such a start is tried again.
    let mut tries = 0;
    let (mut mall, mut lines) = loop {
        tries += 1;
        let mut command = tokio::process::Command::new(&*MALL_BIN);
        command
            .env("DATABASE_URL", &database.url)
            .env("REDIS_PREFIX", test_support::redis_prefix())
            .env("PORT", free_port().to_string())
            .env("RUST_LOG", "warn")
            .env("LOG_LEVEL", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for name in ["USER", "CATALOG", "CART", "ORDER", "PAYMENT", "ASSISTANT"] {
            command.env(
                format!("{name}_SUBGRAPH_ADDR"),
                format!("127.0.0.1:{}", free_port()),
            );
        }
        let mut mall = command.spawn().expect("mall runs");
        let mut lines = BufReader::new(mall.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let running = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let running = line.contains("Douyin Mall is running");
                seen.push(line);
                if running {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or_else(|_| panic!("mall did not start: {seen:?}"));
        if running {
            // Read on, so that mall never blocks on a full pipe.
            if let Some(mut errors) = mall.stderr.take() {
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut errors, &mut tokio::io::sink()).await;
                });
            }
            break (mall, lines);
        }
        let output = mall.wait_with_output().await.unwrap();
        let errors = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            errors.contains("cannot listen") && tries < 3,
            "mall exited before it ran ({}): {seen:?} {errors}",
            output.status
        );
    };
    let pid = mall.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let rest = tokio::time::timeout(Duration::from_secs(40), async {
        let mut rest = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .expect("mall stops within 40 s");
    let status = mall.wait().await.unwrap();
    assert!(status.success(), "{status}: {rest:?}");
    assert!(
        rest.iter()
            .any(|line| line.contains("the router stopped cleanly")),
        "{rest:?}"
    );
}

/// A subgraph replica told to stop drains: `/ready` says 503 at once while requests are
/// still answered for its delay, an open WebSocket is closed with 1001 (its client
/// subscribes again elsewhere), and the request in flight (an update waiting for a row
/// lock) finishes with its answer. A request that outlasts the timeout does not hold the
/// stop: the replica stops while it is still waiting.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_subgraph_drains_within_its_timeout() {
    use diesel::sql_types::Uuid as SqlUuid;
    use diesel_async::{RunQueryDsl as _, SimpleAsyncConnection as _};
    use futures::{SinkExt as _, StreamExt as _};
    use service_kit::http::StopSettings;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    const UPDATE: &str = "mutation($id: ID!, $price: Int!) { updateProduct(id: $id, input: { price: $price }) { price { amount } } }";
    let system = support::System::start().await;
    let admin = system.admin_token().await;
    let listed = system
        .graphql(
            "{ products(first: 1) { edges { node { id } } } }",
            serde_json::json!({}),
        )
        .await;
    let product = listed["data"]["products"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{listed}"))
        .to_owned();
    let product_id: uuid::Uuid = product.parse().unwrap();
    let replica = |timeout: u64| {
        let config = service_kit::ServiceConfig {
            stop: StopSettings {
                delay: Duration::from_secs(1),
                timeout: Duration::from_secs(timeout),
            },
            ..system.replica_config(([127, 0, 0, 1], 0).into())
        };
        async move {
            douyin_mall::serve_subgraph(&catalog_subgraph::SUBGRAPH, &config)
                .await
                .expect("replica starts")
        }
    };
    // Holds the product's row until `release`: an update of it waits meanwhile.
    let lock = || async {
        let mut conn = system.sql("catalog").await;
        conn.batch_execute("BEGIN").await.unwrap();
        diesel::sql_query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE")
            .bind::<SqlUuid, _>(product_id)
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    };
    let update = |addr: std::net::SocketAddr, price: i64| {
        let request = reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .header(
                service_kit::internal::TOKEN_HEADER,
                service_kit::config::DEV_INTERNAL_TOKEN,
            )
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "query": UPDATE,
                "variables": { "id": product, "price": price } }));
        async move {
            let response = request.send().await.expect("answered");
            response.json::<serde_json::Value>().await.expect("JSON")
        }
    };
    // 1. Drained: everything in flight ends well.
    let server = replica(10).await;
    let addr = server.addr;
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = serde_json::json!({ "type": "connection_init", "payload": {
        service_kit::internal::TOKEN_HEADER: service_kit::config::DEV_INTERNAL_TOKEN,
        "Authorization": format!("Bearer {admin}"),
    } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    let mut held = lock().await;
    let in_flight = tokio::spawn(update(addr, 4321));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !in_flight.is_finished(),
        "the update did not wait for the row"
    );
    let stopping = tokio::spawn(server.stop());
    // Readiness says no as soon as the stop has begun (the spawned stop may run after the
    // first look); new requests are still answered during the delay.
    let mut looks = 0;
    let (status, body) = loop {
        let (status, body) = system.get(&format!("http://{addr}/ready")).await;
        looks += 1;
        if status != 200 || looks == 20 {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (status, body.contains("\"stopping\":true")),
        (503, true),
        "{body}"
    );
    let (status, _) = system.get(&format!("http://{addr}/health")).await;
    assert_eq!(status, 200);
    // The WebSocket is closed as "going away".
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("the WebSocket closes while the subgraph stops");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("no close frame: {other:?}"),
    }
    // The update waiting for the row finishes once it is free, and then the replica stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!stopping.is_finished(), "stopped with a request in flight");
    held.batch_execute("COMMIT").await.unwrap();
    let answer = in_flight.await.unwrap();
    assert_eq!(
        answer["data"]["updateProduct"]["price"]["amount"], 4321,
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the replica stops once its requests finished")
        .unwrap();

    // 2. A request that outlasts the timeout (1 s): the replica stops without it.
    let server = replica(1).await;
    let addr = server.addr;
    let mut held = lock().await;
    let in_flight = tokio::spawn(update(addr, 5432));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("the replica stops after its timeout")
        .unwrap();
    assert!(
        !in_flight.is_finished(),
        "the update was answered: it did not outlast the timeout"
    );
    held.batch_execute("ROLLBACK").await.unwrap();
    system.stop().await;
}

/// `mall migrate` (a deployment's migration job): creates the database, applies every
/// subgraph's migrations, and is a no-op the second time; an unknown name is a usage error.
#[tokio::test(flavor = "multi_thread")]
async fn mall_migrate_creates_and_migrates_a_database_once() {
    let name = format!("mall_migrate_{}", uuid::Uuid::new_v4().simple());
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = service_kit::db::with_database(&admin, &name);
    let migrate = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::process::Command::new(&*MALL_BIN)
                .arg("migrate")
                .args(args)
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
                .await
                .expect("mall migrate runs")
        }
    };
    for _ in 0..2 {
        let output = migrate(&[]).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        for subgraph in douyin_mall::SUBGRAPHS {
            assert!(
                stdout.contains(&format!("{}: migrated", subgraph.name)),
                "{stdout}"
            );
        }
    }
    let unknown = migrate(&["nope"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    // The assistant's tables exist.
    let check = tokio::process::Command::new("psql")
        .args([
            url.as_str(),
            "-tAc",
            "SELECT count(*) FROM assistant.conversations",
        ])
        .output()
        .await;
    if let Ok(check) = check {
        assert_eq!(
            String::from_utf8_lossy(&check.stdout).trim(),
            "0",
            "{check:?}"
        );
    }
    let _ = tokio::process::Command::new("psql")
        .args([admin.as_str(), "-c", &format!("DROP DATABASE {name}")])
        .output()
        .await;
}

/// With `ROUTER_SHUTDOWN_DELAY_SECONDS`, a router told to stop first only fails its readiness
/// probe, still answering requests, so that a balancer takes it out of rotation before it
/// refuses anything; then it drains as usual.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_router_fails_readiness_first_and_serves_through_its_delay() {
    let system = support::System::start_with(support::Options {
        router_env: vec![("ROUTER_SHUTDOWN_DELAY_SECONDS", "3")],
        ..Default::default()
    })
    .await;
    let readiness = system.router_url.replace("/graphql", "/readiness");
    let query = serde_json::json!({});
    assert_eq!(system.get(&readiness).await.0, 200);
    let pid = system.router_pid().expect("router running");
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        system.get(&readiness).await.0,
        503,
        "out of rotation at once"
    );
    let served = system.graphql("{ categories { id } }", query.clone()).await;
    assert!(
        served["errors"].is_null(),
        "still serving during the delay: {served}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = reqwest::Client::new()
        .post(&system.router_url)
        .json(&serde_json::json!({ "query": "{ categories { id } }" }))
        .send()
        .await;
    match refused {
        // Draining (503) or already gone: no longer serving.
        Ok(response) => assert_eq!(response.status(), 503),
        Err(error) => assert!(error.is_connect() || error.is_request(), "{error}"),
    }
}
