//! The cart subgraph: one cart per user, whose lines reference catalog products.
//!
//! A line is one variant (SKU) of a product: the cart may hold several variants of one
//! product, one line each, priced and checked by the variant.
//!
//! Layout: `graphql/` (types, loaders, resolvers), `domain/` (line bounds, which variant a
//! change names; no I/O), `workflows/` (a cart change, one transaction; the variant an add
//! checks with the catalog; taking out what an order bought), `db/` (tables and
//! statements), `peers.rs` (current product and variant data from the catalog), `events/`
//! (the `orders` consumer), `internal.rs` (routes for the order subgraph).

pub mod db;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod internal;
pub mod peers;
pub mod workflows;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use auth::Access;
use chrono::{Duration, Utc};
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::demo::{DEMO_CUSTOMER_EMAIL, demo_id};
use service_kit::{DbPool, ServiceConfig, Stores, Subgraph, http};

pub use graphql::{Mutation, Query};

/// The cart subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "cart",
    migrations: embed_migrations!("../../migrations/cart"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/cart"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "cart",
    default_port: 4003,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    seed: |stores| Box::pin(seed_demo_data(&stores.db)),
    router,
    workers: |stores, _| {
        Ok(vec![events::order_events(
            stores.redis.clone(),
            stores.db.clone(),
        )])
    },
    check_deployable: service_kit::subgraph::nothing_to_check,
};

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

/// HTTP routes over connected stores; product data comes from the catalog
/// (`CATALOG_SUBGRAPH_URL`).
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let catalog = peers::CatalogClient::new(config.peer_url("catalog")?, &config.internal_token)?;
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(stores.db.clone())
        .data(catalog.clone())
        .finish();
    let window = config.loader_batch;
    let request_data =
        access.request_data(move |data| graphql::loaders::add_loaders(&catalog, window, data));
    let internal = internal::routes(stores.db.clone(), &config.internal_token);
    Ok(http::subgraph_router(schema, request_data, stores, config).merge(internal))
}

/// Runs the cart subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}

/// Products in the demo customer's cart (slugs of demo catalog names) and quantities; each
/// line is the product's only variant, whose id is the product's (as the catalog seeds it).
pub const DEMO_CART: [(&str, i32); 3] = [
    ("iphone-15-pro-256gb", 1),
    ("silicone-phone-case-for-iphone-15-blue", 2),
    ("西湖龙井-longjing-green-tea-250g", 1),
];

/// Gives the demo customer a cart of three lines, unless they already have one.
pub async fn seed_demo_data(db: &DbPool) -> anyhow::Result<()> {
    let user_id = demo_id("user", DEMO_CUSTOMER_EMAIL);
    let cart_id = demo_id("cart", DEMO_CUSTOMER_EMAIL);
    let now = Utc::now();
    let mut conn = db.get().await?;
    let created = db::queries::create(
        &mut conn,
        db::CartRow {
            id: cart_id,
            user_id,
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message()))?;
    if created == 0 {
        return Ok(());
    }
    let lines: Vec<db::CartItemRow> = DEMO_CART
        .iter()
        .enumerate()
        .map(|(i, (slug, quantity))| {
            let product_id = demo_id("product", slug);
            db::CartItemRow {
                cart_id,
                product_id,
                variant_id: product_id,
                quantity: *quantity,
                added_at: now + Duration::milliseconds(i as i64),
            }
        })
        .collect();
    db::queries::add_lines(&mut conn, lines)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    Ok(())
}
