//! Checkout and orders through the router: atomic stock reservation under concurrency,
//! idempotency, the state machine, expiry with two replicas, crash safety and the outbox;
//! orders of variants in `orders/variants.rs`.

use crate::support;

/// The chaos soak (`tests/e2e/orders/chaos.rs`, run by `scripts/chaos`).
#[path = "orders/chaos.rs"]
mod chaos;
/// A Redis Cluster master killed mid-sale (`tests/e2e/orders/failover.rs`, run by
/// `scripts/redis-cluster`).
#[path = "orders/failover.rs"]
mod failover;
/// Nothing lost under faults (`tests/e2e/orders/faults.rs`).
#[path = "orders/faults.rs"]
mod faults;
/// Flash sales (`tests/e2e/orders/flash_sales.rs`).
#[path = "orders/flash_sales.rs"]
mod flash_sales;
/// Subscriptions (`tests/e2e/orders/live.rs`).
#[path = "orders/live.rs"]
mod live;
/// Payments of orders: visibility, the gateway, refunds, expiry (`tests/e2e/orders/payments.rs`).
#[path = "orders/payments.rs"]
mod payments;
/// Orders of variants (SKU): snapshots, `variantId`, stock per variant (`tests/e2e/orders/variants.rs`).
#[path = "orders/variants.rs"]
mod variants;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use futures::future::join_all;
use order_subgraph::config::OrderSettings;
use payments::{PAY, pay, pending_payment, place_order};
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
