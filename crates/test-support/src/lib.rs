//! Test isolation on the real PostgreSQL and Redis: every test gets its own database,
//! cloned from a template that holds all requested migrations, and its own Redis key
//! prefix, so tests run in parallel (also across nextest's processes).
//!
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names the
//! server and a database to administer it from; `REDIS_URL` the Redis server.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use service_kit::config::{AuthSettings, DEFAULT_REDIS_URL};
use service_kit::db::{DatabaseSpec, StatementCounter, quote_ident, with_database};
use service_kit::{ServiceConfig, Stores};

/// Default server for test databases.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of one test, dropped when the value is dropped.
pub struct TestDatabase {
    /// Connection URL of the test's database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// A fresh database holding the migrated schemas of `specs`.
    pub async fn create(specs: &[&'static DatabaseSpec]) -> anyhow::Result<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let template = ensure_template(&admin_url, specs).await?;
        let name = format!("mall_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url)
            .await
            .context("connecting to TEST_DATABASE_URL")?;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(&template)
            ))
            .await
            .with_context(|| format!("cloning {template}"))?;
        Ok(Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async code (or inside a runtime that may be shutting down): use
        // a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url).await?;
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(&name)
                    ))
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// Creates the template for `specs` once (any process may ask at the same time) and returns
/// its name. The name hashes the migration files, so changed migrations get a new template.
async fn ensure_template(
    admin_url: &str,
    specs: &[&'static DatabaseSpec],
) -> anyhow::Result<String> {
    let name = format!("mall_template_{:016x}", migrations_hash(specs)?);
    let mut admin = AsyncPgConnection::establish(admin_url).await.with_context(|| {
        format!("cannot connect to PostgreSQL at {admin_url} (set TEST_DATABASE_URL to a reachable server)")
    })?;
    // Serialize template creation across test processes; the lock ends with the connection.
    admin
        .batch_execute("SELECT pg_advisory_lock(727274)")
        .await?;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let exists: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut admin)
            .await?;
    if exists.exists {
        return Ok(name);
    }
    // Build under a temporary name and rename when complete, so that a crash never leaves a
    // half-migrated template behind.
    let building = format!("{name}_building");
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&building)
        ))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&building)))
        .await?;
    let config = ServiceConfig {
        database_url: with_database(admin_url, &building),
        database_pool_size: 1,
        ..base_config()
    };
    for spec in specs {
        let pool = service_kit::db::connect_and_migrate(&config, spec).await?;
        drop(pool);
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(&name)
        ))
        .await
        .context("finishing the test template")?;
    Ok(name)
}

fn migrations_hash(specs: &[&'static DatabaseSpec]) -> anyhow::Result<u64> {
    fn visit(dir: &Path, hasher: &mut DefaultHasher) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            entry.file_name().hash(hasher);
            if path.is_dir() {
                visit(&path, hasher)?;
            } else {
                std::fs::read(&path)?.hash(hasher);
            }
        }
        Ok(())
    }
    let mut hasher = DefaultHasher::new();
    for spec in specs {
        spec.schema.hash(&mut hasher);
        visit(Path::new(spec.migrations_dir), &mut hasher)?;
    }
    Ok(hasher.finish())
}

/// A Redis key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// A configuration for a subgraph under test: the test's database, its own Redis prefix,
/// small pools, no demo data, an ephemeral port.
pub fn service_config(database: &TestDatabase) -> ServiceConfig {
    ServiceConfig {
        database_url: database.url.clone(),
        ..base_config()
    }
}

fn base_config() -> ServiceConfig {
    ServiceConfig {
        env: service_kit::config::MallEnv::Development,
        database_url: String::new(),
        database_pool_size: 4,
        redis_url: std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned()),
        redis_prefix: redis_prefix(),
        // Every authenticated request checks a connection out of this pool (bb8 lends them
        // exclusively); 2 made 200 concurrent checkouts time out on a busy machine.
        redis_pool_size: 8,
        seed_demo_data: false,
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        statement_counter: None,
        auth: AuthSettings {
            // End-to-end tests register many customers from 127.0.0.1; the limit has its own
            // test.
            register_limit_per_address: 100_000,
            ..AuthSettings::default()
        },
        internal_token: service_kit::config::DEV_INTERNAL_TOKEN.to_owned(),
        stop: service_kit::http::StopSettings::default(),
        metrics_token: None,
        loader_batch: service_kit::loader::BatchWindow::Yield,
        parsed_document_cache: 1000,
        peers: service_kit::config::PeerUrls::defaults(),
        events: service_kit::config::EventSettings::default(),
        overrides: Default::default(),
    }
}

/// Stores of one subgraph over a fresh test database, with a statement counter attached.
pub struct TestStores {
    /// The connected stores.
    pub stores: Stores,
    /// Counts the SQL statements sent through `stores.db`.
    pub statements: Arc<StatementCounter>,
    /// Keeps the database alive; dropped last.
    pub database: TestDatabase,
}

impl TestStores {
    /// A fresh database with `spec` migrated, and connected stores.
    pub async fn create(spec: &'static DatabaseSpec) -> anyhow::Result<Self> {
        let database = TestDatabase::create(&[spec]).await?;
        let statements = Arc::new(StatementCounter::default());
        let config = ServiceConfig {
            statement_counter: Some(statements.clone()),
            ..service_config(&database)
        };
        let stores = Stores::connect(&config, spec).await?;
        Ok(Self {
            stores,
            statements,
            database,
        })
    }
}

/// The `extensions.code` of every error of a GraphQL response.
pub fn error_codes(response: &serde_json::Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The sum of the samples of `metric` whose labels contain every one of `labels`
/// (Prometheus text format).
pub fn sample_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `EXPLAIN` of a diesel query, as the planner would run it on `conn`: the plan's lines.
/// Tests use it (with `SET enable_seqscan = off`, so that a tiny table does not make a scan
/// cheaper than any index) to prove that a query *can* be served by an index.
pub async fn explain<Q>(conn: &mut AsyncPgConnection, query: Q) -> Vec<String>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg> + Send + 'static,
{
    Explain(query).load(conn).await.expect("EXPLAIN")
}

struct Explain<Q>(Q);

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Explain<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> diesel::query_builder::QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> diesel::query_builder::Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

impl<Q, Conn> diesel::query_dsl::RunQueryDsl<Conn> for Explain<Q> {}
