//! Checkout and orders through the router: atomic stock reservation under concurrency,
//! idempotency, the state machine, expiry with two replicas, crash safety and the outbox.

use crate::support;

/// The chaos soak (`tests/e2e/orders/chaos.rs`, run by `scripts/chaos`).
#[path = "orders/chaos.rs"]
mod chaos;
/// Nothing lost under faults (`tests/e2e/orders/faults.rs`).
#[path = "orders/faults.rs"]
mod faults;
/// Subscriptions (`tests/e2e/orders/live.rs`).
#[path = "orders/flash_sales.rs"]
mod flash_sales;
#[path = "orders/live.rs"]
mod live;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use futures::future::join_all;
use order_subgraph::config::OrderSettings;
use serde_json::{Value, json};
use service_kit::config::EventSettings;
use support::{Options, System};
use test_support::error_codes;

const CHECKOUT: &str = "mutation($input: CheckoutInput!) { checkout(input: $input) { \
    id number status expiresAt nextStatuses subtotal { amount currency } total { amount } \
    discount { amount } items { productName quantity unitPrice { amount } lineTotal { amount } product { id name } } \
    shippingAddress { recipient city line1 } history { from to reason } customer { id } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { id status cancelReason cancelledAt nextStatuses \
    items { productName unitPrice { amount } } history { from to reason } shippingAddress { city } } }";
const CANCEL: &str = "mutation($id: ID!, $r: String) { cancelOrder(id: $id, reason: $r) { id status cancelReason history { from to reason } } }";
const ADDRESS: &str = "mutation($id: ID!, $a: ShippingAddressInput!) { updateOrderAddress(id: $id, address: $a) { id shippingAddress { city } } }";
const ADD: &str =
    "mutation($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { totalQuantity } }";
const CART: &str = "{ cart { totalQuantity items { quantity product { id } } } }";
const STOCK: &str = "query($id: ID!) { product(id: $id) { stock } }";

fn address() -> Value {
    json!({ "recipient": "Li Lei", "phone": "+86 138 0000 0000", "province": "Zhejiang",
            "city": "Hangzhou", "district": "Xihu", "line1": "1 Wensan Road", "postalCode": "310000" })
}

async fn saved_address(system: &System, token: &str) -> String {
    let response = system
        .graphql_as(
            token,
            "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
            json!({ "i": address() }),
        )
        .await;
    response["data"]["addAddress"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}

/// A new active product with `stock` units at `price`.
async fn product(system: &System, admin: &str, name: &str, price: i64, stock: i64) -> String {
    let response = system
        .graphql_as(
            admin,
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
            json!({ "i": { "name": name, "description": "test", "price": price, "stock": stock } }),
        )
        .await;
    response["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}

async fn stock(system: &System, admin: &str, id: &str) -> i64 {
    let response = system.graphql_as(admin, STOCK, json!({ "id": id })).await;
    response["data"]["product"]["stock"]
        .as_i64()
        .unwrap_or_else(|| panic!("{response}"))
}

async fn checkout(system: &System, token: &str, input: Value) -> Value {
    system
        .graphql_as(token, CHECKOUT, json!({ "input": input }))
        .await
}

/// Places `n` orders of `quantity` units of `item` (keys `{prefix}-0` …); their ids, oldest first.
async fn place_orders(
    system: &System,
    token: &str,
    prefix: &str,
    item: &str,
    quantity: i64,
    n: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let response = checkout(
            system,
            token,
            buy(&format!("{prefix}-{i}"), &[(item, quantity)]),
        )
        .await;
        ids.push(
            response["data"]["checkout"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{response}"))
                .to_owned(),
        );
    }
    ids
}

fn buy(key: &str, items: &[(&str, i64)]) -> Value {
    json!({
        "idempotencyKey": key,
        "address": address(),
        "items": items.iter().map(|(p, q)| json!({ "productId": p, "quantity": q })).collect::<Vec<_>>(),
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn count(system: &System, schema: &str, sql: &str, id: &str) -> i64 {
    let mut conn = system.sql(schema).await;
    let row: Count = diesel::sql_query(sql)
        .bind::<Text, _>(id)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.count
}

/// Sum of the stock ledger's deltas of a product.
async fn ledger_sum(system: &System, product: &str) -> i64 {
    count(
        system,
        "catalog",
        "SELECT coalesce(sum(delta), 0)::bigint AS count FROM stock_ledger WHERE product_id = $1::uuid",
        product,
    )
    .await
}

/// Waits until `check` holds (the event-driven parts take a moment), or fails.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn checkout_from_the_cart_snapshots_prices_reserves_stock_and_empties_the_cart() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("cart-buyer@example.com").await;
    let address_id = saved_address(&system, &token).await;
    let phone = product(&system, &admin, "Checkout phone", 99_900, 5).await;
    let case = product(&system, &admin, "Checkout case", 1_500, 10).await;
    let keep = product(&system, &admin, "Not bought", 100, 10).await;
    for (p, q) in [(&phone, 1), (&case, 2)] {
        let added = system
            .graphql_as(&token, ADD, json!({ "p": p, "q": q }))
            .await;
        assert_eq!(added["errors"], Value::Null, "{added}");
    }

    let before = chrono::Utc::now();
    let placed = checkout(
        &system,
        &token,
        json!({ "idempotencyKey": "first-checkout", "addressId": address_id, "note": "ring twice" }),
    )
    .await;
    assert_eq!(placed["errors"], Value::Null, "{placed}");
    let order = &placed["data"]["checkout"];
    assert_eq!(order["status"], "PENDING_PAYMENT");
    assert_eq!(order["subtotal"]["amount"], 99_900 + 2 * 1_500);
    assert_eq!(order["total"]["amount"], 99_900 + 2 * 1_500);
    assert_eq!(order["discount"]["amount"], 0);
    assert_eq!(order["subtotal"]["currency"], "CNY");
    assert_eq!(
        order["nextStatuses"],
        json!(["PAID", "CANCELLED", "EXPIRED"])
    );
    assert_eq!(
        order["history"],
        json!([{ "from": null, "to": "PENDING_PAYMENT", "reason": null }])
    );
    assert_eq!(order["shippingAddress"]["city"], "Hangzhou");
    assert!(
        order["number"].as_str().unwrap().starts_with("DM"),
        "{order}"
    );
    let items = order["items"].as_array().unwrap();
    let names: HashSet<&str> = items
        .iter()
        .map(|i| i["productName"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["Checkout phone", "Checkout case"]));
    let case_line = items
        .iter()
        .find(|i| i["product"]["id"] == case.as_str())
        .unwrap();
    assert_eq!(case_line["lineTotal"]["amount"], 3_000);
    assert_eq!(
        case_line["product"]["name"], "Checkout case",
        "federated product"
    );
    let expires: chrono::DateTime<chrono::Utc> =
        order["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires - before;
    assert!(
        (14..=16).contains(&ttl.num_minutes()),
        "expiresAt {expires}"
    );

    // Stock reserved, cart emptied of the lines bought only.
    assert_eq!(stock(&system, &admin, &phone).await, 4);
    assert_eq!(stock(&system, &admin, &case).await, 8);
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["data"]["cart"]["totalQuantity"], 0, "{cart}");
    let added = system
        .graphql_as(&token, ADD, json!({ "p": keep, "q": 1 }))
        .await;
    assert_eq!(added["errors"], Value::Null);

    // A later price change leaves the order's snapshot as it was.
    let update = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { updateProduct(id: $id, input: { price: 1, name: \"Renamed\" }) { id } }",
            json!({ "id": phone }),
        )
        .await;
    assert_eq!(update["errors"], Value::Null, "{update}");
    let id = order["id"].as_str().unwrap();
    let read = system.graphql_as(&token, ORDER, json!({ "id": id })).await;
    let phone_line = &read["data"]["order"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["productName"] == "Checkout phone")
        .cloned()
        .unwrap_or_else(|| panic!("{read}"));
    assert_eq!(phone_line["unitPrice"]["amount"], 99_900);

    // The OrderPlaced event is on the bus; the cart took the lines out once.
    eventually("OrderPlaced published", || async {
        system
            .events("orders")
            .await
            .iter()
            .any(|e| e.name == "OrderPlaced")
    })
    .await;
    let event = system.events("orders").await.remove(0);
    assert_eq!(event.aggregate_id, id);
    assert_eq!(event.payload["fromCart"], true);
    assert!(event.traceparent.is_some());
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_buyers_of_the_last_ten_units_make_ten_orders() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("crowd@example.com").await;
    let hot = product(&system, &admin, "Hot item", 500, 10).await;
    let tries = join_all((0..200).map(|i| {
        let input = buy(&format!("crowd-key-{i:03}"), &[(&hot, 1)]);
        let (system, token) = (&system, &token);
        async move { checkout(system, token, input).await }
    }))
    .await;
    let placed = tries.iter().filter(|r| r["errors"].is_null()).count();
    let mut codes: HashMap<String, usize> = HashMap::new();
    for r in &tries {
        for code in error_codes(r) {
            *codes.entry(code).or_default() += 1;
        }
    }
    assert_eq!(placed, 10, "{codes:?}");
    assert_eq!(codes.get("INSUFFICIENT_STOCK"), Some(&190), "{codes:?}");
    let refused = tries.iter().find(|r| !r["errors"].is_null()).unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["productId"],
        hot.as_str()
    );
    assert_eq!(refused["errors"][0]["extensions"]["available"], 0);
    assert_eq!(stock(&system, &admin, &hot).await, 0);
    assert_eq!(ledger_sum(&system, &hot).await, 0, "10 in, 10 reserved");

    // Multi-line orders whose lines overlap in opposite order: no deadlock, all or nothing.
    let a = product(&system, &admin, "Left", 100, 10).await;
    let b = product(&system, &admin, "Right", 100, 10).await;
    let tries = join_all((0..60).map(|i| {
        let lines = if i % 2 == 0 {
            [(&a[..], 1), (&b[..], 1)]
        } else {
            [(&b[..], 1), (&a[..], 1)]
        };
        let input = buy(&format!("pair-key-{i:03}"), &lines);
        let (system, token) = (&system, &token);
        async move { checkout(system, token, input).await }
    }))
    .await;
    let placed = tries.iter().filter(|r| r["errors"].is_null()).count();
    for r in tries.iter().filter(|r| !r["errors"].is_null()) {
        assert_eq!(error_codes(r), ["INSUFFICIENT_STOCK"], "{r}");
    }
    assert_eq!(placed, 10);
    assert_eq!(stock(&system, &admin, &a).await, 0);
    assert_eq!(stock(&system, &admin, &b).await, 0);
    assert_eq!(ledger_sum(&system, &a).await, 0);
    assert_eq!(ledger_sum(&system, &b).await, 0);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_with_one_key_make_one_order_and_bad_requests_change_nothing() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("retry@example.com").await;
    let item = product(&system, &admin, "Retried", 700, 50).await;
    let input = buy("same-key-for-all", &[(&item, 3)]);
    let tries = join_all((0..10).map(|_| checkout(&system, &token, input.clone()))).await;
    let ids: HashSet<&str> = tries
        .iter()
        .map(|r| {
            r["data"]["checkout"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
        })
        .collect();
    assert_eq!(ids.len(), 1, "one order");
    assert_eq!(stock(&system, &admin, &item).await, 47, "stock taken once");
    let again = checkout(&system, &token, input.clone()).await;
    assert_eq!(
        again["data"]["checkout"]["id"].as_str(),
        ids.iter().next().copied()
    );
    let other_body = checkout(&system, &token, buy("same-key-for-all", &[(&item, 4)])).await;
    assert_eq!(error_codes(&other_body), ["CONFLICT"], "{other_body}");

    // Bad requests: each refused with its code, and nothing changes anywhere.
    let stranger = system.register("stranger@example.com").await;
    let foreign_address = saved_address(&system, &stranger).await;
    let archived = product(&system, &admin, "Gone", 100, 5).await;
    system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { archiveProduct(id: $id) { id } }",
            json!({ "id": archived }),
        )
        .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut bad_address = address();
    bad_address["phone"] = json!("call me");
    let cases = [
        (
            json!({ "idempotencyKey": "empty-cart-1" }),
            "CONFLICT",
            None,
        ),
        (
            buy("zero-quantity", &[(&item, 0)]),
            "BAD_USER_INPUT",
            Some("input.items[0].quantity"),
        ),
        (
            buy("too-many-units", &[(&item, 1000)]),
            "BAD_USER_INPUT",
            Some("input.items[0].quantity"),
        ),
        (
            buy("short", &[(&item, 1)]),
            "BAD_USER_INPUT",
            Some("input.idempotencyKey"),
        ),
        (buy("unknown-product", &[(&unknown, 1)]), "NOT_FOUND", None),
        (
            buy("archived-product", &[(&item, 1), (&archived, 1)]),
            "CONFLICT",
            None,
        ),
        (
            json!({ "idempotencyKey": "foreign-address", "addressId": foreign_address, "items": [{ "productId": item, "quantity": 1 }] }),
            "NOT_FOUND",
            None,
        ),
        (
            json!({ "idempotencyKey": "bad-address-1", "address": bad_address, "items": [{ "productId": item, "quantity": 1 }] }),
            "BAD_USER_INPUT",
            Some("input.address.phone"),
        ),
    ];
    let many: Vec<Value> = (0..101)
        .map(|_| json!({ "productId": uuid::Uuid::new_v4().to_string(), "quantity": 1 }))
        .collect();
    let too_many_lines = checkout(
        &system,
        &token,
        json!({ "idempotencyKey": "many-lines", "address": address(), "items": many }),
    )
    .await;
    assert_eq!(error_codes(&too_many_lines), ["BAD_USER_INPUT"]);
    for (input, code, field) in cases {
        let response = checkout(&system, &token, input.clone()).await;
        assert_eq!(error_codes(&response), [code], "{input}: {response}");
        if let Some(field) = field {
            assert_eq!(
                response["errors"][0]["extensions"]["field"], field,
                "{response}"
            );
        }
    }
    assert_eq!(
        stock(&system, &admin, &item).await,
        47,
        "nothing reserved by a failure"
    );
    let orders = system
        .graphql_as(&token, "{ me { orders { totalCount } } }", json!({}))
        .await;
    assert_eq!(orders["data"]["me"]["orders"]["totalCount"], 1, "{orders}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_returns_stock_once_and_only_the_owner_sees_or_changes_an_order() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("owner@example.com").await;
    let stranger = system.register("nosy@example.com").await;
    let item = product(&system, &admin, "Cancellable", 300, 5).await;
    let placed = checkout(&system, &token, buy("cancel-me-please", &[(&item, 2)])).await;
    let id = placed["data"]["checkout"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();
    assert_eq!(stock(&system, &admin, &item).await, 3);

    // A stranger cannot see, cancel or re-address it, by any path.
    let seen = system
        .graphql_as(&stranger, ORDER, json!({ "id": id }))
        .await;
    assert_eq!(error_codes(&seen), ["NOT_FOUND"], "{seen}");
    assert_eq!(seen["data"]["order"], Value::Null);
    let cancelled = system
        .graphql_as(&stranger, CANCEL, json!({ "id": id }))
        .await;
    assert_eq!(error_codes(&cancelled), ["NOT_FOUND"]);
    let moved = system
        .graphql_as(&stranger, ADDRESS, json!({ "id": id, "a": address() }))
        .await;
    assert_eq!(error_codes(&moved), ["NOT_FOUND"]);
    let entities = system
        .post_as(
            &system.subgraph_url("order"),
            Some(&stranger),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id total { amount } } } }",
            json!({ "r": [{ "__typename": "Order", "id": id }] }),
        )
        .await;
    assert_eq!(entities["data"]["_entities"][0], Value::Null, "{entities}");
    assert_eq!(error_codes(&entities), ["NOT_FOUND"]);
    let anonymous = system.graphql(ORDER, json!({ "id": id })).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    // The admin (orders:read) sees it.
    let as_admin = system.graphql_as(&admin, ORDER, json!({ "id": id })).await;
    assert_eq!(as_admin["data"]["order"]["id"], id.as_str(), "{as_admin}");

    // The owner changes the address while unpaid, then cancels.
    let mut elsewhere = address();
    elsewhere["city"] = json!("Shanghai");
    let moved = system
        .graphql_as(&token, ADDRESS, json!({ "id": id, "a": elsewhere }))
        .await;
    assert_eq!(
        moved["data"]["updateOrderAddress"]["shippingAddress"]["city"], "Shanghai",
        "{moved}"
    );
    elsewhere["phone"] = json!("");
    let invalid = system
        .graphql_as(&token, ADDRESS, json!({ "id": id, "a": elsewhere }))
        .await;
    assert_eq!(
        invalid["errors"][0]["extensions"]["field"], "address.phone",
        "{invalid}"
    );
    let cancelled = system
        .graphql_as(&token, CANCEL, json!({ "id": id, "r": "changed my mind" }))
        .await;
    let order = &cancelled["data"]["cancelOrder"];
    assert_eq!(order["status"], "CANCELLED", "{cancelled}");
    assert_eq!(order["cancelReason"], "changed my mind");
    assert_eq!(
        order["history"][1],
        json!({ "from": "PENDING_PAYMENT", "to": "CANCELLED", "reason": "changed my mind" })
    );
    assert_eq!(stock(&system, &admin, &item).await, 5, "stock back at once");
    let again = system.graphql_as(&token, CANCEL, json!({ "id": id })).await;
    assert_eq!(error_codes(&again), ["CONFLICT"]);
    let moved = system
        .graphql_as(&token, ADDRESS, json!({ "id": id, "a": address() }))
        .await;
    assert_eq!(error_codes(&moved), ["CONFLICT"]);
    let read = system.graphql_as(&token, ORDER, json!({ "id": id })).await;
    assert_eq!(read["data"]["order"]["nextStatuses"], json!([]));

    // The OrderCancelled event reaches the catalog, whose release changes nothing again.
    eventually("OrderCancelled published", || async {
        system
            .events("orders")
            .await
            .iter()
            .any(|e| e.name == "OrderCancelled")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stock(&system, &admin, &item).await, 5, "released once");
    assert_eq!(ledger_sum(&system, &item).await, 5);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn order_history_pages_newest_first_and_admin_listing_needs_orders_read() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("pager@example.com").await;
    let item = product(&system, &admin, "Paged", 100, 100).await;
    let mut placed = place_orders(&system, &token, "page-key", &item, 1, 5).await;
    system
        .graphql_as(&token, CANCEL, json!({ "id": placed[1] }))
        .await;
    const MINE: &str = "query($after: String, $status: OrderStatus) { me { orders(first: 2, after: $after, status: $status) { \
        totalCount pageInfo { hasNextPage endCursor } edges { node { id status } } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = system
            .graphql_as(&token, MINE, json!({ "after": after }))
            .await;
        let orders = &page["data"]["me"]["orders"];
        assert_eq!(orders["totalCount"], 5, "{page}");
        for edge in orders["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        if orders["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = orders["pageInfo"]["endCursor"].clone();
    }
    placed.reverse();
    assert_eq!(seen, placed, "every order once, newest first");
    let cancelled = system
        .graphql_as(&token, MINE, json!({ "status": "CANCELLED" }))
        .await;
    assert_eq!(
        cancelled["data"]["me"]["orders"]["totalCount"], 1,
        "{cancelled}"
    );

    const ALL: &str =
        "{ orders(first: 100) { totalCount edges { node { id customer { id email } } } } }";
    let refused = system.graphql_as(&token, ALL, json!({})).await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"], "{refused}");
    let listed = system.graphql_as(&admin, ALL, json!({})).await;
    assert_eq!(listed["data"]["orders"]["totalCount"], 5, "{listed}");
    assert_eq!(
        listed["data"]["orders"]["edges"][0]["node"]["customer"]["email"],
        "pager@example.com"
    );
    let bad = system
        .graphql_as(&admin, "{ orders(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"]);
    system.stop().await;
}

/// Options whose orders wait `payment_ttl` for payment, whose abandoned checkouts are let go
/// after a second, and whose sweeps and relays run fast enough for tests.
fn fast_orders(payment_ttl: Duration) -> Options {
    Options {
        orders: Some(OrderSettings {
            payment_ttl,
            abandon_after: Duration::from_secs(1),
            expiry_grace: Duration::ZERO,
        }),
        events: Some(EventSettings {
            sweep_interval: Duration::from_millis(200),
            outbox_poll: Duration::from_millis(20),
            ..EventSettings::default()
        }),
        ..Options::default()
    }
}

/// The system with a payment TTL of `payment_ttl` and sweeps fast enough for tests.
async fn fast_system(payment_ttl: Duration) -> System {
    System::start_with(fast_orders(payment_ttl)).await
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], support::free_port()))
}

async fn statuses(system: &System, admin: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let read = system.graphql_as(admin, ORDER, json!({ "id": id })).await;
        out.push(
            read["data"]["order"]["status"]
                .as_str()
                .unwrap_or_else(|| panic!("{read}"))
                .to_owned(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn unpaid_orders_expire_exactly_once_with_two_replicas_and_across_restarts() {
    let system = fast_system(Duration::from_secs(2)).await;
    let replica = system
        .start_replica(&order_subgraph::SUBGRAPH, free_addr())
        .await;
    let admin = system.admin_token().await;
    let token = system.register("late@example.com").await;
    let item = product(&system, &admin, "Expiring", 100, 20).await;
    let mut ids = place_orders(&system, &token, "expire-key", &item, 2, 6).await;
    assert_eq!(stock(&system, &admin, &item).await, 8);
    eventually("every order expired", || async {
        statuses(&system, &admin, &ids)
            .await
            .iter()
            .all(|s| s == "EXPIRED")
    })
    .await;
    eventually("stock released", || async {
        stock(&system, &admin, &item).await == 20
    })
    .await;

    // Stop both replicas; orders that fall due meanwhile expire after the restart.
    let mut system = system;
    replica.stop().await;
    let order_addr: SocketAddr = system.subgraph_url("order")[7..]
        .trim_end_matches("/graphql")
        .parse()
        .unwrap();
    let more = place_orders(&system, &token, "restart-key", &item, 1, 4).await;
    system.stop_subgraph("order").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(
            &system,
            "order",
            "SELECT count(*) AS count FROM orders WHERE status = $1",
            "EXPIRED"
        )
        .await,
        6,
        "nothing expires while no replica runs"
    );
    let first = system
        .start_replica(&order_subgraph::SUBGRAPH, order_addr)
        .await;
    let second = system
        .start_replica(&order_subgraph::SUBGRAPH, free_addr())
        .await;
    ids.extend(more);
    eventually("the rest expired after the restart", || async {
        statuses(&system, &admin, &ids)
            .await
            .iter()
            .all(|s| s == "EXPIRED")
    })
    .await;
    eventually("all stock back", || async {
        stock(&system, &admin, &item).await == 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    for id in &ids {
        let expiries = count(
            &system,
            "order",
            "SELECT count(*) AS count FROM order_status_history WHERE order_id = $1::uuid AND to_status = 'EXPIRED'",
            id,
        )
        .await;
        assert_eq!(expiries, 1, "order {id} expired once");
        let releases = count(
            &system,
            "catalog",
            "SELECT count(*) AS count FROM stock_ledger WHERE order_id = $1::uuid AND delta > 0",
            id,
        )
        .await;
        assert_eq!(releases, 1, "stock of {id} released once");
    }
    let expired_events = system
        .events("orders")
        .await
        .iter()
        .filter(|e| e.name == "OrderExpired")
        .count();
    assert_eq!(expired_events, 10);
    assert_eq!(stock(&system, &admin, &item).await, 20);
    first.stop().await;
    second.stop().await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkout_that_dies_after_reserving_gives_its_stock_back_and_never_becomes_an_order() {
    let mut system = fast_system(Duration::from_secs(900)).await;
    let admin = system.admin_token().await;
    let token = system.register("crash@example.com").await;
    let item = product(&system, &admin, "Orphaned", 100, 10).await;
    let user: String = {
        let me = system.graphql_as(&token, "{ me { id } }", json!({})).await;
        me["data"]["me"]["id"].as_str().unwrap().to_owned()
    };

    // What a process that died between reserving and creating the order leaves behind: its
    // claim (RESERVING) and the catalog's reservation.
    let order_id = uuid::Uuid::now_v7();
    let mut conn = system.sql("order").await;
    diesel::sql_query(
        "INSERT INTO checkout_attempts (user_id, idempotency_key, request_hash, order_id, state) \
         VALUES ($1::uuid, 'crashed-checkout', 'x', $2, 'RESERVING')",
    )
    .bind::<Text, _>(&user)
    .bind::<SqlUuid, _>(order_id)
    .execute(&mut conn)
    .await
    .unwrap();
    let catalog = system
        .subgraph_url("catalog")
        .replace("/graphql", "/internal/stock/reserve");
    let reserved = reqwest::Client::new()
        .post(&catalog)
        .header(
            service_kit::internal::TOKEN_HEADER,
            service_kit::config::DEV_INTERNAL_TOKEN,
        )
        .json(&json!({ "orderId": order_id, "lines": [{ "productId": item, "quantity": 4 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 200);
    assert_eq!(stock(&system, &admin, &item).await, 6);
    // Without the secret, the internal route refuses.
    let refused = reqwest::Client::new()
        .post(&catalog)
        .json(&json!({ "orderId": uuid::Uuid::now_v7(), "lines": [{ "productId": item, "quantity": 1 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The sweeper abandons the claim; the catalog gives the stock back; no order exists.
    eventually("orphaned stock released", || async {
        stock(&system, &admin, &item).await == 10
    })
    .await;
    let orders = count(
        &system,
        "order",
        "SELECT count(*) AS count FROM orders WHERE id = $1::uuid",
        &order_id.to_string(),
    )
    .await;
    assert_eq!(orders, 0);
    // The abandoned order id can no longer reserve (a late request of the dead process).
    let late = reqwest::Client::new()
        .post(&catalog)
        .header(
            service_kit::internal::TOKEN_HEADER,
            service_kit::config::DEV_INTERNAL_TOKEN,
        )
        .json(&json!({ "orderId": order_id, "lines": [{ "productId": item, "quantity": 4 }] }))
        .send()
        .await
        .unwrap();
    let late: Value = late.json().await.unwrap();
    assert_eq!(late["status"], "RELEASED", "{late}");
    assert_eq!(stock(&system, &admin, &item).await, 10);

    // With the catalog down, checkout fails and leaves no order (nor, later, a reservation).
    system.stop_subgraph("catalog").await;
    let down = checkout(&system, &token, buy("catalog-is-down", &[(&item, 1)])).await;
    assert_eq!(error_codes(&down), ["UNAVAILABLE"], "{down}");
    let orders = count(
        &system,
        "order",
        "SELECT count(*) AS count FROM orders WHERE user_id = $1::uuid",
        &user,
    )
    .await;
    assert_eq!(orders, 0);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_publishes_committed_changes_only_and_loses_nothing_when_the_relay_stops() {
    let mut system = fast_system(Duration::from_secs(900)).await;
    let admin = system.admin_token().await;
    let token = system.register("events@example.com").await;
    let item = product(&system, &admin, "Evented", 100, 3).await;
    let placed = checkout(&system, &token, buy("event-key-1", &[(&item, 1)])).await;
    let id = placed["data"]["checkout"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    system.graphql_as(&token, CANCEL, json!({ "id": id })).await;
    // Failures commit nothing, so they publish nothing.
    let failed = checkout(&system, &token, buy("event-key-2", &[(&item, 99)])).await;
    assert_eq!(error_codes(&failed), ["INSUFFICIENT_STOCK"]);
    eventually("two events published", || async {
        system.events("orders").await.len() == 2
    })
    .await;
    let names: Vec<String> = system
        .events("orders")
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["OrderPlaced", "OrderCancelled"]);

    // A rolled-back change has no event.
    let mut conn = system.sql("order").await;
    let rolled_back: Result<(), diesel::result::Error> =
        diesel_async::AsyncConnection::transaction(&mut conn, async |conn| {
            event_bus::NewEvent::new("orders", "OrderPaid", &id, &json!({}), None)
                .insert(conn)
                .await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(rolled_back.is_err());

    // Stop the only relay (the order subgraph) and commit changes: they wait in the outbox.
    system.stop_subgraph("order").await;
    for n in 0..5 {
        event_bus::NewEvent::new(
            "orders",
            "TestEvent",
            format!("while-down-{n}"),
            &json!({ "n": n }),
            None,
        )
        .insert(&mut conn)
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        system.events("orders").await.len(),
        2,
        "nothing relays while stopped"
    );
    let replica = system
        .start_replica(&order_subgraph::SUBGRAPH, free_addr())
        .await;
    eventually("the backlog published", || async {
        system.events("orders").await.len() == 7
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = system.events("orders").await;
    assert_eq!(events.len(), 7, "published once each");
    let test_events: Vec<&Value> = events
        .iter()
        .filter(|e| e.name == "TestEvent")
        .map(|e| &e.payload["n"])
        .collect();
    assert_eq!(
        test_events,
        [&json!(0), &json!(1), &json!(2), &json!(3), &json!(4)],
        "in commit order"
    );
    assert!(
        !events.iter().any(|e| e.name == "OrderPaid"),
        "no event of a rolled-back change"
    );
    replica.stop().await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_is_visible_to_its_payer_and_payments_read_and_never_opens_the_order() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Paid thing", 1500, 5).await;
    let payer = system.register("payer@example.com").await;
    let placed = checkout(&system, &payer, buy("pay-visibility-1", &[(&item, 1)])).await;
    let order_id = placed["data"]["checkout"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();
    let payer_id = placed["data"]["checkout"]["customer"]["id"]
        .as_str()
        .unwrap();
    // A payment as the payment subgraph records one (nothing creates them through the API
    // yet).
    let payment_id = uuid::Uuid::now_v7();
    let mut conn = system.sql("payment").await;
    diesel::sql_query(
        "INSERT INTO payments (id, order_id, status, method, amount, currency, user_id, \
         idempotency_key, gateway_reference, expires_at) \
         VALUES ($1, $2, 'PENDING', 'SANDBOX_CARD', 1500, 'CNY', $3, 'visibility-1', \
         'sandbox-visibility-1', now() + interval '15 minutes')",
    )
    .bind::<SqlUuid, _>(payment_id)
    .bind::<SqlUuid, _>(uuid::Uuid::parse_str(&order_id).unwrap())
    .bind::<SqlUuid, _>(uuid::Uuid::parse_str(payer_id).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    const PAYMENT: &str =
        "query($id: ID!) { payment(id: $id) { id status amount { amount } order { id status } } }";
    const ORDER_PAYMENTS: &str = "query($id: ID!) { order(id: $id) { id payments { id } } }";
    let id = json!({ "id": payment_id });

    let own = system.graphql_as(&payer, PAYMENT, id.clone()).await;
    assert_eq!(own["errors"], Value::Null, "{own}");
    assert_eq!(own["data"]["payment"]["order"]["id"], order_id.as_str());
    let listed = system
        .graphql_as(&payer, ORDER_PAYMENTS, json!({ "id": order_id }))
        .await;
    assert_eq!(
        listed["data"]["order"]["payments"][0]["id"],
        payment_id.to_string(),
        "{listed}"
    );

    // Another customer: as if it did not exist, through the router and at the subgraph.
    let stranger = system.register("stranger@example.com").await;
    let theirs = system.graphql_as(&stranger, PAYMENT, id.clone()).await;
    assert_eq!(theirs["data"]["payment"], Value::Null, "{theirs}");
    assert_eq!(error_codes(&theirs), ["NOT_FOUND"], "{theirs}");
    const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on Payment { id amount { amount } } ... on Order { payments { id } } } }";
    let entity = system
        .post_as(
            &system.subgraph_url("payment"),
            Some(&stranger),
            ENTITIES,
            json!({ "r": [{ "__typename": "Payment", "id": payment_id }] }),
        )
        .await;
    assert_eq!(entity["data"]["_entities"][0], Value::Null, "{entity}");
    assert_eq!(error_codes(&entity), ["NOT_FOUND"], "{entity}");
    let of_order = system
        .post_as(
            &system.subgraph_url("payment"),
            Some(&stranger),
            ENTITIES,
            json!({ "r": [{ "__typename": "Order", "id": order_id }] }),
        )
        .await;
    assert_eq!(
        of_order["data"]["_entities"][0]["payments"],
        json!([]),
        "{of_order}"
    );

    // payments:read shows the payment, but not the order behind it (that needs orders:read).
    let auditor = system.register("auditor@example.com").await;
    let auditor_id = system
        .graphql_as(&auditor, "{ me { id } }", json!({}))
        .await["data"]["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, variables) in [
        (
            "mutation { upsertRole(name: \"payment-auditor\", permissions: [\"payments:read\"]) { name } }",
            json!({}),
        ),
        (
            "mutation($id: ID!) { setUserRoles(userId: $id, roles: [\"customer\", \"payment-auditor\"]) { id } }",
            json!({ "id": auditor_id }),
        ),
    ] {
        let done = system.graphql_as(&admin, query, variables).await;
        assert_eq!(done["errors"], Value::Null, "{done}");
    }
    let audited = system
        .graphql_as(
            &auditor,
            "query($id: ID!) { payment(id: $id) { id amount { amount } } }",
            id.clone(),
        )
        .await;
    assert_eq!(
        audited["data"]["payment"]["amount"]["amount"], 1500,
        "{audited}"
    );
    // `Payment.order` is non-null: the order's NOT_FOUND takes the payment with it.
    let with_order = system.graphql_as(&auditor, PAYMENT, id.clone()).await;
    assert_eq!(with_order["data"]["payment"], Value::Null, "{with_order}");
    assert_eq!(error_codes(&with_order), ["NOT_FOUND"], "{with_order}");
    assert_eq!(
        with_order["errors"][0]["extensions"]["affectedPath"], "payment.order",
        "{with_order}"
    );

    // The admin (every permission) sees both.
    let as_admin = system.graphql_as(&admin, PAYMENT, id).await;
    assert_eq!(as_admin["errors"], Value::Null, "{as_admin}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_payment_subgraph_can_ask_what_an_order_owes_and_nobody_else_can() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Summarised thing", 2500, 3).await;
    let buyer = system.register("summary@example.com").await;
    let placed = checkout(&system, &buyer, buy("summary-key-1", &[(&item, 2)])).await;
    let order_id = placed["data"]["checkout"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();
    let url = system
        .subgraph_url("order")
        .replace("/graphql", "/internal/orders/summary");
    let ask = |token: Option<&'static str>, order: String| {
        let mut request = reqwest::Client::new()
            .post(&url)
            .json(&json!({ "orderId": order }));
        if let Some(token) = token {
            request = request.header(service_kit::internal::TOKEN_HEADER, token);
        }
        request.send()
    };
    let answer = ask(
        Some(service_kit::config::DEV_INTERNAL_TOKEN),
        order_id.clone(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    let summary: peer_api::OrderSummary = answer.json().await.unwrap();
    assert_eq!(
        (
            summary.status.as_str(),
            summary.total_amount,
            summary.currency.as_str()
        ),
        ("PENDING_PAYMENT", 5000, "CNY")
    );
    assert_eq!(
        summary.user_id.to_string(),
        placed["data"]["checkout"]["customer"]["id"]
            .as_str()
            .unwrap()
    );
    assert!(summary.expires_at.is_some());
    let unknown = ask(
        Some(service_kit::config::DEV_INTERNAL_TOKEN),
        uuid::Uuid::now_v7().to_string(),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    let without_secret = ask(None, order_id).await.unwrap();
    assert_eq!(without_secret.status(), 401);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_succeeded_payment_pays_its_order_and_its_full_refund_refunds_it_and_returns_the_stock() {
    use payment_subgraph::domain::status::Command as PaymentCommand;
    use payment_subgraph::workflows::payments::{self, Created};
    use payment_subgraph::workflows::refunds::{self, NewRefund};

    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Paid and refunded", 1200, 5).await;
    let buyer = system.register("follows@example.com").await;
    let (order_id, user_id) = place_order(&system, &buyer, "follow-key-1", &item, 2).await;
    let user_id = user_id.as_str();
    assert_eq!(stock(&system, &admin, &item).await, 3);

    // The payment subgraph's own statements (payOrder and the gateway will call them).
    let mut conn = system.sql("payment").await;
    let id = uuid::Uuid::now_v7();
    let created = pending_payment(
        &mut conn,
        (id, &order_id, user_id),
        ("SANDBOX_CARD", 2400),
        ("follow-pay-1", &format!("sandbox-{id}")),
    )
    .await;
    assert!(matches!(created, Created::New(_)));
    payments::apply(&mut conn, id, PaymentCommand::Approve, "approved", None)
        .await
        .unwrap();
    let status = || {
        system.graphql_as(
            &buyer,
            "query($id: ID!) { order(id: $id) { status paidAt } }",
            json!({ "id": order_id }),
        )
    };
    eventually("the order is paid", || async {
        status().await["data"]["order"]["status"] == "PAID"
    })
    .await;
    assert!(status().await["data"]["order"]["paidAt"].is_string());

    // A partial refund leaves the order paid; refunding the rest refunds it, and its stock
    // comes back once.
    let refund = |amount: Option<i64>, key: &str| NewRefund {
        payment_id: id,
        amount,
        reason: "customer asked".into(),
        idempotency_key: key.into(),
        created_by: None,
    };
    refunds::refund(&mut conn, refund(Some(400), "follow-refund-1"), None)
        .await
        .unwrap();
    refunds::refund(&mut conn, refund(None, "follow-refund-2"), None)
        .await
        .unwrap();
    eventually("the order is refunded", || async {
        status().await["data"]["order"]["status"] == "REFUNDED"
    })
    .await;
    eventually("the stock is back", || async {
        stock(&system, &admin, &item).await == 5
    })
    .await;
    // Redelivery changes nothing: the stock stays at 5.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stock(&system, &admin, &item).await, 5);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_an_order_cancels_its_open_payment() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Changed my mind", 800, 4).await;
    let buyer = system.register("mind@example.com").await;
    let (order_id, user_id) = place_order(&system, &buyer, "mind-key-1", &item, 1).await;
    let user_id = user_id.as_str();
    let mut conn = system.sql("payment").await;
    let id = uuid::Uuid::now_v7();
    pending_payment(
        &mut conn,
        (id, &order_id, user_id),
        ("SANDBOX_WALLET", 800),
        ("mind-pay-1", &format!("sandbox-{id}")),
    )
    .await;
    let cancelled = system
        .graphql_as(
            &buyer,
            CANCEL,
            json!({ "id": order_id, "r": "changed my mind" }),
        )
        .await;
    assert_eq!(cancelled["errors"], Value::Null, "{cancelled}");
    eventually("the open payment is cancelled", || async {
        count(
            &system,
            "payment",
            "SELECT count(*) AS count FROM payments WHERE id = $1::uuid AND status = 'CANCELLED'",
            &id.to_string(),
        )
        .await
            == 1
    })
    .await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_gateway_page_approves_and_declines_and_tells_the_shop_through_the_webhook() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Gateway thing", 990, 5).await;
    let buyer = system.register("gateway@example.com").await;
    let gateway = system.subgraph_url("payment").replace("/graphql", "");
    let http = reqwest::Client::new();

    let mut pending = Vec::new();
    for key in ["gateway-key-1", "gateway-key-2"] {
        let (order, user) = place_order(&system, &buyer, key, &item, 1).await;
        let user = user.as_str();
        let mut conn = system.sql("payment").await;
        let id = uuid::Uuid::now_v7();
        let reference = format!("sandbox-{id}");
        pending_payment(
            &mut conn,
            (id, &order, user),
            ("SANDBOX_CARD", 990),
            (&format!("{key}-pay"), &reference),
        )
        .await;
        pending.push((order, id, reference));
    }
    let payment_status = |id: uuid::Uuid| {
        let system = &system;
        async move {
            let mut conn = system.sql("payment").await;
            diesel::sql_query("SELECT status AS text FROM payments WHERE id = $1")
                .bind::<SqlUuid, _>(id)
                .get_result::<TextRow>(&mut conn)
                .await
                .unwrap()
                .text
        }
    };

    // The page offers both buttons, as plain forms.
    let (approved_order, approved, reference) = &pending[0];
    let page = http
        .get(format!("{gateway}/sandbox/pay/{reference}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/approve") && html.contains("/decline"),
        "{html}"
    );
    assert!(html.contains("9.90"), "{html}");

    // Approve (as the form would): the shop hears it through the webhook, the order is paid.
    let answer = http
        .post(format!("{gateway}/sandbox/pay/{reference}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    eventually("the payment succeeds", || async {
        payment_status(*approved).await == "SUCCEEDED"
    })
    .await;
    eventually("the order is paid", || async {
        system
            .graphql_as(
                &buyer,
                "query($id: ID!) { order(id: $id) { status } }",
                json!({ "id": approved_order }),
            )
            .await["data"]["order"]["status"]
            == "PAID"
    })
    .await;
    // A second decision on the same payment is refused.
    let again = http
        .post(format!("{gateway}/sandbox/pay/{reference}/decline"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    // Decline the other one: it fails, and its order is still waiting for payment.
    let (declined_order, declined, reference) = &pending[1];
    let answer = http
        .post(format!("{gateway}/sandbox/pay/{reference}/decline"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    eventually("the payment fails", || async {
        payment_status(*declined).await == "FAILED"
    })
    .await;
    let order = system
        .graphql_as(
            &buyer,
            "query($id: ID!) { order(id: $id) { status } }",
            json!({ "id": declined_order }),
        )
        .await;
    assert_eq!(
        order["data"]["order"]["status"], "PENDING_PAYMENT",
        "{order}"
    );
    let missing = http
        .get(format!("{gateway}/sandbox/pay/sandbox-nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    system.stop().await;
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

pub(crate) const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) { id status method \
    amount { amount currency } refundedAmount { amount } redirectUrl expiresAt order { id status } } }";
const REFUND: &str = "mutation($input: RefundInput!) { refundPayment(input: $input) { id amount { amount } \
    payment { id status refundedAmount { amount } } } }";

pub(crate) fn pay(order: &str, key: &str) -> Value {
    json!({ "input": { "orderId": order, "method": "SANDBOX_CARD", "idempotencyKey": key } })
}

#[tokio::test(flavor = "multi_thread")]
async fn pay_approve_at_the_gateway_refund_through_the_router() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Paid through the router", 1250, 5).await;
    let buyer = system.register("router-payer@example.com").await;
    let (order, _) = place_order(&system, &buyer, "router-pay-1", &item, 2).await;

    // Someone else cannot pay it; a malformed key is refused.
    let stranger = system.register("router-stranger@example.com").await;
    let theirs = system
        .graphql_as(&stranger, PAY, pay(&order, "stranger-key-1"))
        .await;
    assert_eq!(error_codes(&theirs), ["NOT_FOUND"], "{theirs}");
    let short = system.graphql_as(&buyer, PAY, pay(&order, "short")).await;
    assert_eq!(error_codes(&short), ["BAD_USER_INPUT"], "{short}");

    // Decline first: the order can be paid again.
    let first = system
        .graphql_as(&buyer, PAY, pay(&order, "router-pay-key-1"))
        .await;
    assert_eq!(first["errors"], Value::Null, "{first}");
    let payment = &first["data"]["payOrder"];
    assert_eq!(payment["status"], "PENDING");
    assert_eq!(payment["amount"]["amount"], 2500);
    let again = system
        .graphql_as(&buyer, PAY, pay(&order, "router-pay-key-1"))
        .await;
    assert_eq!(
        again["data"]["payOrder"]["id"], payment["id"],
        "same key, same payment"
    );
    let second_open = system
        .graphql_as(&buyer, PAY, pay(&order, "router-pay-key-2"))
        .await;
    assert_eq!(error_codes(&second_open), ["CONFLICT"], "{second_open}");
    let redirect = payment["redirectUrl"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(
        http.post(format!("{redirect}/decline"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    const PAYMENT: &str =
        "query($id: ID!) { payment(id: $id) { status redirectUrl order { status } } }";
    eventually("the payment fails", || async {
        system
            .graphql_as(&buyer, PAYMENT, json!({ "id": payment["id"] }))
            .await["data"]["payment"]["status"]
            == "FAILED"
    })
    .await;

    // Pay again and approve: the payment succeeds and the order is paid.
    let retry = system
        .graphql_as(&buyer, PAY, pay(&order, "router-pay-key-3"))
        .await;
    assert_eq!(retry["errors"], Value::Null, "{retry}");
    let paid = retry["data"]["payOrder"]["id"].as_str().unwrap().to_owned();
    let redirect = retry["data"]["payOrder"]["redirectUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        http.post(format!("{redirect}/approve"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    eventually("the payment succeeds and the order is paid", || async {
        let seen = system
            .graphql_as(&buyer, PAYMENT, json!({ "id": paid }))
            .await;
        seen["data"]["payment"]["status"] == "SUCCEEDED"
            && seen["data"]["payment"]["order"]["status"] == "PAID"
    })
    .await;
    let paid_again = system
        .graphql_as(&buyer, PAY, pay(&order, "router-pay-key-4"))
        .await;
    assert_eq!(error_codes(&paid_again), ["CONFLICT"], "{paid_again}");

    // Refunds: customers may not; the admin refunds part, then too much, then the rest.
    let refund = |amount: Option<i64>, key: &str| json!({ "input": { "paymentId": paid, "amount": amount, "reason": "damaged", "idempotencyKey": key } });
    let by_customer = system
        .graphql_as(&buyer, REFUND, refund(Some(100), "refund-customer-1"))
        .await;
    assert_eq!(error_codes(&by_customer), ["FORBIDDEN"], "{by_customer}");
    let part = system
        .graphql_as(&admin, REFUND, refund(Some(500), "refund-admin-1"))
        .await;
    assert_eq!(
        part["data"]["refundPayment"]["payment"]["status"], "PARTIALLY_REFUNDED",
        "{part}"
    );
    let twice = system
        .graphql_as(&admin, REFUND, refund(Some(500), "refund-admin-1"))
        .await;
    assert_eq!(
        twice["data"]["refundPayment"]["id"], part["data"]["refundPayment"]["id"],
        "{twice}"
    );
    let too_much = system
        .graphql_as(&admin, REFUND, refund(Some(2001), "refund-admin-2"))
        .await;
    assert_eq!(error_codes(&too_much), ["CONFLICT"], "{too_much}");
    let zero = system
        .graphql_as(&admin, REFUND, refund(Some(0), "refund-admin-3"))
        .await;
    assert_eq!(error_codes(&zero), ["BAD_USER_INPUT"], "{zero}");
    let rest = system
        .graphql_as(&admin, REFUND, refund(None, "refund-admin-4"))
        .await;
    assert_eq!(
        rest["data"]["refundPayment"]["amount"]["amount"], 2000,
        "{rest}"
    );
    eventually("the order is refunded and its stock is back", || async {
        let seen = system
            .graphql_as(&buyer, PAYMENT, json!({ "id": paid }))
            .await;
        seen["data"]["payment"]["order"]["status"] == "REFUNDED"
            && stock(&system, &admin, &item).await == 5
    })
    .await;
    // The admin sees the log and the gateway reference.
    let audit = system
        .graphql_as(
            &admin,
            "query($id: ID!) { payment(id: $id) { gatewayReference log { from to note } refunds { amount { amount } } } }",
            json!({ "id": paid }),
        )
        .await;
    assert_eq!(audit["errors"], Value::Null, "{audit}");
    let steps: Vec<&str> = audit["data"]["payment"]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["PENDING", "SUCCEEDED", "PARTIALLY_REFUNDED", "REFUNDED"]
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_expire_once_across_two_replicas_and_a_late_success_is_refunded() {
    let system = System::start_with(Options {
        payment_ttl: Some(Duration::from_secs(2)),
        events: Some(EventSettings {
            sweep_interval: Duration::from_millis(100),
            ..EventSettings::default()
        }),
        ..Options::default()
    })
    .await;
    // A second payment subgraph: both sweep, both consume, both take payOrder.
    let replica = system
        .start_replica(&payment_subgraph::SUBGRAPH, "127.0.0.1:0".parse().unwrap())
        .await;
    let replica_url = format!("http://{}/graphql", replica.addr);
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Timed out", 300, 20).await;
    let buyer = system.register("timeouts@example.com").await;

    let mut payments = Vec::new();
    for n in 0..8 {
        let (order, _) = place_order(&system, &buyer, &format!("expiry-{n}"), &item, 1).await;
        let through = if n % 2 == 0 {
            &system.router_url
        } else {
            &replica_url
        };
        let paid = system
            .post_as(
                through,
                Some(&buyer),
                "mutation($input: PayOrderInput!) { payOrder(input: $input) { id } }",
                pay(&order, &format!("expiry-pay-{n}")),
            )
            .await;
        let id = paid["data"]["payOrder"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{paid}"))
            .to_owned();
        payments.push(id);
    }
    let mut conn = system.sql("payment").await;
    eventually("every payment expires", || async {
        let statuses: Vec<TextRow> = diesel::sql_query("SELECT status AS text FROM payments")
            .load(&mut system.sql("payment").await)
            .await
            .unwrap();
        statuses.len() == 8 && statuses.iter().all(|row| row.text == "EXPIRED")
    })
    .await;
    // Once each: one log entry and one event per payment, whichever replica swept it.
    let logged: Vec<TextRow> = diesel::sql_query(
        "SELECT count(*)::text AS text FROM payment_log WHERE to_status = 'EXPIRED' GROUP BY payment_id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(logged.len(), 8);
    assert!(logged.iter().all(|row| row.text == "1"), "expired twice");
    eventually("every expiry is published once", || async {
        let expired: Vec<String> = system
            .events("payments")
            .await
            .into_iter()
            .filter(|event| event.payload["to"] == "EXPIRED")
            .map(|event| event.aggregate_id)
            .collect();
        let distinct: HashSet<&String> = expired.iter().collect();
        expired.len() == 8 && distinct.len() == 8
    })
    .await;

    // A late success: the order expired, and the payment subgraph has not heard of it yet
    // (that window is held open here by expiring the order in its table without its event)
    // when the gateway approves. The order stays EXPIRED and the money goes back.
    let (order, user) = place_order(&system, &buyer, "expiry-late", &item, 1).await;
    let id = uuid::Uuid::now_v7();
    let reference = format!("sandbox-{id}");
    pending_payment(
        &mut conn,
        (id, &order, &user),
        ("SANDBOX_CARD", 300),
        ("expiry-late-pay", &reference),
    )
    .await;
    let mut orders = system.sql("order").await;
    diesel::sql_query("UPDATE orders SET status = 'EXPIRED' WHERE id = $1::uuid")
        .bind::<Text, _>(&order)
        .execute(&mut orders)
        .await
        .unwrap();
    let gateway = system.subgraph_url("payment").replace("/graphql", "");
    let approved = reqwest::Client::new()
        .post(format!("{gateway}/sandbox/pay/{reference}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 202);
    const SEEN: &str = "query($id: ID!) { payment(id: $id) { status refundedAmount { amount } \
        log { from to note } refunds { amount { amount } reason } order { status } } }";
    eventually("the late payment is refunded", || async {
        system.graphql_as(&admin, SEEN, json!({ "id": id })).await["data"]["payment"]["status"]
            == "REFUNDED"
    })
    .await;
    let seen = system.graphql_as(&admin, SEEN, json!({ "id": id })).await;
    let payment = &seen["data"]["payment"];
    assert_eq!(payment["refundedAmount"]["amount"], 300, "{seen}");
    assert_eq!(payment["order"]["status"], "EXPIRED", "{seen}");
    let refunds = payment["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{seen}");
    assert!(
        refunds[0]["reason"].as_str().unwrap().contains("EXPIRED"),
        "{seen}"
    );
    let steps: Vec<&str> = payment["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["to"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["PENDING", "SUCCEEDED", "REFUNDED"], "{seen}");
    replica.stop().await;
    system.stop().await;
}

/// A `PENDING` payment `id` of `order` by `user`, made with the payment subgraph's own
/// statement (as `payOrder` makes it): `(method, amount)`, `(idempotency key, gateway
/// reference)`.
async fn pending_payment(
    conn: &mut diesel_async::AsyncPgConnection,
    (id, order, user): (uuid::Uuid, &str, &str),
    (method, amount): (&'static str, i64),
    (key, reference): (&str, &str),
) -> payment_subgraph::workflows::payments::Created {
    payment_subgraph::workflows::payments::create_pending(
        conn,
        payment_subgraph::db::payments::NewPayment {
            id,
            order_id: uuid::Uuid::parse_str(order).unwrap(),
            user_id: uuid::Uuid::parse_str(user).unwrap(),
            method,
            amount,
            currency: "CNY".into(),
            idempotency_key: key.into(),
            gateway_reference: reference.into(),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
        },
        None,
    )
    .await
    .unwrap()
}

/// One checkout of `quantity` × `item` by `buyer` with `key`: the order's id and its
/// customer's id.
async fn place_order(
    system: &System,
    buyer: &str,
    key: &str,
    item: &str,
    quantity: i64,
) -> (String, String) {
    let placed = checkout(system, buyer, buy(key, &[(item, quantity)])).await;
    let order = &placed["data"]["checkout"];
    match (order["id"].as_str(), order["customer"]["id"].as_str()) {
        (Some(order), Some(customer)) => (order.to_owned(), customer.to_owned()),
        _ => panic!("{placed}"),
    }
}
