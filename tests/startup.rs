//! `cargo run` (the `mall` binary) when PostgreSQL or Redis cannot be reached: one clear
//! message naming the URL it tried and how to provide another; no panic, no backtrace.

mod support;

use std::process::Output;
use std::time::Duration;

use support::{MALL_BIN, free_port};
use test_support::TestDatabase;

async fn run_mall(envs: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(MALL_BIN);
    command
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    // Subgraph ports nobody uses, in case start-up got as far as listening.
    for name in ["USER", "CATALOG", "CART", "ORDER", "PAYMENT"] {
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
    let own_key = include_str!("../crates/auth/dev-keys/ed25519-second.pem").to_owned();
    let strong_token = "x".repeat(40);
    let production = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut envs = vec![
            ("DATABASE_URL", database.url.clone()),
            ("MALL_ENV", "production".to_owned()),
            ("SEED_DEMO_DATA", "false".to_owned()),
            ("AUTH_SIGNING_KEY", own_key.clone()),
            ("INTERNAL_API_TOKEN", strong_token.clone()),
            ("PAYMENT_WEBHOOK_SECRET", strong_token.clone()),
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
    let port = free_port();
    let mut command = tokio::process::Command::new(MALL_BIN);
    command
        .env("DATABASE_URL", &database.url)
        .env("REDIS_PREFIX", test_support::redis_prefix())
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    for name in ["USER", "CATALOG", "CART", "ORDER", "PAYMENT"] {
        command.env(
            format!("{name}_SUBGRAPH_ADDR"),
            format!("127.0.0.1:{}", free_port()),
        );
    }
    let mut mall = command.spawn().expect("mall runs");
    let mut lines = BufReader::new(mall.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let running = line.contains("Douyin Mall is running");
            seen.push(line);
            if running {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("mall did not start: {seen:?}"));
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
