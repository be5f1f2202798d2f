//! One `REDIS_URL` for a Redis server or a Redis Cluster.
//!
//! `redis://host:6379` is a server. A Redis Cluster is named by listing some of its nodes,
//! separated by commas (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`), or by one node and
//! `REDIS_CLUSTER=true`: the cluster client learns the others and the slot map from them,
//! follows `MOVED`/`ASK` redirections and refreshes the map after a failover. Callers see one
//! [`Connection`] type either way, so a command, a pipeline or a Lua script is written once;
//! what they must do for a cluster is keep every key one script or transaction touches
//! under one hash tag (`scripts/redis-cluster` proves that against a real cluster).
//!
//! Publish/subscribe needs no cluster client: a `PUBLISH` reaches every node's subscribers,
//! so a subscriber connects to the first node that answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod slots;
pub use slots::slot;
use slots::{master_of, routing_key, slot_of_bytes};

pub use redis;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// How long a blocking read may wait for its answer before it fails; every caller blocks
/// for a second at most. Without a limit, a read sent to a master that was killed can wait
/// for good (in one run of `scripts/redis-cluster`'s failover test, the orders of two
/// flash-sale admissions were never made while the catalog sent them again every second,
/// as if a stream consumer had stopped reading); with it, the read fails and the consumer
/// reconnects to the new master.
pub const BLOCKING_ANSWER: Duration = Duration::from_secs(10);

/// How long a command may take before it fails, for connections shared by requests.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to open a connection to one node.
    pub connect: Duration,
    /// Time for one answer.
    pub response: Duration,
    /// Attempts after the first one (a reconnection, a redirection after a failover).
    pub retries: u32,
}

/// Where Redis is: one server, or the nodes of a cluster.
#[derive(Debug, Clone)]
pub enum Topology {
    /// One server (or a proxy in front of several).
    Server(redis::Client),
    /// A Redis Cluster.
    Cluster(Box<Cluster>),
}

/// The clients of a Redis Cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// For commands that answer at once, with [`Timeouts`].
    requests: ClusterClient,
    /// For blocking reads (`XREADGROUP … BLOCK`), answers within [`BLOCKING_ANSWER`].
    blocking: ClusterClient,
    /// Every listed node, tried in turn by subscribers.
    nodes: Vec<redis::Client>,
    timeouts: Timeouts,
}

/// Whether `REDIS_CLUSTER` asks for cluster mode with one listed node.
fn cluster_switch() -> bool {
    std::env::var("REDIS_CLUSTER")
        .map(|value| matches!(value.trim(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

impl Topology {
    /// Reads `url` (see the module documentation); nothing is connected yet.
    pub fn parse(url: &str, timeouts: Timeouts) -> RedisResult<Self> {
        Self::parse_with_switch(url, timeouts, cluster_switch())
    }

    fn parse_with_switch(url: &str, timeouts: Timeouts, switch: bool) -> RedisResult<Self> {
        let listed: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .collect();
        // A comma is also allowed in a password: a list is pieces that each name a scheme.
        let is_list = listed.len() > 1 && listed.iter().all(|node| node.contains("://"));
        if !is_list && !switch {
            return Ok(Self::Server(redis::Client::open(url.trim())?));
        }
        let listed = if is_list { listed } else { vec![url.trim()] };
        let nodes = listed
            .iter()
            .map(|node| redis::Client::open(*node))
            .collect::<RedisResult<Vec<_>>>()?;
        let builder = || {
            let infos = nodes.iter().map(|node| node.get_connection_info().clone());
            ClusterClientBuilder::new(infos)
                .connection_timeout(timeouts.connect)
                .retries(timeouts.retries)
                .min_retry_wait(50)
                .max_retry_wait(500)
        };
        Ok(Self::Cluster(Box::new(Cluster {
            requests: builder().response_timeout(timeouts.response).build()?,
            blocking: builder().response_timeout(BLOCKING_ANSWER).build()?,
            nodes,
            timeouts,
        })))
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// A connection for requests: multiplexed (clones share it) and healing itself after
    /// an I/O error, a restart or a failover, within [`Timeouts`].
    pub async fn shared(&self, timeouts: Timeouts) -> RedisResult<Connection> {
        match self {
            Self::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.response))
                    .set_number_of_retries(timeouts.retries as usize)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(Connection::Server(manager))
            }
            Self::Cluster(cluster) => Ok(Connection::Cluster(ClusterLink::new(
                cluster.requests.get_async_connection().await?,
            ))),
        }
    }

    /// A connection of its own for blocking commands (which would stall every request
    /// sharing a multiplexed connection), blocking for less than [`BLOCKING_ANSWER`].
    pub async fn dedicated(&self) -> RedisResult<Connection> {
        match self {
            Self::Server(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(BLOCKING_ANSWER));
                Ok(Connection::Plain(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Self::Cluster(cluster) => Ok(Connection::Cluster(ClusterLink::new(
                cluster.blocking.get_async_connection().await?,
            ))),
        }
    }

    /// A subscriber for `channel` (`SUBSCRIBE`). On a cluster, a `PUBLISH` is sent to the
    /// master of the channel's slot (and from there to every node), so the subscriber
    /// connects to that master: if it goes down, publishers and subscribers lose it
    /// together, and a memory cache fed by the channel knows it missed messages (it stops
    /// serving until subscribed again, as on a single server). Found through the first
    /// listed node that answers `CLUSTER SLOTS`.
    pub async fn pubsub(&self, channel: &str) -> RedisResult<redis::aio::PubSub> {
        let cluster = match self {
            Self::Server(client) => return client.get_async_pubsub().await,
            Self::Cluster(cluster) => cluster,
        };
        let wanted = slot(channel);
        let mut failure = None;
        for node in &cluster.nodes {
            let owner = tokio::time::timeout(cluster.timeouts.connect, async {
                let mut conn = node.get_multiplexed_async_connection().await?;
                let ranges: Vec<Vec<Value>> = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut conn)
                    .await?;
                Ok::<_, redis::RedisError>(master_of(&ranges, wanted))
            });
            match owner.await {
                Ok(Ok(Some((host, port)))) => {
                    let mut info = node.get_connection_info().clone();
                    info = info.set_addr(redis::ConnectionAddr::Tcp(host, port));
                    return redis::Client::open(info)?.get_async_pubsub().await;
                }
                Ok(Ok(None)) => {
                    failure = Some(redis::RedisError::from((
                        redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
                        "no master serves the channel's slot",
                    )))
                }
                Ok(Err(error)) => failure = Some(error),
                Err(_) => {
                    failure = Some(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "Redis Cluster node did not answer in time",
                    )))
                }
            }
        }
        Err(failure.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no Redis Cluster node listed"))
        }))
    }
}

/// One connection to a server or a cluster; commands, pipelines and scripts take `&mut` of
/// it as of any redis connection.
#[derive(Clone)]
pub enum Connection {
    /// A server, through a self-reconnecting manager.
    Server(ConnectionManager),
    /// A server, one multiplexed connection (blocking reads).
    Plain(MultiplexedConnection),
    /// A cluster.
    Cluster(ClusterLink),
}

/// A cluster connection, and whether it has stopped answering.
///
/// redis's cluster client can wedge after a failover: in `scripts/redis-cluster`'s failover
/// test, one in three runs had a pooled connection whose every request timed out for 15 to
/// 110 s after the cluster was whole again, while the process's other connections, and any
/// new one, worked. A request that times out therefore marks its connection (and its clones)
/// [`Connection::is_stuck`] for good: the pool drops it, and a later checkout opens a new
/// one. The mark is not cleared by a later success: a connection wedged for some slots only
/// still answers for the others. A genuinely slow Redis costs at most a new connection per
/// pooled one per response timeout.
#[derive(Clone)]
pub struct ClusterLink {
    conn: ClusterConnection,
    stuck: Arc<AtomicBool>,
}

impl ClusterLink {
    fn new(conn: ClusterConnection) -> Self {
        Self {
            conn,
            stuck: Arc::default(),
        }
    }
}

/// `answer`, after marking its connection `stuck` if it timed out.
fn watch<'a, T: Send + 'a>(
    stuck: &'a AtomicBool,
    answer: RedisFuture<'a, T>,
) -> RedisFuture<'a, T> {
    Box::pin(async move {
        let answer = answer.await;
        if answer.as_ref().is_err_and(RedisError::is_timeout) {
            stuck.store(true, Ordering::Relaxed);
        }
        answer
    })
}

impl Connection {
    /// Whether this is a cluster connection that stopped answering (a request timed out):
    /// a pool should drop it and open another. A server connection heals itself.
    pub fn is_stuck(&self) -> bool {
        match self {
            Self::Cluster(link) => link.stuck.load(Ordering::Relaxed),
            Self::Server(_) | Self::Plain(_) => false,
        }
    }

    /// Marks a cluster connection stuck for a caller that gave up waiting for its answer
    /// (its own deadline, shorter than the response timeout, ended the request).
    pub fn mark_stuck(&self) {
        if let Self::Cluster(link) = self {
            link.stuck.store(true, Ordering::Relaxed);
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Plain(conn) => conn.req_packed_command(cmd),
            Self::Cluster(ClusterLink { conn, stuck }) => {
                watch(stuck, conn.req_packed_command(cmd))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Plain(conn) => conn.req_packed_commands(cmd, offset, count),
            // redis's cluster client sends a pipeline to one node and refuses one whose keys
            // are in several slots. Nothing in a plain pipeline is atomic, so its commands
            // go as one sub-pipeline per slot, in their order (a sub-pipeline is retried
            // whole, so commands on one key never overtake each other). (A transaction
            // must be one slot's: the server refuses it otherwise.)
            Self::Cluster(ClusterLink { conn, stuck }) => {
                if cmd.is_transaction() {
                    return watch(stuck, conn.req_packed_commands(cmd, offset, count));
                }
                let commands: Vec<&Cmd> = cmd.cmd_iter().collect();
                let mut groups: Vec<(Option<u16>, Vec<usize>)> = Vec::new();
                for (index, command) in commands.iter().enumerate() {
                    let at = routing_key(command).map(slot_of_bytes);
                    match groups
                        .iter_mut()
                        .find(|(group, _)| at.is_some() && *group == at)
                    {
                        Some((_, members)) => members.push(index),
                        None => groups.push((at, vec![index])),
                    }
                }
                // One slot (or none): as it is, no copy.
                if groups.len() <= 1 {
                    return watch(stuck, conn.req_packed_commands(cmd, offset, count));
                }
                let (conn, stuck) = (conn.clone(), &**stuck);
                Box::pin(async move {
                    // Each part is watched: the first error ends the others, and the one
                    // that timed out must still mark the connection.
                    let sent = groups.iter().map(|(_, members)| {
                        let mut conn = conn.clone();
                        let mut part = redis::pipe();
                        for &index in members {
                            part.add_command(commands[index].clone());
                        }
                        async move {
                            watch(stuck, conn.req_packed_commands(&part, 0, members.len())).await
                        }
                    });
                    let parts = futures::future::try_join_all(sent).await?;
                    let mut answers = vec![Value::Nil; commands.len()];
                    for ((_, members), part) in groups.iter().zip(parts) {
                        for (&index, answer) in members.iter().zip(part) {
                            answers[index] = answer;
                        }
                    }
                    Ok(answers.into_iter().skip(offset).take(count).collect())
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Plain(conn) => conn.get_db(),
            Self::Cluster(link) => link.conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_secs(1),
        retries: 1,
    };

    #[test]
    fn one_url_is_a_server_and_a_list_is_a_cluster() {
        let server = Topology::parse_with_switch("redis://127.0.0.1:6379", TIMEOUTS, false);
        assert!(!server.unwrap().is_cluster());
        let listed = "redis://127.0.0.1:7000, redis://127.0.0.1:7001,";
        let cluster = Topology::parse_with_switch(listed, TIMEOUTS, false).unwrap();
        let Topology::Cluster(cluster) = cluster else {
            panic!("a list of nodes is a cluster")
        };
        assert_eq!(cluster.nodes.len(), 2);
        let switched = Topology::parse_with_switch("redis://127.0.0.1:7000", TIMEOUTS, true);
        assert!(switched.unwrap().is_cluster());
    }

    #[test]
    fn a_comma_in_a_password_is_not_a_list_of_nodes() {
        let url = "redis://:se,cret@127.0.0.1:6379";
        assert!(
            !Topology::parse_with_switch(url, TIMEOUTS, false)
                .unwrap()
                .is_cluster()
        );
    }

    /// Against `REDIS_URL` (a server in `scripts/test`, the cluster in `scripts/redis-cluster`).
    #[tokio::test]
    async fn a_cluster_connection_whose_request_timed_out_is_marked_stuck() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let timeouts = Timeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(200),
            retries: 0,
        };
        let topology = Topology::parse(&url, timeouts).unwrap();
        let mut conn = topology.shared(timeouts).await.unwrap();
        let echo = |conn: &mut Connection| {
            let mut conn = conn.clone();
            async move {
                redis::cmd("ECHO")
                    .arg("up")
                    .query_async::<String>(&mut conn)
                    .await
            }
        };
        assert_eq!(echo(&mut conn).await.unwrap(), "up");
        assert!(!conn.is_stuck(), "a connection that answers is not stuck");

        // Waits a second for an element that never comes: longer than the answer may take.
        let key = format!("redis-connect-test:{}:never", std::process::id());
        let waited: RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
            .arg(&key)
            .arg(1)
            .query_async(&mut conn)
            .await;
        assert!(
            waited.as_ref().is_err_and(RedisError::is_timeout),
            "{waited:?}"
        );
        // A server connection heals itself; a cluster one is to be replaced, clones included.
        assert_eq!(conn.is_stuck(), topology.is_cluster());
        assert_eq!(conn.clone().is_stuck(), topology.is_cluster());
        let mut fresh = topology.shared(timeouts).await.unwrap();
        assert_eq!(echo(&mut fresh).await.unwrap(), "up");
        assert!(!fresh.is_stuck());

        // A pipeline over several slots (sent as one part per slot on a cluster): the part
        // that times out marks the connection, though another part answered.
        let piped: RedisResult<Value> = redis::pipe()
            .get(format!("redis-connect-test:{}:other", std::process::id()))
            .cmd("BLPOP")
            .arg(&key)
            .arg(1)
            .query_async(&mut fresh)
            .await;
        assert!(
            piped.as_ref().is_err_and(RedisError::is_timeout),
            "{piped:?}"
        );
        assert_eq!(fresh.is_stuck(), topology.is_cluster());
    }

    #[test]
    fn a_bad_node_is_refused_by_name() {
        let error = Topology::parse_with_switch("redis://a:1,http://b", TIMEOUTS, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("scheme") || error.contains("URL"), "{error}");
    }
}
