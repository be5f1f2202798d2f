//! The payment subgraph: payments of orders. It owns the `Payment` entity and adds
//! `Order.payments`, takes payments through the sandbox gateway and its signed webhook,
//! and streams payment status (`paymentUpdated`).
//!
//! Layout: `graphql/` (types, loaders, queries, mutations, the subscription), `domain/`
//! (the payment state machine, who may pay an order, the reconciler's rule; no I/O),
//! `workflows/` (payments and their status changes, refunds, gateway events and decisions,
//! the money reconciler: the transactions and calls to the order subgraph), `db/` (tables,
//! rows and statements), `peers.rs` (the order subgraph's client), `events/` (relay,
//! consumer of order events, sweeper, reconciler worker, live feed), `webhook.rs` (the
//! gateway's signed webhook), `gateway.rs` (the sandbox gateway's pages and deliveries) and
//! `config.rs` (its settings).

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod gateway;
pub mod graphql;
pub mod peers;
pub mod webhook;
pub mod workflows;

use async_graphql::{Schema, SchemaBuilder};
use auth::Access;
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::{ServiceConfig, Stores, Subgraph, Worker, http};

pub use graphql::{Mutation, Query, Subscription};

/// The payment subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "payment",
    migrations: embed_migrations!("../../migrations/payment"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/payment"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "payment",
    default_port: 4005,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    // Payments come from paying orders; there is no demo payment.
    seed: |_| Box::pin(async { Ok(()) }),
    router,
    workers,
    check_deployable: |config| {
        config
            .settings::<crate::config::PaymentSettings>()?
            .check_deployable(config.env)
    },
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
}

/// HTTP routes over connected stores; every request gets its own DataLoaders.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let settings: config::PaymentSettings = config.settings()?;
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let gateway_base = settings
        .gateway_url
        .clone()
        .unwrap_or_else(|| own_base_url(config));
    let setup = graphql::mutation::PaymentSetup {
        orders: peers::Orders::new(config)?,
        ttl: settings.ttl,
    };
    let live = events::live::feed(stores.redis.clone());
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(access.clone())
        .data(live.clone())
        .data(stores.db.clone())
        .data(graphql::types::GatewayBase(gateway_base))
        .data(setup)
        .finish();
    let db = stores.db.clone();
    let window = config.loader_batch;
    let request_data =
        access.request_data(move |data| graphql::loaders::add_loaders(&db, window, data));
    let webhook = webhook::routes(stores.db.clone(), &settings.webhook_secret);
    // Off in production unless asked for: its approve button pays without money.
    let gateway = if settings.sandbox_gateway {
        gateway::routes(stores.db.clone())
    } else {
        axum::Router::new()
    };
    let live_status =
        service_kit::internal::protect(event_bus::live::status_route(live), &config.internal_token);
    Ok(http::subgraph_router(schema, request_data, stores, config)
        .merge(webhook)
        .merge(gateway)
        .merge(live_status))
}

/// This subgraph's own address, as this machine reaches it (`0.0.0.0` becomes loopback).
pub fn own_base_url(config: &ServiceConfig) -> String {
    let mut addr = config.listen_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// The outbox relay, the consumer of order events and the expiry sweeper.
pub fn workers(stores: &Stores, config: &ServiceConfig) -> anyhow::Result<Vec<Worker>> {
    events::workers(stores, config)
}

/// Runs the payment subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}
