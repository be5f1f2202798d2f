//! Redis goes down (or silent) and comes back, through the router: browsing goes on from
//! PostgreSQL, what cannot be checked without Redis (a signed-in caller's session, login
//! throttling) is refused with UNAVAILABLE, and every subgraph heals by itself once Redis is
//! back. And a service another one calls hangs: the caller's circuit breaker makes its
//! requests fail fast, and closes by itself when the service answers again.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Options, System, TcpProxy};
use test_support::error_codes;

const BROWSE: &str = "query($id: ID!) { products(first: 3) { totalCount edges { node { id name price { amount } } } } product(id: $id) { name price { amount } inStock } }";
const CART: &str = "{ cart { totalQuantity items { quantity product { name } } } }";

/// A system whose subgraphs all reach Redis through a proxy, with what a signed-in customer
/// saw before anything went wrong.
struct Scene {
    redis: TcpProxy,
    system: System,
    token: String,
    product_id: Value,
    browsed: Value,
    cart: Value,
}

impl Scene {
    async fn start() -> Self {
        let redis = TcpProxy::start().await;
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
        let product_id = first["data"]["products"]["edges"][0]["node"]["id"].clone();
        let mut scene = Self {
            redis,
            system,
            token,
            product_id,
            browsed: Value::Null,
            cart: Value::Null,
        };
        scene.browsed = scene.browse().await;
        assert!(scene.browsed["errors"].is_null(), "{}", scene.browsed);
        scene.cart = scene.cart().await;
        assert!(scene.cart["errors"].is_null(), "{}", scene.cart);
        scene
    }

    async fn browse(&self) -> Value {
        self.system
            .graphql(BROWSE, json!({ "id": self.product_id }))
            .await
    }

    async fn cart(&self) -> Value {
        self.system.graphql_as(&self.token, CART, json!({})).await
    }

    /// Browsing answers exactly as before Redis went wrong.
    async fn assert_browsing_unchanged(&self) {
        let during = self.browse().await;
        assert!(
            during["errors"].is_null(),
            "browsing needs no Redis: {during}"
        );
        assert_eq!(during["data"], self.browsed["data"]);
    }

    /// After `restore`: no restart, the next requests reconnect. Gives that a few seconds
    /// and checks the cart is back as it was.
    async fn assert_cart_back(&self) {
        let mut cart = Value::Null;
        for _ in 0..50 {
            cart = self.cart().await;
            if cart["errors"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(cart["data"], self.cart["data"], "{cart}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_degrades_browsing_and_heals_when_redis_returns() {
    let scene = Scene::start().await;

    scene.redis.cut().await;
    scene.assert_browsing_unchanged().await;
    // Readiness says which store is down, never the driver's words (addresses, errors).
    for (name, addr) in &scene.system.subgraph_addrs {
        let (status, body) = scene.system.get(&format!("http://{addr}/ready")).await;
        assert_eq!(status, 503, "{name}: {body}");
        let mut body: Value = serde_json::from_str(&body).unwrap();
        // Without its announcements the catalog's search index is not used (and says so).
        if *name == "catalog" {
            let index = body["searchIndex"].take();
            assert_eq!(index["status"], "lagging", "{index}");
            body.as_object_mut().unwrap().remove("searchIndex");
        }
        assert_eq!(
            body,
            json!({ "ready": false, "database": "up", "redis": "down" }),
            "{name}"
        );
    }
    let cart = scene.cart().await;
    assert_eq!(error_codes(&cart), ["UNAVAILABLE"], "{cart}");
    assert_eq!(cart["data"]["cart"], Value::Null);
    let login = scene
        .system
        .graphql(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "email": "demo@douyin-mall.dev", "password": "demo-password" } }),
        )
        .await;
    assert_eq!(error_codes(&login), ["UNAVAILABLE"], "{login}");

    scene.redis.restore().await;
    scene.assert_cart_back().await;
    assert!(scene.browse().await["errors"].is_null());
    scene.system.stop().await;
}

/// Redis accepts connections but never answers: nothing may wait for it forever. Browsing
/// still answers (the cache gives up quickly and PostgreSQL serves), signed-in requests
/// answer UNAVAILABLE from the subgraph (Redis's response timeout) rather than a router
/// timeout once the subgraph's copy of checked sessions has noticed the silence (its read
/// of the `access` stream overdue: about a second; until then the session checked before
/// the freeze is served from memory), and all of it works again once Redis answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_redis_neither_hangs_requests_nor_breaks_browsing() {
    let scene = Scene::start().await;

    scene.redis.freeze();
    let frozen = std::time::Instant::now();
    scene.assert_browsing_unchanged().await;
    let cart = loop {
        let cart = scene.cart().await;
        if !cart["errors"].is_null() || frozen.elapsed() > std::time::Duration::from_secs(5) {
            break cart;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(error_codes(&cart), ["UNAVAILABLE"], "{cart}");
    assert_eq!(cart["errors"][0]["extensions"]["service"], "cart", "{cart}");

    scene.redis.restore().await;
    scene.assert_cart_back().await;
    scene.system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_catalog_opens_the_carts_breaker_and_the_cart_recovers_by_itself() {
    let system = System::start().await;
    let token = system.demo_customer_token().await;
    // A cart replica that reaches the catalog through a proxy the test can freeze.
    let catalog = system
        .subgraph_addrs
        .iter()
        .find(|(name, _)| *name == "catalog")
        .map(|(_, addr)| *addr)
        .unwrap();
    let proxy = TcpProxy::in_front_of(catalog).await;
    let mut config = system.replica_config(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.peers.set("catalog", proxy.url());
    let cart = douyin_mall::serve_subgraph(&cart_subgraph::SUBGRAPH, &config)
        .await
        .expect("cart replica");
    let url = format!("http://{}/graphql", cart.addr);
    let read = || {
        let (system, url, token) = (&system, &url, &token);
        async move {
            let started = std::time::Instant::now();
            let answer = system
                .post_as(
                    url,
                    Some(token),
                    "{ cart { totalQuantity subtotal { amount } } }",
                    json!({}),
                )
                .await;
            (answer, started.elapsed())
        }
    };
    let (healthy, _) = read().await;
    assert!(healthy["errors"].is_null(), "{healthy}");
    let subtotal = healthy["data"]["cart"]["subtotal"].clone();

    // The catalog hangs. The first reads wait for the timeout (2 s a try) until five tries
    // have failed; then the breaker is open and reads fail at once.
    proxy.freeze();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let (answer, took) = read().await;
        assert_eq!(error_codes(&answer), ["UNAVAILABLE"], "{answer}");
        assert!(
            answer["data"]["cart"]["totalQuantity"].as_i64().unwrap() > 0,
            "{answer}"
        );
        slow.push(took);
    }
    let mut fast = Vec::new();
    for _ in 0..20 {
        let (answer, took) = read().await;
        assert_eq!(error_codes(&answer), ["UNAVAILABLE"], "{answer}");
        fast.push(took);
    }
    fast.sort();
    let p99 = fast[fast.len() - 1];
    eprintln!("reads while the catalog hangs: first two {slow:?}, then p99 {p99:?}");
    assert!(
        slow.iter().all(|t| *t >= Duration::from_secs(2)),
        "{slow:?}"
    );
    assert!(
        p99 < Duration::from_secs(1),
        "reads did not fail fast: p99 {p99:?}"
    );

    // The catalog answers again: after the breaker's pause (1–2 s here), a probe closes
    // it and the cart has its prices back, without any restart.
    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (answer, _) = read().await;
        if answer["errors"].is_null() {
            assert_eq!(answer["data"]["cart"]["subtotal"], subtotal, "{answer}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recovered: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(cart);
    system.stop().await;
}
