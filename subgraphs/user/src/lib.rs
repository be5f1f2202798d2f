//! The user subgraph: accounts, sessions with rotating refresh tokens, bans, roles and
//! addresses. It owns the `User` entity that the cart and order subgraphs extend, signs
//! access tokens, publishes their public keys (`/.well-known/jwks.json`), and publishes
//! each user's roles and ban to Redis for every subgraph's per-request check.
//!
//! Layout: `graphql/` (types, loaders and resolvers: sessions, accounts, addresses,
//! administration), `domain/` (account, password, session, address and role rules, no
//! I/O), `workflows/` (sign-in, refresh and revocation of sessions, registration, address
//! and access changes: transactions, and PostgreSQL kept in step with Redis), `db/` (tables
//! and statements), `throttle.rs` (the sign-in and registration counters in Redis),
//! `internal.rs` (routes for other subgraphs), `seed.rs` (the demo accounts).

pub mod db;
pub mod domain;
pub mod graphql;
pub mod internal;
pub mod seed;
pub mod throttle;
pub mod workflows;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use auth::Access;
use axum::routing::get;
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::{ServiceConfig, Stores, Subgraph, http};

pub use graphql::{Mutation, Query};
pub use seed::{DEMO_ADMIN_PASSWORD, DEMO_CUSTOMER_PASSWORD};

/// The user subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "user",
    migrations: embed_migrations!("../../migrations/user"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/user"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "user",
    default_port: 4001,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    seed: |stores| Box::pin(seed::seed_demo_data(&stores.db)),
    router,
    workers: service_kit::subgraph::no_workers,
    check_deployable: service_kit::subgraph::nothing_to_check,
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation::default(), EmptySubscription).enable_federation()
}

/// HTTP routes over connected stores: the subgraph routes plus the JWKS.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(stores.db.clone())
        .data(access.clone())
        .finish();
    let db = stores.db.clone();
    let window = config.loader_batch;
    let request_data =
        access.request_data(move |data| graphql::loaders::add_loaders(&db, window, data));
    let jwks = serde_json::to_value(access.keys().jwks())?;
    let internal = internal::routes(stores.db.clone(), &config.internal_token);
    Ok(http::subgraph_router(schema, request_data, stores, config)
        .route(
            "/.well-known/jwks.json",
            get(move || async move { axum::Json(jwks.clone()) }),
        )
        .merge(internal))
}

/// Runs the user subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}
