//! How a system is started: [`Options`] and the subgraph settings they make.

use std::time::Duration;

use service_kit::ServiceConfig;

/// A change to every subgraph's configuration.
pub type ConfigChange = std::sync::Arc<dyn Fn(&mut ServiceConfig) + Send + Sync>;

/// How to start the system.
#[derive(Default)]
pub struct Options {
    /// A public operation list other than the repository's.
    pub public_operations_file: Option<std::path::PathBuf>,
    /// When every subgraph's DataLoaders send their batches, if not the default.
    pub loader_batch: Option<service_kit::loader::BatchWindow>,
    /// The Redis every subgraph uses, if not `REDIS_URL` (a [`TcpProxy`], say).
    pub redis_url: Option<String>,
    /// A router configuration file other than the repository's.
    pub router_config: Option<std::path::PathBuf>,
    /// Order timings (payment TTL, abandoned checkouts, expiry grace) other than the
    /// harness's (the defaults without an expiry grace).
    pub orders: Option<order_subgraph::config::OrderSettings>,
    /// Event, sweep and reconciler timings other than the defaults.
    pub events: Option<service_kit::config::EventSettings>,
    /// How long a payment may stay open (`PAYMENT_TTL_SECONDS`), if not the default.
    pub payment_ttl: Option<Duration>,
    /// The refresh-token reuse grace window, if not the default (10 s).
    pub refresh_reuse_grace: Option<Duration>,
    /// Registrations per client address per hour, if not the harness's (unlimited).
    pub register_limit: Option<u64>,
    /// More environment variables for the router.
    pub router_env: Vec<(&'static str, &'static str)>,
    /// Where the router's output goes (at `info`, the configured level, unless `router_env`
    /// sets `LOG_LEVEL`), if anywhere.
    pub router_log: Option<std::path::PathBuf>,
    /// Flash-sale purchase attempts per customer per second, if not the default.
    pub flash_purchases_per_second: Option<u32>,
    /// The router's rate-limit file, if not the relaxed one of the tests
    /// (`crates/e2e-harness/rate-limits.relaxed.yaml`).
    pub rate_limits: Option<std::path::PathBuf>,
    /// Export traces (the subgraphs of this process and the router) to this OTLP endpoint.
    pub otlp: Option<service_kit::telemetry::OtlpSettings>,
    /// How often the catalog's search index reconciles with PostgreSQL, if not the default
    /// (30 s); zero turns the index off (the listing asks PostgreSQL).
    pub search_index_reconcile: Option<Duration>,
    /// Changes every subgraph's configuration last (benchmarks of its switches).
    pub service_config: Option<ConfigChange>,
}

impl Options {
    /// Options whose periodic sweeps (order expiry, payment expiry, flash-sale returns) run
    /// every `interval`: short to see them act, an hour to keep them out of a measurement.
    pub fn sweeping_every(interval: Duration) -> Self {
        Self {
            events: Some(service_kit::config::EventSettings {
                sweep_interval: interval,
                ..Default::default()
            }),
            ..Self::default()
        }
    }

    /// Options for counting a request's SQL statements: every periodic sweep and every
    /// outbox relay's idle poll waits an hour (each runs once at start-up).
    pub fn quiet() -> Self {
        Self {
            events: Some(service_kit::config::EventSettings {
                sweep_interval: Duration::from_secs(3600),
                outbox_poll: Duration::from_secs(3600),
                ..Default::default()
            }),
            ..Self::default()
        }
    }
}

/// The subgraph settings of a system started with `options`: the harness's defaults (no
/// grace at order expiry or for late webhooks, which tests of expiry would wait for) with
/// what `options` changes.
pub(crate) fn settings_of(options: &Options) -> service_kit::config::SettingsOverrides {
    let orders = options
        .orders
        .clone()
        .unwrap_or(order_subgraph::config::OrderSettings {
            expiry_grace: Duration::ZERO,
            ..Default::default()
        });
    let catalog = catalog_subgraph::config::CatalogSettings {
        flash_purchases_per_second: options.flash_purchases_per_second.unwrap_or(5),
        resend_admissions_after: orders.abandon_after,
        search_index_reconcile: options
            .search_index_reconcile
            .unwrap_or(Duration::from_secs(30)),
        ..Default::default()
    };
    let payment = payment_subgraph::config::PaymentSettings {
        ttl: options.payment_ttl.unwrap_or(Duration::from_secs(900)),
        webhook_grace: Duration::ZERO,
        ..payment_subgraph::config::PaymentSettings::development()
    };
    let mut settings = service_kit::config::SettingsOverrides::default();
    settings.set(orders);
    settings.set(catalog);
    settings.set(payment);
    settings
}
