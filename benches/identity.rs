//! Identity and access under load, through the real router (release build):
//!
//! - `login` and `me` latency at a fixed request rate (open loop: latency counts from the
//!   moment a request was due, so a slow response cannot hide the queue behind it);
//! - what the per-request session check costs (token verification + one Redis round trip
//!   for revocation, ban, roles and permissions): the same public query sent to the catalog
//!   subgraph anonymously and with a token, side by side in one run, and the check alone
//!   (`auth::Access::authenticate`) in process.
//!
//! Run: `cargo bench --bench identity` (needs PostgreSQL and Redis like the tests).
//! Options (environment): `BENCH_SECONDS` per measurement (default 5), `BENCH_RATE` for the
//! `me` and catalog measurements (default 200/s), `BENCH_LOGIN_RATE` (default 20/s).

mod load;
use e2e_harness as support;

use std::sync::Arc;
use std::time::Instant;

use load::{Latencies, at_fixed_rate, env_number, post};
use serde_json::json;
use support::System;

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let rate = env_number("BENCH_RATE", 200);
    let login_rate = env_number("BENCH_LOGIN_RATE", 20);
    let system = System::start().await;
    let client = reqwest::Client::new();
    let router = system.router_url.clone();
    let catalog = system.subgraph_url("catalog");
    let token = Arc::new(system.demo_customer_token().await);

    // Warm up connections and caches.
    for _ in 0..50 {
        post(&client, &router, Some(&token), "{ me { id } }", json!({})).await;
        post(
            &client,
            &catalog,
            Some(&token),
            "{ categories { name } }",
            json!({}),
        )
        .await;
    }

    let login = {
        let (client, router) = (client.clone(), router.clone());
        at_fixed_rate(login_rate, seconds, move || {
            let (client, router) = (client.clone(), router.clone());
            async move {
                post(
                    &client,
                    &router,
                    None,
                    "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                    json!({ "i": { "email": service_kit::demo::DEMO_ADMIN_EMAIL, "password": user_subgraph::DEMO_ADMIN_PASSWORD } }),
                )
                .await
            }
        })
        .await
    };
    let me = {
        let (client, router, token) = (client.clone(), router.clone(), token.clone());
        at_fixed_rate(rate, seconds, move || {
            let (client, router, token) = (client.clone(), router.clone(), token.clone());
            async move {
                post(
                    &client,
                    &router,
                    Some(&token),
                    "{ me { id email roles } }",
                    json!({}),
                )
                .await
            }
        })
        .await
    };
    // The same public query to the catalog subgraph, alternating anonymous and signed in,
    // so that both see the same machine.
    let catalog_query = "{ categories { name } }";
    let mut anonymous_runs = Vec::new();
    let mut signed_in_runs = Vec::new();
    for round in 0..2 {
        for signed_in in [round == 1, round == 0] {
            let (client, catalog, token) = (client.clone(), catalog.clone(), token.clone());
            let result = at_fixed_rate(rate, seconds, move || {
                let (client, catalog, token) = (client.clone(), catalog.clone(), token.clone());
                async move {
                    let token = signed_in.then_some(token.as_str());
                    post(&client, &catalog, token, catalog_query, json!({})).await
                }
            })
            .await;
            if signed_in {
                signed_in_runs.push(result);
            } else {
                anonymous_runs.push(result);
            }
        }
    }
    let merge = |runs: Vec<Latencies>| {
        let mut all = Latencies {
            micros: Vec::new(),
            errors: 0,
            seconds: 0.0,
        };
        for run in runs {
            all.micros.extend(run.micros);
            all.errors += run.errors;
            all.seconds += run.seconds;
        }
        all.micros.sort_unstable();
        all
    };
    let anonymous = merge(anonymous_runs);
    let signed_in = merge(signed_in_runs);

    // The check alone, in process: verify the token and read the session state, with the
    // session held in memory (the default) and read from Redis every time
    // (`SESSION_CACHE_SECONDS=0`), alternating.
    let redis = service_kit::Redis::connect(
        &std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        &system.redis_prefix,
        4,
    )
    .await
    .expect("redis");
    let cached = auth::Access::new(&service_kit::config::AuthSettings::default(), redis.clone())
        .expect("access");
    let uncached = auth::Access::new(
        &service_kit::config::AuthSettings {
            session_cache: std::time::Duration::ZERO,
            ..Default::default()
        },
        redis,
    )
    .expect("access");
    while !cached.sessions().in_use() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut headers = axum_headers(&token);
    let n = 5_000u32;
    let (mut held, mut read) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for _ in 0..2 {
        for (access, total) in [(&cached, &mut held), (&uncached, &mut read)] {
            let started = Instant::now();
            for _ in 0..n {
                access.authenticate(&headers).await.expect("authenticated");
            }
            *total += started.elapsed();
        }
    }
    let (held, with_token) = (held / (2 * n), read / (2 * n));
    headers.remove("authorization");
    let started = Instant::now();
    for _ in 0..n {
        cached.authenticate(&headers).await.expect("anonymous");
    }
    let without = started.elapsed() / n;
    // Its first part alone: the token's signature and claims (issue 28's profile: what is
    // left of the check is the Redis round trip and the permissions).
    let started = Instant::now();
    for _ in 0..n {
        auth::tokens::verify(cached.keys(), &token).expect("valid token");
    }
    let verify = started.elapsed() / n;

    println!("\nIdentity and access, {seconds} s per row, open-loop fixed rate\n");
    println!("| measurement | achieved req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        login.row(&format!("login via router @ {login_rate}/s"))
    );
    println!("{}", me.row(&format!("me via router @ {rate}/s")));
    println!(
        "{}",
        anonymous.row(&format!("catalog categories, anonymous @ {rate}/s"))
    );
    println!(
        "{}",
        signed_in.row(&format!("catalog categories, with token @ {rate}/s"))
    );
    println!(
        "\nsession check cost (catalog subgraph, with token / anonymous): p50 x{:.2}, p99 x{:.2}",
        signed_in.percentile(0.5) / anonymous.percentile(0.5),
        signed_in.percentile(0.99) / anonymous.percentile(0.99)
    );
    println!(
        "Access::authenticate in process: {:.2} µs with a token whose session is held in memory, \
         {:.1} µs with it read from Redis (SESSION_CACHE_SECONDS=0; checked token remembered), \
         {:.2} µs anonymous",
        held.as_secs_f64() * 1e6,
        with_token.as_secs_f64() * 1e6,
        without.as_secs_f64() * 1e6
    );
    println!(
        "  a token's signature and claims checked afresh (auth::tokens::verify, once per token \
         and process): {:.1} µs",
        verify.as_secs_f64() * 1e6,
    );
    system.stop().await;
}

fn axum_headers(token: &str) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header value"),
    );
    headers
}
