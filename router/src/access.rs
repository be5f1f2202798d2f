//! The `mall_access` router plugin: the edge half of Douyin Mall's access control.
//!
//! - Tells subgraphs the client's address in `x-mall-client-ip` (overwriting any value the
//!   client sent), for per-address login throttling.
//! - Refuses a request whose access token the router's JWT check did not accept (HTTP 401,
//!   `UNAUTHENTICATED`), and root fields that are not on the public operation list to
//!   callers without a token, before planning: only the refused fields are `null`, each
//!   with an `UNAUTHENTICATED` error; public fields of the same operation still resolve.
//! - Gives JWT failures of Hive Router's authentication the contract's code
//!   `UNAUTHENTICATED` (HTTP 401), and failed subgraph calls the code `UNAVAILABLE`.

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
use hive_router::executor::plugin_trait::{RouterPlugin, StartHookPayload as _};
use hive_router::ntex::http::header::{HeaderName, HeaderValue};
use hive_router::{GraphQLError, PlanExecutionOutput};
use public_operations::PublicOperations;
use serde::Deserialize;

/// Header carrying the client's address to subgraphs.
pub const CLIENT_IP_HEADER: &str = "x-mall-client-ip";

/// The answer to a request whose access token the router's JWT check refused.
const INVALID_TOKEN_BODY: &str = r#"{"data":null,"errors":[{"message":"invalid access token: it is malformed, expired, not yet valid or not signed by this mall","extensions":{"code":"UNAUTHENTICATED"}}]}"#;

/// Codes of Hive Router's JWT failures (all mean: the token is not acceptable).
const JWT_ERROR_CODES: [&str; 6] = [
    "MISSING_JWT",
    "INVALID_JWT",
    "JWT_NOT_SUPPORTED",
    "INVALID_JWT_HEADER",
    "JWT_LOOKUP_FAILED",
    "JWK_ALGORITHM_NOT_SUPPORTED",
];

/// `plugins.mall_access.config` in the router configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallAccessConfig {
    /// The public operation list, relative to the configuration file. The environment
    /// variable `PUBLIC_OPERATIONS_FILE` wins over it.
    public_operations: Option<PathBuf>,
}

/// See the module documentation.
pub struct MallAccess {
    public: PublicOperations,
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
        Ok(Some(Self { public }))
    }

    fn on_http_request<'req>(
        &'req self,
        mut payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let peer = payload
                .router_http_request
                .peer_addr()
                .map(|a| a.ip().to_string());
            let headers = payload.router_http_request.headers_mut();
            let name = HeaderName::from_static(CLIENT_IP_HEADER);
            headers.remove(&name);
            if let Some(value) = peer.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
                headers.insert(name, value);
            }
            payload.proceed()
        })
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        if matches!(
            *payload.client_request_details.jwt,
            JwtRequestDetails::Unauthenticated
        ) {
            // Hive Router lets a request whose token fails verification through as anonymous
            // (`require_authentication: false`, so that anonymous browsing works); a token
            // that was sent but not accepted must fail the request instead.
            if payload
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
            payload.filter_operation(move |selection| match selection {
                Selection::Field(field)
                    if matches!(
                        field.parent_type_name,
                        "Query" | "Mutation" | "Subscription"
                    ) && !public.allows(field.parent_type_name, field.field_name) =>
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
        let code = payload.error.extensions.code.as_deref();
        if code.is_some_and(|code| JWT_ERROR_CODES.contains(&code)) {
            payload.error.extensions.code = Some("UNAUTHENTICATED".to_owned());
            payload.status_code = hive_router::http::StatusCode::UNAUTHORIZED;
        } else if code == Some("SUBREQUEST_HTTP_ERROR") {
            payload.error.extensions.code = Some("UNAVAILABLE".to_owned());
        }
        payload.proceed()
    }
}
