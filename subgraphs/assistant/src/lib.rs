//! The assistant subgraph: a shopping assistant that answers from the catalog and the
//! customer's own orders, streams its replies, and proposes actions (add to cart, place an
//! order, cancel an order) that happen only when the customer confirms them.
//!
//! It talks to any OpenAI-compatible chat model (`model.rs`; Volcengine Ark/Doubao, OpenAI,
//! llama.cpp) or, by default in development, to the sandbox model it serves itself
//! (`sandbox_model/`: scripted, deterministic, offline). Its tools are contract operations
//! sent through the router with the customer's own token (`peers.rs`), so it can do nothing
//! the customer could not do through the API.
//!
//! Layout: `graphql/` (types and resolvers), `domain/` (tools and their arguments, the
//! prompt, the life of an action; no I/O), `workflows/` (a turn, tools and proposals, the
//! confirmation, the message limit), `db/` (tables and statements), `peers.rs` (the
//! router), `model.rs` (the model client), `config.rs`. It consumes no events and serves no
//! internal routes: nothing else calls it.

pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod model;
pub mod peers;
pub mod sandbox_model;
pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, Schema, SchemaBuilder};
use auth::Access;
use diesel_migrations::embed_migrations;
use futures::FutureExt as _;
use service_kit::db::DatabaseSpec;
use service_kit::http::RequestData;
use service_kit::{ServiceConfig, Stores, Subgraph, http};

use config::AssistantSettings;
pub use graphql::{Mutation, Query, Subscription};
use peers::Customer;

/// The assistant subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "assistant",
    migrations: embed_migrations!("../../migrations/assistant"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/assistant"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "assistant",
    default_port: 4006,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    seed: |_| Box::pin(async { Ok(()) }),
    router,
    workers: service_kit::subgraph::no_workers,
    check_deployable: |config| {
        config
            .settings::<AssistantSettings>()?
            .check_deployable(config.env)
    },
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
}

/// Where the sandbox model is served when no model is configured.
const SANDBOX_PATH: &str = "/sandbox-model";

/// HTTP routes over connected stores: GraphQL, and the sandbox model when it is the one in
/// use.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let settings: AssistantSettings = config.settings()?;
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let sandbox = settings
        .model_url
        .is_none()
        .then(|| sandbox_model::SandboxModel::new(settings.sandbox_latency));
    let model_url = match &settings.model_url {
        Some(url) => url.clone(),
        None => {
            let mut addr = config.listen_addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}{SANDBOX_PATH}/v1")
        }
    };
    let model = model::ModelClient::new(&model::ModelSettings {
        base_url: model_url,
        api_key: settings.api_key.clone(),
        model: settings.model.clone(),
        timeout: settings.model_timeout,
        max_retries: 2,
        max_retry_wait: Duration::from_secs(10),
        max_tokens: settings.max_tokens,
    })?;
    let assistant = workflows::Assistant {
        db: stores.db.clone(),
        redis: stores.redis.clone(),
        model,
        router: peers::RouterClient::new(config.peer_url(service_kit::config::ROUTER)?)?,
        settings,
    };
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(access.clone())
        .data(stores.db.clone())
        .data(assistant)
        .finish();
    let request_data = with_customer(access.request_data(|_| {}));
    let mut app = http::subgraph_router(schema, request_data, stores, config);
    if let Some(sandbox) = sandbox {
        app = app.nest(SANDBOX_PATH, sandbox.routes());
    }
    Ok(app)
}

/// Adds the signed-in customer's `Authorization` header to the request data: the tools
/// send it on to the router, so that they act with the customer's own rights.
fn with_customer(inner: RequestData) -> RequestData {
    Arc::new(move |headers: axum::http::HeaderMap| {
        let inner = inner.clone();
        async move {
            let authorization = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut data: Data = inner(headers).await?;
            let caller = data_caller(&data);
            if let (Some(authorization), Some(client_ip)) = (authorization, caller) {
                data.insert(Customer {
                    authorization,
                    client_ip,
                });
            }
            Ok(data)
        }
        .boxed()
    })
}

/// The signed-in caller's address (outer `None`: anonymous).
fn data_caller(data: &Data) -> Option<Option<String>> {
    let caller = data.get(&std::any::TypeId::of::<auth::Caller>())?;
    let caller = caller.downcast_ref::<auth::Caller>()?;
    caller.identity_opt()?;
    Some(caller.client_ip().map(str::to_owned))
}

/// Runs the assistant subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}
