//! End-to-end harness: the five subgraphs (in this process, on free ports, over a fresh
//! database with the demo data) and the real router (the `mall router` child process, with
//! the repository's router configuration) on a free port.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::net::TcpListener;
use std::time::Duration;

use douyin_mall::{
    RunningSubgraphs, SUBGRAPHS, default_router_config, spawn_router, start_subgraphs,
    wait_until_ready,
};
use serde_json::{Value, json};
use service_kit::ServiceConfig;
use test_support::{TestDatabase, redis_prefix, service_config};

/// Path of the `mall` binary built for these tests.
pub const MALL_BIN: &str = env!("CARGO_BIN_EXE_mall");

/// The whole system, stopped when dropped.
pub struct System {
    /// `http://127.0.0.1:<port>/graphql` of the router.
    pub router_url: String,
    /// Name and address of each subgraph.
    pub subgraph_addrs: Vec<(&'static str, std::net::SocketAddr)>,
    router: tokio::process::Child,
    subgraphs: Option<RunningSubgraphs>,
    http: reqwest::Client,
    /// Dropped last, after every connection to it is gone.
    pub database: TestDatabase,
}

impl System {
    /// Starts everything and waits until the router is ready.
    pub async fn start() -> Self {
        let database = TestDatabase::create(&SUBGRAPHS.map(|s| s.database))
            .await
            .expect("test database");
        let prefix = redis_prefix();
        let subgraphs = start_subgraphs(|_| {
            Ok(ServiceConfig {
                seed_demo_data: true,
                redis_prefix: prefix.clone(),
                ..service_config(&database)
            })
        })
        .await
        .expect("subgraphs start");
        let port = free_port();
        let router = spawn_router(
            MALL_BIN.as_ref(),
            &default_router_config(),
            port,
            &subgraphs,
        )
        .expect("router starts");
        wait_until_ready(
            &format!("http://127.0.0.1:{port}/readiness"),
            Duration::from_secs(60),
        )
        .await
        .expect("router ready");
        Self {
            router_url: format!("http://127.0.0.1:{port}/graphql"),
            subgraph_addrs: subgraphs.addrs.clone(),
            router,
            subgraphs: Some(subgraphs),
            http: reqwest::Client::new(),
            database,
        }
    }

    /// Sends a GraphQL request through the router; returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.post(&self.router_url, query, variables).await
    }

    /// Sends a GraphQL request to `url` (a subgraph, or the router).
    pub async fn post(&self, url: &str, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(url)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body = response.text().await.expect("response body");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("HTTP {status}, not JSON: {body}"))
    }

    /// The GraphQL URL of one subgraph.
    pub fn subgraph_url(&self, name: &str) -> String {
        let (_, addr) = self
            .subgraph_addrs
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known subgraph");
        format!("http://{addr}/graphql")
    }

    /// An HTTP GET; returns status and body.
    pub async fn get(&self, url: &str) -> (u16, String) {
        let response = self.http.get(url).send().await.expect("request sent");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// Stops one subgraph, as if its process died; the rest keeps running.
    pub async fn stop_subgraph(&mut self, name: &str) {
        self.subgraphs.as_mut().expect("running").stop(name).await;
    }

    /// Stops the subgraphs gracefully and the router.
    pub async fn stop(mut self) {
        let _ = self.router.start_kill();
        let _ = self.router.wait().await;
        if let Some(subgraphs) = self.subgraphs.take() {
            subgraphs.shutdown().await;
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The `extensions.code` of every error of a response.
pub fn error_codes(response: &Value) -> Vec<String> {
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
