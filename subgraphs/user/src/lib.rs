//! The user subgraph: accounts. It owns the `User` entity that the cart and order subgraphs
//! extend.

pub mod db;
pub mod graphql;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use chrono::Utc;
use diesel_async::RunQueryDsl;
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::demo::{DEMO_ADMIN_EMAIL, DEMO_CUSTOMER_EMAIL, demo_id};
use service_kit::subgraph::sdl_options;
use service_kit::{DbPool, ServiceConfig, Stores, Subgraph, http};

pub use graphql::Query;

/// The user subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "user",
    migrations: embed_migrations!("../../migrations/user"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/user"),
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "user",
    default_port: 4001,
    database: &DATABASE,
    sdl: || schema().finish().sdl_with_options(sdl_options()),
    seed: |stores| Box::pin(seed_demo_data(&stores.db)),
    router,
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription).enable_federation()
}

/// HTTP routes over connected stores; every request gets its own DataLoader.
pub fn router(stores: Stores) -> axum::Router {
    let schema = schema().data(stores.db.clone()).finish();
    let db = stores.db.clone();
    let request_data = Arc::new(
        move |_: &axum::http::HeaderMap, data: &mut async_graphql::Data| {
            data.insert(
                DataLoader::new(graphql::UserLoader(db.clone()), tokio::spawn)
                    .delay(Duration::from_millis(1)),
            );
        },
    );
    http::subgraph_router(schema, request_data, stores)
}

/// Runs the user subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}

/// The demo accounts: a customer and an administrator (sign-in arrives with the identity
/// issue). Existing rows are left as they are.
pub async fn seed_demo_data(db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    let now = Utc::now();
    let rows = [
        (DEMO_CUSTOMER_EMAIL, "Demo Customer"),
        (DEMO_ADMIN_EMAIL, "Mall Admin"),
    ]
    .map(|(email, name)| db::UserRow {
        id: demo_id("user", email),
        email: email.to_owned(),
        display_name: name.to_owned(),
        status: "ACTIVE".to_owned(),
        created_at: now,
    });
    diesel::insert_into(db::users::table)
        .values(&rows[..])
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await?;
    Ok(())
}
