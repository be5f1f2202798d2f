//! Nothing lost under faults (issue 23): each test reproduces one way money or stock was
//! lost when Redis forgot or rolled back state, or a process or connection failed at the
//! wrong moment, and shows it converges now.

use diesel_async::RunQueryDsl;
use serde_json::json;

use super::support::System;
use super::{buy, checkout, eventually, product, stock};

/// The `status` of `order` or `payment` `id` as `token` sees it ("" when not visible).
async fn status(system: &System, token: &str, entity: &str, id: &str) -> String {
    let query = format!("query($id: ID!) {{ {entity}(id: $id) {{ status }} }}");
    let response = system.graphql_as(token, &query, json!({ "id": id })).await;
    response["data"][entity]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

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

/// Publishes a `PaymentStatusChanged` event for `order` on the payments stream, as the
/// payment subgraph's relay would.
async fn payment_event(
    system: &System,
    (payment, order): (&str, &str),
    from: &str,
    to: &str,
    version: i64,
) {
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let event = event_bus::Event {
        id: uuid::Uuid::now_v7(),
        name: "PaymentStatusChanged".into(),
        version: 1,
        aggregate_id: payment.into(),
        occurred_at: chrono::Utc::now(),
        traceparent: None,
        payload: json!({ "paymentId": payment, "orderId": order, "userId": uuid::Uuid::nil(),
            "from": from, "to": to, "amount": 100, "refundedAmount": if to == "REFUNDED" { 100 } else { 0 },
            "currency": "CNY", "version": version }),
    };
    let _: String = service_kit::redis::redis::cmd("XADD")
        .arg(event_bus::stream_key(&redis, "payments"))
        .arg("*")
        .arg("event")
        .arg(serde_json::to_string(&event).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Payment events out of order (finding 4): the success failed once and was retried after
/// the full refund that followed it. The order ends `REFUNDED` with its stock back, never
/// `PAID` for a payment that is `REFUNDED`; the older event changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_success_retried_after_its_refund_leaves_the_order_refunded() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("out-of-order@example.com").await;
    let item = product(&system, &admin, "Out of order", 100, 5).await;
    let placed = checkout(&system, &token, buy("out-of-order-1", &[(&item, 1)])).await;
    let order = placed["data"]["checkout"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();
    let payment = uuid::Uuid::now_v7().to_string();
    payment_event(&system, (&payment, &order), "SUCCEEDED", "REFUNDED", 3).await;
    eventually("the order follows the refund", || async {
        status(&system, &token, "order", &order).await == "REFUNDED"
    })
    .await;
    eventually("the stock is back", || async {
        stock(&system, &admin, &item).await == 5
    })
    .await;
    payment_event(&system, (&payment, &order), "PENDING", "SUCCEEDED", 2).await;
    // The consumer handles events in order: once a later marker event is handled, the older
    // success has been too.
    let marker = uuid::Uuid::now_v7().to_string();
    payment_event(&system, (&marker, &order), "PENDING", "FAILED", 2).await;
    eventually("the marker is handled", || async {
        #[derive(diesel::QueryableByName)]
        struct Seen {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = system.sql("order").await;
        let seen: Seen = diesel::sql_query(
            "SELECT count(*) AS n FROM payment_versions WHERE payment_id = $1::uuid",
        )
        .bind::<diesel::sql_types::Text, _>(&marker)
        .get_result(&mut conn)
        .await
        .unwrap();
        seen.n == 1
    })
    .await;
    assert_eq!(status(&system, &token, "order", &order).await, "REFUNDED");
    assert_eq!(stock(&system, &admin, &item).await, 5);
    system.stop().await;
}

/// Posts what the gateway reports about payment `reference` to the payment subgraph's
/// webhook, signed as the gateway signs; the HTTP status.
async fn gateway_reports(system: &System, reference: &str, status: &str, amount: i64) -> u16 {
    let body = json!({ "eventId": uuid::Uuid::now_v7().to_string(), "gatewayReference": reference,
                       "status": status, "amount": amount, "currency": "CNY" })
    .to_string();
    let signature = payment_subgraph::webhook::signature(
        payment_subgraph::config::DEV_PAYMENT_WEBHOOK_SECRET,
        body.as_bytes(),
    );
    reqwest::Client::new()
        .post(format!(
            "{}/webhooks/payments",
            system.subgraph_base("payment")
        ))
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A pending payment of `amount` for `order` by `user`, made with the payment subgraph's own
/// statement; its id and gateway reference.
async fn open_payment(system: &System, order: &str, user: &str, amount: i64) -> (String, String) {
    let mut conn = system.sql("payment").await;
    let id = uuid::Uuid::now_v7();
    let reference = format!("sandbox-{id}");
    super::pending_payment(
        &mut conn,
        (id, order, user),
        ("SANDBOX_CARD", amount),
        (&format!("late-approval-{id}"), &reference),
    )
    .await;
    (id.to_string(), reference)
}

/// A gateway success after its decline (finding 7): the money was taken, so the payment
/// succeeds and pays the order; when another payment paid the order meanwhile, the late
/// success is refused and its money goes back. Never money kept without a paid order.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_success_after_a_decline_pays_the_order_or_is_refunded() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("late-success@example.com").await;
    let item = product(&system, &admin, "Declined, then paid", 300, 5).await;
    // Declined, then approved: the order is paid by it.
    let (order, user) = super::place_order(&system, &token, "late-success-1", &item, 1).await;
    let (payment, reference) = open_payment(&system, &order, &user, 300).await;
    assert_eq!(
        gateway_reports(&system, &reference, "failed", 300).await,
        200
    );
    eventually("declined", || async {
        status(&system, &admin, "payment", &payment).await == "FAILED"
    })
    .await;
    assert_eq!(
        gateway_reports(&system, &reference, "succeeded", 300).await,
        200
    );
    eventually("the late success pays the order", || async {
        status(&system, &token, "order", &order).await == "PAID"
    })
    .await;
    assert_eq!(
        status(&system, &admin, "payment", &payment).await,
        "SUCCEEDED"
    );

    // Declined; a second payment pays the order; then the first is approved after all: its
    // money goes back, the order stays paid by the second.
    let (order, user) = super::place_order(&system, &token, "late-success-2", &item, 1).await;
    let (first, first_reference) = open_payment(&system, &order, &user, 300).await;
    assert_eq!(
        gateway_reports(&system, &first_reference, "failed", 300).await,
        200
    );
    eventually("declined", || async {
        status(&system, &admin, "payment", &first).await == "FAILED"
    })
    .await;
    let (second, second_reference) = open_payment(&system, &order, &user, 300).await;
    assert_eq!(
        gateway_reports(&system, &second_reference, "succeeded", 300).await,
        200
    );
    eventually("paid by the second", || async {
        status(&system, &token, "order", &order).await == "PAID"
    })
    .await;
    assert_eq!(
        gateway_reports(&system, &first_reference, "succeeded", 300).await,
        200
    );
    eventually("the first payment's money goes back", || async {
        status(&system, &admin, "payment", &first).await == "REFUNDED"
    })
    .await;
    assert_eq!(status(&system, &token, "order", &order).await, "PAID");
    assert_eq!(
        status(&system, &admin, "payment", &second).await,
        "SUCCEEDED"
    );
    system.stop().await;
}

/// Redis lost a published event before its consumer read it (finding 2): the payment
/// succeeded and its `PaymentStatusChanged` was published, then Redis restarted without it
/// while the order subgraph was down. The payment subgraph sees the event missing from the
/// stream, unacknowledged, and publishes it again: the order is paid, not expired with the
/// customer charged. Once every consumer handled it, the outbox row is settled.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_redis_lost_before_its_consumer_read_it_is_published_again() {
    use payment_subgraph::domain::status::Command as PaymentCommand;
    use payment_subgraph::workflows::payments;

    let mut system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("lost-event@example.com").await;
    let item = product(&system, &admin, "Lost event", 500, 5).await;
    let (order, user) = super::place_order(&system, &token, "lost-event-1", &item, 1).await;
    let order_addr: std::net::SocketAddr = system.subgraph_base("order")[7..].parse().unwrap();
    system.stop_subgraph("order").await;

    let (payment, _) = open_payment(&system, &order, &user, 500).await;
    let mut conn = system.sql("payment").await;
    payments::apply(
        &mut conn,
        payment.parse().unwrap(),
        PaymentCommand::Approve,
        "approved",
        None,
    )
    .await
    .unwrap();
    eventually("the success is published", || async {
        system
            .events("payments")
            .await
            .iter()
            .any(|e| e.payload["to"] == "SUCCEEDED" && e.payload["paymentId"] == payment.as_str())
    })
    .await;
    // Redis restarts without the stream (and the order subgraph's consumer group).
    let redis = system.redis().await;
    let mut redis_conn = redis.connection().await.unwrap();
    let _: () = service_kit::redis::redis::cmd("DEL")
        .arg(event_bus::stream_key(&redis, "payments"))
        .query_async(&mut redis_conn)
        .await
        .unwrap();

    let replica = system
        .start_replica(&order_subgraph::SUBGRAPH, order_addr)
        .await;
    let paid = || async {
        let mut conn = system.sql("order").await;
        #[derive(diesel::QueryableByName)]
        struct Status {
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
        }
        let row: Status = diesel::sql_query("SELECT status FROM orders WHERE id = $1::uuid")
            .bind::<diesel::sql_types::Text, _>(&order)
            .get_result(&mut conn)
            .await
            .unwrap();
        row.status == "PAID"
    };
    eventually("the order is paid", paid).await;
    eventually("the payment's events are settled", || async {
        #[derive(diesel::QueryableByName)]
        struct Unsettled {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = system.sql("payment").await;
        let row: Unsettled =
            diesel::sql_query("SELECT count(*) AS n FROM outbox WHERE acked_at IS NULL")
                .get_result(&mut conn)
                .await
                .unwrap();
        row.n == 0
    })
    .await;
    replica.stop().await;
    system.stop().await;
}

/// Grace at expiry (finding 9): the customer approved at the gateway before the payment's
/// and the order's `expiresAt`, and the webhook came after it (the gateway retries with
/// backoff). The payment succeeds and the order is paid, not expired with the money
/// refunded; once expired, the gateway refuses new decisions and `payOrder` refuses a new
/// payment.
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_approved_in_time_and_reported_late_still_pays_its_order() {
    use std::time::Duration;

    let fast = super::fast_orders(Duration::from_secs(2));
    let system = System::start_with(super::support::Options {
        orders: Some(order_subgraph::config::OrderSettings {
            expiry_grace: Duration::from_secs(8),
            ..fast.orders.clone().unwrap()
        }),
        payment_ttl: Some(Duration::from_secs(2)),
        service_config: Some(std::sync::Arc::new(|config| {
            config
                .change(|payment: &mut payment_subgraph::config::PaymentSettings| {
                    payment.webhook_grace = Duration::from_secs(5);
                })
                .unwrap();
        })),
        ..fast
    })
    .await;
    let admin = system.admin_token().await;
    let token = system.register("just-in-time@example.com").await;
    let item = product(&system, &admin, "Just in time", 700, 5).await;
    let (order, _) = super::place_order(&system, &token, "just-in-time-1", &item, 1).await;
    let paying = system
        .graphql_as(&token, super::PAY, super::pay(&order, "just-in-time-pay-1"))
        .await;
    let payment = paying["data"]["payOrder"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{paying}"))
        .to_owned();
    let redirect = paying["data"]["payOrder"]["redirectUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let reference = redirect.rsplit('/').next().unwrap().to_owned();

    // Past both expiries, within the grace: the gateway page refuses a decision now...
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late_click = reqwest::Client::new()
        .post(format!("{redirect}/approve"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(late_click, 409, "a decision after the payment's expiry");
    // ...and no new payment starts,
    let again = system
        .graphql_as(&token, super::PAY, super::pay(&order, "just-in-time-pay-2"))
        .await;
    assert_eq!(super::error_codes(&again), ["CONFLICT"], "{again}");
    // but the webhook of the approval made in time still pays the order.
    assert_eq!(
        gateway_reports(&system, &reference, "succeeded", 700).await,
        200
    );
    eventually("the order is paid", || async {
        status(&system, &admin, "order", &order).await == "PAID"
    })
    .await;
    assert_eq!(
        status(&system, &admin, "payment", &payment).await,
        "SUCCEEDED"
    );
    system.stop().await;
}

/// A mutation with root fields in two subgraphs (finding 11): hive-router 0.2.19 would
/// start `updateProduct` while `addToCart`'s product lookup still runs, so the cart could
/// show the new price, against GraphQL's serial execution. The router refuses it before
/// any subgraph is called; several root fields of one subgraph still run, in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_mutation_with_root_fields_in_two_subgraphs_is_refused_before_anything_changes() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let item = product(&system, &admin, "Serial", 100, 10).await;
    let mixed = system
        .graphql_as(
            &admin,
            "mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { items { product { price { amount } } } } \
             updateProduct(id: $p, input: { price: 999 }) { id } }",
            json!({ "p": item }),
        )
        .await;
    assert_eq!(super::error_codes(&mixed), ["BAD_USER_INPUT"], "{mixed}");
    assert!(
        mixed["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cart, catalog"),
        "{mixed}"
    );
    let after = system
        .graphql_as(
            &admin,
            "query($p: ID!) { product(id: $p) { price { amount } } cart { totalQuantity } }",
            json!({ "p": item }),
        )
        .await;
    assert_eq!(after["data"]["product"]["price"]["amount"], 100, "{after}");
    assert_eq!(after["data"]["cart"]["totalQuantity"], 0, "{after}");

    let one_subgraph = system
        .graphql_as(
            &admin,
            "mutation($p: ID!) { first: addToCart(productId: $p, quantity: 1) { totalQuantity } \
             second: addToCart(productId: $p, quantity: 2) { totalQuantity items { product { price { amount } } } } }",
            json!({ "p": item }),
        )
        .await;
    assert!(
        super::error_codes(&one_subgraph).is_empty(),
        "{one_subgraph}"
    );
    assert_eq!(one_subgraph["data"]["first"]["totalQuantity"], 1);
    assert_eq!(one_subgraph["data"]["second"]["totalQuantity"], 3);
    system.stop().await;
}

/// Stopping the router (finding 10): requests in flight when it gets SIGTERM, or SIGINT as
/// Ctrl-C in a terminal sends it, finish (here: 12 waiting on a catalog that answers only
/// after the signal), and the router then exits cleanly. ntex stopped at once on SIGINT.
#[tokio::test(flavor = "multi_thread")]
async fn the_router_finishes_requests_in_flight_on_ctrl_c_and_on_sigterm() {
    use std::time::Duration;

    let system = System::start().await;
    let catalog: std::net::SocketAddr = system.subgraph_base("catalog")[7..].parse().unwrap();
    for signal in ["-INT", "-TERM"] {
        let proxy = super::support::TcpProxy::in_front_of(catalog).await;
        let (mut router, url) = system
            .start_another_router_with(&[("CATALOG_SUBGRAPH_URL", proxy.url().to_owned())])
            .await;
        proxy.freeze();
        let client = reqwest::Client::new();
        let requests: Vec<_> = (0..12)
            .map(|i| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let response = client
                        .post(&url)
                        .json(&json!({ "query": format!("{{ products(first: {}) {{ totalCount }} }}", i + 1) }))
                        .send()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                    Ok::<_, String>(body)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pid = router.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::time::sleep(Duration::from_millis(800)).await;
        proxy.restore().await;
        for request in requests {
            let body = request
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("cut off by {signal}: {e}"));
            assert!(
                body["data"]["products"]["totalCount"].is_number(),
                "{signal}: {body}"
            );
        }
        let status = tokio::time::timeout(Duration::from_secs(15), router.wait())
            .await
            .expect("the router exits after draining")
            .unwrap();
        assert!(status.success(), "{signal}: {status}");
    }
    system.stop().await;
}

/// Events lost for good (a bug, an operator's mistake, a Redis failover with the outbox
/// already settled) are caught by the reconcilers: every successful payment is checked
/// against its order, every closed order's stock against the catalog. Each case here is a
/// change made in the database without its event: a success the order never heard of pays
/// the order; a success for a cancelled order is refunded; a cancelled order whose release
/// never reached the catalog gets its stock back; and nothing is done twice.
#[tokio::test(flavor = "multi_thread")]
async fn the_reconcilers_settle_money_and_stock_whose_events_were_lost() {
    use diesel::sql_types::Uuid as SqlUuid;
    let system = System::start_with(super::support::Options {
        events: Some(service_kit::config::EventSettings {
            reconcile_every: std::time::Duration::from_millis(300),
            reconcile_after: std::time::Duration::from_millis(500),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let admin = system.admin_token().await;
    let token = system.register("reconciled@example.com").await;
    let item = product(&system, &admin, "Reconciled", 400, 10).await;
    let mut payments = system.sql("payment").await;
    // A success applied to the payment without its event (lost).
    let succeed_silently = async |conn: &mut diesel_async::AsyncPgConnection, id: &str| {
        diesel::sql_query(
            "UPDATE payments SET status = 'SUCCEEDED', version = version + 1, \
             updated_at = now() - interval '1 hour' WHERE id = $1",
        )
        .bind::<SqlUuid, _>(uuid::Uuid::parse_str(id).unwrap())
        .execute(conn)
        .await
        .unwrap();
    };

    // 1. The order never heard of its payment's success: published again, it pays.
    let (order, user) = super::place_order(&system, &token, "reconcile-1", &item, 1).await;
    let (payment, _) = open_payment(&system, &order, &user, 400).await;
    succeed_silently(&mut payments, &payment).await;
    eventually("the order is paid by its payment", || async {
        status(&system, &token, "order", &order).await == "PAID"
    })
    .await;
    assert_eq!(
        status(&system, &admin, "payment", &payment).await,
        "SUCCEEDED"
    );

    // 2. A success for an order cancelled meanwhile, its refusal lost: the money goes back.
    let (order, user) = super::place_order(&system, &token, "reconcile-2", &item, 1).await;
    let (payment, _) = open_payment(&system, &order, &user, 400).await;
    let cancelled = system
        .graphql_as(
            &token,
            "mutation($id: ID!) { cancelOrder(id: $id) { status } }",
            json!({ "id": order }),
        )
        .await;
    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"], "CANCELLED",
        "{cancelled}"
    );
    eventually("its open payment is cancelled", || async {
        status(&system, &admin, "payment", &payment).await == "CANCELLED"
    })
    .await;
    succeed_silently(&mut payments, &payment).await;
    eventually("the money for the cancelled order goes back", || async {
        status(&system, &admin, "payment", &payment).await == "REFUNDED"
    })
    .await;
    assert_eq!(status(&system, &token, "order", &order).await, "CANCELLED");
    let refunds = super::count(
        &system,
        "payment",
        "SELECT count(*)::bigint AS count FROM refunds WHERE payment_id = $1::uuid",
        &payment,
    )
    .await;
    assert_eq!(refunds, 1);

    // 3. An order closed without its event: the catalog never released its stock; the
    //    reconciler gives it back, once.
    let before = stock(&system, &admin, &item).await;
    let (order, _) = super::place_order(&system, &token, "reconcile-3", &item, 3).await;
    assert_eq!(stock(&system, &admin, &item).await, before - 3);
    let mut orders = system.sql("order").await;
    diesel::sql_query("UPDATE orders SET status = 'CANCELLED' WHERE id = $1")
        .bind::<SqlUuid, _>(uuid::Uuid::parse_str(&order).unwrap())
        .execute(&mut orders)
        .await
        .unwrap();
    eventually("the closed order's stock is back", || async {
        stock(&system, &admin, &item).await == before
    })
    .await;
    eventually("the order subgraph knows it is back", || async {
        super::count(
            &system,
            "order",
            "SELECT count(*)::bigint AS count FROM orders \
             WHERE id = $1::uuid AND stock_returned_at IS NOT NULL",
            &order,
        )
        .await
            == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        stock(&system, &admin, &item).await,
        before,
        "given back twice"
    );
    assert_eq!(super::ledger_sum(&system, &item).await, before);
    system.stop().await;
}
