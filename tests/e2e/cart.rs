//! The cart through the router: live prices and availability from the catalog, limits,
//! concurrent adds, batched product lookups, and variants (SKU) as lines of their own.

use crate::support;

/// Variants (SKU) in the cart (`tests/e2e/cart/variants.rs`).
#[path = "cart/variants.rs"]
mod variants;

use futures::future::join_all;
use serde_json::{Value, json};
use support::System;
use test_support::error_codes;

const CART: &str = "{ cart { id totalQuantity subtotal { amount currency } items { quantity available lineTotal { amount } product { id name price { amount } } } } }";
const ADD: &str = "mutation($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { totalQuantity items { quantity } } }";
const SET: &str = "mutation($p: ID!, $q: Int!) { updateCartItem(productId: $p, quantity: $q) { totalQuantity items { quantity product { id } } } }";

/// `n` ids of products on sale and in stock with a single variant (so `productId` alone
/// names it), with their prices.
async fn products_on_sale(system: &System, n: usize) -> Vec<(String, i64)> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    while found.len() < n {
        let response = system
            .graphql(
                "query($after: String) { products(first: 100, after: $after, filter: { inStock: true }) { \
                 pageInfo { hasNextPage endCursor } \
                 edges { node { id price { amount } variants { id } } } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &response["data"]["products"];
        found.extend(
            page["edges"]
                .as_array()
                .unwrap_or_else(|| panic!("{response}"))
                .iter()
                .filter(|e| e["node"]["variants"].as_array().unwrap().len() == 1)
                .map(|e| {
                    (
                        e["node"]["id"].as_str().unwrap().to_owned(),
                        e["node"]["price"]["amount"].as_i64().unwrap(),
                    )
                }),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    found.truncate(n);
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_adds_of_one_unit_make_twenty() {
    let system = System::start().await;
    let token = system.register("eager@example.com").await;
    let (product, _) = products_on_sale(&system, 1).await.remove(0);
    let results =
        join_all((0..20).map(|_| system.graphql_as(&token, ADD, json!({ "p": product, "q": 1 }))))
            .await;
    for result in &results {
        assert_eq!(result["errors"], Value::Null, "{result}");
    }
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["data"]["cart"]["items"][0]["quantity"], 20, "{cart}");
    assert_eq!(cart["data"]["cart"]["totalQuantity"], 20);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cart_shows_current_prices_and_availability() {
    let system = System::start().await;
    let token = system.register("watcher@example.com").await;
    let mut on_sale = products_on_sale(&system, 2).await;
    let (second, second_price) = on_sale.pop().unwrap();
    let (first, first_price) = on_sale.pop().unwrap();
    system
        .graphql_as(&token, ADD, json!({ "p": first, "q": 2 }))
        .await;
    system
        .graphql_as(&token, ADD, json!({ "p": second, "q": 1 }))
        .await;
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["errors"], Value::Null, "{cart}");
    let subtotal = cart["data"]["cart"]["subtotal"]["amount"].as_i64().unwrap();
    assert_eq!(subtotal, 2 * first_price + second_price, "{cart}");

    // The admin changes a price and archives the other product: the next read shows both.
    let admin = system.admin_token().await;
    let update = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { updateProduct(id: $id, input: { price: 12345 }) { id } }",
            json!({ "id": first }),
        )
        .await;
    assert_eq!(update["errors"], Value::Null, "{update}");
    let archive = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { archiveProduct(id: $id) { id } }",
            json!({ "id": second }),
        )
        .await;
    assert_eq!(archive["errors"], Value::Null, "{archive}");

    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["errors"], Value::Null, "{cart}");
    let items = cart["data"]["cart"]["items"].as_array().unwrap();
    assert_eq!(items[0]["lineTotal"]["amount"], 2 * 12345, "{cart}");
    assert_eq!(items[0]["product"]["price"]["amount"], 12345);
    assert_eq!(items[0]["available"], true);
    assert_eq!(items[1]["available"], false, "archived: {cart}");
    assert_eq!(
        cart["data"]["cart"]["subtotal"]["amount"],
        2 * 12345,
        "only what can be bought"
    );

    // An archived product cannot be added again; an unknown one does not exist.
    let again = system
        .graphql_as(&token, ADD, json!({ "p": second, "q": 1 }))
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    let unknown = system
        .graphql_as(
            &token,
            ADD,
            json!({ "p": uuid::Uuid::new_v4().to_string(), "q": 1 }),
        )
        .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"], "{unknown}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quantities_are_bounded_and_lines_can_be_set_removed_and_cleared() {
    let system = System::start().await;
    let token = system.register("tidy@example.com").await;
    let products = products_on_sale(&system, 3).await;
    let (a, b, c) = (&products[0].0, &products[1].0, &products[2].0);
    for (q, field) in [(0, "quantity"), (1000, "quantity"), (-1, "quantity")] {
        let bad = system
            .graphql_as(&token, ADD, json!({ "p": a, "q": q }))
            .await;
        assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{q}: {bad}");
        assert_eq!(bad["errors"][0]["extensions"]["field"], field);
    }
    system
        .graphql_as(&token, ADD, json!({ "p": a, "q": 998 }))
        .await;
    let over = system
        .graphql_as(&token, ADD, json!({ "p": a, "q": 2 }))
        .await;
    assert_eq!(
        error_codes(&over),
        ["BAD_USER_INPUT"],
        "999 per line: {over}"
    );
    system
        .graphql_as(&token, ADD, json!({ "p": b, "q": 1 }))
        .await;
    system
        .graphql_as(&token, ADD, json!({ "p": c, "q": 1 }))
        .await;

    let set = system
        .graphql_as(&token, SET, json!({ "p": a, "q": 5 }))
        .await;
    assert_eq!(set["data"]["updateCartItem"]["totalQuantity"], 7, "{set}");
    let removed = system
        .graphql_as(&token, SET, json!({ "p": b, "q": 0 }))
        .await;
    assert_eq!(
        removed["data"]["updateCartItem"]["totalQuantity"], 6,
        "0 removes: {removed}"
    );
    let removed = system
        .graphql_as(
            &token,
            "mutation($p: ID!) { removeFromCart(productId: $p) { totalQuantity } }",
            json!({ "p": c }),
        )
        .await;
    assert_eq!(
        removed["data"]["removeFromCart"]["totalQuantity"], 5,
        "{removed}"
    );
    let cleared = system
        .graphql_as(
            &token,
            "mutation { clearCart { totalQuantity items { quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cleared["data"]["clearCart"],
        json!({ "totalQuantity": 0, "items": [] }),
        "{cleared}"
    );

    let anonymous = system.graphql(CART, json!({})).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifty_line_cart_and_a_hundred_ids_each_cost_one_catalog_query() {
    // The catalog's periodic statements (the flash-sale sweep, the outbox relay's poll)
    // wait an hour, so the counts below are the requests' own.
    let system = System::start_with(support::Options::quiet()).await;
    let token = system.register("bulk@example.com").await;
    let products = products_on_sale(&system, 100).await;
    assert_eq!(products.len(), 100);
    for (id, _) in &products[..50] {
        let added = system
            .graphql_as(&token, ADD, json!({ "p": id, "q": 1 }))
            .await;
        assert_eq!(added["errors"], Value::Null, "{added}");
    }
    // Cold cache: the product rows must come from PostgreSQL, in one query per batch.
    let ids: Vec<&str> = products.iter().map(|(id, _)| id.as_str()).collect();
    system.flush_product_cache().await;
    system.catalog_statements.reset();
    let by_ids = system
        .graphql(
            "query($ids: [ID!]!) { productsByIds(ids: $ids) { id name } }",
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(by_ids["errors"], Value::Null);
    assert_eq!(
        by_ids["data"]["productsByIds"].as_array().unwrap().len(),
        100
    );
    assert_eq!(
        system.catalog_statements.get(),
        1,
        "100 ids, one catalog query"
    );

    system.flush_product_cache().await;
    system.catalog_statements.reset();
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["errors"], Value::Null, "{cart}");
    assert_eq!(cart["data"]["cart"]["items"].as_array().unwrap().len(), 50);
    // The cart's own lookup (the lines are priced by their variants) and the router's
    // Product fields: the first loads the 50 rows in one query and caches them; their
    // variants are still in the catalog's memory under the rows' versions (adding the
    // lines read them), and the second finds the rows cached.
    assert_eq!(
        system.catalog_statements.get(),
        1,
        "50 lines, one catalog query"
    );
    system.stop().await;
}
