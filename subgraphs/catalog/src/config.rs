//! The catalog's own settings; what every subgraph shares is `service_kit::ServiceConfig`.

use std::time::Duration;

use service_kit::config::{SubgraphSettings, env_parse};

/// Each field has an environment variable.
#[derive(Clone, Debug)]
pub struct CatalogSettings {
    /// `CATALOG_MEMORY_CACHE`: how many products (and categories) each catalog replica keeps
    /// in memory in front of Redis (default 10000; 0 keeps none). See `cache.rs`.
    pub memory_cache: u64,
    /// `CATALOG_ANSWER_CACHE_MIB` (default 64; 0 keeps none): how much of whole answers to
    /// `product` queries (product pages) each replica keeps and serves again while the
    /// product is unchanged. See `graphql/answers.rs`.
    pub answer_cache_mib: u64,
    /// `FLASH_PURCHASES_PER_SECOND` (default 5): flash-sale purchase attempts one customer
    /// may make per second; more are `RATE_LIMITED`.
    pub flash_purchases_per_second: u32,
    /// `CHECKOUT_ABANDON_AFTER_SECONDS` (the order subgraph's variable, default 30): a
    /// flash-sale admission still without an order after this long is sent again (as long
    /// as a checkout may take; a Redis restart loses streams).
    pub resend_admissions_after: Duration,
    /// `SEARCH_INDEX_RECONCILE_SECONDS` (default 30; 0 turns the index off, and the
    /// listing asks PostgreSQL): how often each replica's search index compares every
    /// product's version with PostgreSQL's, to find changes whose announcement was lost.
    /// See `search_index.rs`.
    pub search_index_reconcile: Duration,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            memory_cache: 10_000,
            answer_cache_mib: 64,
            flash_purchases_per_second: 5,
            resend_admissions_after: Duration::from_secs(30),
            search_index_reconcile: Duration::from_secs(30),
        }
    }
}

impl SubgraphSettings for CatalogSettings {
    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            memory_cache: env_parse("CATALOG_MEMORY_CACHE", defaults.memory_cache)?,
            answer_cache_mib: env_parse("CATALOG_ANSWER_CACHE_MIB", defaults.answer_cache_mib)?,
            flash_purchases_per_second: env_parse(
                "FLASH_PURCHASES_PER_SECOND",
                defaults.flash_purchases_per_second,
            )?,
            resend_admissions_after: Duration::from_secs(env_parse(
                "CHECKOUT_ABANDON_AFTER_SECONDS",
                defaults.resend_admissions_after.as_secs(),
            )?),
            search_index_reconcile: Duration::from_secs(env_parse(
                "SEARCH_INDEX_RECONCILE_SECONDS",
                defaults.search_index_reconcile.as_secs(),
            )?),
        })
    }
}
