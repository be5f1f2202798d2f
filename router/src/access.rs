//! The `mall_access` router plugin: the edge half of Douyin Mall's access control.
//!
//! - Tells subgraphs the client's address in `x-mall-client-ip` (overwriting any value the
//!   client sent), for per-address login throttling: the TCP peer, or, when the peer is a
//!   configured trusted proxy, the right-most untrusted address of `X-Forwarded-For`.
//! - Gives every request an `x-request-id` (the router's log correlation id: the client's
//!   own when it sent a sane one): sent to the subgraphs, which log it, and echoed to the
//!   client.
//! - Refuses a request whose access token the router's JWT check did not accept (HTTP 401,
//!   `UNAUTHENTICATED`), and root fields that are not on the public operation list to
//!   callers without a token, before planning: only the refused fields are `null`, each
//!   with an `UNAUTHENTICATED` error; public fields of the same operation still resolve.
//! - Refuses a mutation whose root fields belong to more than one subgraph
//!   (`BAD_USER_INPUT`, before any subgraph is called): hive-router 0.2.19 would overlap
//!   them with the previous field's entity fetches.
//! - Gives every error the contract's code ([`contract_code`]): JWT failures
//!   `UNAUTHENTICATED` (HTTP 401), failed subgraph calls `UNAVAILABLE`, malformed or invalid
//!   requests `BAD_USER_INPUT`, anything unknown `INTERNAL_SERVER_ERROR`.

use std::path::{Path, PathBuf};

use hive_router::async_trait;
use hive_router::executor::execution::client_request_details::JwtRequestDetails;
use hive_router::executor::hooks::on_graphql_analysis::{
    FilterDecision, OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult, Selection,
};
use hive_router::executor::hooks::on_graphql_error::{
    OnGraphQLErrorHookPayload, OnGraphQLErrorHookResult,
};
use hive_router::executor::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::executor::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::hooks::on_query_plan::{
    OnQueryPlanStartHookPayload, OnQueryPlanStartHookResult,
};
use hive_router::executor::plugin_trait::{
    EndHookPayload as _, RouterPlugin, StartHookPayload as _,
};
use hive_router::ntex::http::header::{HeaderName, HeaderValue};
use hive_router::query_planner::planner::plan_nodes::PlanNode;
use hive_router::query_planner::state::supergraph_state::OperationKind;
use hive_router::telemetry::logging::request_id::REQUEST_IDENTIFIERS;
use hive_router::{GraphQLError, PlanExecutionOutput};
use public_operations::PublicOperations;
use serde::Deserialize;

mod client_address;
mod contract_codes;

pub use client_address::client_address;
use client_address::parse_proxy;
pub use contract_codes::contract_code;

/// Header carrying the client's address to subgraphs.
pub const CLIENT_IP_HEADER: &str = "x-mall-client-ip";
/// The request's id: in the router's and the subgraphs' logs, and in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The answer to a request whose access token the router's JWT check refused.
const INVALID_TOKEN_BODY: &str = r#"{"data":null,"errors":[{"message":"invalid access token: it is malformed, expired, not yet valid or not signed by this mall","extensions":{"code":"UNAUTHENTICATED"}}]}"#;

/// `plugins.mall_access.config` in the router configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallAccessConfig {
    /// The public operation list, relative to the configuration file. The environment
    /// variable `PUBLIC_OPERATIONS_FILE` wins over it.
    public_operations: Option<PathBuf>,
    /// Load balancers whose `X-Forwarded-For` is believed: IPs or CIDR ranges.
    #[serde(default)]
    trusted_proxies: Vec<String>,
    /// Most root fields (aliases counted, fragments expanded) one operation may select;
    /// hive-router 0.2.19 has no such limit of its own.
    #[serde(default = "default_max_root_fields")]
    max_root_fields: usize,
}

fn default_max_root_fields() -> usize {
    10
}

/// See the module documentation.
pub struct MallAccess {
    public: PublicOperations,
    trusted_proxies: Vec<ipnet::IpNet>,
    max_root_fields: usize,
}

/// The answer to an operation over the root-field limit.
fn too_many_root_fields(count: usize, limit: usize) -> PlanExecutionOutput {
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!("Root fields limit exceeded: {count} root fields, at most {limit}"),
            "extensions": { "code": "BAD_USER_INPUT" },
        }],
    });
    PlanExecutionOutput {
        body: body.to_string().into_bytes(),
        error_count: 1,
        status_code: hive_router::http::StatusCode::OK,
    }
}

/// The answer to a request that arrives while the router is stopping.
fn stopping() -> hive_router::ntex::http::Response {
    hive_router::ntex::http::Response::build(hive_router::http::StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "application/json")
        .header("retry-after", "1")
        .header("connection", "close")
        .body(
            r#"{"data":null,"errors":[{"message":"the router is stopping: retry (another replica answers)","extensions":{"code":"UNAVAILABLE"}}]}"#,
        )
}

/// The answer to a mutation whose root fields would run in more than one subgraph.
fn mutation_across_subgraphs(subgraphs: &[String]) -> PlanExecutionOutput {
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!(
                "a mutation's root fields must belong to one subgraph, these belong to {}: \
                 send them as separate requests, one after the other",
                subgraphs.join(", ")
            ),
            "extensions": { "code": "BAD_USER_INPUT" },
        }],
    });
    PlanExecutionOutput {
        body: body.to_string().into_bytes(),
        error_count: 1,
        status_code: hive_router::http::StatusCode::OK,
    }
}

/// The subgraphs of the mutation fetches of a plan, in plan order (one per fetch, so a
/// subgraph is listed twice when its root fields are split by another's).
fn mutation_fetches(node: &PlanNode, out: &mut Vec<String>) {
    match node {
        PlanNode::Fetch(fetch) => {
            if fetch.operation_kind == Some(OperationKind::Mutation) {
                out.push(fetch.service_name.clone());
            }
        }
        PlanNode::BatchFetch(fetch) => {
            if fetch.operation_kind == Some(OperationKind::Mutation) {
                out.push(fetch.service_name.clone());
            }
        }
        PlanNode::Sequence(sequence) => {
            for node in &sequence.nodes {
                mutation_fetches(node, out);
            }
        }
        PlanNode::Parallel(parallel) => {
            for node in &parallel.nodes {
                mutation_fetches(node, out);
            }
        }
        PlanNode::Flatten(flatten) => mutation_fetches(&flatten.node, out),
        PlanNode::Condition(condition) => {
            for node in condition.if_clause.iter().chain(&condition.else_clause) {
                mutation_fetches(node, out);
            }
        }
        PlanNode::Subscription(_) | PlanNode::Defer(_) => {}
    }
}

#[async_trait]
impl RouterPlugin for MallAccess {
    fn plugin_name() -> &'static str {
        "mall_access"
    }

    type Config = MallAccessConfig;

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let from_env = std::env::var_os("PUBLIC_OPERATIONS_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let path = from_env.or_else(|| {
            config.public_operations.map(|path| {
                let base = std::env::var_os(crate::CONFIG_ENV)
                    .map(PathBuf::from)
                    .and_then(|file| file.parent().map(Path::to_path_buf))
                    .unwrap_or_default();
                base.join(path)
            })
        });
        let public = PublicOperations::load(path.as_deref())?;
        let trusted_proxies = config
            .trusted_proxies
            .iter()
            .filter(|text| !text.trim().is_empty())
            .map(|text| parse_proxy(text))
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            public,
            trusted_proxies,
            max_root_fields: config.max_root_fields,
        }))
    }

    fn on_http_request<'req>(
        &'req self,
        mut payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            // Counted until its response is ready; refused once the router is stopping
            // (`/health` still answers: the process is alive, just not ready).
            let path = payload.router_http_request.path();
            if path == "/readiness" && crate::drain::DRAIN.unready() {
                return payload.end_with_response(stopping());
            }
            let in_flight = if path == "/health" {
                None
            } else {
                match crate::drain::DRAIN.enter() {
                    Some(in_flight) => Some(in_flight),
                    None => return payload.end_with_response(stopping()),
                }
            };
            let peer = payload.router_http_request.peer_addr().map(|a| a.ip());
            let headers = payload.router_http_request.headers_mut();
            let forwarded: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .collect();
            let client = client_address(peer, &forwarded, &self.trusted_proxies);
            let name = HeaderName::from_static(CLIENT_IP_HEADER);
            headers.remove(&name);
            if let Some(value) = client.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok()) {
                headers.insert(name, value);
            }
            // The request's id in the router's logs (the client's `x-request-id` when it
            // sent a sane one, else a new one): to the subgraphs, which log it, and back to
            // the client, who can quote it.
            let request_id = REQUEST_IDENTIFIERS
                .try_with(|ids| HeaderValue::from_str(ids.req_id()).ok())
                .ok()
                .flatten();
            if let Some(request_id) = &request_id {
                headers.insert(
                    HeaderName::from_static(REQUEST_ID_HEADER),
                    request_id.clone(),
                );
            }
            payload.on_end(move |payload| {
                drop(in_flight);
                let Some(request_id) = request_id else {
                    return payload.proceed();
                };
                payload
                    .map_response(|mut response| {
                        response
                            .response_mut()
                            .headers_mut()
                            .insert(HeaderName::from_static(REQUEST_ID_HEADER), request_id);
                        response
                    })
                    .proceed()
            })
        })
    }

    /// Refuses a mutation whose root fields would run as more than one subgraph fetch:
    /// hive-router 0.2.19 starts the next root field's fetch while the previous field's
    /// entity fetches still run (fixed upstream in 0.3.2, which needs a newer compiler), so
    /// a result could show the effect of a later field, against GraphQL's serial execution
    /// of mutations. Root fields of one subgraph are one fetch, and run in order there.
    async fn on_query_plan<'exec>(
        &'exec self,
        payload: OnQueryPlanStartHookPayload<'exec>,
    ) -> OnQueryPlanStartHookResult<'exec> {
        let operation = payload.filtered_operation_for_plan;
        if operation.operation_kind != Some(OperationKind::Mutation)
            || operation.selection_set.items.len() < 2
        {
            return payload.proceed();
        }
        payload.on_end(|end| {
            let mut fetches = Vec::new();
            if let Some(node) = &end.query_plan().node {
                mutation_fetches(node, &mut fetches);
            }
            if fetches.len() > 1 {
                return end.end_with_response(mutation_across_subgraphs(&fetches));
            }
            end.proceed()
        })
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        let root_fields = payload
            .filtered_operation_for_plan
            .selection_set
            .items
            .len();
        if root_fields > self.max_root_fields {
            return OnGraphqlAnalysisHookResult::EndWithResponse(too_many_root_fields(
                root_fields,
                self.max_root_fields,
            ));
        }
        if matches!(
            *payload.client_request_details.jwt,
            JwtRequestDetails::Unauthenticated
        ) {
            // Hive Router lets a request whose token fails verification through as anonymous
            // (`require_authentication: false`, so that anonymous browsing works); a token
            // that was sent but not accepted must fail the request instead. A subscription
            // goes on to the subgraph, which refuses the token inside the stream (a single
            // response decided here cannot reach an SSE client, see below).
            let subscription = payload.client_request_details.operation.kind == "subscription";
            if !subscription
                && payload
                    .client_request_details
                    .headers
                    .contains_key("authorization")
            {
                return OnGraphqlAnalysisHookResult::EndWithResponse(PlanExecutionOutput {
                    body: INVALID_TOKEN_BODY.as_bytes().to_vec(),
                    error_count: 1,
                    status_code: hive_router::http::StatusCode::UNAUTHORIZED,
                });
            }
            let public = &self.public;
            // Subscriptions are left to the subgraphs, which refuse anonymous ones with
            // UNAUTHENTICATED inside the stream: an answer decided here is a single JSON
            // response, which hive-router 0.2.19 cannot send to an SSE client (it accepts
            // only `text/event-stream`) and replaces with a content-type error.
            payload.filter_operation(move |selection| match selection {
                Selection::Field(field)
                    if matches!(field.parent_type_name, "Query" | "Mutation")
                        && !public.allows(field.parent_type_name, field.field_name) =>
                {
                    selection.reject(GraphQLError::from_message_and_code(
                        format!(
                            "sign in first: `{}` needs an access token",
                            field.field_name
                        ),
                        "UNAUTHENTICATED",
                    ))
                }
                _ => FilterDecision::Keep,
            });
        }
        OnGraphqlAnalysisHookResult::Proceed
    }

    fn on_graphql_error<'req>(
        &'req self,
        mut payload: OnGraphQLErrorHookPayload<'req>,
    ) -> OnGraphQLErrorHookResult<'req> {
        let original = payload.error.extensions.code.clone();
        let code = contract_code(original.as_deref());
        let changed = original.as_deref() != Some(code);
        if changed {
            if code == "INTERNAL_SERVER_ERROR" {
                // The client learns nothing of the router's internals; the log keeps them.
                eprintln!(
                    "router error mapped to INTERNAL_SERVER_ERROR: code {original:?}: {}",
                    payload.error.message
                );
                payload.error.message = "internal error".to_owned();
            }
            payload.error.extensions.code = Some(code.to_owned());
        }
        if code == "UNAUTHENTICATED" && changed {
            payload.status_code = hive_router::http::StatusCode::UNAUTHORIZED;
        }
        payload.proceed()
    }
}
