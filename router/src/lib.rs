//! The Douyin Mall federation router: Hive Router embedded as a library. It reads its
//! configuration from the YAML file named by `ROUTER_CONFIG_FILE_PATH` (see
//! `router-config/router.config.yaml`) and serves the composed supergraph.
//!
//! The router owns its entry point: [`run`] starts Hive Router's own (ntex) runtime and blocks,
//! so it runs in a process of its own, never inside the subgraphs' tokio runtime.

// Needed by ntex's way of defining middlewares.
#![recursion_limit = "256"]

pub mod access;
pub mod drain;
pub mod playground;
pub mod rate_limit;

pub use hive_router::RouterGlobalAllocator;
pub use hive_router::error::RouterInitError;
use hive_router::{PluginRegistry, init_rustls_crypto_provider, ntex, router_entrypoint};

/// Environment variable naming the router's configuration file.
pub const CONFIG_ENV: &str = "ROUTER_CONFIG_FILE_PATH";

/// Runs the router until it is stopped (Ctrl-C or SIGTERM): it stops taking requests and
/// answers those in flight first ([`drain`]). Blocks the calling thread.
pub fn run() -> Result<(), RouterInitError> {
    drain::install();
    serve()
}

#[hive_router::main]
async fn serve() -> Result<(), RouterInitError> {
    init_rustls_crypto_provider();
    router_entrypoint(
        PluginRegistry::new()
            .register::<playground::MallPlayground>()
            .register::<access::MallAccess>()
            .register::<rate_limit::MallRateLimit>(),
    )
    .await
}
