//! Traces: a checkout through the router with the client's W3C `traceparent` makes one trace
//! whose spans cover the router, the order subgraph, the catalog's stock reservation, SQL
//! statements, and the event consumers that handle the order's `OrderPlaced`. The router
//! (a child process) and the subgraphs (this process) export over OTLP/HTTP to a receiver of
//! the test's own, which decodes what they send.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::{Value, json};
use service_kit::telemetry::OtlpSettings;

use crate::support::{Options, System};

/// One exported span, as the receiver decoded it.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

/// Whether a span is the one looked for.
type SpanTest = fn(&ReceivedSpan) -> bool;

/// An OTLP/HTTP (protobuf) traces endpoint that keeps what it receives.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<ReceivedSpan>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = store.lock().expect("spans");
                for resource_spans in request.resource_spans {
                    let service = resource_spans
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref()?.value.as_ref())
                        .map(|v| match v {
                            AnyValue::StringValue(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for scope in resource_spans.scope_spans {
                        for span in scope.spans {
                            spans.push(ReceivedSpan {
                                service: service.clone(),
                                name: span.name,
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent_span_id: hex(&span.parent_span_id),
                            });
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver port");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/traces"), received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkout_is_one_trace_from_the_router_through_the_subgraphs_to_the_event_consumers() {
    let (endpoint, received) = otlp_receiver().await;
    let system = System::start_with(Options {
        otlp: Some(OtlpSettings {
            endpoint,
            sampling: 1.0,
            service_name: "douyin-mall-subgraphs".to_owned(),
        }),
        ..Options::default()
    })
    .await;
    let token = system.demo_customer_token().await;
    let product = service_kit::demo::demo_id("product", "iphone-15-pro-256gb");

    // The client starts the trace: the router continues it.
    let trace_id = format!("{:032x}", rand_u128());
    let traceparent = format!("00-{trace_id}-{:016x}-01", rand_u128() as u64);
    let answer: Value = reqwest::Client::new()
        .post(&system.router_url)
        .bearer_auth(&token)
        .header("traceparent", &traceparent)
        .json(&json!({
            "query": "mutation Checkout($input: CheckoutInput!) { checkout(input: $input) { id status } }",
            "variables": { "input": {
                "idempotencyKey": "trace-test-checkout",
                "items": [{ "productId": product, "quantity": 1 }],
            } },
        }))
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        answer["data"]["checkout"]["status"], "PENDING_PAYMENT",
        "{answer}"
    );

    // What must be in the trace, by span name.
    let wanted: [(&str, SpanTest); 6] = [
        ("a router span", |s| s.service != "douyin-mall-subgraphs"),
        // (The router names no operation in its subgraph requests.)
        ("the order subgraph's GraphQL request", |s| {
            s.name == "order graphql"
        }),
        ("the catalog's stock reservation", |s| {
            s.name == "catalog /internal/stock/reserve"
        }),
        ("an SQL statement", |s| s.name == "INSERT"),
        ("the cart handling OrderPlaced", |s| {
            s.name == "cart handles OrderPlaced"
        }),
        ("the payment subgraph handling OrderPlaced", |s| {
            s.name == "payment handles OrderPlaced"
        }),
    ];
    // Polled until the trace holds all of it and is one tree: every span's parent is in the
    // trace, but the router's first span, whose parent is the client's traceparent (spans
    // end, and are exported, after their children).
    let client_span = traceparent.split('-').nth(2).expect("span id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        service_kit::telemetry::flush();
        let spans: Vec<ReceivedSpan> = received
            .lock()
            .expect("spans")
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|(_, found)| !spans.iter().any(found))
            .map(|(what, _)| *what)
            .collect();
        let orphans: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| !ids.contains(s.parent_span_id.as_str()) && s.parent_span_id != client_span)
            .collect();
        if missing.is_empty() && orphans.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let names: Vec<String> = spans
                .iter()
                .map(|s| format!("{} ({})", s.name, s.service))
                .collect();
            panic!(
                "missing from the trace: {missing:?}; spans whose parent is not in it: \
                 {orphans:?}; the trace has {names:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    system.stop().await;
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let state = std::collections::hash_map::RandomState::new();
    let mut high = state.build_hasher();
    high.write_u64(1);
    let mut low = state.build_hasher();
    low.write_u64(2);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}
