//! A subgraph as the launcher, the tests and its own binary see it: a name, a port, a
//! database schema, demo data and an HTTP router. Every subgraph crate exports one
//! [`Subgraph`], so starting one or all five is the same code.

use std::process::ExitCode;

use async_graphql::SDLExportOptions;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ServiceConfig;
use crate::db::DatabaseSpec;
use crate::{Stores, http};

/// Everything needed to start one subgraph.
pub struct Subgraph {
    /// Name in the supergraph (`user`, `catalog`, ...), also its schema file's name.
    pub name: &'static str,
    /// Port it listens on by default (the router's supergraph points there).
    pub default_port: u16,
    /// Its PostgreSQL schema and migrations.
    pub database: &'static DatabaseSpec,
    /// Its federation SDL, exported from code.
    pub sdl: fn() -> String,
    /// Inserts its part of the demo data; must be idempotent.
    pub seed: fn(&Stores) -> BoxFuture<'_, anyhow::Result<()>>,
    /// Its HTTP routes over connected stores.
    pub router: fn(Stores, &ServiceConfig) -> anyhow::Result<axum::Router>,
    /// Its background work (outbox relay, sweepers, event consumers), started beside the
    /// routes and stopped with them.
    pub workers: fn(&Stores, &ServiceConfig) -> anyhow::Result<Vec<Worker>>,
    /// In production, refuses what only a development machine may run with among its own
    /// settings (the shared ones: [`ServiceConfig::check_deployable`]).
    pub check_deployable: fn(&ServiceConfig) -> anyhow::Result<()>,
}

/// For subgraphs without settings of their own to check.
pub fn nothing_to_check(_: &ServiceConfig) -> anyhow::Result<()> {
    Ok(())
}

/// Tells background work to stop: the value turns `true`.
pub type Shutdown = watch::Receiver<bool>;

/// A background task of a subgraph; it returns soon after its [`Shutdown`] turns `true`.
pub type Worker = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, ()> + Send>;

/// For subgraphs without background work.
pub fn no_workers(_: &Stores, _: &ServiceConfig) -> anyhow::Result<Vec<Worker>> {
    Ok(Vec::new())
}

/// A subgraph ready to serve: its routes and its background work, not started yet.
pub struct Prepared {
    pub app: axum::Router,
    pub workers: Vec<Worker>,
}

/// Starts background work; it stops when `shutdown` turns `true`.
pub fn spawn_workers(workers: Vec<Worker>, shutdown: &Shutdown) -> Vec<JoinHandle<()>> {
    workers
        .into_iter()
        .map(|worker| tokio::spawn(worker(shutdown.clone())))
        .collect()
}

/// Background work that runs `task` now and then every `interval` until shutdown. A failed
/// round is logged (as `what`) and simply tried again at the next one; the database, not this
/// loop, keeps replicas from doing the same work twice.
pub fn periodic_worker<F, Fut>(what: &'static str, interval: std::time::Duration, task: F) -> Worker
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), crate::ApiError>> + Send,
{
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            loop {
                if let Err(error) = task().await {
                    tracing::warn!(error = %error.message(), "{what} failed; will retry");
                }
                if !pause(&mut shutdown, interval).await {
                    break;
                }
            }
        })
    })
}

/// Sleeps for `period`, or less if `shutdown` turns `true`; returns whether to go on.
pub async fn pause(shutdown: &mut Shutdown, period: std::time::Duration) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(period) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}

impl Subgraph {
    /// Reads the shared configuration with this subgraph's listen address.
    pub fn config_from_env(&self) -> anyhow::Result<ServiceConfig> {
        ServiceConfig::from_env(self.name, self.default_port)
    }

    /// In production, refuses development secrets and demo data (shared settings and its
    /// own).
    pub fn check_deployable(&self, config: &ServiceConfig) -> anyhow::Result<()> {
        config.check_deployable()?;
        (self.check_deployable)(config)
    }

    /// Connects and migrates its stores, seeds demo data when configured, and returns its
    /// routes and background work.
    pub async fn prepare(&self, config: &ServiceConfig) -> anyhow::Result<Prepared> {
        self.check_deployable(config)?;
        let stores = Stores::connect(config, self.database).await?;
        if config.seed_demo_data {
            (self.seed)(&stores).await?;
        }
        let workers = (self.workers)(&stores, config)?;
        let metrics = crate::metrics::routes(self.name, &stores, config.metrics_token.as_deref());
        let app = (self.router)(stores, config)?
            .merge(metrics)
            .layer(axum::middleware::from_fn(http::trace_internal_calls))
            .layer(axum::Extension(crate::metrics::SubgraphName(self.name)));
        Ok(Prepared { app, workers })
    }

    /// Serves the subgraph on `config.listen_addr` until Ctrl-C or SIGTERM, then finishes
    /// in-flight requests and stops its background work.
    pub async fn run(&self, config: ServiceConfig) -> anyhow::Result<()> {
        // Bound first, so that the subgraph knows its own address (see `listen_addr`).
        let listener = http::bind(config.listen_addr).await?;
        let config = ServiceConfig {
            listen_addr: listener.local_addr()?,
            ..config
        };
        let prepared = self.prepare(&config).await?;
        tracing::info!(subgraph = self.name, addr = %config.listen_addr, "subgraph listening");
        let (stop, shutdown) = watch::channel(false);
        let workers = spawn_workers(prepared.workers, &shutdown);
        http::serve(listener, prepared.app, http::shutdown_signal(), config.stop).await?;
        let _ = stop.send(true);
        // Background work stops at its next pause; a round in progress (a peer call, a
        // transaction) gets the same timeout as requests, then is dropped with the process:
        // each round is a transaction, so nothing half-done stays.
        let all = futures::future::join_all(workers);
        if tokio::time::timeout(config.stop.timeout, all)
            .await
            .is_err()
        {
            tracing::warn!("stopping: background work still running after the timeout is cut off");
        }
        Ok(())
    }
}

/// The body of a subgraph binary's `main`: configuration from the environment, then
/// [`Subgraph::run`]. Start-up failures print one clear line and exit with status 1.
pub fn main(subgraph: &'static Subgraph) -> ExitCode {
    crate::telemetry::init_with(crate::telemetry::OtlpSettings::from_env_for(subgraph.name));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return exit_with(&anyhow::Error::new(error)),
    };
    let outcome = runtime.block_on(async { subgraph.run(subgraph.config_from_env()?).await });
    // The spans of the last requests, before the process ends.
    crate::telemetry::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => exit_with(&error),
    }
}

/// Prints `error` with its causes on one line (never a backtrace) and returns failure.
pub fn exit_with(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

/// Options every subgraph exports its SDL with.
pub fn sdl_options() -> SDLExportOptions {
    SDLExportOptions::new().federation().compose_directive()
}

/// Federation's `@listSize`: how many items a list field returns, for the router's cost
/// estimate (`demand_control` in `router-config/router.config.yaml`). A connection is sized
/// by its `first` argument: `list_size::apply(Some(vec!["first".into()]),
/// Some(vec!["edges".into()]), None, Some(false))` (`false`: `first` may be omitted, then the
/// router's `default_list_size`, 20, the default page, applies); a bounded list by an
/// assumed size. Fields without it count as `default_list_size`.
#[async_graphql::TypeDirective(location = "FieldDefinition", name = "listSize")]
pub fn list_size(
    slicing_arguments: Option<Vec<String>>,
    sized_fields: Option<Vec<String>>,
    assumed_size: Option<i32>,
    require_one_slicing_argument: Option<bool>,
) {
}

/// A subgraph's SDL as it is composed: async-graphql links Federation 2.5 and prints our
/// own definition of `@listSize`; the supergraph needs it from Federation 2.9, where it is
/// defined (so the router knows it), imported by the link instead.
pub fn federation_sdl<Q, M, S>(schema: &async_graphql::Schema<Q, M, S>) -> String
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    let mut out = schema.sdl_with_options(sdl_options());
    // Our definition of `@listSize` (with its description) goes: the link imports it.
    if let Some(start) = out.find("directive @listSize") {
        const LOCATION: &str = "on FIELD_DEFINITION\n";
        let end = out[start..]
            .find(LOCATION)
            .map_or(out.len(), |at| start + at + LOCATION.len());
        let mut from = start;
        if out[..start].ends_with("\"\"\"\n")
            && let Some(open) = out[..start - 4].rfind("\"\"\"\n")
        {
            from = open;
        }
        out.replace_range(from..end, "");
    }
    out.replace(
        "\"https://specs.apollo.dev/federation/v2.5\"",
        "\"https://specs.apollo.dev/federation/v2.9\"",
    )
    .replace("import: [\"@key\",", "import: [\"@key\", \"@listSize\",")
}

/// Deepest document a subgraph executes: the router refuses client documents deeper than
/// 10 (`router-config/router.config.yaml`); its own fetches add `_entities` and a type
/// condition on top.
pub const MAX_DEPTH: usize = 16;
/// Most fields one document may select (async-graphql's complexity: one per field).
pub const MAX_COMPLEXITY: usize = 1000;

/// The second line of query protection (the router's limits are the first, and refuse
/// before any subgraph is called): depth and complexity limits for every subgraph schema,
/// and in production no introspection and no "did you mean" suggestions.
///
/// Documents are validated the fast way (async-graphql's `ValidationMode::Fast`: fragment
/// cycles, depth and complexity only): a subgraph answers only the router and our own
/// services (the internal secret, `crate::http`), and the router validated the client's
/// document against the supergraph and sends documents it made from it. The full rules
/// cost a purchase about 11 µs for nothing. The executor still refuses unknown fields,
/// missing arguments and values of the wrong type; an unknown argument is ignored, so our
/// services' own documents (`_entities` calls in `peers.rs`) are checked by their tests.
pub fn protect<Query, Mutation, Subscription>(
    builder: async_graphql::SchemaBuilder<Query, Mutation, Subscription>,
    config: &ServiceConfig,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    let builder = builder
        .validation_mode(async_graphql::ValidationMode::Fast)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if config.env == crate::config::MallEnv::Production {
        builder.disable_introspection().disable_suggestions()
    } else {
        builder
    }
}
