//! Nothing lost under faults (issue 23): each test reproduces one way money or stock was
//! lost when Redis forgot or rolled back state, or a process or connection failed at the
//! wrong moment, and shows it converges now.

use diesel_async::RunQueryDsl;

use super::support::System;
use super::{buy, checkout, product};

/// Order numbers are `DM` + date + a sequence padded to six digits, never cut: the
/// millionth order and the next get different numbers (`lpad` used to truncate both to
/// `100000`, and every later checkout collided).
#[tokio::test(flavor = "multi_thread")]
async fn order_numbers_stay_unique_past_a_million_orders() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("millionth@example.com").await;
    let item = product(&system, &admin, "Counted", 100, 10).await;
    let mut conn = system.sql("order").await;
    diesel::sql_query("SELECT setval('order_number_seq', 999998)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for i in 0..4 {
        let placed = checkout(
            &system,
            &token,
            buy(&format!("millionth-{i}"), &[(&item, 1)]),
        )
        .await;
        let number = placed["data"]["checkout"]["number"]
            .as_str()
            .unwrap_or_else(|| panic!("checkout {i} failed: {placed}"))
            .to_owned();
        numbers.push(number);
    }
    let suffixes: Vec<&str> = numbers.iter().map(|n| &n[8..]).collect();
    assert_eq!(
        suffixes,
        ["999999", "1000000", "1000001", "1000002"],
        "{numbers:?}"
    );
    system.stop().await;
}
