//! The order subgraph: checkout, orders and their life cycle. It owns the `Order` entity
//! and `User.orders`, reserves stock through the catalog, and publishes every order change
//! as an event (transactional outbox → Redis stream `orders`).
//!
//! Layout: `graphql/` (types and resolvers), `domain/` (the state machine and checkout
//! rules, no I/O), `workflows/` (checkout, flash-sale orders, the life cycle: transactions
//! and calls to other subgraphs), `db/` (tables, rows and statements: `orders`, `checkouts`,
//! `payments`, `reconcile`), `peers.rs` (clients of the catalog, cart and user subgraphs),
//! `events/` (relay, consumers, sweeper, reconciler), `internal.rs` (routes for other
//! subgraphs), `config.rs` (its settings).

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod internal;
pub mod peers;
pub mod workflows;

use async_graphql::{Schema, SchemaBuilder};
use auth::Access;
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::{ServiceConfig, Stores, Subgraph, Worker, http};

pub use graphql::{Mutation, Query, Subscription};

/// The order subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "order",
    migrations: embed_migrations!("../../migrations/order"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/order"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "order",
    default_port: 4004,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    // Orders come from checkout; there is no demo order.
    seed: |_| Box::pin(async { Ok(()) }),
    router,
    workers,
    check_deployable: service_kit::subgraph::nothing_to_check,
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
}

/// HTTP routes over connected stores; every request gets its own DataLoaders.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let settings: config::OrderSettings = config.settings()?;
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let services = peers::Peers::new(config)?;
    let checkout = workflows::checkout::Checkout {
        db: stores.db.clone(),
        services: services.clone(),
        settings,
    };
    let live = events::live::feed(stores.redis.clone());
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(access.clone())
        .data(live.clone())
        .data(stores.db.clone())
        .data(services)
        .data(checkout)
        .finish();
    let db = stores.db.clone();
    let window = config.loader_batch;
    let request_data =
        access.request_data(move |data| graphql::loaders::add_loaders(&db, window, data));
    let internal = internal::routes(stores.db.clone(), live, &config.internal_token);
    Ok(http::subgraph_router(schema, request_data, stores, config).merge(internal))
}

/// The outbox relay, the sweeper, the consumers and the stock reconciler.
pub fn workers(stores: &Stores, config: &ServiceConfig) -> anyhow::Result<Vec<Worker>> {
    Ok(events::workers(
        stores,
        &config.settings()?,
        &config.events,
        peers::Peers::new(config)?,
        // Clients of their own: the reconciler's slow rounds never open checkout's breakers.
        peers::Peers::new(config)?,
    ))
}

/// Runs the order subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}
