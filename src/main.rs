//! `mall`: runs Douyin Mall.
//!
//! - `mall` (what `cargo run` does): the six subgraphs (migrations and demo data included)
//!   and the router; prints the endpoint.
//! - `mall router`: the router alone (the launcher starts itself this way).
//! - `mall subgraph NAME`: one subgraph alone, configured from the environment (one replica
//!   in a deployment of several; the `live` benchmark measures one this way).
//! - `mall export-schemas [DIR]`: writes each subgraph's SDL into `schema/`.
//! - `mall migrate [NAME…]`: applies the pending migrations of every subgraph (or those
//!   named) and exits (a deployment's migration job; subgraphs also migrate on start).

use std::process::ExitCode;
use std::time::Duration;

use douyin_mall::{
    build_playground, default_router_config, export_schemas, playground_served, schema_dir,
    spawn_router, start_subgraphs, wait_until_ready,
};
use service_kit::subgraph::exit_with;

#[global_allocator]
static GLOBAL: router::RouterGlobalAllocator = router::RouterGlobalAllocator;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("run") => run_all(),
        Some("router") => match router::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Some("subgraph") => {
            let name = args.get(1).map(String::as_str).unwrap_or_default();
            match douyin_mall::SUBGRAPHS.iter().find(|s| s.name == name) {
                Some(subgraph) => service_kit::subgraph::main(subgraph),
                None => {
                    let names: Vec<&str> = douyin_mall::SUBGRAPHS.iter().map(|s| s.name).collect();
                    eprintln!("usage: mall subgraph <{}>", names.join(" | "));
                    ExitCode::from(2)
                }
            }
        }
        Some("migrate") => migrate(&args[1..]),
        Some("export-schemas") => {
            let dir = args.get(1).map(Into::into).unwrap_or_else(schema_dir);
            match export_schemas(&dir) {
                Ok(()) => {
                    println!("wrote the subgraph schemas to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(error) => exit_with(&error),
            }
        }
        Some(other) => {
            eprintln!(
                "unknown command {other:?}; usage: mall [run | router | subgraph NAME | migrate [NAME…] | export-schemas [DIR]]"
            );
            ExitCode::from(2)
        }
    }
}

/// `mall migrate [NAME…]`: each subgraph's pending migrations (creating the database if
/// needed), from the same settings as the subgraph itself (`DATABASE_URL`).
fn migrate(names: &[String]) -> ExitCode {
    let chosen: Vec<_> = douyin_mall::SUBGRAPHS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect();
    if let Some(unknown) = names
        .iter()
        .find(|n| !douyin_mall::SUBGRAPHS.iter().any(|s| s.name == n.as_str()))
    {
        eprintln!("unknown subgraph {unknown:?}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return exit_with(&error.into()),
    };
    let outcome = runtime.block_on(async {
        for subgraph in chosen {
            let config = subgraph.config_from_env()?;
            service_kit::db::connect_and_migrate(&config, subgraph.database).await?;
            println!("{}: migrated", subgraph.name);
        }
        anyhow::Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => exit_with(&error),
    }
}

fn run_all() -> ExitCode {
    service_kit::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return exit_with(&error.into()),
    };
    let outcome = runtime.block_on(run_system());
    // The spans of the last requests, before the process ends.
    service_kit::telemetry::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => exit_with(&error),
    }
}

async fn run_system() -> anyhow::Result<()> {
    let mut playground = playground_served();
    if playground && let Err(error) = tokio::task::spawn_blocking(build_playground).await? {
        // The API works without it; say why the page is missing and go on.
        eprintln!("warning: the web playground was not built: {error:#}");
        playground = false;
    }
    // The router reads PORT itself; the launcher needs it to say where the endpoint is.
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| anyhow::anyhow!("PORT={port:?} is not a port number"))?,
        Err(_) => 4000,
    };
    let subgraphs = start_subgraphs(|subgraph| {
        let mut config = subgraph.config_from_env()?;
        if std::env::var_os("ROUTER_URL").is_none() {
            let router = format!("http://127.0.0.1:{port}/graphql");
            config.peers.set(service_kit::config::ROUTER, router);
        }
        Ok(config)
    })
    .await?;
    // From here on a Ctrl-C or SIGTERM stops the router and the subgraphs in order.
    let shutdown = service_kit::http::shutdown_signal();
    tokio::pin!(shutdown);

    let config_file = std::env::var_os(router::CONFIG_ENV)
        .map(Into::into)
        .unwrap_or_else(default_router_config);
    let exe = std::env::current_exe()?;
    let mut router = spawn_router(&exe, &config_file, port, &subgraphs)?;

    let health = format!("http://127.0.0.1:{port}/health");
    tokio::select! {
        ready = wait_until_ready(&health, Duration::from_secs(60)) => ready?,
        () = &mut shutdown => {
            stop_router(&mut router).await;
            subgraphs.shutdown().await;
            return Ok(());
        }
        status = router.wait() => anyhow::bail!("the router exited during start-up ({})", status?),
    }
    println!();
    println!("Douyin Mall is running.");
    println!("  GraphQL endpoint:   http://localhost:{port}/graphql");
    if playground {
        println!("  Playground:         http://localhost:{port}/playground");
    }
    for (name, addr) in &subgraphs.addrs {
        println!("  {name:<8} subgraph: http://{addr}/graphql");
    }
    if std::env::var("MALL_ENV").is_ok_and(|env| env == "production") {
        println!("Production mode: rate limits of router-config/rate-limits.yaml.");
    } else if std::env::var_os("RATE_LIMITS_FILE").is_none() {
        println!(
            "Development mode: per-user limits on sign-up, sign-in and checkout are off \
             (router-config/rate-limits.development.yaml); RATE_LIMITS_FILE=router-config/rate-limits.yaml \
             applies production's."
        );
    }
    println!("Press Ctrl-C to stop.");

    // Ctrl-C in a terminal reaches the router too (same process group): a clean router exit
    // is a normal stop, anything else is reported.
    let outcome = tokio::select! {
        () = &mut shutdown => Ok(()),
        status = router.wait() => match status? {
            status if status.success() => Ok(()),
            status => Err(anyhow::anyhow!("the router stopped unexpectedly ({status})")),
        },
    };
    stop_router(&mut router).await;
    subgraphs.shutdown().await;
    outcome
}

/// Asks the router to stop (SIGTERM: it refuses new requests and answers those in flight,
/// for at most `ROUTER_DRAIN_TIMEOUT_SECONDS` (10 s), then ntex gives open connections its
/// `http.shutdown_timeout` of 5 s), and kills it only if it has not stopped within 20 s.
async fn stop_router(router: &mut tokio::process::Child) {
    if let Ok(Some(_)) = router.try_wait() {
        return;
    }
    #[cfg(unix)]
    if let Some(pid) = router.id() {
        // `kill(1)`: this workspace forbids unsafe code, and a signal needs no more.
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(20), router.wait()).await {
            Ok(Ok(status)) if status.success() => {
                println!("the router stopped cleanly");
                return;
            }
            Ok(Ok(status)) => {
                eprintln!("the router stopped with {status}");
                return;
            }
            _ => eprintln!("the router did not stop within 20 s: killing it"),
        }
    }
    let _ = router.start_kill();
    let _ = router.wait().await;
}
