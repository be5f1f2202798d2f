//! PostgreSQL: a bb8 pool of diesel-async connections confined to one subgraph's schema, and
//! the migrations that create that schema.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::migration::{Migration, MigrationSource};
use diesel::pg::Pg;
use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::config::ServiceConfig;
pub use crate::statements::StatementCounter;

/// The connection manager of every pool.
pub type DbManager = AsyncDieselConnectionManager<AsyncPgConnection>;
/// A subgraph's PostgreSQL pool.
pub type DbPool = bb8::Pool<DbManager>;
/// A connection borrowed from a [`DbPool`].
pub type DbConn<'a> = bb8::PooledConnection<'a, DbManager>;

/// A connection from the pool a subgraph's schema carries (`.data(db)`), for resolvers.
pub async fn connection<'a>(
    ctx: &async_graphql::Context<'a>,
) -> Result<DbConn<'a>, crate::ApiError> {
    let started = std::time::Instant::now();
    let conn = ctx.data_unchecked::<DbPool>().get().await;
    // Time spent waiting for a pooled connection (saturation shows here first).
    metrics::histogram!("db_pool_wait_seconds").record(started.elapsed().as_secs_f64());
    Ok(conn?)
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A subgraph's own slice of the database: its schema and the migrations that build it.
pub struct DatabaseSpec {
    /// PostgreSQL schema owned by the subgraph; every pooled connection's `search_path`.
    pub schema: &'static str,
    /// The migrations under `migrations/<subgraph>/`, embedded at compile time.
    pub migrations: EmbeddedMigrations,
    /// Where those migrations live in the source tree (test templates hash their content).
    pub migrations_dir: &'static str,
    /// Constant `SET` statements every pooled connection runs after `search_path` (the
    /// catalog's trigram similarity threshold); never a value from a request.
    pub session_settings: &'static str,
}

/// What a connection reports of its statements: a count (tests, benchmarks) and, with
/// traces exported, a span per statement (a child of the request or event being handled).
struct StatementInstrumentation {
    counter: Option<Arc<StatementCounter>>,
    /// Spans of the statements started and not yet finished (pipelined ones overlap).
    open: std::collections::VecDeque<tracing::Span>,
}

impl Instrumentation for StatementInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                if let Some(counter) = &self.counter {
                    counter.count_one();
                }
                if !crate::telemetry::tracing_enabled() {
                    return;
                }
                // Only inside a sampled trace: formatting every statement's text for
                // spans that are dropped cost ~9 % of product-detail throughput. (An
                // unsampled statement holds its place with an empty span.)
                if !crate::telemetry::current_span_sampled() {
                    self.open.push_back(tracing::Span::none());
                } else {
                    // The text without its bind values (they may be personal data).
                    let text = query.to_string();
                    let statement = text
                        .split(" -- binds:")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let name = statement
                        .split_whitespace()
                        .next()
                        .unwrap_or("SQL")
                        .to_owned();
                    self.open.push_back(tracing::info_span!(
                        "sql",
                        otel.name = %name,
                        otel.kind = "client",
                        db.system.name = "postgresql",
                        db.query.text = %statement,
                    ));
                }
            }
            InstrumentationEvent::FinishQuery { .. } => {
                // Dropping the span ends it.
                self.open.pop_front();
            }
            _ => {}
        }
    }
}

/// Whether this transaction has the turn named `name` (a transaction-scoped advisory lock,
/// `pg_try_advisory_xact_lock(hashtext(name))`): for background work that one replica at a
/// time does; the others skip the round instead of waiting.
pub async fn try_turn(
    conn: &mut diesel_async::AsyncPgConnection,
    name: &str,
) -> Result<bool, crate::ApiError> {
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Turn {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let turn: Turn = diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS taken")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(conn)
        .await?;
    Ok(turn.taken)
}

/// Connects to `DATABASE_URL` (creating the database if it does not exist), applies the
/// pending migrations of `spec`, and returns a pool confined to its schema.
pub async fn connect_and_migrate(
    config: &ServiceConfig,
    spec: &'static DatabaseSpec,
) -> anyhow::Result<DbPool> {
    let url = &config.database_url;
    ensure_database_exists(url).await?;
    migrate(url, spec).await?;
    let pool = pool(
        url,
        spec,
        config.database_pool_size,
        config.statement_counter.clone(),
    )
    .await?;
    Ok(pool)
}

/// A pool whose connections all use `spec.schema` as their `search_path`.
pub async fn pool(
    url: &str,
    spec: &'static DatabaseSpec,
    size: u32,
    counter: Option<Arc<StatementCounter>>,
) -> anyhow::Result<DbPool> {
    let mut manager_config = ManagerConfig::default();
    // `Verified` would add a `SELECT 1` round trip to every checkout; a broken connection
    // is reported on first use instead and bb8 discards it.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let counter = counter.clone();
        Box::pin(async move {
            let mut conn = establish_in_schema(url, spec.schema).await?;
            if !spec.session_settings.is_empty() {
                conn.batch_execute(spec.session_settings)
                    .await
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
            }
            if counter.is_some() || crate::telemetry::tracing_enabled() {
                conn.set_instrumentation(StatementInstrumentation {
                    counter,
                    open: Default::default(),
                });
            }
            Ok(conn)
        })
    });
    let manager = DbManager::new_with_config(url, manager_config);
    let pool = bb8::Pool::builder()
        .max_size(size)
        .connection_timeout(CONNECT_TIMEOUT)
        .build(manager)
        .await
        .with_context(|| postgres_unreachable(url))?;
    Ok(pool)
}

async fn establish_in_schema(url: &str, schema: &str) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = establish(url).await?;
    conn.batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectionError::BadConnection(format!(
            "no answer within {CONNECT_TIMEOUT:?}"
        ))),
    }
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn ensure_database_exists(url: &str) -> anyhow::Result<()> {
    let error = match establish(url).await {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    if !error.to_string().contains("does not exist") {
        return Err(anyhow::Error::new(error).context(postgres_unreachable(url)));
    }
    let name = database_name(url).context("DATABASE_URL names no database")?;
    let mut admin = establish(&with_database(url, "postgres"))
        .await
        .with_context(|| postgres_unreachable(url))?;
    match admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .await
    {
        Ok(()) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another process created it at the same moment.
        Err(error) if error.to_string().contains("already exists") => Ok(()),
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("cannot create database {name}")))
        }
    }
}

async fn migrate(url: &str, spec: &'static DatabaseSpec) -> anyhow::Result<()> {
    let mut conn = establish(url)
        .await
        .with_context(|| postgres_unreachable(url))?;
    let schema = quote_ident(spec.schema);
    // Replicas starting together apply migrations one at a time; the lock ends with the
    // connection.
    diesel::sql_query("SELECT pg_advisory_lock(hashtext($1))")
        .bind::<diesel::sql_types::Text, _>(format!("migrations:{}", spec.schema))
        .execute(&mut conn)
        .await?;
    conn.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
    ))
    .await?;
    let applied = tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        let applied: Vec<String> = harness
            .run_pending_migrations(StaticMigrations(&spec.migrations))
            .map_err(|e| anyhow::anyhow!(e))?
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok::<_, anyhow::Error>(applied)
    })
    .await?
    .with_context(|| format!("migrating schema {}", spec.schema))?;
    if !applied.is_empty() {
        tracing::info!(schema = spec.schema, migrations = ?applied, "applied migrations");
    }
    Ok(())
}

/// Lends a `static` set of embedded migrations to the harness, which wants a value.
struct StaticMigrations(&'static EmbeddedMigrations);

impl MigrationSource<Pg> for StaticMigrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        MigrationSource::<Pg>::migrations(self.0)
    }
}

fn postgres_unreachable(url: &str) -> String {
    format!(
        "cannot connect to PostgreSQL at {}. Start PostgreSQL there, or point DATABASE_URL at a \
         reachable server (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/mall)",
        redact_password(url)
    )
}

/// `"name"` with embedded quotes doubled, for identifiers that cannot be bound.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Hides the password of a connection URL, for messages and logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The database name in a `postgres://` URL.
pub fn database_name(url: &str) -> Option<String> {
    let (_, after_scheme) = url.split_once("://")?;
    let path = after_scheme.split_once('/')?.1;
    let name = path.split('?').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// The same URL pointing at another database (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, after_scheme) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let query = path
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten_and_redacted() {
        let url = "postgres://app:secret@db:5432/mall?sslmode=disable";
        assert_eq!(database_name(url).as_deref(), Some("mall"));
        assert_eq!(
            with_database(url, "postgres"),
            "postgres://app:secret@db:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            redact_password(url),
            "postgres://app:***@db:5432/mall?sslmode=disable"
        );
        assert_eq!(database_name("postgres://h:5432"), None);
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
