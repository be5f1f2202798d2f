//! Prometheus metrics of a subgraph process, through the `metrics` facade: one recorder per
//! process (`metrics-exporter-prometheus`), rendered at every subgraph's `GET /metrics`.
//! Every series carries a `subgraph` label, since `cargo run` serves all five subgraphs
//! from one process (each `/metrics` shows the process's registry).
//!
//! Series recorded here and elsewhere (names are the contract with dashboards):
//! - `graphql_requests_total{subgraph, operation, code}` and
//!   `graphql_request_duration_seconds{subgraph, operation}`: GraphQL requests by
//!   operation name and result (`OK` or the first error's contract code);
//! - `db_pool_connections{subgraph, state}`, `redis_pool_connections{subgraph, state}`:
//!   pool usage (`idle`, `in_use`) at scrape time; `db_pool_wait_seconds` and
//!   `redis_pool_wait_seconds`: waiting for a pooled connection (per process, no subgraph
//!   label: the pools are handed out without knowing whose request it is);
//! - `events_published_total{stream, name}` and `outbox_publish_delay_seconds{stream}`
//!   (`crates/event-bus`): business events (orders placed, paid, cancelled, expired,
//!   refunded; payment status changes; flash-sale admissions) and the outbox lag;
//!   `events_consumed_total{stream, group, result}` and `event_consumer_delay_seconds`:
//!   the bus consumers and their lag; `live_subscriptions_open{stream}`: subscriptions;
//! - `flash_sale_attempts_total{outcome}` (catalog): admissions and rejections by reason;
//! - `answer_cache_total{subgraph, result}` (`hit`, `miss`): kept answers
//!   (`crate::answers`, the catalog's product pages).

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::Stores;

/// Latency buckets (seconds) of every `_seconds` histogram: 1 ms to 10 s.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("valid buckets")
            .install_recorder()
            .expect("the only metrics recorder of this process")
    })
}

/// `GET /metrics` for subgraph `name`: pool gauges are read at scrape time. With `token`,
/// only for `Authorization: Bearer <token>` (401 otherwise).
pub fn routes(name: &'static str, stores: &Stores, token: Option<&str>) -> Router {
    handle();
    let (db, redis) = (stores.db.clone(), stores.redis.clone());
    let token: Option<std::sync::Arc<str>> = token.map(Into::into);
    Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let (db, redis, token) = (db.clone(), redis.clone(), token.clone());
            async move {
                if let Some(token) = token
                    && !bearer_is(&headers, &token)
                {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer")],
                        String::new(),
                    );
                }
                let state = db.state();
                metrics::gauge!("db_pool_connections", "subgraph" => name, "state" => "idle")
                    .set(f64::from(state.idle_connections));
                metrics::gauge!("db_pool_connections", "subgraph" => name, "state" => "in_use")
                    .set(f64::from(state.connections - state.idle_connections));
                let state = redis.pool().state();
                metrics::gauge!("redis_pool_connections", "subgraph" => name, "state" => "idle")
                    .set(f64::from(state.idle_connections));
                metrics::gauge!("redis_pool_connections", "subgraph" => name, "state" => "in_use")
                    .set(f64::from(state.connections - state.idle_connections));
                (
                    axum::http::StatusCode::OK,
                    [("content-type", "text/plain; version=0.0.4")],
                    handle().render(),
                )
            }
        }),
    )
}

/// Whether `headers` carry `Authorization: Bearer <token>` (compared in constant time).
fn bearer_is(headers: &axum::http::HeaderMap, token: &str) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    crate::internal::constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Records a reconciler's round (`kind`: what it checks): how many it checked, how many it
/// found wrong and repaired (what events should have done; 0 when all is well), and how
/// many it could not settle (tried again, or logged for a person).
pub fn reconciled(kind: &'static str, checked: u64, repaired: u64, unsettled: u64) {
    metrics::counter!("reconciler_checked_total", "kind" => kind).increment(checked);
    metrics::counter!("reconciler_repairs_total", "kind" => kind).increment(repaired);
    metrics::counter!("reconciler_unsettled_total", "kind" => kind).increment(unsettled);
}

/// Records one GraphQL request of subgraph `name`.
pub fn graphql_request(name: &'static str, operation: Option<&str>, code: &str, took: Duration) {
    let operation = operation.unwrap_or("(anonymous)").to_owned();
    metrics::counter!("graphql_requests_total", "subgraph" => name, "operation" => operation.clone(), "code" => code.to_owned())
        .increment(1);
    metrics::histogram!("graphql_request_duration_seconds", "subgraph" => name, "operation" => operation)
        .record(took.as_secs_f64());
}

/// The name of the subgraph serving a request (an axum extension every subgraph's routes
/// carry, see `Subgraph::prepare`).
#[derive(Clone, Copy, Debug)]
pub struct SubgraphName(pub &'static str);
