//! Requests to the running system: GraphQL through the router or to a subgraph, signing
//! in, plain HTTP.

use std::time::Duration;

use serde_json::{Value, json};

use crate::System;

impl System {
    /// Sends a GraphQL request through the router; returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.post(&self.router_url, query, variables).await
    }

    /// Sends a GraphQL request through the router with `Authorization: Bearer <token>`.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post_as(&self.router_url, Some(token), query, variables)
            .await
    }

    /// Signs in through the router; returns the access token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let response = self
            .graphql(
                "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        response["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-in failed: {response}"))
            .to_owned()
    }

    /// Registers a new customer through the router; returns their access token. On a
    /// machine too busy for Redis to answer the rate limiter in time, registration is
    /// refused with `UNAVAILABLE` (it fails closed): tried again, as a client would.
    pub async fn register(&self, email: &str) -> String {
        let mut response = Value::Null;
        for pause in [0, 200, 500, 1000] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            response = self
                .graphql(
                    "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                    json!({ "i": { "email": email, "password": "long enough", "displayName": "Shopper" } }),
                )
                .await;
            if test_support::error_codes(&response) != ["UNAVAILABLE"] {
                break;
            }
        }
        response["data"]["register"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("registration failed: {response}"))
            .to_owned()
    }

    /// Signs in as the demo administrator (role `admin`: every permission).
    pub async fn admin_token(&self) -> String {
        self.sign_in(
            service_kit::demo::DEMO_ADMIN_EMAIL,
            user_subgraph::DEMO_ADMIN_PASSWORD,
        )
        .await
    }

    /// Signs in as the demo customer (who has a cart).
    pub async fn demo_customer_token(&self) -> String {
        self.sign_in(
            service_kit::demo::DEMO_CUSTOMER_EMAIL,
            user_subgraph::DEMO_CUSTOMER_PASSWORD,
        )
        .await
    }

    /// Empties the catalog's product cache (Redis, and every replica's memory), so that the
    /// next reads go to PostgreSQL.
    pub async fn flush_product_cache(&self) {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = service_kit::Redis::connect(&url, &self.redis_prefix, 1)
            .await
            .expect("redis");
        let mut conn = redis.connection().await.expect("redis connection");
        let keys: Vec<String> = service_kit::redis::redis::cmd("KEYS")
            .arg(redis.key("catalog:product:*"))
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            // One DEL per key (a pipeline): the keys live in different Redis Cluster slots.
            let mut pipe = service_kit::redis::redis::pipe();
            for key in &keys {
                pipe.del(key).ignore();
            }
            let _: () = pipe.query_async(&mut conn).await.expect("DEL");
        }
        let _receivers: i64 = service_kit::redis::redis::cmd("PUBLISH")
            .arg(catalog_subgraph::cache::invalidation_channel(&redis))
            .arg(catalog_subgraph::cache::FORGET_ALL)
            .query_async(&mut conn)
            .await
            .expect("PUBLISH");
        // Delivered to the subscribed replicas at once; give them a moment to act on it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Sends a GraphQL request to `url` (a subgraph, or the router).
    pub async fn post(&self, url: &str, query: &str, variables: Value) -> Value {
        self.post_as(url, None, query, variables).await
    }

    /// Sends a GraphQL request to `url`, with a bearer token when given.
    pub async fn post_as(
        &self,
        url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self.http.post(url);
        if url != self.router_url {
            // A subgraph directly: it answers only with the secret the router sends.
            request = request.header(
                service_kit::internal::TOKEN_HEADER,
                service_kit::config::DEV_INTERNAL_TOKEN,
            );
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body = response.text().await.expect("response body");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("HTTP {status}, not JSON: {body}"))
    }

    /// Sends a GraphQL request to `url` exactly as given: no secret, no token, and
    /// `headers` added.
    pub async fn post_raw(&self, url: &str, headers: &[(&str, &str)], query: &str) -> Value {
        let mut request = self.http.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request sent");
        let body = response.text().await.expect("response body");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
    }

    /// Sends a POST to the router that announces a body of `length` bytes but stops after the
    /// first 64 KiB, then reads the answer. The router refuses on the announced length and
    /// drains 64 KiB before answering (hive-router's `drain_body_stream`), so that the
    /// connection closes cleanly; a client that keeps writing a real 10 MB body races that
    /// close and may see a reset instead of the answer.
    pub async fn announce_body(&self, length: usize) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self
            .router_url
            .trim_start_matches("http://")
            .trim_end_matches("/graphql");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("router reachable");
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        let sent = length.min(64 * 1024);
        stream
            .write_all(&vec![b' '; sent])
            .await
            .expect("body start sent");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the router answers without waiting for the rest of the body")
            .expect("answer read");
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, body.to_owned())
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
}
