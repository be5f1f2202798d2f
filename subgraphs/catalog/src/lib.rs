//! The catalog subgraph: categories and products. It owns the `Product` entity, which the
//! cart and order subgraphs reference and the router resolves here in batches.
//!
//! Layout: `graphql/` (types and resolvers), `domain/` (product, search and flash-sale
//! rules, no I/O), `workflows/` (products and categories, flash sales and their purchases,
//! stock for orders: transactions, and PostgreSQL with Redis), `db/` (tables and statements),
//! `flash_counters.rs` (the flash sales' Redis counters and their Lua scripts), `cache.rs`
//! (the product cache), `search_index/` (each replica's search index, kept current from
//! PostgreSQL; the index itself is `domain::index`), `events/` (the `orders` consumer and the
//! flash-sale sweep),
//! `internal.rs` (routes for other subgraphs), `config.rs` (its settings), `seed.rs` (demo data).

pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod flash_counters;
pub mod graphql;
pub mod grouped;
pub mod internal;
pub mod memo;
pub mod search_index;
pub mod seed;
pub mod workflows;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use auth::Access;
use diesel_migrations::embed_migrations;
use service_kit::db::DatabaseSpec;
use service_kit::{ServiceConfig, Stores, Subgraph, Worker, http};

pub use graphql::mutation::Mutation;
pub use graphql::query::Query;

/// The catalog's schema type.
pub type CatalogSchema = Schema<Query, Mutation, EmptySubscription>;

/// The catalog's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "catalog",
    migrations: embed_migrations!("../../migrations/catalog"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/catalog"),
    // A flash-sale recording commits as its one statement ends: should the connection die
    // while it waits for a lock, the server could commit it after the catalog gave up on it
    // (read it back, found nothing, gave its units back). Checked every 100 ms, a
    // statement whose client is gone is cancelled instead (a connection silently cut is
    // not seen: the recording's `lock_timeout` bounds that one; workflows::flash_purchases,
    // `read_back`).
    session_settings: "SET pg_trgm.similarity_threshold = 0.2; \
                       SET client_connection_check_interval = 100",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "catalog",
    default_port: 4002,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    seed: |stores| Box::pin(seed::seed_demo_data(&stores.db)),
    router,
    workers,
    check_deployable: service_kit::subgraph::nothing_to_check,
};

/// The schema with nothing attached; [`router`] adds the stores, tests may add their own.
pub fn schema() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation::default(), EmptySubscription).enable_federation()
}

/// HTTP routes over connected stores; every request gets its own DataLoaders.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let settings: config::CatalogSettings = config.settings()?;
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let index = (!settings.search_index_reconcile.is_zero()).then(|| {
        search_index::SearchIndex::start(
            search_index::Database::Url(config.database_url.clone()),
            stores.redis.clone(),
            settings.search_index_reconcile,
        )
    });
    let on_write = index.clone().map(|index| {
        let noted: cache::OnWrite = std::sync::Arc::new(move |ids| index.noted(ids));
        noted
    });
    let cache = cache::ProductCache::with_memory(stores.redis.clone(), settings.memory_cache)
        .on_write(on_write);
    let categories = cache::MemoryCategories::new(settings.memory_cache);
    // Kept answers are served only while memory vouches for the products they read.
    let answer_bytes = if settings.memory_cache == 0 {
        0
    } else {
        settings.answer_cache_mib << 20
    };
    let answers = http::AnswerCache::new(
        "catalog",
        std::sync::Arc::new(graphql::answers::ProductAnswers(cache.clone())),
        answer_bytes,
        cache::MEMORY_TTL,
    );
    let mut schema = service_kit::subgraph::protect(schema(), config);
    if let Some(index) = &index {
        schema = schema.data(index.clone());
    }
    let schema = schema
        .extension(access.root_field_guard())
        .data(stores.db.clone())
        .data(stores.redis.clone())
        .data(cache.clone())
        .data(workflows::flash_purchases::PurchaseLimits {
            per_second: settings.flash_purchases_per_second,
        })
        .data(workflows::flash_recorder::Recorder::default())
        .data(flash_counters::Admissions::default())
        .finish();
    let db = stores.db.clone();
    let window = config.loader_batch;
    // Stock reservations reach the search index through the channel, not as own writes: a
    // shopper's listing never waits for other shoppers' checkouts.
    let stock = workflows::stock::StockService {
        db: db.clone(),
        redis: stores.redis.clone(),
        cache: cache.clone().on_write(None),
    };
    let caches = (
        cache,
        categories,
        memo::MemoryDetails::new(settings.memory_cache),
    );
    let request_data =
        access.request_data(move |data| graphql::loaders::add_loaders(&db, &caches, window, data));
    let report = index.map(|index| {
        let report: http::ReadinessReport =
            std::sync::Arc::new(move || ("searchIndex", index.report()));
        report
    });
    Ok(http::subgraph_router_with(
        schema,
        request_data,
        stores,
        config,
        http::Extras { report, answers },
    )
    .merge(internal::routes(stock, &config.internal_token)))
}

/// Background work: the outbox relay; giving back the stock of cancelled and expired
/// orders; following flash-sale purchases; returning what ended sales did not sell.
pub fn workers(stores: &Stores, config: &ServiceConfig) -> anyhow::Result<Vec<Worker>> {
    let settings: config::CatalogSettings = config.settings()?;
    let stock = workflows::stock::StockService {
        db: stores.db.clone(),
        redis: stores.redis.clone(),
        cache: cache::ProductCache::new(stores.redis.clone()),
    };
    Ok(vec![
        // Flash-sale admissions, to the order subgraph.
        event_bus::relay_worker(
            stores.db.clone(),
            stores.redis.clone(),
            config.events.outbox_poll,
        ),
        events::order_events(stores.redis.clone(), stock),
        events::sweep::flash_sale_sweep(
            stores.db.clone(),
            cache::ProductCache::new(stores.redis.clone()),
            config.events.sweep_interval,
            settings.resend_admissions_after,
        ),
    ])
}

/// Runs the catalog subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}

#[cfg(test)]
mod tests {
    /// Subgraphs validate documents the fast way (`service_kit::subgraph::protect`), so a
    /// document another service sends the catalog directly is checked here, with every rule
    /// (the schema as built, without `protect`, validates strictly).
    #[tokio::test]
    async fn the_documents_other_services_send_are_valid_with_every_rule() {
        let schema = super::schema().finish();
        for document in peer_api::catalog_entities::ALL {
            let request = async_graphql::Request::new(document).variables(
                async_graphql::Variables::from_json(serde_json::json!({ "r": [] })),
            );
            let response = schema.execute(request).await;
            assert!(
                response.errors.is_empty(),
                "{document}: {:?}",
                response.errors
            );
        }
        // And the check refuses what the fast way lets through: an unknown argument.
        let unknown = peer_api::catalog_entities::PRODUCTS.replace("inStock", "inStock(at: 1)");
        let request = async_graphql::Request::new(unknown).variables(
            async_graphql::Variables::from_json(serde_json::json!({ "r": [] })),
        );
        assert!(!schema.execute(request).await.errors.is_empty());
    }
}
