//! Payments of orders through the router: who sees a payment, the sandbox gateway and its
//! signed webhook, refunds, cancelling an order with an open payment, and payment expiry
//! across replicas.

use super::*;

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
pub(super) async fn pending_payment(
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
pub(super) async fn place_order(
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
