//! The whole system through the real router: seeded data, a query joining three subgraphs,
//! error codes, and the subgraphs' health endpoints.

mod support;

use serde_json::{Value, json};
use service_kit::demo::{DEMO_CUSTOMER_EMAIL, demo_id};
use support::System;
use test_support::error_codes;

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
        let body: Value = serde_json::from_str(&body).unwrap();
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
