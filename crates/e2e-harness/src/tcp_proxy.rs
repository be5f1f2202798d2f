//! A TCP proxy that a test can cut, freeze and restore: in front of the test Redis, a Redis
//! outage (refused connections) or a silent Redis (connections open, no answers), and its
//! end, for one system only, while the other tests keep using the shared server; in front of
//! a subgraph, that subgraph down or hanging for one client.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};

pub struct TcpProxy {
    address: SocketAddr,
    upstream: String,
    url: String,
    forwarding: Mutex<Option<JoinHandle<()>>>,
    frozen: watch::Sender<bool>,
}

impl TcpProxy {
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
        Self::listen(upstream, |address| {
            format!("redis://{credentials}{address}/{database}")
        })
        .await
    }

    /// Starts forwarding to the HTTP server at `upstream`; [`TcpProxy::url`] is then its
    /// GraphQL URL through the proxy.
    pub async fn in_front_of(upstream: SocketAddr) -> Self {
        Self::listen(&upstream.to_string(), |address| {
            format!("http://{address}/graphql")
        })
        .await
    }

    /// Listens on a free port and forwards to `upstream`; `url` makes the clients' URL from
    /// the proxy's address.
    async fn listen(upstream: &str, url: impl FnOnce(SocketAddr) -> String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let address = listener.local_addr().expect("proxy address");
        let proxy = Self {
            address,
            upstream: upstream.to_owned(),
            url: url(address),
            forwarding: Mutex::new(None),
            frozen: watch::Sender::new(false),
        };
        *proxy.forwarding.lock().await = Some(proxy.forward(listener));
        proxy
    }

    /// The URL to give the subgraphs instead of `REDIS_URL` (or the subgraph's URL).
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

    /// Redis falls silent: connections stay open (and new ones are accepted) but nothing
    /// passes in either direction until [`TcpProxy::restore`].
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Redis is back on the same address, and answers again.
    pub async fn restore(&self) {
        self.frozen.send_replace(false);
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
        let frozen = self.frozen.subscribe();
        tokio::spawn(async move {
            // Dropped with this task when the proxy is cut, which aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut frozen = frozen.clone();
                connections.spawn(async move {
                    if frozen.wait_for(|frozen| !frozen).await.is_err() {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, frozen.clone()),
                        pump(server_read, client_write, frozen),
                    );
                });
            }
        })
    }
}

/// Copies one direction of a connection, holding the data back while the proxy is frozen.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if frozen.wait_for(|frozen| !frozen).await.is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            break;
        }
    }
    let _ = to.shutdown().await;
}
