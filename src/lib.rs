//! Douyin Mall as one system: the six subgraphs and the federation router. `cargo run`
//! uses this to start everything; the end-to-end tests use it to start everything on free
//! ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use service_kit::{ServiceConfig, Subgraph, http};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every subgraph, in the order they start.
pub const SUBGRAPHS: [&Subgraph; 6] = [
    &user_subgraph::SUBGRAPH,
    &catalog_subgraph::SUBGRAPH,
    &cart_subgraph::SUBGRAPH,
    &order_subgraph::SUBGRAPH,
    &payment_subgraph::SUBGRAPH,
    &assistant_subgraph::SUBGRAPH,
];

/// The router's configuration file in this repository.
pub fn default_router_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("router-config/router.config.yaml")
}

/// The `schema/` directory of this repository.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// Subgraphs serving in this process.
pub struct RunningSubgraphs {
    /// Name and address of each subgraph.
    pub addrs: Vec<(&'static str, SocketAddr)>,
    servers: Vec<Server>,
}

/// One subgraph instance serving: its HTTP server and its background work.
pub struct Server {
    /// Which subgraph.
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Stops it: in-flight requests finish, background work ends.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for worker in self.workers {
            let _ = worker.await;
        }
    }
}

/// Connects, migrates and (when configured) seeds one subgraph, then serves it on
/// `config.listen_addr` with its background work. Several may run for one subgraph
/// (replicas): they share the database and Redis.
pub async fn serve_subgraph(
    subgraph: &'static Subgraph,
    config: &ServiceConfig,
) -> anyhow::Result<Server> {
    // Bound first, so that the subgraph knows its own address (port 0 in tests): the
    // payment gateway links to its pages and delivers to its own webhook.
    let listener = http::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    let config = ServiceConfig {
        listen_addr: addr,
        ..config.clone()
    };
    let prepared = subgraph
        .prepare(&config)
        .await
        .with_context(|| format!("starting the {} subgraph", subgraph.name))?;
    let (stop, stopped) = watch::channel(false);
    let workers = service_kit::subgraph::spawn_workers(prepared.workers, &stopped);
    let mut stopped_http = stopped.clone();
    let task = tokio::spawn(http::serve(
        listener,
        prepared.app,
        async move {
            let _ = stopped_http.wait_for(|stop| *stop).await;
        },
        config.stop,
    ));
    Ok(Server {
        name: subgraph.name,
        addr,
        stop,
        task,
        workers,
    })
}

impl RunningSubgraphs {
    /// The GraphQL URL of each subgraph, as the router's `<NAME>_SUBGRAPH_URL` variables,
    /// and the user subgraph's public keys as `JWKS_URL`.
    pub fn router_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<_> = self
            .addrs
            .iter()
            .map(|(name, addr)| {
                (
                    format!("{}_SUBGRAPH_URL", name.to_uppercase()),
                    format!("http://{addr}/graphql"),
                )
            })
            .collect();
        if let Some((_, addr)) = self.addrs.iter().find(|(name, _)| *name == "user") {
            env.push((
                "JWKS_URL".to_owned(),
                format!("http://{addr}/.well-known/jwks.json"),
            ));
        }
        env
    }

    /// Stops one subgraph (finishing its in-flight requests); the others keep serving.
    pub async fn stop(&mut self, name: &str) {
        if let Some(index) = self.servers.iter().position(|s| s.name == name) {
            self.servers.remove(index).stop().await;
        }
    }

    /// Stops every subgraph, finishing in-flight requests.
    pub async fn shutdown(mut self) {
        for server in &self.servers {
            let _ = server.stop.send(true);
        }
        for server in self.servers.drain(..) {
            let _ = server.task.await;
            for worker in server.workers {
                let _ = worker.await;
            }
        }
    }
}

/// Connects, migrates and (when configured) seeds every subgraph, then serves each on the
/// address `config_for` gives it.
pub async fn start_subgraphs(
    config_for: impl Fn(&Subgraph) -> anyhow::Result<ServiceConfig>,
) -> anyhow::Result<RunningSubgraphs> {
    // Production refuses development secrets before anything starts.
    for subgraph in SUBGRAPHS {
        subgraph.check_deployable(&config_for(subgraph)?)?;
    }
    let mut servers = Vec::new();
    let mut addrs: Vec<(&'static str, std::net::SocketAddr)> = Vec::new();
    for subgraph in SUBGRAPHS {
        let mut config = config_for(subgraph)?;
        // Subgraphs that call others get the ones started here (they start before them).
        for (name, addr) in &addrs {
            config.peers.set(name, format!("http://{addr}/graphql"));
        }
        let server = serve_subgraph(subgraph, &config).await?;
        addrs.push((subgraph.name, server.addr));
        servers.push(server);
    }
    Ok(RunningSubgraphs { addrs, servers })
}

/// Starts the router as a child process (`<exe> router`): Hive Router runs its own runtime
/// and sets process-wide state (allocator, logging), so it gets a process of its own.
pub fn spawn_router(
    exe: &Path,
    config_file: &Path,
    port: u16,
    subgraphs: &RunningSubgraphs,
) -> anyhow::Result<tokio::process::Child> {
    router_command(exe, config_file, port, subgraphs)
        .spawn()
        .with_context(|| format!("starting the router ({})", exe.display()))
}

/// The command [`spawn_router`] runs, for callers that add variables of their own.
pub fn router_command(
    exe: &Path,
    config_file: &Path,
    port: u16,
    subgraphs: &RunningSubgraphs,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("router")
        .env(router::CONFIG_ENV, config_file)
        .env("PORT", port.to_string())
        .envs(subgraphs.router_env())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let production = std::env::var("MALL_ENV").is_ok_and(|env| env == "production");
    command.envs(router_env_for(production, config_file, |name| {
        std::env::var_os(name).is_some()
    }));
    command.env("PLAYGROUND_ENABLED", playground_served().to_string());
    router_traces(
        &mut command,
        service_kit::telemetry::OtlpSettings::from_env().as_ref(),
    );
    command
}

/// The router's variables that follow from the environment (`production`), unless `set`
/// says the operator set them: in production no introspection, the contract's trusted
/// documents only (by id) and no built-in GraphiQL page; in development the relaxed rate
/// limits (`router-config/rate-limits.development.yaml`).
pub fn router_env_for(
    production: bool,
    config_file: &Path,
    set: impl Fn(&str) -> bool,
) -> Vec<(&'static str, String)> {
    let wanted: Vec<(&'static str, String)> = if production {
        vec![
            ("ROUTER_INTROSPECTION", "false".into()),
            ("ROUTER_REQUIRE_DOCUMENT_ID", "true".into()),
            ("LABORATORY_ENABLED", "false".into()),
        ]
    } else {
        let limits = config_file.with_file_name("rate-limits.development.yaml");
        vec![("RATE_LIMITS_FILE", limits.display().to_string())]
    };
    wanted.into_iter().filter(|(name, _)| !set(name)).collect()
}

/// Has the router export traces as `otlp` says (the subgraphs read the standard `OTEL_*`
/// variables themselves; the router's configuration reads these).
pub fn router_traces(
    command: &mut tokio::process::Command,
    otlp: Option<&service_kit::telemetry::OtlpSettings>,
) {
    match otlp {
        Some(otlp) => command
            .env("ROUTER_OTLP_ENDPOINT", &otlp.endpoint)
            .env("ROUTER_TRACES_SAMPLING", otlp.sampling.to_string())
            .env("ROUTER_TRACES_FOLLOW_PARENT", "true"),
        None => command
            .env("ROUTER_TRACES_SAMPLING", "0")
            .env("ROUTER_TRACES_FOLLOW_PARENT", "false"),
    };
}

/// Whether the router serves the playground: `PLAYGROUND_ENABLED` when set, else everywhere
/// but in production (it is a development tool).
pub fn playground_served() -> bool {
    match std::env::var("PLAYGROUND_ENABLED") {
        Ok(value) => value != "false",
        Err(_) => std::env::var("MALL_ENV").map_or(true, |env| env != "production"),
    }
}

/// The web playground's sources (`web-playground/`).
pub fn playground_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web-playground")
}

/// Builds the web playground (`npm ci` when its dependencies changed, then `npm run build`)
/// unless `web-playground/dist` is newer than every source it is built from (its own files
/// and the contract operations it shows as examples). Blocking; prints what it does.
pub fn build_playground() -> anyhow::Result<()> {
    let dir = playground_dir();
    let built = modified(&dir.join("dist/index.html"));
    let sources = [
        dir.join("package-lock.json"),
        dir.join("package.json"),
        dir.join("index.html"),
        dir.join("vite.config.js"),
        dir.join("src"),
        schema_dir().join("contract/operations"),
        schema_dir().join("contract-passing.txt"),
    ];
    let newest_source = sources.iter().filter_map(|path| newest(path)).max();
    if let (Some(built), Some(source)) = (built, newest_source)
        && built >= source
    {
        return Ok(());
    }
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    if installed < modified(&dir.join("package-lock.json")) {
        println!("installing the playground's npm packages (npm ci)…");
        npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"])?;
    }
    println!("building the playground (npm run build)…");
    npm(&dir, &["run", "build", "--silent"])
}

fn npm(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("npm")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .context("running npm (Node.js 20 or later is needed for the playground)")?;
    anyhow::ensure!(
        status.success(),
        "`npm {}` failed ({status})",
        args.join(" ")
    );
    Ok(())
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The latest modification time of a file, or of any file under a directory.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    if !path.is_dir() {
        return modified(path);
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

/// Waits until `url` answers 200, or fails after `limit`.
pub async fn wait_until_ready(url: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if http_get_status(url).await.is_ok_and(|status| status == 200) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{url} did not become ready within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Status code of a plain HTTP/1.1 GET (enough for health checks, without an HTTP client).
async fn http_get_status(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".to_owned()));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    let status = std::str::from_utf8(&head[9..12])?.parse()?;
    Ok(status)
}

/// Writes every subgraph's SDL to `dir/<name>.graphql` and the list of subgraphs with their
/// development URLs to `dir/subgraphs.json` (read by the composition script).
pub fn export_schemas(dir: &Path) -> anyhow::Result<()> {
    let mut list = Vec::new();
    for subgraph in SUBGRAPHS {
        let path = dir.join(format!("{}.graphql", subgraph.name));
        std::fs::write(&path, (subgraph.sdl)())
            .with_context(|| format!("writing {}", path.display()))?;
        list.push(format!(
            "  {{ \"name\": \"{}\", \"url\": \"http://127.0.0.1:{}/graphql\" }}",
            subgraph.name, subgraph.default_port
        ));
    }
    std::fs::write(
        dir.join("subgraphs.json"),
        format!("[\n{}\n]\n", list.join(",\n")),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_turns_off_introspection_graphiql_and_unlisted_documents_unless_set() {
        let config = Path::new("/app/router-config/router.config.yaml");
        let env = router_env_for(true, config, |_| false);
        assert_eq!(
            env,
            [
                ("ROUTER_INTROSPECTION", "false".to_owned()),
                ("ROUTER_REQUIRE_DOCUMENT_ID", "true".to_owned()),
                ("LABORATORY_ENABLED", "false".to_owned()),
            ]
        );
        // What the operator set wins.
        let env = router_env_for(true, config, |name| name == "LABORATORY_ENABLED");
        assert!(env.iter().all(|(name, _)| *name != "LABORATORY_ENABLED"));
    }

    #[test]
    fn development_relaxes_the_rate_limits_unless_a_file_is_named() {
        let config = Path::new("/repo/router-config/router.config.yaml");
        assert_eq!(
            router_env_for(false, config, |_| false),
            [(
                "RATE_LIMITS_FILE",
                "/repo/router-config/rate-limits.development.yaml".to_owned()
            )]
        );
        assert!(router_env_for(false, config, |name| name == "RATE_LIMITS_FILE").is_empty());
        // The file parses as the router's rate limits.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        router::rate_limit::RateLimits::load(
            &repo.join("router-config/rate-limits.development.yaml"),
        )
        .expect("the development rate limits load");
    }
}
