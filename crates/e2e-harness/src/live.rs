//! Subscription clients as a frontend uses them, through the router: WebSocket
//! (graphql-transport-ws, token in `connection_init`) and SSE (`Accept: text/event-stream`,
//! token in the header).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// What a subscription sends a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A result (`data`, maybe with `errors`).
    Next(Value),
    /// The operation failed as a whole (`error` message of graphql-transport-ws).
    Error(Value),
    /// The server ended the stream.
    Complete,
}

impl Delivery {
    /// The error codes of this delivery (`extensions.code`), if any.
    pub fn codes(&self) -> Vec<String> {
        let errors = match self {
            Delivery::Next(payload) => payload["errors"].clone(),
            Delivery::Error(errors) => errors.clone(),
            Delivery::Complete => Value::Null,
        };
        errors
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
            .collect()
    }

    /// The `data` of a `Next`.
    pub fn data(&self) -> Option<&Value> {
        match self {
            Delivery::Next(payload) => payload.get("data").filter(|d| !d.is_null()),
            _ => None,
        }
    }
}

/// One subscription over either transport.
pub enum LiveClient {
    WebSocket(WebSocketClient),
    Sse(SseClient),
}

impl LiveClient {
    /// Opens `query` over WebSocket (`sse == false`) or SSE.
    pub async fn open(
        sse: bool,
        router_url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Self {
        if sse {
            LiveClient::Sse(SseClient::open(router_url, token, query, variables).await)
        } else {
            let mut client = WebSocketClient::connect(router_url, token).await;
            client.subscribe("1", query, variables).await;
            LiveClient::WebSocket(client)
        }
    }

    /// The next delivery within `wait`; `None` if nothing came.
    pub async fn next(&mut self, wait: Duration) -> Option<Delivery> {
        match self {
            LiveClient::WebSocket(client) => client.next(wait).await.map(|(_, d)| d),
            LiveClient::Sse(client) => client.next(wait).await,
        }
    }

    pub fn transport(&self) -> &'static str {
        match self {
            LiveClient::WebSocket(_) => "WebSocket",
            LiveClient::Sse(_) => "SSE",
        }
    }
}

/// A graphql-transport-ws connection to the router.
pub struct WebSocketClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WebSocketClient {
    /// Connects and initialises (with `Authorization` in the payload when `token` is given).
    pub async fn connect(router_url: &str, token: Option<&str>) -> Self {
        let url = router_url.replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().expect("WebSocket URL");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket to the router");
        let mut client = Self { socket };
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        loop {
            let message = client.receive(Duration::from_secs(10)).await;
            match message.as_ref().and_then(|m| m["type"].as_str()) {
                Some("connection_ack") => return client,
                Some("ping") => client.send(json!({ "type": "pong" })).await,
                _ => panic!("no connection_ack: {message:?}"),
            }
        }
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// Ends operation `id` from the client's side.
    pub async fn complete(&mut self, id: &str) {
        self.send(json!({ "id": id, "type": "complete" })).await;
    }

    /// The next delivery of any operation within `wait`, with its operation id.
    pub async fn next(&mut self, wait: Duration) -> Option<(String, Delivery)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.receive(left).await?;
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            let delivery = match message["type"].as_str() {
                Some("next") => Delivery::Next(message["payload"].clone()),
                Some("error") => Delivery::Error(message["payload"].clone()),
                Some("complete") => Delivery::Complete,
                Some("ping") => {
                    self.send(json!({ "type": "pong" })).await;
                    continue;
                }
                _ => continue,
            };
            return Some((id, delivery));
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("WebSocket send");
    }

    async fn receive(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON message"));
                }
                Message::Close(frame) => {
                    return Some(json!({ "type": "closed", "frame": format!("{frame:?}") }));
                }
                _ => continue,
            }
        }
    }
}

/// A subscription over Server-Sent Events.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    pub async fn open(
        router_url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Self {
        let mut request = reqwest::Client::new()
            .post(router_url)
            .header("accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("SSE request");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Delivery> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = "message";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = if name.trim() == "complete" {
                            "complete"
                        } else {
                            "next"
                        };
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if event == "complete" {
                    return Some(Delivery::Complete);
                }
                if data.is_empty() {
                    continue;
                }
                let payload: Value = serde_json::from_str(&data).expect("SSE data is JSON");
                return Some(Delivery::Next(payload));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .ok()?;
            match chunk {
                Ok(Some(bytes)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                // The stream ended without `complete`.
                Ok(None) | Err(_) => return Some(Delivery::Complete),
            }
        }
    }
}
