//! A TCP proxy in front of the test Redis that a test can cut and restore: a Redis outage,
//! and its end, for one system only, while the other tests keep using the shared server.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

pub struct RedisProxy {
    address: SocketAddr,
    upstream: String,
    url: String,
    forwarding: Mutex<Option<JoinHandle<()>>>,
}

impl RedisProxy {
    /// Starts forwarding to the server of `REDIS_URL` (default 127.0.0.1:6379).
    pub async fn start() -> Self {
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        // redis://[user:password@]host:port[/db]
        let rest = redis_url.trim_start_matches("redis://");
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let (upstream, database) = rest.split_once('/').unwrap_or((rest, ""));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let address = listener.local_addr().expect("proxy address");
        let proxy = Self {
            address,
            upstream: upstream.to_owned(),
            url: format!("redis://{credentials}{address}/{database}"),
            forwarding: Mutex::new(None),
        };
        *proxy.forwarding.lock().await = Some(proxy.forward(listener));
        proxy
    }

    /// The URL to give the subgraphs instead of `REDIS_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Redis goes away: open connections are closed and new ones refused.
    pub async fn cut(&self) {
        if let Some(forwarding) = self.forwarding.lock().await.take() {
            forwarding.abort();
            let _ = forwarding.await;
        }
    }

    /// Redis is back on the same address.
    pub async fn restore(&self) {
        let mut forwarding = self.forwarding.lock().await;
        if forwarding.is_none() {
            let listener = TcpListener::bind(self.address)
                .await
                .expect("proxy address free again");
            *forwarding = Some(self.forward(listener));
        }
    }

    fn forward(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream.clone();
        tokio::spawn(async move {
            // Dropped with this task when the proxy is cut, which aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        })
    }
}
