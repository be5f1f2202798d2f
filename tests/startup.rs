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
    let database = TestDatabase::create(&douyin_mall::SUBGRAPHS.map(|s| s.database))
        .await
        .unwrap();
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
