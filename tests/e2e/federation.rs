//! The whole system through the real router: seeded data, a query joining three subgraphs,
//! error codes, and the subgraphs' health endpoints.

use crate::support;

/// The web playground in Chromium (`tests/e2e/federation/playground.rs`).
#[path = "federation/playground.rs"]
mod playground;
/// OpenTelemetry traces across the router, the subgraphs and the events
/// (`tests/e2e/federation/traces.rs`).
#[path = "federation/traces.rs"]
mod traces;

use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use service_kit::demo::{DEMO_CUSTOMER_EMAIL, demo_id};
use support::System;
use test_support::{error_codes, sample_sum};

#[tokio::test(flavor = "multi_thread")]
async fn products_through_the_router_return_the_seeded_catalog() {
    let system = System::start().await;
    let response = system
        .graphql(
            "{ products(first: 5) { totalCount edges { node { name price { amount currency formatted } category { name } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    let products = &response["data"]["products"];
    assert!(
        products["totalCount"].as_i64().unwrap() >= 200,
        "{products}"
    );
    let edges = products["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    for edge in edges {
        let node = &edge["node"];
        assert!(!node["name"].as_str().unwrap().is_empty());
        assert_eq!(node["price"]["currency"], "CNY");
        assert!(node["price"]["amount"].as_i64().unwrap() > 0);
        assert!(
            node["price"]["formatted"]
                .as_str()
                .unwrap()
                .starts_with('¥')
        );
        assert!(!node["category"]["name"].as_str().unwrap().is_empty());
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_query_joins_the_user_cart_and_catalog_subgraphs() {
    let system = System::start().await;
    let customer = demo_id("user", DEMO_CUSTOMER_EMAIL).to_string();
    let token = system.demo_customer_token().await;
    let response = system
        .graphql_as(
            &token,
            "query($id: ID!) { user(id: $id) { displayName cart { totalQuantity items { quantity product { name price { amount } category { name } } } } } }",
            json!({ "id": customer }),
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    let user = &response["data"]["user"];
    assert_eq!(
        user["displayName"], "Demo Customer",
        "from the user subgraph"
    );
    assert_eq!(user["cart"]["totalQuantity"], 4, "from the cart subgraph");
    let names: Vec<&str> = user["cart"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "iPhone 15 Pro 256GB",
            "Silicone Phone Case for iPhone 15 Blue",
            "西湖龙井 Longjing Green Tea 250g"
        ],
        "from the catalog subgraph"
    );
    assert_eq!(
        user["cart"]["items"][1]["product"]["category"]["name"],
        "Phone Accessories 手机配件"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paging_input_reaches_the_client_as_bad_user_input() {
    let system = System::start().await;
    for arguments in ["first: -1", "first: 1000", "first: 5, after: \"garbage\""] {
        let response = system
            .graphql(
                &format!("{{ products({arguments}) {{ totalCount }} }}"),
                Value::Null,
            )
            .await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{arguments}: {response}"
        );
    }
    // Paging on through the router uses the cursor the router passed back.
    let first = system
        .graphql(
            "{ products(first: 2) { edges { node { id } } pageInfo { endCursor } } }",
            Value::Null,
        )
        .await;
    let cursor = first["data"]["products"]["pageInfo"]["endCursor"].clone();
    let next = system
        .graphql(
            "query($after: String) { products(first: 2, after: $after) { edges { node { id } } } }",
            json!({ "after": cursor }),
        )
        .await;
    assert_eq!(next["errors"], Value::Null, "{next}");
    assert_ne!(
        first["data"]["products"]["edges"][0],
        next["data"]["products"]["edges"][0]
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subgraph_reports_health_and_readiness() {
    let system = System::start().await;
    for (name, addr) in &system.subgraph_addrs {
        let (status, body) = system.get(&format!("http://{addr}/health")).await;
        assert_eq!((status, body.as_str()), (200, "ok"), "{name} /health");
        let (status, body) = system.get(&format!("http://{addr}/ready")).await;
        assert_eq!(status, 200, "{name} /ready: {body}");
        let mut body: Value = serde_json::from_str(&body).unwrap();
        // The catalog also says whether its search index is current (it is, once read).
        if *name == "catalog" {
            let index = body["searchIndex"].take();
            assert_eq!(index["status"], "current", "{name}: {index}");
            assert!(index["products"].as_u64() > Some(100), "{index}");
            body.as_object_mut().unwrap().remove("searchIndex");
        }
        assert_eq!(
            body,
            json!({ "ready": true, "database": "up", "redis": "up" }),
            "{name}"
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subgraph_that_is_down_fails_only_its_own_fields() {
    let mut system = System::start().await;
    let customer = demo_id("user", DEMO_CUSTOMER_EMAIL).to_string();
    let query = "query($id: ID!) { user(id: $id) { displayName cart { items { quantity product { name } } } } }";

    let token = system.demo_customer_token().await;
    system.stop_subgraph("catalog").await;
    let response = system
        .graphql_as(&token, query, json!({ "id": customer }))
        .await;

    // The user subgraph's data arrives; `CartItem.product` is non-null, so the catalog's
    // failure nulls the nearest nullable field, `cart`, and the error names the service.
    assert_eq!(
        response["data"]["user"]["displayName"], "Demo Customer",
        "user subgraph still answers: {response}"
    );
    assert_eq!(response["data"]["user"]["cart"], Value::Null, "{response}");
    let errors = response["errors"]
        .as_array()
        .expect("an error for the product fields");
    assert_eq!(errors.len(), 1, "{response}");
    assert_eq!(errors[0]["extensions"]["service"], "catalog", "{response}");
    assert_eq!(errors[0]["extensions"]["code"], "UNAVAILABLE", "{response}");
    assert_eq!(
        errors[0]["extensions"]["affectedPath"], "user.cart.items.@.product",
        "{response}"
    );
    // Catalog-only queries fail as a whole, with an error rather than a hang.
    let catalog_only = system
        .graphql("{ products(first: 1) { totalCount } }", Value::Null)
        .await;
    assert!(
        catalog_only["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{catalog_only}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_catalog_down_the_cart_still_shows_its_lines() {
    let mut system = System::start().await;
    let token = system.demo_customer_token().await;
    system.stop_subgraph("catalog").await;
    let response = system
        .graphql_as(
            &token,
            "{ cart { totalQuantity subtotal { amount } items { quantity lineTotal { amount } available } } }",
            json!({}),
        )
        .await;
    let cart = &response["data"]["cart"];
    assert!(cart["totalQuantity"].as_i64().unwrap() > 0, "{response}");
    assert_eq!(cart["subtotal"], Value::Null, "{response}");
    assert_eq!(cart["items"][0]["lineTotal"], Value::Null, "{response}");
    assert!(
        cart["items"][0]["quantity"].as_i64().unwrap() > 0,
        "{response}"
    );
    assert!(
        error_codes(&response).iter().all(|c| c == "UNAVAILABLE"),
        "{response}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subgraphs_answer_graphql_only_with_the_routers_secret() {
    let system = System::start().await;
    let bearer = format!("Bearer {}", system.demo_customer_token().await);
    for (name, _) in &system.subgraph_addrs {
        let url = system.subgraph_url(name);
        for headers in [
            vec![],
            vec![(service_kit::internal::TOKEN_HEADER, "a guess")],
            vec![("authorization", bearer.as_str())],
        ] {
            let refused = system.post_raw(&url, &headers, "{ __typename }").await;
            assert_eq!(error_codes(&refused), ["FORBIDDEN"], "{name}: {refused}");
            assert_eq!(refused["data"], Value::Null, "{name}");
        }
        // The same request with the secret (what the router sends) is answered.
        let answered = system.post(&url, "{ __typename }", json!({})).await;
        assert_eq!(
            answered["data"]["__typename"], "Query",
            "{name}: {answered}"
        );
    }
    // A client cannot smuggle its own value through the router: the router replaces it.
    let through = system
        .post_raw(
            &system.router_url,
            &[(service_kit::internal::TOKEN_HEADER, "a guess")],
            "{ products(first: 1) { totalCount } }",
        )
        .await;
    assert_eq!(through["errors"], Value::Null, "{through}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_ids_and_unknown_enum_values_are_bad_user_input_everywhere() {
    let system = System::start().await;
    let token = system.demo_customer_token().await;
    for (subgraph, query) in [
        ("catalog", "{ product(id: \"not-an-id\") { id } }"),
        ("catalog", "{ productsByIds(ids: [\"nope\"]) { id } }"),
        ("user", "{ user(id: \"not-an-id\") { id } }"),
        ("order", "{ order(id: \"not-an-id\") { id } }"),
        ("payment", "{ payment(id: \"not-an-id\") { id } }"),
        (
            "cart",
            "mutation { addToCart(productId: \"not-an-id\", quantity: 1) { totalQuantity } }",
        ),
    ] {
        let response = system.graphql_as(&token, query, json!({})).await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{subgraph}: {query}: {response}"
        );
    }
    // Variables the schema cannot coerce, and invalid documents, are the client's error too.
    for (query, variables) in [
        (
            "query($s: ProductSort) { products(first: 1, sort: $s) { totalCount } }",
            json!({ "s": "CHEAPEST_FIRST" }),
        ),
        (
            "query($n: Int) { products(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
        ),
        (
            "{ products(first: 1, sort: CHEAPEST_FIRST) { totalCount } }",
            json!({}),
        ),
        ("{ products(first: 1) { noSuchField } }", json!({})),
        ("{ products(first: 1 { totalCount }", json!({})),
    ] {
        let response = system.graphql(query, variables).await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{query}: {response}"
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_on_allowed_origins_may_call_the_api_and_others_may_not() {
    let system = System::start().await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, &system.router_url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:5173"),
        "{allowed:?}"
    );
    // Another origin is answered `null` (Hive Router's way of saying no), which no browser
    // matches against a real origin.
    let refused = preflight("https://evil.example").await.unwrap();
    let said = refused
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok());
    assert!(matches!(said, None | Some("null")), "{refused:?}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn abusive_documents_are_refused_by_the_router_before_any_subgraph_is_called() {
    // Background sweeps and outbox polls stay quiet (one at start-up), so the statement
    // counts of the user, catalog and cart subgraphs move only if a request reaches them.
    let system = System::start_with(support::Options::quiet()).await;
    // The first sweeps and start-up reads are over.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let counts = || system.quiet_subgraph_statements();
    let before = counts();

    // categories { children { … { children { name } } … } }: 12 levels.
    let deep = format!(
        "{{ categories {} {{ name }} {} }}",
        "{ children ".repeat(10),
        "}".repeat(10)
    );
    let aliased = |n: usize| {
        format!(
            "{{ {} }}",
            (0..n)
                .map(|i| format!("a{i}: products(first: 1) {{ totalCount }}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let aliases = aliased(40);
    // 1,000 aliased searches: over the token limit before the alias limit is looked at.
    let thousand = aliased(1000);
    let tokens = format!(
        "{{ products(first: 1) {{ totalCount {} }} }}",
        "totalCount ".repeat(6000)
    );
    // 8 levels, no alias, but 100 products × 10 × 10 × 10 sub-categories.
    let costly = "{ products(first: 100) { edges { node { category { children { children { \
        children { name } } } } } } } }";
    // 12 root fields, under every other limit.
    let roots = format!(
        "{{ {} }}",
        (0..12)
            .map(|i| format!("r{i}: categories {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (document, limit) in [
        (roots.as_str(), "Root fields"),
        (costly, "cost"),
        (deep.as_str(), "depth"),
        (aliases.as_str(), "Aliases"),
        (thousand.as_str(), "limit exceeded"),
        (tokens.as_str(), "Token"),
    ] {
        let refused = system.graphql(document, json!({})).await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{limit}: {refused}"
        );
        let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(limit), "{limit}: {refused}");
    }
    // A body over 256 KB is refused as well (HTTP 413), without being read to its end.
    let (status, _) = system.announce_body(300 * 1024).await;
    assert_eq!(status, 413);
    assert_eq!(counts(), before, "a subgraph was called");

    // Deep but cheap documents still pass: 8 levels, deeper than any contract operation.
    let fine = system
        .graphql(
            "{ products(first: 5) { edges { node { category { parent { parent { name } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(fine["errors"], Value::Null, "{fine}");
    // Every operation of the frontends' contract, fragments and all, is within every limit
    // (anonymous and without variables, most are refused for other reasons, never a limit).
    let operations = support::contract_operations();
    let listed = support::contract_passing().len();
    assert!(listed >= 49, "the ratchet lists {listed} operations");
    assert_eq!(
        operations.len(),
        listed,
        "one document per listed operation"
    );
    // (Subscriptions answer as a stream on this request: `live` tests run the contract's.)
    for (name, document) in operations
        .iter()
        .filter(|(_, d)| !d.starts_with("subscription"))
    {
        let answer = system.graphql(document, json!({})).await;
        for error in answer["errors"].as_array().into_iter().flatten() {
            let message = error["message"].as_str().unwrap_or_default();
            assert!(
                !message.to_lowercase().contains("limit"),
                "the contract's {name} is refused by a query limit: {answer}"
            );
            assert!(!message.contains("never used"), "{name}: {answer}");
        }
    }
    // In development introspection answers (GraphiQL, codegen).
    let schema = system
        .graphql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        schema["data"]["__schema"]["queryType"]["name"], "Query",
        "{schema}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn production_hides_graphiql_introspection_metrics_and_the_sandbox_gateway() {
    // Development serves the router's GraphiQL page at /graphql to a browser.
    let browser_page = |system: &System| {
        let url = system.router_url.clone();
        async move {
            let response = reqwest::Client::new()
                .get(&url)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            response.text().await.unwrap_or_default().to_lowercase()
        }
    };
    let development = System::start().await;
    assert!(
        browser_page(&development).await.contains("<html"),
        "no GraphiQL in development"
    );
    development.stop().await;
    // What `mall` sets with MALL_ENV=production (`douyin_mall::router_env_for`).
    let production =
        douyin_mall::router_env_for(true, &douyin_mall::default_router_config(), |_| false);
    const METRICS_TOKEN: &str = "metrics-token-of-at-least-32-characters";
    let router_env: Vec<(&'static str, &'static str)> = production
        .into_iter()
        .filter(|(name, _)| *name != "ROUTER_REQUIRE_DOCUMENT_ID")
        .map(|(name, value)| (name, &*value.leak()))
        .collect();
    let system = System::start_with(support::Options {
        router_env,
        // What production's defaults and compose set for the subgraphs.
        service_config: Some(std::sync::Arc::new(|config| {
            config.metrics_token = Some(METRICS_TOKEN.to_owned());
            config
                .change(|payment: &mut payment_subgraph::config::PaymentSettings| {
                    payment.sandbox_gateway = false;
                })
                .unwrap();
        })),
        ..Default::default()
    })
    .await;
    // The subgraphs' metrics only for Prometheus's token.
    let scrape = |url: String, token: Option<&'static str>| async move {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    };
    let mut endpoints = Vec::new();
    for name in ["user", "catalog", "cart", "order", "payment"] {
        endpoints.push(format!("{}/metrics", system.subgraph_base(name)));
    }
    for url in endpoints {
        assert_eq!(scrape(url.clone(), None).await.0, 401, "{url}");
        assert_eq!(scrape(url.clone(), Some("wrong")).await.0, 401, "{url}");
        let (status, text) = scrape(url.clone(), Some(METRICS_TOKEN)).await;
        assert_eq!(status, 200, "{url}");
        assert!(text.contains("# TYPE"), "{url}: {text}");
    }
    // No sandbox gateway: nobody can approve a payment without money. The signed webhook
    // (a real gateway's way in) is still there.
    let payment = system.subgraph_base("payment");
    let (status, _) = system.get(&format!("{payment}/sandbox/pay/any")).await;
    assert_eq!(status, 404);
    let approve = reqwest::Client::new()
        .post(format!("{payment}/sandbox/pay/any/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status().as_u16(), 404);
    let webhook = reqwest::Client::new()
        .post(format!("{payment}/webhooks/payments"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_ne!(webhook.status().as_u16(), 404);
    assert!(
        !browser_page(&system).await.contains("<html"),
        "GraphiQL served in production"
    );
    let schema = system
        .graphql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(error_codes(&schema), ["FORBIDDEN"], "{schema}");
    let products = system
        .graphql("{ products(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(products["errors"], Value::Null, "{products}");
    system.stop().await;
}

/// Posts `query` to the router at `url` as `token` (if any) from `address` (the router
/// trusts 127.0.0.1 as a proxy in these tests, so `X-Forwarded-For` names the client).
async fn from_address(url: &str, token: Option<&str>, address: &str, query: &str) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("x-forwarded-for", address);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON answer")
}

fn limit_of(response: &Value) -> Option<&str> {
    (error_codes(response) == ["RATE_LIMITED"]).then(|| {
        assert!(
            response["errors"][0]["extensions"]["retryAfterSeconds"]
                .as_u64()
                .is_some_and(|s| s >= 1),
            "{response}"
        );
        response["errors"][0]["extensions"]["limit"]
            .as_str()
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_hold_per_operation_per_address_across_two_routers_and_per_user() {
    // Tiny limits that refill too slowly to matter during the test: exactly the burst
    // gets through.
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("rate-limits.yaml");
    std::fs::write(
        &limits,
        "per_operation:\n  default: { per_second: 1000, burst: 1000 }\n  operations:\n    Hot: { per_second: 0.001, burst: 3 }\n\
         per_address: { per_second: 0.001, burst: 20 }\n\
         per_user:\n  checkout: { per_second: 0.001, burst: 2 }\n\
         fail_closed: [login, register]\n",
    )
    .unwrap();
    let system = System::start_with(support::Options {
        rate_limits: Some(limits),
        router_env: vec![("TRUSTED_PROXIES", "127.0.0.1")],
        ..Default::default()
    })
    .await;
    let router = system.router_url.clone();
    let (_second, second) = system.start_another_router().await;

    // 1. Per operation, per instance: `Hot` three times, then refused; other operations and
    //    the other instance go on. (Each from its own address: level 2 stays out of it.)
    let mut hot = Vec::new();
    for i in 0..5 {
        let address = format!("198.51.100.{}", 10 + i);
        hot.push(from_address(&router, None, &address, "query Hot { categories { id } }").await);
    }
    let refused: Vec<Option<&str>> = hot.iter().map(limit_of).collect();
    assert_eq!(
        refused,
        [
            None,
            None,
            None,
            Some("per_operation"),
            Some("per_operation")
        ],
        "{hot:?}"
    );
    let cold = from_address(
        &router,
        None,
        "198.51.100.20",
        "query Cold { categories { id } }",
    )
    .await;
    assert!(cold["errors"].is_null(), "{cold}");
    let elsewhere = from_address(
        &second,
        None,
        "198.51.100.21",
        "query Hot { categories { id } }",
    )
    .await;
    assert!(elsewhere["errors"].is_null(), "{elsewhere}");

    // 2. Per address, shared by both routers: 30 requests alternating between them, 20 pass.
    let mut passed = 0;
    for i in 0..30 {
        let url = if i % 2 == 0 { &router } else { &second };
        let answer = from_address(url, None, "203.0.113.7", "{ categories { id } }").await;
        match limit_of(&answer) {
            None => {
                assert!(answer["errors"].is_null(), "{answer}");
                passed += 1;
            }
            Some(level) => assert_eq!(level, "per_address", "{answer}"),
        }
    }
    assert_eq!(passed, 20, "the per-address burst, across two routers");
    let neighbour = from_address(&second, None, "203.0.113.8", "{ categories { id } }").await;
    assert!(
        neighbour["errors"].is_null(),
        "another address is unaffected: {neighbour}"
    );

    // 3. Per user, for checkout: two attempts (refused for their input, but counted), then
    //    RATE_LIMITED; another user is unaffected.
    let first = system.register("limited@example.com").await;
    let other = system.register("unlimited@example.com").await;
    let checkout = r#"mutation { checkout(input: { idempotencyKey: "short" }) { id } }"#;
    let mut answers = Vec::new();
    for i in 0..3 {
        let address = format!("192.0.2.{}", 10 + i);
        let url = if i % 2 == 0 { &router } else { &second };
        answers.push(from_address(url, Some(&first), &address, checkout).await);
    }
    assert_eq!(
        error_codes(&answers[0]),
        ["BAD_USER_INPUT"],
        "{:?}",
        answers[0]
    );
    assert_eq!(
        error_codes(&answers[1]),
        ["BAD_USER_INPUT"],
        "{:?}",
        answers[1]
    );
    assert_eq!(limit_of(&answers[2]), Some("per_user"), "{:?}", answers[2]);
    let theirs = from_address(&router, Some(&other), "192.0.2.50", checkout).await;
    assert_eq!(error_codes(&theirs), ["BAD_USER_INPUT"], "{theirs}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_the_rate_limiter_lets_reads_through_and_refuses_sign_in() {
    let system = System::start_with(support::Options {
        // Only the router's limiter loses Redis (nothing listens on port 1).
        router_env: vec![("REDIS_URL", "redis://127.0.0.1:1")],
        ..Default::default()
    })
    .await;
    let read = system.graphql("{ categories { id } }", json!({})).await;
    assert!(read["errors"].is_null(), "fail open for reads: {read}");
    let login = system
        .graphql(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({ "i": { "email": DEMO_CUSTOMER_EMAIL, "password": "demo-password" } }),
        )
        .await;
    assert_eq!(
        error_codes(&login),
        ["UNAVAILABLE"],
        "fail closed for login: {login}"
    );
    system.stop().await;
}

/// Places an order of one unit of the first product as `token` (idempotency key `key`);
/// its id.
async fn checkout_one(system: &System, token: &str, key: &str) -> Value {
    let products = system
        .graphql(
            "{ products(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let product = products["data"]["products"]["edges"][0]["node"]["id"].clone();
    let placed = system
        .graphql_as(
            token,
            "mutation Buy($input: CheckoutInput!) { checkout(input: $input) { id } }",
            json!({ "input": {
                "idempotencyKey": key,
                "items": [{ "productId": product, "quantity": 1 }],
                "address": { "recipient": "Li Lei", "phone": "13800000000", "province": "Zhejiang",
                             "city": "Hangzhou", "district": "Xihu", "line1": "1 Wensan Road" },
            } }),
        )
        .await;
    let order = placed["data"]["checkout"]["id"].clone();
    assert!(order.is_string(), "{placed}");
    order
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_graphql_requests_and_orders_on_every_subgraph_and_the_router() {
    let system = System::start().await;
    let order_metrics = format!("{}/metrics", system.subgraph_base("order"));
    let scrape = |url: String| {
        let system = &system;
        async move {
            let (status, text) = system.get(&url).await;
            assert_eq!(status, 200, "{url}: {text}");
            text
        }
    };
    let before = scrape(order_metrics.clone()).await;
    let placed_before = sample_sum(
        &before,
        "events_published_total",
        &[r#"name="OrderPlaced""#],
    );
    let token = system.demo_customer_token().await;
    checkout_one(&system, &token, "metrics-checkout-1").await;
    let mut after = String::new();
    for _ in 0..50 {
        after = scrape(order_metrics.clone()).await;
        if sample_sum(&after, "events_published_total", &[r#"name="OrderPlaced""#]) > placed_before
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        sample_sum(&after, "events_published_total", &[r#"name="OrderPlaced""#])
            >= placed_before + 1.0,
        "the order counter did not move:\n{after}"
    );
    assert!(
        sample_sum(
            &after,
            "graphql_request_duration_seconds_count",
            &[r#"subgraph="order""#]
        ) > sample_sum(
            &before,
            "graphql_request_duration_seconds_count",
            &[r#"subgraph="order""#]
        ),
        "the order subgraph's request histogram did not move:\n{after}"
    );
    assert!(
        sample_sum(
            &after,
            "graphql_requests_total",
            &[r#"subgraph="order""#, r#"code="OK""#]
        ) >= 1.0,
        "{after}"
    );
    assert!(after.contains("db_pool_connections{"), "{after}");
    for name in ["user", "catalog", "cart", "payment"] {
        let text = scrape(format!("{}/metrics", system.subgraph_base(name))).await;
        assert!(text.contains("redis_pool_connections{"), "{name}: {text}");
    }
    // The router: its requests, and its calls to subgraphs, as latency histograms.
    let router_metrics = system.router_url.replace("/graphql", "/metrics");
    let text = scrape(router_metrics).await;
    for histogram in [
        "http_server_request_duration_seconds_count",
        "http_client_request_duration_seconds_count",
    ] {
        assert!(
            sample_sum(&text, histogram, &[]) >= 1.0,
            "{histogram}:\n{text}"
        );
    }
    system.stop().await;
}

/// One query over the user, cart, catalog, order and payment subgraphs.
const EVERYWHERE: &str = "query($order: ID!) { \
    me { displayName cart { totalQuantity } orders(first: 5) { totalCount } } \
    categories { name } \
    order(id: $order) { number status total { amount } payments { status } } }";

/// The paths of `EVERYWHERE` that depend on each subgraph (null when it is down).
fn owned_by(subgraph: &str) -> &'static [&'static str] {
    match subgraph {
        "user" => &["/me"],
        "catalog" => &["/categories"],
        "cart" => &["/me/cart"],
        "order" => &["/me/orders", "/order"],
        "payment" => &["/order/payments"],
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_any_one_subgraph_down_everything_it_does_not_own_still_answers() {
    for down in ["user", "catalog", "cart", "order", "payment"] {
        let mut system = System::start().await;
        let token = system.demo_customer_token().await;
        let order = checkout_one(&system, &token, "degradation-1").await;
        let variables = json!({ "order": order });
        let healthy = system
            .graphql_as(&token, EVERYWHERE, variables.clone())
            .await;
        assert!(healthy["errors"].is_null(), "{healthy}");

        system.stop_subgraph(down).await;
        let degraded = system.graphql_as(&token, EVERYWHERE, variables).await;
        let owned = owned_by(down);
        // What the stopped subgraph owns is null, with UNAVAILABLE errors...
        for path in owned {
            assert_eq!(
                degraded["data"].pointer(path),
                Some(&Value::Null),
                "{down} down: {path} should be null: {degraded}"
            );
        }
        assert!(
            !error_codes(&degraded).is_empty()
                && error_codes(&degraded).iter().all(|c| c == "UNAVAILABLE"),
            "{down} down: {degraded}"
        );
        // ...and everything else is exactly as before.
        let mut expected = healthy["data"].clone();
        for path in owned {
            *expected.pointer_mut(path).unwrap() = Value::Null;
        }
        assert_eq!(degraded["data"], expected, "{down} down");
        system.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_its_request_id_the_clients_own_when_it_is_sane() {
    let system = System::start().await;
    let ask = |id: Option<String>| {
        let url = system.router_url.clone();
        async move {
            let mut request = reqwest::Client::new().post(url);
            if let Some(id) = id {
                request = request.header("x-request-id", id);
            }
            let response = request
                .json(&json!({ "query": "{ categories { id } }" }))
                .send()
                .await
                .expect("request sent");
            response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
    };
    assert_eq!(
        ask(Some("checkout-page-7f3a".into())).await.as_deref(),
        Some("checkout-page-7f3a")
    );
    let (first, second) = (ask(None).await.unwrap(), ask(None).await.unwrap());
    assert!(!first.is_empty() && first != second, "{first} {second}");
    // Not sane (too long, or not a token): replaced, never echoed.
    for bad in ["x".repeat(300), "id with spaces".to_owned()] {
        let given = ask(Some(bad.clone())).await.unwrap();
        assert_ne!(given, bad);
        assert!(!given.is_empty());
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_production_the_router_serves_only_the_contracts_trusted_documents_by_id() {
    let system = System::start_with(support::Options {
        router_env: vec![("ROUTER_REQUIRE_DOCUMENT_ID", "true")],
        ..support::Options::quiet()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let manifest = support::trusted_documents();
    assert_eq!(
        manifest.len(),
        support::contract_passing().len(),
        "one trusted document per contract operation served"
    );
    let (id, text) = manifest
        .iter()
        .find(|(_, text)| text.contains("query ProductList("))
        .expect("ProductList in the manifest");
    let send = |body: Value| {
        let url = system.router_url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };

    // By id: answered.
    let by_id = send(json!({ "documentId": id, "variables": { "first": 3 } })).await;
    assert_eq!(
        by_id["data"]["products"]["edges"].as_array().map(Vec::len),
        Some(3),
        "{by_id}"
    );

    // Everything else is refused before any subgraph is called.
    let counts = || system.quiet_subgraph_statements();
    let before = counts();
    for (body, message) in [
        (
            json!({ "query": text, "variables": { "first": 3 } }),
            "id is required",
        ),
        (
            json!({ "documentId": "sha256:0000", "variables": {} }),
            "not found",
        ),
        (
            json!({ "query": "{ products(first: 1) { totalCount } }" }),
            "id is required",
        ),
    ] {
        let refused = send(body.clone()).await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{body}: {refused}"
        );
        let said = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(said.contains(message), "{body}: {refused}");
    }
    assert_eq!(counts(), before, "a subgraph was called");
    system.stop().await;
}

/// A storefront rendered on a server (a BFF) calls from one address for all its visitors.
/// Listed in `TRUSTED_PROXIES`, it forwards each visitor's address, and the production
/// limits (`router-config/rate-limits.yaml`: 50 a second per address, a burst of 200) count
/// those: 100 visitors at 200 requests a second in all get everything. An address that is
/// not trusted is still limited as one, whatever `X-Forwarded-For` it claims.
#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_server_side_caller_is_limited_per_end_client_and_others_still_per_address() {
    let production = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/router-config/rate-limits.yaml"
    );
    let system = System::start_with(support::Options {
        rate_limits: Some(production.into()),
        router_env: vec![("TRUSTED_PROXIES", "127.0.0.1/32")],
        ..Default::default()
    })
    .await;
    let router = system.router_url.clone();
    let query = json!({ "query": "{ categories { id } }" });

    // The trusted server (from 127.0.0.1): 600 requests at 200 a second, 100 visitors.
    let server = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut sent = Vec::new();
    for i in 0..600 {
        tick.tick().await;
        let request = server
            .post(&router)
            .header("x-forwarded-for", format!("10.1.0.{}", i % 100 + 1))
            .json(&query)
            .send();
        sent.push(tokio::spawn(async move {
            request
                .await
                .expect("sent")
                .json::<Value>()
                .await
                .expect("JSON")
        }));
    }
    let answers = join_all(sent).await;
    let refused: Vec<&Value> = answers
        .iter()
        .map(|a| a.as_ref().expect("task"))
        .filter(|a| !a["errors"].is_null())
        .collect();
    assert!(
        refused.is_empty(),
        "none of the visitors is limited: {refused:?}"
    );

    // An untrusted caller (from 127.0.0.2), claiming other addresses: one address, limited.
    let untrusted = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let mut passed = 0;
    let mut limited = 0;
    for batch in 0..20 {
        let requests = (0..32).map(|i| {
            untrusted
                .post(&router)
                .header("x-forwarded-for", format!("10.2.{batch}.{i}"))
                .json(&query)
                .send()
        });
        for answer in join_all(requests).await {
            let answer: Value = answer.expect("sent").json().await.expect("JSON");
            match limit_of(&answer) {
                Some(level) => {
                    assert_eq!(level, "per_address", "{answer}");
                    limited += 1;
                }
                None => {
                    assert!(answer["errors"].is_null(), "{answer}");
                    passed += 1;
                }
            }
        }
    }
    let allowed = 200.0 + 50.0 * started.elapsed().as_secs_f64();
    assert!(
        limited > 0,
        "the untrusted address is limited ({passed} passed)"
    );
    assert!(
        f64::from(passed) <= allowed + 5.0,
        "{passed} passed, the burst and refill allow {allowed:.0}"
    );
}
