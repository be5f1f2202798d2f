//! Redis goes down (or silent) and comes back, through the router: browsing goes on from
//! PostgreSQL, what cannot be checked without Redis (a signed-in caller's session, login
//! throttling) is refused with UNAVAILABLE, and every subgraph heals by itself once Redis is
//! back.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Options, RedisProxy, System};
use test_support::error_codes;

const BROWSE: &str = "query($id: ID!) { products(first: 3) { totalCount edges { node { id name price { amount } } } } product(id: $id) { name price { amount } inStock } }";
const CART: &str = "{ cart { totalQuantity items { quantity product { name } } } }";

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_degrades_browsing_and_heals_when_redis_returns() {
    let redis = RedisProxy::start().await;
    let system = System::start_with(Options {
        redis_url: Some(redis.url().to_owned()),
        ..Options::default()
    })
    .await;
    let token = system.demo_customer_token().await;
    let first = system
        .graphql(
            "{ products(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let id = first["data"]["products"]["edges"][0]["node"]["id"].clone();
    let browse = || system.graphql(BROWSE, json!({ "id": id }));
    let before = browse().await;
    assert!(before["errors"].is_null(), "{before}");
    let cart_before = system.graphql_as(&token, CART, json!({})).await;
    assert!(cart_before["errors"].is_null(), "{cart_before}");

    redis.cut().await;
    let during = browse().await;
    assert!(
        during["errors"].is_null(),
        "browsing needs no Redis: {during}"
    );
    assert_eq!(during["data"], before["data"]);
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(error_codes(&cart), ["UNAVAILABLE"], "{cart}");
    assert_eq!(cart["data"]["cart"], Value::Null);
    let login = system
        .graphql(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "email": "demo@douyin-mall.dev", "password": "demo-password" } }),
        )
        .await;
    assert_eq!(error_codes(&login), ["UNAVAILABLE"], "{login}");

    redis.restore().await;
    // No restart: the next requests reconnect. Give the reconnection a few seconds.
    let mut cart = Value::Null;
    for _ in 0..50 {
        cart = system.graphql_as(&token, CART, json!({})).await;
        if cart["errors"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(cart["data"], cart_before["data"], "{cart}");
    assert!(browse().await["errors"].is_null());
    system.stop().await;
}

/// Redis accepts connections but never answers: nothing may wait for it forever. Browsing
/// still answers (the cache gives up quickly and PostgreSQL serves), signed-in requests and
/// login answer UNAVAILABLE from the subgraph (Redis's response timeout) rather than a router
/// timeout, and all of it works again once Redis answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_redis_neither_hangs_requests_nor_breaks_browsing() {
    let redis = RedisProxy::start().await;
    let system = System::start_with(Options {
        redis_url: Some(redis.url().to_owned()),
        ..Options::default()
    })
    .await;
    let token = system.demo_customer_token().await;
    let first = system
        .graphql(
            "{ products(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let id = first["data"]["products"]["edges"][0]["node"]["id"].clone();
    let browse = || system.graphql(BROWSE, json!({ "id": id }));
    let before = browse().await;
    assert!(before["errors"].is_null(), "{before}");
    let cart_before = system.graphql_as(&token, CART, json!({})).await;
    assert!(cart_before["errors"].is_null(), "{cart_before}");

    redis.freeze();
    let during = browse().await;
    assert!(
        during["errors"].is_null(),
        "browsing needs no Redis: {during}"
    );
    assert_eq!(during["data"], before["data"]);
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(error_codes(&cart), ["UNAVAILABLE"], "{cart}");
    assert_eq!(cart["errors"][0]["extensions"]["service"], "cart", "{cart}");

    redis.restore().await;
    let mut cart = Value::Null;
    for _ in 0..50 {
        cart = system.graphql_as(&token, CART, json!({})).await;
        if cart["errors"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(cart["data"], cart_before["data"], "{cart}");
    system.stop().await;
}
