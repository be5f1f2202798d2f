//! Flash sales through the router: a storm of buyers on few units, retries, sales not
//! running, cancelled units back on sale, refused orders, rate limits, and Redis losing
//! everything mid-sale.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::join_all;
use serde_json::{Value, json};

use super::support::{Options, System};
use super::{
    count, error_codes, eventually, fast_orders, ledger_sum, product, saved_address, stock,
};

const CREATE_SALE: &str =
    "mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { id } }";
const BUY: &str = "mutation($input: FlashSalePurchaseInput!) { purchaseFlashSale(input: $input) { \
    id status reason order { id number status total { amount currency } } } }";
const FOLLOW: &str = "query($id: ID!) { flashSalePurchase(id: $id) { id status reason \
    order { id status total { amount } items { quantity unitPrice { amount } } } } }";
pub(super) const SALES: &str = "query { flashSales(status: ACTIVE) { id remainingQuantity } }";
const CANCEL: &str = "mutation($id: ID!) { cancelOrder(id: $id) { id status } }";

/// A sale of `quantity` units of `product` at 99, `limit` per buyer, starting in `starts_in`
/// seconds and lasting `lasts` seconds; its id.
pub(super) async fn sale(
    system: &System,
    admin: &str,
    product: &str,
    (quantity, limit): (i64, i64),
    (starts_in, lasts): (i64, i64),
) -> String {
    let now = chrono::Utc::now();
    let response = system
        .graphql_as(
            admin,
            CREATE_SALE,
            json!({ "input": {
                "productId": product, "price": 99, "quantity": quantity, "perUserLimit": limit,
                "startsAt": (now + chrono::Duration::seconds(starts_in)).to_rfc3339(),
                "endsAt": (now + chrono::Duration::seconds(starts_in + lasts)).to_rfc3339(),
            } }),
        )
        .await;
    response["data"]["createFlashSale"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}

/// A system whose orders wait long for payment and whose buyers may try often.
pub(super) async fn flash_system() -> System {
    System::start_with(Options {
        flash_purchases_per_second: Some(100),
        ..fast_orders(Duration::from_secs(900))
    })
    .await
}

/// A signed-in buyer with a saved address.
pub(super) struct Buyer {
    pub(super) token: String,
    pub(super) address: String,
}

/// `n` new buyers, registered through the router a few at a time.
pub(super) async fn buyers(system: &System, tag: &str, n: usize) -> Vec<Buyer> {
    futures::stream::iter(0..n)
        .map(|i| async move {
            let token = system.register(&format!("{tag}-{i}@flash.test")).await;
            let address = saved_address(system, &token).await;
            Buyer { token, address }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

fn purchase(sale: &str, buyer: &Buyer, key: &str, quantity: i64) -> Value {
    json!({ "input": { "flashSaleId": sale, "quantity": quantity, "addressId": buyer.address,
                       "idempotencyKey": key } })
}

pub(super) async fn buy(
    system: &System,
    sale: &str,
    buyer: &Buyer,
    key: &str,
    quantity: i64,
) -> Value {
    system
        .graphql_as(&buyer.token, BUY, purchase(sale, buyer, key, quantity))
        .await
}

pub(super) fn answer(response: &Value) -> &Value {
    let answer = &response["data"]["purchaseFlashSale"];
    assert!(answer.is_object(), "{response}");
    answer
}

pub(super) async fn follow(system: &System, token: &str, id: &str) -> Value {
    system.graphql_as(token, FOLLOW, json!({ "id": id })).await
}

/// Waits until purchase `id` is no longer `PENDING`; its final state.
pub(super) async fn settled(system: &System, token: &str, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let response = follow(system, token, id).await;
        let purchase = &response["data"]["flashSalePurchase"];
        assert!(purchase.is_object(), "{response}");
        if purchase["status"] != "PENDING" {
            return purchase.clone();
        }
        assert!(
            Instant::now() < deadline,
            "purchase {id} still PENDING: {response}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn remaining(system: &System, sale: &str) -> i64 {
    let response = system.graphql(SALES, json!({})).await;
    response["data"]["flashSales"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .find(|s| s["id"] == sale)
        .unwrap_or_else(|| panic!("sale {sale} not active: {response}"))["remainingQuantity"]
        .as_i64()
        .unwrap()
}

/// Orders (in the order subgraph) of the sale's purchases, and their units at 99.
pub(super) async fn flash_orders(system: &System, product: &str) -> (i64, i64) {
    let orders = count(
        system,
        "order",
        "SELECT count(DISTINCT order_id)::bigint AS count FROM order_items WHERE product_id = $1::uuid",
        product,
    )
    .await;
    let units = count(
        system,
        "order",
        "SELECT coalesce(sum(quantity), 0)::bigint AS count FROM order_items \
         WHERE product_id = $1::uuid AND unit_price = 99",
        product,
    )
    .await;
    (orders, units)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_buyers_on_fifty_units_confirms_exactly_fifty_within_the_limit() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Storm item", 1999, 60).await;
    let sale = sale(&system, &admin, &item, (50, 2), (0, 600)).await;
    let buyers = buyers(&system, "storm", 300).await;

    // 300 buyers × 3 concurrent attempts of one unit each. A client whose attempt found the
    // service overloaded (UNAVAILABLE) tries again with the same key, as clients do; the
    // answer is then the one its key already had, never a second purchase.
    let started = Instant::now();
    let retried = std::sync::atomic::AtomicUsize::new(0);
    let attempts = join_all(buyers.iter().enumerate().flat_map(|(b, buyer)| {
        let (sale, system, retried) = (&sale, &system, &retried);
        (0..3).map(move |a| async move {
            let key = format!("storm-{b}-{a}");
            let mut response = buy(system, sale, buyer, &key, 1).await;
            for _ in 0..3 {
                if error_codes(&response) != ["UNAVAILABLE"] {
                    break;
                }
                retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                response = buy(system, sale, buyer, &key, 1).await;
            }
            (b, response)
        })
    }))
    .await;
    let storm = started.elapsed();
    let mut admitted: Vec<(usize, String)> = Vec::new();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for (buyer, response) in &attempts {
        let answer = answer(response);
        match answer["status"].as_str() {
            Some("PENDING" | "CONFIRMED") => {
                admitted.push((*buyer, answer["id"].as_str().unwrap().to_owned()));
            }
            Some("REJECTED") => {
                *reasons
                    .entry(answer["reason"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            other => panic!("unexpected status {other:?}: {response}"),
        }
    }
    assert_eq!(admitted.len(), 50, "admitted; rejections: {reasons:?}");
    assert_eq!(reasons.values().sum::<usize>(), 850, "{reasons:?}");
    assert!(
        reasons
            .keys()
            .all(|r| r == "SOLD_OUT" || r == "LIMIT_EXCEEDED"),
        "{reasons:?}"
    );
    let mut per_buyer: HashMap<usize, usize> = HashMap::new();
    for (buyer, _) in &admitted {
        *per_buyer.entry(*buyer).or_default() += 1;
    }
    assert!(per_buyer.values().all(|&n| n <= 2), "{per_buyer:?}");

    // Every admitted purchase becomes an order at the sale price within 10 s.
    for (buyer, id) in &admitted {
        let purchase = settled(&system, &buyers[*buyer].token, id, Duration::from_secs(10)).await;
        assert_eq!(purchase["status"], "CONFIRMED", "{purchase}");
        let order = &purchase["order"];
        assert_eq!(order["id"], *id, "{purchase}");
        assert_eq!(order["status"], "PENDING_PAYMENT", "{purchase}");
        assert_eq!(order["total"]["amount"], 99, "{purchase}");
        assert_eq!(order["items"][0]["unitPrice"]["amount"], 99, "{purchase}");
    }
    eprintln!(
        "storm of 900 attempts answered in {storm:?} ({} tried again after UNAVAILABLE); all 50 orders confirmed",
        retried.into_inner()
    );
    assert_eq!(remaining(&system, &sale).await, 0);
    assert_eq!(flash_orders(&system, &item).await, (50, 50));
    // The product: 60 − 50 set aside; the ledger explains it.
    assert_eq!(stock(&system, &admin, &item).await, 10);
    assert_eq!(ledger_sum(&system, &item).await, 10);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn purchases_are_idempotent_only_while_the_sale_runs_and_a_cancelled_unit_sells_again() {
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Last unit", 500, 5).await;
    let one = sale(&system, &admin, &item, (1, 1), (0, 600)).await;
    let [first, second, stranger]: [Buyer; 3] =
        buyers(&system, "idem", 3).await.try_into().ok().unwrap();

    // The same key five times at once: one purchase.
    let twins = join_all((0..5).map(|_| buy(&system, &one, &first, "same-key-1", 1))).await;
    let ids: Vec<&str> = twins
        .iter()
        .map(|r| answer(r)["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{twins:?}");
    assert!(
        twins.iter().all(|r| answer(r)["status"] != "REJECTED"),
        "{twins:?}"
    );
    let bought = ids[0].to_owned();
    let confirmed = settled(&system, &first.token, &bought, Duration::from_secs(10)).await;
    assert_eq!(
        confirmed["order"]["status"], "PENDING_PAYMENT",
        "{confirmed}"
    );
    assert_eq!(remaining(&system, &one).await, 0);
    let again = buy(&system, &one, &first, "same-key-1", 1).await;
    assert_eq!(answer(&again)["id"], bought.as_str(), "{again}");
    assert_eq!(answer(&again)["status"], "CONFIRMED", "{again}");
    // The key reused for something else.
    let reused = buy(&system, &one, &first, "same-key-1", 2).await;
    assert_eq!(error_codes(&reused), ["CONFLICT"], "{reused}");
    // Over the limit, and sold out.
    let more = buy(&system, &one, &first, "another-key-1", 1).await;
    assert_eq!(answer(&more)["status"], "REJECTED", "{more}");
    let late = buy(&system, &one, &second, "second-key-1", 1).await;
    assert_eq!(answer(&late)["reason"], "SOLD_OUT", "{late}");
    // A rejection is the buyer's to see, again under its key, nobody else's.
    let late_id = answer(&late)["id"].as_str().unwrap();
    let seen = follow(&system, &second.token, late_id).await;
    assert_eq!(
        seen["data"]["flashSalePurchase"]["reason"], "SOLD_OUT",
        "{seen}"
    );
    let replay = buy(&system, &one, &second, "second-key-1", 1).await;
    assert_eq!(answer(&replay)["id"], late_id, "{replay}");
    for id in [bought.as_str(), late_id] {
        let theirs = follow(&system, &stranger.token, id).await;
        assert_eq!(error_codes(&theirs), ["NOT_FOUND"], "{theirs}");
    }
    let anonymous = system
        .graphql(BUY, purchase(&one, &second, "anon-key-1", 1))
        .await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");

    // The order is cancelled: its unit is back on sale, once, and another buyer takes it.
    let cancelled = system
        .graphql_as(&first.token, CANCEL, json!({ "id": bought }))
        .await;
    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"], "CANCELLED",
        "{cancelled}"
    );
    eventually("the cancelled unit back on sale", || async {
        remaining(&system, &one).await == 1
    })
    .await;
    let taken = buy(&system, &one, &second, "second-key-2", 1).await;
    let taken_id = answer(&taken)["id"].as_str().unwrap().to_owned();
    let taken = settled(&system, &second.token, &taken_id, Duration::from_secs(10)).await;
    assert_eq!(taken["status"], "CONFIRMED", "{taken}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(remaining(&system, &one).await, 0, "given back twice");

    // An address that is not the buyer's: admitted, then rejected, and the unit is back.
    let two = sale(&system, &admin, &item, (1, 1), (0, 600)).await;
    let mut wrong = purchase(&two, &stranger, "wrong-address-1", 1);
    wrong["input"]["addressId"] = json!(first.address);
    let wrong = system.graphql_as(&stranger.token, BUY, wrong).await;
    let wrong_id = answer(&wrong)["id"].as_str().unwrap().to_owned();
    let refused = settled(&system, &stranger.token, &wrong_id, Duration::from_secs(10)).await;
    assert_eq!(refused["status"], "REJECTED", "{refused}");
    assert_eq!(refused["reason"], "ADDRESS_NOT_FOUND", "{refused}");
    eventually("the refused unit back on sale", || async {
        remaining(&system, &two).await == 1
    })
    .await;

    // Not started yet, or over: NOT_ACTIVE.
    let scheduled = sale(&system, &admin, &item, (1, 1), (3600, 60)).await;
    let early = buy(&system, &scheduled, &second, "early-key-1", 1).await;
    assert_eq!(answer(&early)["reason"], "NOT_ACTIVE", "{early}");
    let brief = sale(&system, &admin, &item, (1, 1), (0, 1)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let over = buy(&system, &brief, &second, "late-key-1", 1).await;
    assert_eq!(answer(&over)["reason"], "NOT_ACTIVE", "{over}");
    let unknown = buy(
        &system,
        &uuid::Uuid::now_v7().to_string(),
        &second,
        "unknown-1",
        1,
    )
    .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"], "{unknown}");

    // Invalid input names the field.
    for (change, field) in [
        (json!({ "quantity": 0 }), "input.quantity"),
        (json!({ "addressId": "nope" }), "input.addressId"),
        (json!({ "flashSaleId": "nope" }), "input.flashSaleId"),
        (json!({ "idempotencyKey": "short" }), "input.idempotencyKey"),
    ] {
        let mut bad = purchase(&one, &second, "valid-key-9", 1);
        for (key, value) in change.as_object().unwrap() {
            bad["input"][key] = value.clone();
        }
        let refused = system.graphql_as(&second.token, BUY, bad).await;
        assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    system.stop().await;
}

/// Twenty buyers rush twenty units at once, six of them with another buyer's address:
/// their admissions arrive together and the order subgraph places a read of them at a
/// time (one call for the addresses, one transaction). Each buyer still gets their own
/// outcome: an order shipping to their own address, or `ADDRESS_NOT_FOUND` with the unit
/// back on sale.
#[tokio::test(flavor = "multi_thread")]
async fn a_rush_with_wrong_addresses_answers_each_buyer_on_their_own() {
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Rush", 500, 30).await;
    let rush_sale = sale(&system, &admin, &item, (20, 1), (0, 600)).await;
    let mut rush = buyers(&system, "rush", 20).await;
    // Each buyer's address names them.
    for (i, buyer) in rush.iter_mut().enumerate() {
        let mut address = super::address();
        address["recipient"] = json!(format!("Buyer {i}"));
        let added = system
            .graphql_as(
                &buyer.token,
                "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
                json!({ "i": address }),
            )
            .await;
        buyer.address = added["data"]["addAddress"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{added}"))
            .to_owned();
    }
    let wrong = [1, 4, 7, 10, 13, 16];
    let attempts = join_all(rush.iter().enumerate().map(|(i, buyer)| {
        let mut input = purchase(&rush_sale, buyer, &format!("rush-key-{i}"), 1);
        if wrong.contains(&i) {
            input["input"]["addressId"] = json!(rush[(i + 1) % rush.len()].address);
        }
        let system = &system;
        async move { system.graphql_as(&buyer.token, BUY, input).await }
    }))
    .await;
    for (i, (buyer, attempt)) in rush.iter().zip(&attempts).enumerate() {
        assert_ne!(answer(attempt)["status"], "REJECTED", "{attempt}");
        let id = answer(attempt)["id"].as_str().unwrap();
        let outcome = settled(&system, &buyer.token, id, Duration::from_secs(15)).await;
        if wrong.contains(&i) {
            assert_eq!(outcome["status"], "REJECTED", "buyer {i}: {outcome}");
            assert_eq!(
                outcome["reason"], "ADDRESS_NOT_FOUND",
                "buyer {i}: {outcome}"
            );
            continue;
        }
        assert_eq!(outcome["status"], "CONFIRMED", "buyer {i}: {outcome}");
        let order = system
            .graphql_as(
                &buyer.token,
                "query($id: ID!) { order(id: $id) { status shippingAddress { recipient } } }",
                json!({ "id": outcome["order"]["id"] }),
            )
            .await;
        assert_eq!(
            order["data"]["order"]["shippingAddress"]["recipient"],
            format!("Buyer {i}"),
            "buyer {i}: {order}"
        );
        assert_eq!(
            order["data"]["order"]["status"], "PENDING_PAYMENT",
            "{order}"
        );
    }
    eventually("the refused units back on sale", || async {
        remaining(&system, &rush_sale).await == 6
    })
    .await;
    assert_eq!(flash_orders(&system, &item).await, (14, 14));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_buyer_flooding_purchases_is_rate_limited() {
    let system = System::start_with(Options {
        flash_purchases_per_second: Some(3),
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Flooded", 100, 50).await;
    let sale = sale(&system, &admin, &item, (40, 40), (0, 600)).await;
    let [flooder, other]: [Buyer; 2] = buyers(&system, "flood", 2).await.try_into().ok().unwrap();
    let keys: Vec<String> = (0..12).map(|i| format!("flood-key-{i}")).collect();
    let flood = join_all(keys.iter().map(|key| buy(&system, &sale, &flooder, key, 1))).await;
    let limited: Vec<&Value> = flood
        .iter()
        .filter(|r| error_codes(r) == ["RATE_LIMITED"])
        .collect();
    assert!(limited.len() >= 6, "{flood:?}");
    for response in &limited {
        assert!(
            response["errors"][0]["extensions"]["retryAfterSeconds"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    // Someone else is not held up, and the flooder may try again a second later.
    let theirs = buy(&system, &sale, &other, "other-key-1", 1).await;
    assert_eq!(answer(&theirs)["status"], "PENDING", "{theirs}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = buy(&system, &sale, &flooder, "flood-key-later", 1).await;
    assert!(error_codes(&later).is_empty(), "{later}");
    system.stop().await;
}

/// This system's Redis keys matching any of `patterns` (under its prefix).
pub(super) async fn keys_matching(system: &System, patterns: &[&str]) -> Vec<String> {
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let mut keys = Vec::new();
    for pattern in patterns {
        let found: Vec<String> = service_kit::redis::redis::cmd("KEYS")
            .arg(format!("{}{pattern}", system.redis_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(found);
    }
    keys
}

/// Deletes this system's flash-sale counters and event streams (with their consumer
/// groups and pending entries), as a Redis restart without persistence would. (Sessions,
/// which such a restart also loses, are left: signing everyone out is not what this tests.)
async fn lose_redis(system: &System) {
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let keys = keys_matching(system, &["flash:*", "events:*"]).await;
    if !keys.is_empty() {
        // One DEL per key (a pipeline): the keys live in different Redis Cluster slots.
        let mut pipe = service_kit::redis::redis::pipe();
        for key in &keys {
            pipe.del(key).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_lost_mid_sale_rebuilds_the_counters_and_never_oversells() {
    let system = System::start_with(fast_orders(Duration::from_secs(900))).await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Durable", 100, 30).await;
    let sale = sale(&system, &admin, &item, (20, 3), (0, 600)).await;
    let buyers = buyers(&system, "durable", 40).await;
    let wave = |round: usize| {
        join_all(buyers.iter().enumerate().map(|(b, buyer)| {
            let (system, sale) = (&system, &sale);
            async move {
                (
                    b,
                    buy(system, sale, buyer, &format!("wave-{round}-{b}"), 1).await,
                )
            }
        }))
    };
    let attempts = futures::future::join(wave(0), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        lose_redis(&system).await;
    })
    .await
    .0;
    let mut attempts = attempts;
    attempts.extend(wave(1).await);
    lose_redis(&system).await;
    attempts.extend(wave(2).await);
    let admitted: Vec<(usize, String)> = attempts
        .iter()
        .filter_map(|(b, response)| {
            let answer = answer(response);
            (answer["status"] != "REJECTED")
                .then(|| (*b, answer["id"].as_str().unwrap().to_owned()))
        })
        .collect();
    assert!(
        admitted.len() <= 20,
        "oversold: {} admitted",
        admitted.len()
    );
    // Every admission becomes an order (a lost admission event is sent again).
    let mut confirmed = 0;
    for (b, id) in &admitted {
        let purchase = settled(&system, &buyers[*b].token, id, Duration::from_secs(20)).await;
        if purchase["status"] == "CONFIRMED" {
            confirmed += 1;
        }
    }
    let (orders, units) = flash_orders(&system, &item).await;
    assert_eq!(orders, confirmed, "one order per confirmed purchase");
    assert!(units <= 20, "oversold: {units} units ordered");
    let mut per_buyer: HashMap<usize, usize> = HashMap::new();
    for (b, _) in &admitted {
        *per_buyer.entry(*b).or_default() += 1;
    }
    assert!(per_buyer.values().all(|&n| n <= 3), "{per_buyer:?}");
    let rebuilds = count(
        &system,
        "catalog",
        "SELECT counter_epoch::bigint AS count FROM flash_sales WHERE id = $1::uuid",
        &sale,
    )
    .await;
    assert!(
        rebuilds >= 2,
        "the counters were not rebuilt twice ({rebuilds})"
    );
    assert_eq!(
        remaining(&system, &sale).await,
        20 - units,
        "counters agree with the record"
    );
    system.stop().await;
}

/// Every flash-sale key of this system as Redis has it now (`DUMP`), to restore later as a
/// restart from an older snapshot (RDB) would.
async fn redis_snapshot(system: &System) -> Vec<(String, Vec<u8>)> {
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let mut snapshot = Vec::new();
    for key in keys_matching(system, &["flash:*"]).await {
        let dumped: Option<Vec<u8>> = service_kit::redis::redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        snapshot.extend(dumped.map(|bytes| (key, bytes)));
    }
    snapshot
}

/// Puts this system's flash-sale keys back as they were in `snapshot` (newer keys gone).
async fn roll_back_redis(system: &System, snapshot: &[(String, Vec<u8>)]) {
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let keys = keys_matching(system, &["flash:*"]).await;
    if !keys.is_empty() {
        // One DEL per key (a pipeline): the keys live in different Redis Cluster slots.
        let mut pipe = service_kit::redis::redis::pipe();
        for key in &keys {
            pipe.del(key).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.unwrap();
    }
    for (key, bytes) in snapshot {
        let _: () = service_kit::redis::redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(bytes)
            .arg("REPLACE")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// Units the record says a sale's buyers hold (purchases not given back): all, and the
/// most one buyer holds.
pub(super) async fn held_in_record(system: &System, sale: &str) -> (i64, i64) {
    let total = count(
        system,
        "catalog",
        "SELECT coalesce(sum(quantity), 0)::bigint AS count FROM flash_sale_purchases \
         WHERE sale_id = $1::uuid AND returned_at IS NULL",
        sale,
    )
    .await;
    let most = count(
        system,
        "catalog",
        "SELECT coalesce(max(units), 0)::bigint AS count FROM (SELECT sum(quantity) AS units \
         FROM flash_sale_purchases WHERE sale_id = $1::uuid AND returned_at IS NULL \
         GROUP BY user_id) per_buyer",
        sale,
    )
    .await;
    (total, most)
}

/// Redis restarted from an older snapshot (issue 23, finding 1): the counters came back with
/// units already sold and with buyers' holdings already used, under the record's epoch or
/// an older one. The record's own bounds refuse what such counters admit, the counters are
/// rebuilt, and buyers get SOLD_OUT or LIMIT_EXCEEDED, never a unit beyond the quantity or
/// the limit, and never a sale stuck answering UNAVAILABLE or SOLD_OUT with units left.
#[tokio::test(flavor = "multi_thread")]
async fn redis_rolled_back_mid_sale_never_oversells_and_the_sale_goes_on() {
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Rolled back", 100, 40).await;
    let buyers = buyers(&system, "rollback", 12).await;
    let admitted = |response: &Value| {
        let answer = answer(response);
        assert_ne!(answer["status"], "REJECTED", "{response}");
    };

    // 1. Ten units: five sold, snapshot, five more sold (sold out), back to the snapshot.
    let ten = sale(&system, &admin, &item, (10, 3), (0, 600)).await;
    for (b, buyer) in buyers.iter().enumerate().take(5) {
        admitted(&buy(&system, &ten, buyer, &format!("rollback-before-{b}"), 1).await);
    }
    let snapshot = redis_snapshot(&system).await;
    for (b, buyer) in buyers.iter().enumerate().skip(5).take(5) {
        admitted(&buy(&system, &ten, buyer, &format!("rollback-after-{b}"), 1).await);
    }
    roll_back_redis(&system, &snapshot).await;
    let storm = join_all(buyers.iter().enumerate().map(|(b, buyer)| {
        let (system, ten) = (&system, &ten);
        async move { buy(system, ten, buyer, &format!("rollback-storm-{b}"), 1).await }
    }))
    .await;
    for response in &storm {
        assert_eq!(
            answer(response)["status"],
            "REJECTED",
            "oversold: {response}"
        );
        assert_eq!(answer(response)["reason"], "SOLD_OUT", "{response}");
    }
    assert_eq!(held_in_record(&system, &ten).await, (10, 1));
    assert_eq!(remaining(&system, &ten).await, 0);

    // 2. A buyer at the limit: one unit, snapshot, a second (limit 2), back to the snapshot.
    let limited = sale(&system, &admin, &item, (10, 2), (0, 600)).await;
    let buyer = &buyers[0];
    admitted(&buy(&system, &limited, buyer, "limited-1", 1).await);
    let snapshot = redis_snapshot(&system).await;
    admitted(&buy(&system, &limited, buyer, "limited-2", 1).await);
    roll_back_redis(&system, &snapshot).await;
    let over = buy(&system, &limited, buyer, "limited-3", 1).await;
    assert_eq!(
        answer(&over)["status"],
        "REJECTED",
        "over the limit: {over}"
    );
    assert_eq!(answer(&over)["reason"], "LIMIT_EXCEEDED", "{over}");
    assert_eq!(held_in_record(&system, &limited).await, (2, 2));
    // Others still buy what is left.
    admitted(&buy(&system, &limited, &buyers[1], "limited-other", 2).await);
    assert_eq!(remaining(&system, &limited).await, 6);

    // 3. Counters rolled back to an epoch older than the record's (a rebuild happened after
    //    the snapshot): admissions under them are unrecordable; the sale must not get stuck.
    let older = sale(&system, &admin, &item, (10, 3), (0, 600)).await;
    admitted(&buy(&system, &older, &buyers[2], "older-key-1", 1).await);
    let snapshot = redis_snapshot(&system).await;
    lose_redis(&system).await;
    admitted(&buy(&system, &older, &buyers[3], "older-key-2", 1).await);
    roll_back_redis(&system, &snapshot).await;
    for (b, buyer) in buyers.iter().enumerate().skip(4).take(3) {
        let response = buy(&system, &older, buyer, &format!("older-after-{b}"), 1).await;
        assert!(error_codes(&response).is_empty(), "stuck: {response}");
        admitted(&response);
    }
    assert_eq!(held_in_record(&system, &older).await, (5, 1));
    assert_eq!(remaining(&system, &older).await, 5);

    // 4. Counters with too few units: sold out, snapshot, two orders cancelled (their units
    //    go back to the sale), back to the snapshot. The counters say SOLD_OUT while the
    //    record has two units: the rejection is checked against the record, and they sell.
    let low = sale(&system, &admin, &item, (5, 1), (0, 600)).await;
    let mut bought = Vec::new();
    for (b, buyer) in buyers.iter().enumerate().skip(7).take(5) {
        let response = buy(&system, &low, buyer, &format!("low-before-{b}"), 1).await;
        admitted(&response);
        bought.push((b, answer(&response)["id"].as_str().unwrap().to_owned()));
    }
    let snapshot = redis_snapshot(&system).await;
    for (b, id) in &bought[..2] {
        let token = &buyers[*b].token;
        settled(&system, token, id, Duration::from_secs(10)).await;
        let cancelled = system.graphql_as(token, CANCEL, json!({ "id": id })).await;
        assert!(error_codes(&cancelled).is_empty(), "{cancelled}");
    }
    eventually("the cancelled units are back in the record", || async {
        held_in_record(&system, &low).await.0 == 3
    })
    .await;
    roll_back_redis(&system, &snapshot).await;
    // Checked against the record twice with nothing recorded in between (6 s apart), then
    // rebuilt: within a few seconds both units sell.
    for (b, buyer) in buyers.iter().enumerate().take(2) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = buy(&system, &low, buyer, &format!("low-after-{b}-{attempt}"), 1).await;
            if answer(&response)["status"] != "REJECTED" {
                break;
            }
            assert_eq!(answer(&response)["reason"], "SOLD_OUT", "{response}");
            assert!(
                Instant::now() < deadline,
                "the units back in the record never sold"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert_eq!(held_in_record(&system, &low).await, (5, 1));
    let late = buy(&system, &low, &buyers[2], "low-after-late", 1).await;
    assert_eq!(answer(&late)["reason"], "SOLD_OUT", "{late}");
    system.stop().await;
}

/// A TCP proxy in front of PostgreSQL that, once armed, lets the next recording of a
/// flash-sale purchase (one call of `record_flash_purchases`, committed on its own) run and
/// commit, and then cuts that connection before the server's answer comes back: the commit
/// is done, the client cannot know it (an ambiguous commit).
struct CommitCutter {
    address: std::net::SocketAddr,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CommitCutter {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // The recording's answer: a DataRow with the 3-byte text `NEW` (its outcome);
        // then, once the implicit transaction has committed, ReadyForQuery, idle.
        const RECORDED: &[u8] = b"\x00\x00\x00\x03NEW";
        const COMMITTED: &[u8] = b"Z\x00\x00\x00\x05I";
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (armed_in, cut_in) = (armed.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (armed, cut) = (armed_in.clone(), cut_in.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    // Once cutting, the server's answers are read and thrown away up to
                    // the ReadyForQuery that follows the commit, and the client's side of
                    // the connection ends. Ending it before that could abort the
                    // transaction instead (the server may not have reached the commit).
                    let answers = tokio::spawn(async move {
                        let has = |chunk: &[u8], needle: &[u8]| {
                            chunk.windows(needle.len()).any(|w| w == needle)
                        };
                        let mut buffer = vec![0u8; 64 * 1024];
                        let mut swallowed: Option<Vec<u8>> = None;
                        while let Ok(n) = server_read.read(&mut buffer).await {
                            if n == 0 {
                                return;
                            }
                            let chunk = &buffer[..n];
                            if swallowed.is_none()
                                && has(chunk, RECORDED)
                                && armed.swap(false, Ordering::SeqCst)
                            {
                                cut.fetch_add(1, Ordering::SeqCst);
                                swallowed = Some(Vec::new());
                            }
                            if let Some(swallowed) = &mut swallowed {
                                swallowed.extend_from_slice(chunk);
                                if has(swallowed, COMMITTED) {
                                    return;
                                }
                                continue;
                            }
                            if client_write.write_all(chunk).await.is_err() {
                                return;
                            }
                        }
                    });
                    let mut buffer = vec![0u8; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buffer).await {
                        if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                    answers.abort();
                });
            }
        });
        Self {
            address,
            armed,
            cut,
        }
    }
}

/// The reply to a flash-sale recording's COMMIT lost (issue 23, finding 5): the purchase is
/// committed, but the catalog cannot tell. It reads the purchase back: the buyer gets the
/// purchase, its units stay taken in the counters (they used to go back: sold again, an
/// oversell by that quantity), and nobody else gets them.
#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_whose_commit_reply_was_lost_keeps_its_units() {
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Ambiguous commit", 800, 10).await;
    let sale = sale(&system, &admin, &item, (2, 2), (0, 600)).await;
    let [first, second]: [Buyer; 2] = buyers(&system, "ambiguous", 2)
        .await
        .try_into()
        .ok()
        .unwrap();
    // A catalog replica whose database connections pass through the cutter.
    // postgres://user@host:port/database: the same with the cutter's address.
    let database_url = system.database.url.clone();
    let after_scheme = database_url.find("://").unwrap() + 3;
    let host_start = database_url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |at| after_scheme + at + 1);
    let host_end = host_start + database_url[host_start..].find('/').unwrap();
    let cutter = CommitCutter::start(database_url[host_start..host_end].to_owned()).await;
    let through = format!(
        "{}{}{}",
        &database_url[..host_start],
        cutter.address,
        &database_url[host_end..]
    );
    let config = service_kit::ServiceConfig {
        database_url: through,
        ..system.replica_config(([127, 0, 0, 1], 0).into())
    };
    let replica = douyin_mall::serve_subgraph(&catalog_subgraph::SUBGRAPH, &config)
        .await
        .expect("replica starts");
    let replica_url = format!("http://{}/graphql", replica.addr);

    cutter
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let response = system
        .post_as(
            &replica_url,
            Some(&first.token),
            // The catalog's own fields (the order is the order subgraph's).
            "mutation($input: FlashSalePurchaseInput!) { purchaseFlashSale(input: $input) { \
             id status reason } }",
            purchase(&sale, &first, "ambiguous-1", 1),
        )
        .await;
    assert_eq!(
        cutter.cut.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no commit was cut: {response}"
    );
    let bought = answer(&response);
    assert!(
        matches!(bought["status"].as_str(), Some("PENDING" | "CONFIRMED")),
        "{response}"
    );
    assert_eq!(held_in_record(&system, &sale).await, (1, 1));
    // The counters kept the unit: one left, and the second buyer's two units are refused.
    assert_eq!(remaining(&system, &sale).await, 1);
    let two = buy(&system, &sale, &second, "ambiguous-2", 2).await;
    assert_eq!(answer(&two)["reason"], "SOLD_OUT", "{two}");
    let one = buy(&system, &sale, &second, "ambiguous-3", 1).await;
    assert!(
        matches!(
            answer(&one)["status"].as_str(),
            Some("PENDING" | "CONFIRMED")
        ),
        "{one}"
    );
    assert_eq!(held_in_record(&system, &sale).await, (2, 1));
    replica.stop().await;
    system.stop().await;
}

/// An admission whose reply was lost (a Redis master killed right after running the
/// admission script; the buyer, or the cluster client itself, tries again with the same
/// key): Redis says the key was admitted, the record has nothing, and no request is
/// recording it. The retry records it: the buyer gets that purchase and its order, and its
/// unit is counted once. (It used to answer PENDING for good, the purchase never found and
/// its unit held in the counters: seen in `scripts/redis-cluster`'s failover test.)
#[tokio::test(flavor = "multi_thread")]
async fn an_admission_whose_reply_was_lost_is_recorded_by_the_retry() {
    use catalog_subgraph::flash_counters::{Attempt, Decision, admit, purchase_id};
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Lost reply", 100, 10).await;
    let sale_id = sale(&system, &admin, &item, (5, 2), (0, 600)).await;
    let buyers = buyers(&system, "lost-reply", 2).await;
    // Someone else's purchase installs the counters.
    let first = buy(&system, &sale_id, &buyers[1], "lost-reply-other", 1).await;
    assert_ne!(answer(&first)["status"], "REJECTED", "{first}");

    let buyer = &buyers[0];
    let user = user_id(&system, buyer).await;
    let (sale, address): (uuid::Uuid, uuid::Uuid) =
        (sale_id.parse().unwrap(), buyer.address.parse().unwrap());
    let fingerprint = catalog_subgraph::domain::flash_sales::purchase_fingerprint(sale, 1, address);
    let lost = purchase_id(sale);
    let redis = system.redis().await;
    let decision = admit(
        &redis,
        &Attempt {
            buyer: user,
            sale,
            quantity: 1,
            purchase: lost,
            idempotency_key: "lost-reply-1".into(),
            request_hash: fingerprint,
            per_second: 100,
        },
    )
    .await
    .unwrap_or_else(|error| panic!("{}", error.message()));
    assert!(
        matches!(decision, Decision::Admitted { .. }),
        "not admitted"
    );

    let retried = buy(&system, &sale_id, buyer, "lost-reply-1", 1).await;
    assert_eq!(answer(&retried)["id"], lost.to_string(), "{retried}");
    let purchase = settled(
        &system,
        &buyer.token,
        &lost.to_string(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(purchase["status"], "CONFIRMED", "{purchase}");
    assert_eq!(purchase["order"]["status"], "PENDING_PAYMENT", "{purchase}");
    // Counted once: in the record, in the counters, and against the buyer's limit.
    assert_eq!(held_in_record(&system, &sale_id).await, (2, 1));
    assert_eq!(remaining(&system, &sale_id).await, 3);
    let again = buy(&system, &sale_id, buyer, "lost-reply-1", 1).await;
    assert_eq!(answer(&again)["id"], lost.to_string(), "{again}");
    assert_eq!(held_in_record(&system, &sale_id).await, (2, 1));
    system.stop().await;
}

/// Attempts of one sale sent to the counters together (one call of the admission script)
/// are decided one after the other, each as if alone: the units left and a buyer's limit
/// move within the batch, a key used earlier in it is answered what it got, and a batch
/// sent again (its reply lost) gets the same answers without its attempts being counted
/// again against the buyer's attempts per second.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_attempts_is_decided_one_after_the_other() {
    use catalog_subgraph::flash_counters::{Attempt, Decision, admit_all, purchase_id, state};
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Batch", 100, 10).await;
    let sale_id = sale(&system, &admin, &item, (4, 2), (0, 600)).await;
    let others = buyers(&system, "batch", 1).await;
    // Someone else's purchase installs the counters: 3 units left.
    let first = buy(&system, &sale_id, &others[0], "batch-other", 1).await;
    assert_ne!(answer(&first)["status"], "REJECTED", "{first}");
    let sale: uuid::Uuid = sale_id.parse().unwrap();
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let attempt = |buyer: uuid::Uuid, key: &str| Attempt {
        buyer,
        sale,
        quantity: 1,
        purchase: purchase_id(sale),
        idempotency_key: key.into(),
        request_hash: "h".into(),
        per_second: 4,
    };
    let batch = [
        attempt(a, "k-1"),
        attempt(a, "k-2"),
        attempt(a, "k-3"),
        attempt(b, "k-1"),
        attempt(b, "k-4"),
        attempt(a, "k-1"),
    ];
    let redis = system.redis().await;
    let seen = |decisions: &[Decision]| -> Vec<String> {
        decisions
            .iter()
            .map(|decision| match decision {
                Decision::Admitted { .. } => "ADMITTED".to_owned(),
                Decision::Rejected(reason) => reason.clone(),
                Decision::Seen(seen) => {
                    let of = batch.iter().position(|a| a.purchase == seen.purchase);
                    format!("SEEN {of:?} {:?}", seen.rejection)
                }
                Decision::RateLimited(_) => "RATE_LIMITED".to_owned(),
                Decision::Rebuild => "REBUILD".to_owned(),
            })
            .collect()
    };
    let decided: Vec<Decision> = admit_all(&redis, &batch)
        .await
        .into_iter()
        .map(|d| d.unwrap_or_else(|e| panic!("{}", e.message())))
        .collect();
    assert_eq!(
        seen(&decided),
        [
            "ADMITTED",
            "ADMITTED",
            "LIMIT_EXCEEDED",
            "ADMITTED",
            "SOLD_OUT",
            "SEEN Some(0) None",
        ]
    );
    let counters = state(&redis, sale).await.unwrap().expect("counters");
    assert_eq!(counters.remaining, 0);

    // The same batch again (the cluster client's retry of a call whose reply was lost): each
    // attempt gets what it got, the admitted ones their own purchase, nothing taken twice,
    // and none is refused for the attempts per second (four of `a`'s were counted, its
    // limit) — except the last, an attempt of its own reusing a key, counted again.
    let again: Vec<Decision> = admit_all(&redis, &batch)
        .await
        .into_iter()
        .map(|d| d.unwrap_or_else(|e| panic!("{}", e.message())))
        .collect();
    assert_eq!(
        seen(&again)[..5],
        [
            "SEEN Some(0) None",
            "SEEN Some(1) None",
            "SEEN Some(2) Some(\"LIMIT_EXCEEDED\")",
            "SEEN Some(3) None",
            "SEEN Some(4) Some(\"SOLD_OUT\")",
        ]
    );
    let counters = state(&redis, sale).await.unwrap().expect("counters");
    assert_eq!(counters.remaining, 0);

    // A sale whose counters Redis does not have: every attempt is sent to rebuild them.
    let gone = uuid::Uuid::new_v4();
    let lost = [attempt(a, "k-5"), attempt(b, "k-5")].map(|attempt| Attempt {
        sale: gone,
        purchase: purchase_id(gone),
        ..attempt
    });
    let decided: Vec<Decision> = admit_all(&redis, &lost)
        .await
        .into_iter()
        .map(|d| d.unwrap_or_else(|e| panic!("{}", e.message())))
        .collect();
    assert_eq!(seen(&decided), ["REBUILD", "REBUILD"]);
    system.stop().await;
}

/// The id of `buyer`'s account.
async fn user_id(system: &System, buyer: &Buyer) -> uuid::Uuid {
    let me = system
        .graphql_as(&buyer.token, "{ me { id } }", json!({}))
        .await;
    me["data"]["me"]["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until a recording of flash-sale purchases waits on a lock in this system's
/// database (never more than one at once), or fails with `what` after 10 s.
async fn one_recording_waiting(system: &System, what: &str) {
    use diesel_async::RunQueryDsl as _;
    let mut watcher = system.sql("catalog").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: super::Count = diesel::sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE '%record_flash_purchases%'",
        )
        .get_result(&mut watcher)
        .await
        .unwrap();
        assert!(
            waiting.count <= 1,
            "more than one recording waiting at once"
        );
        if waiting.count == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Units held by the record for a sale: its `held` count.
async fn sale_held(system: &System, sale: &str) -> i64 {
    count(
        system,
        "catalog",
        "SELECT held::bigint AS count FROM flash_sales WHERE id = $1::uuid",
        sale,
    )
    .await
}

/// The epoch of a sale's counters, as the record has it.
async fn sale_epoch(system: &System, sale: &str) -> i64 {
    count(
        system,
        "catalog",
        "SELECT counter_epoch::bigint AS count FROM flash_sales WHERE id = $1::uuid",
        sale,
    )
    .await
}

/// One buyer's key recorded for two sales at once (a key is the buyer's, whatever the sale):
/// the second recording waits on the first's purchase, not yet committed, and once that
/// commits it answers the first's purchase, while its own sale's units held come back to
/// where they were (it had raised them before its purchase was refused).
#[tokio::test(flavor = "multi_thread")]
async fn a_key_recorded_meanwhile_for_another_sale_leaves_this_sale_as_it_was() {
    use catalog_subgraph::db::flash_purchases::{NewPurchase, Recorded, record};
    use diesel_async::SimpleAsyncConnection as _;
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let (first_item, second_item) = (
        product(&system, &admin, "Twin key one", 100, 10).await,
        product(&system, &admin, "Twin key two", 100, 10).await,
    );
    let first_sale = sale(&system, &admin, &first_item, (5, 2), (0, 600)).await;
    let second_sale = sale(&system, &admin, &second_item, (5, 2), (0, 600)).await;
    let buyer = buyers(&system, "twin-key", 1).await.remove(0);
    let user = user_id(&system, &buyer).await;
    let address: uuid::Uuid = buyer.address.parse().unwrap();
    let (first_epoch, second_epoch) = (
        sale_epoch(&system, &first_sale).await,
        sale_epoch(&system, &second_sale).await,
    );
    let (first_id, second_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());

    // The first recording runs inside a transaction left open.
    let mut first = system.sql("catalog").await;
    first.batch_execute("BEGIN").await.unwrap();
    let recorded = record(
        &mut first,
        &NewPurchase {
            id: first_id,
            sale: first_sale.parse().unwrap(),
            buyer: user,
            idempotency_key: "twin-key-1".into(),
            request_hash: "first".into(),
            quantity: 1,
            address,
            epoch: first_epoch as i32,
            traceparent: None,
        },
    )
    .await
    .unwrap();
    assert!(matches!(recorded, Recorded::New(_)), "not recorded");

    let mut second = system.sql("catalog").await;
    let second_sale_id: uuid::Uuid = second_sale.parse().unwrap();
    let twin = tokio::spawn(async move {
        record(
            &mut second,
            &NewPurchase {
                id: second_id,
                sale: second_sale_id,
                buyer: user,
                idempotency_key: "twin-key-1".into(),
                request_hash: "second".into(),
                quantity: 1,
                address,
                epoch: second_epoch as i32,
                traceparent: None,
            },
        )
        .await
    });
    // It waits for the first's key.
    one_recording_waiting(&system, "the second recording never waited").await;
    assert!(!twin.is_finished());
    first.batch_execute("COMMIT").await.unwrap();

    let answered = twin.await.unwrap().unwrap();
    let Recorded::Existing(existing) = answered else {
        panic!("the second recording did not answer the first's purchase");
    };
    assert_eq!(existing.id, first_id);
    assert_eq!(sale_held(&system, &first_sale).await, 1);
    assert_eq!(sale_held(&system, &second_sale).await, 0);
    assert_eq!(held_in_record(&system, &second_sale).await, (0, 0));
    system.stop().await;
}

/// Admissions of a sale that arrive while one of its recordings waits are recorded
/// together, in one transaction, each with its own outcome. Here another transaction holds
/// the sale's row (as a give-back does) while five buyers buy: the first recording waits on
/// it, the others queue behind it; once the row is free, all five have their purchase and
/// their order, the record holds their units once, and they took fewer transactions than
/// purchases (rows written by one transaction share its start time, their `created_at`;
/// not their `xmin`, which each one's confirmation changes).
#[tokio::test(flavor = "multi_thread")]
async fn admissions_waiting_for_a_sale_are_recorded_together() {
    use diesel::sql_types::Text;
    use diesel_async::{RunQueryDsl as _, SimpleAsyncConnection as _};
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Recorded together", 100, 10).await;
    let sale_id = sale(&system, &admin, &item, (6, 1), (0, 600)).await;
    let buyers = buyers(&system, "together", 6).await;
    // Someone else's purchase installs the counters (a rebuild would queue on the row too).
    let first = buy(&system, &sale_id, &buyers[5], "together-first", 1).await;
    assert_ne!(answer(&first)["status"], "REJECTED", "{first}");

    let mut holder = system.sql("catalog").await;
    holder.batch_execute("BEGIN").await.unwrap();
    diesel::sql_query("SELECT 1 FROM flash_sales WHERE id = $1::uuid FOR UPDATE")
        .bind::<Text, _>(&sale_id)
        .execute(&mut holder)
        .await
        .unwrap();
    let keys: Vec<String> = (0..5).map(|i| format!("together-{i}")).collect();
    let purchases = join_all(
        buyers[..5]
            .iter()
            .zip(&keys)
            .map(|(buyer, key)| buy(&system, &sale_id, buyer, key, 1)),
    );
    let release = async {
        one_recording_waiting(&system, "no recording waited on the sale").await;
        // The other requests reach the sale's queue meanwhile.
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder.batch_execute("COMMIT").await.unwrap();
    };
    let (answers, ()) = tokio::join!(purchases, release);
    for response in &answers {
        assert!(
            matches!(
                answer(response)["status"].as_str(),
                Some("PENDING" | "CONFIRMED")
            ),
            "{response}"
        );
    }
    assert_eq!(held_in_record(&system, &sale_id).await, (6, 1));
    let transactions = count(
        &system,
        "catalog",
        "SELECT count(DISTINCT created_at)::bigint AS count FROM flash_sale_purchases \
         WHERE sale_id = $1::uuid AND idempotency_key <> 'together-first'",
        &sale_id,
    )
    .await;
    assert!(
        transactions < 5,
        "five purchases recorded in {transactions} transactions: none together"
    );
    eventually("the six orders", || async {
        flash_orders(&system, &item).await == (6, 6)
    })
    .await;
    assert_eq!(remaining(&system, &sale_id).await, 0);
    system.stop().await;
}

/// A product in two colours (Red: 6 units at 5000, Blue: 4 at 5200); its id and the
/// variants' ids.
async fn two_colour_product(system: &System, admin: &str) -> (String, String, String) {
    let created = system
        .graphql_as(
            admin,
            "mutation($input: CreateProductInput!) { createProduct(input: $input) { id variants { id } } }",
            json!({ "input": {
                "name": "Flash kettle", "description": "", "price": 0, "stock": 0,
                "options": [{ "name": "Color", "values": ["Red", "Blue"] }],
                "variants": [
                    { "sku": "FK-RED", "options": [{ "name": "Color", "value": "Red" }], "price": 5000, "stock": 6 },
                    { "sku": "FK-BLUE", "options": [{ "name": "Color", "value": "Blue" }], "price": 5200, "stock": 4 },
                ],
            } }),
        )
        .await;
    let product = &created["data"]["createProduct"];
    let id = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    (
        id(&product["id"]),
        id(&product["variants"][0]["id"]),
        id(&product["variants"][1]["id"]),
    )
}

/// Units of each variant of `product` (admin view), by id.
async fn variant_stock(system: &System, admin: &str, product: &str) -> HashMap<String, i64> {
    let response = system
        .graphql_as(
            admin,
            "query($id: ID!) { product(id: $id) { variants { id stock } } }",
            json!({ "id": product }),
        )
        .await;
    response["data"]["product"]["variants"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["stock"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flash_sale_on_one_variant_sells_that_variant_and_leaves_its_sibling_alone() {
    let system = flash_system().await;
    let admin = system.admin_token().await;
    let (product, red, blue) = two_colour_product(&system, &admin).await;
    let now = chrono::Utc::now();
    let input = |variant: Option<&str>, quantity: i64| {
        json!({ "input": {
            "productId": product, "variantId": variant, "price": 99, "quantity": quantity,
            "perUserLimit": 2,
            "startsAt": (now - chrono::Duration::seconds(1)).to_rfc3339(),
            "endsAt": (now + chrono::Duration::seconds(600)).to_rfc3339(),
        } })
    };
    // Which variant is on sale must be said when there are several; another product's
    // variant is refused; more units than the variant has too.
    let unnamed = system.graphql_as(&admin, CREATE_SALE, input(None, 2)).await;
    assert_eq!(error_codes(&unnamed), ["BAD_USER_INPUT"], "{unnamed}");
    assert_eq!(
        unnamed["errors"][0]["extensions"]["field"],
        "input.variantId"
    );
    let other = product_variant_of(&system, &admin).await;
    let foreign = system
        .graphql_as(&admin, CREATE_SALE, input(Some(&other), 2))
        .await;
    assert_eq!(error_codes(&foreign), ["BAD_USER_INPUT"], "{foreign}");
    let too_many = system
        .graphql_as(&admin, CREATE_SALE, input(Some(&blue), 5))
        .await;
    assert_eq!(error_codes(&too_many), ["BAD_USER_INPUT"], "{too_many}");
    assert_eq!(
        variant_stock(&system, &admin, &product).await[&blue],
        4,
        "refusals take nothing"
    );

    // Three blue units go on sale: blue has one left, red all six.
    let created = system
        .graphql_as(&admin, CREATE_SALE, input(Some(&blue), 3))
        .await;
    let sale = created["data"]["createFlashSale"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let units = variant_stock(&system, &admin, &product).await;
    assert_eq!((units[&red], units[&blue]), (6, 1));
    assert_eq!(
        stock(&system, &admin, &product).await,
        7,
        "the product sums its variants"
    );

    // The contract's listing shows the variant on sale.
    let listed = system
        .graphql(
            &super::support::contract_operation("ActiveFlashSaleVariants"),
            json!({}),
        )
        .await;
    let ours = listed["data"]["flashSales"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .find(|s| s["id"] == sale.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(ours["variant"]["sku"], "FK-BLUE", "{ours}");
    assert_eq!(ours["variant"]["name"], "Blue");

    // A buyer's order line is the blue variant, at the sale price.
    let buyer = buyers(&system, "variant-sale", 1).await.remove(0);
    let bought = buy(&system, &sale, &buyer, "variant-sale-key-1", 2).await;
    let id = answer(&bought)["id"].as_str().unwrap().to_owned();
    let purchase = settled(&system, &buyer.token, &id, Duration::from_secs(20)).await;
    assert_eq!(purchase["status"], "CONFIRMED", "{purchase}");
    let order = purchase["order"]["id"].as_str().unwrap().to_owned();
    let line = system
        .graphql_as(
            &buyer.token,
            "query($id: ID!) { order(id: $id) { items { sku variantName unitPrice { amount } variant { id } } } }",
            json!({ "id": order }),
        )
        .await;
    let item = &line["data"]["order"]["items"][0];
    assert_eq!(item["sku"], "FK-BLUE", "{line}");
    assert_eq!(item["variantName"], "Blue");
    assert_eq!(item["unitPrice"]["amount"], 99);
    assert_eq!(item["variant"]["id"], blue.as_str());

    // Cancelled, its units go back to the sale, not to the red variant.
    let cancelled = system
        .graphql_as(&buyer.token, CANCEL, json!({ "id": order }))
        .await;
    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"], "CANCELLED",
        "{cancelled}"
    );
    eventually("the units are back on sale", || async {
        remaining(&system, &sale).await == 3
    })
    .await;
    let units = variant_stock(&system, &admin, &product).await;
    assert_eq!((units[&red], units[&blue]), (6, 1), "{units:?}");
}

/// The only variant of a demo product (another product than the kettle).
async fn product_variant_of(system: &System, admin: &str) -> String {
    let id = product(system, admin, "Other goods", 100, 3).await;
    let response = system
        .graphql_as(
            admin,
            "query($id: ID!) { product(id: $id) { variants { id } } }",
            json!({ "id": id }),
        )
        .await;
    response["data"]["product"]["variants"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}
