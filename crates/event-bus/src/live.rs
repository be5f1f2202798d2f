//! Live feeds: every replica of a subgraph follows its stream of the bus and fans the events
//! out to the subscriptions it serves (GraphQL `orderUpdated`, `paymentUpdated`).
//!
//! Unlike a consumer group, where each event goes to one replica, every replica reads every
//! event (`XREAD`): a subscriber connected to replica B sees the change replica A committed.
//! A feed reads only while someone listens. It starts at the streams' newest entries when its
//! first subscription opens (so nothing published after that is missed, even before the
//! first read), parses each event once, and broadcasts it in process. After a Redis failure
//! it reconnects and goes on from the last entry it saw, so nothing is lost in between.
//!
//! Besides its own stream, a feed follows [`ACCESS_STREAM`]: notices that sessions ended
//! or a user's access changed, so that subscriptions of a signed-out or banned user end
//! at once (see the `auth` crate) rather than at their next event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use tokio::sync::{Mutex, broadcast};

use crate::{Event, stream_key};

/// Stream of access notices (sessions ended, a user's access changed).
pub const ACCESS_STREAM: &str = "access";
/// Events a subscriber may fall behind by before it is ended (it must resubscribe).
const CAPACITY: usize = 4096;
/// How long one read waits; a feed without subscribers stops within this time.
const BLOCK: Duration = Duration::from_millis(1000);
/// Access notices kept (XADD MAXLEN ~): they matter only for a few seconds.
const ACCESS_MAX_LEN: u64 = 10_000;

/// What a feed broadcasts.
pub enum Live<T> {
    /// An event of the feed's own stream, parsed.
    Change(Arc<T>),
    /// An event of [`ACCESS_STREAM`].
    Access(Arc<Event>),
}

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Change(change) => Self::Change(change.clone()),
            Self::Access(event) => Self::Access(event.clone()),
        }
    }
}

/// The live events of one stream in this process. One per subgraph process.
pub struct LiveFeed<T> {
    redis: Redis,
    stream: &'static str,
    parse: fn(&Event) -> Option<T>,
    /// The running reader's sender; `None` while nobody listens.
    running: Mutex<Option<broadcast::Sender<Live<T>>>>,
    open: Arc<AtomicUsize>,
}

/// One subscriber's place in a feed; counted as open until dropped.
pub struct Subscription<T> {
    pub events: broadcast::Receiver<Live<T>>,
    _open: OpenGuard,
}

struct OpenGuard(Arc<AtomicUsize>, &'static str);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let open = self.0.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("live_subscriptions_open", "stream" => self.1).set(open as f64);
    }
}

impl<T: Send + Sync + 'static> LiveFeed<T> {
    /// A feed of `stream` (`orders`); `parse` turns the events subscribers care about into
    /// `T` (other events are skipped).
    pub fn new(redis: Redis, stream: &'static str, parse: fn(&Event) -> Option<T>) -> Arc<Self> {
        Arc::new(Self {
            redis,
            stream,
            parse,
            running: Mutex::new(None),
            open: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Subscriptions open on this feed now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Starts listening: every event published from now on is delivered to the returned
    /// subscription. `UNAVAILABLE` when the feed has to start and Redis does not answer.
    pub async fn subscribe(self: &Arc<Self>) -> Result<Subscription<T>, ApiError> {
        let mut running = self.running.lock().await;
        let events = match &*running {
            Some(sender) => sender.subscribe(),
            None => {
                let keys = [
                    stream_key(&self.redis, self.stream),
                    stream_key(&self.redis, ACCESS_STREAM),
                ];
                let from = newest_entries(&self.redis, &keys).await.map_err(|error| {
                    tracing::error!(%error, stream = self.stream, "live feed cannot start");
                    ApiError::Unavailable("the event bus")
                })?;
                let (sender, receiver) = broadcast::channel(CAPACITY);
                let [own_key, access_key] = keys;
                let [own_from, access_from] = from;
                tokio::spawn(read(self.clone(), sender.clone(), own_key, true, own_from));
                tokio::spawn(read(
                    self.clone(),
                    sender.clone(),
                    access_key,
                    false,
                    access_from,
                ));
                *running = Some(sender);
                receiver
            }
        };
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("live_subscriptions_open", "stream" => self.stream).set(open as f64);
        Ok(Subscription {
            events,
            _open: OpenGuard(self.open.clone(), self.stream),
        })
    }
}

/// `GET /internal/live`: `{"stream": "orders", "open": 3}`, the subscriptions open on this
/// process's feed (operators, and tests that wait for a subscription to be in place). Wrap
/// it in `service_kit::internal::protect`.
pub fn status_route<T: Send + Sync + 'static>(feed: Arc<LiveFeed<T>>) -> axum::Router {
    axum::Router::new().route(
        "/internal/live",
        axum::routing::get(move || async move {
            axum::Json(serde_json::json!({ "stream": feed.stream, "open": feed.open() }))
        }),
    )
}

/// The id of each stream's newest entry (`0-0` for an empty one).
async fn newest_entries(redis: &Redis, keys: &[String; 2]) -> anyhow::Result<[String; 2]> {
    let mut conn = redis
        .pool()
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ids = [String::from("0-0"), String::from("0-0")];
    for (key, id) in keys.iter().zip(ids.iter_mut()) {
        let newest: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut *conn)
            .await?;
        if let Some(entry) = newest.ids.first() {
            id.clone_from(&entry.id);
        }
    }
    Ok(ids)
}

/// One reader of a feed: follows one of its two streams (the feed's own, or
/// [`ACCESS_STREAM`]) while the feed has subscribers. Each stream has its own reader (and
/// `XREAD`): the two live in different Redis Cluster slots, which one command may not mix.
async fn read<T: Send + Sync + 'static>(
    feed: Arc<LiveFeed<T>>,
    sender: broadcast::Sender<Live<T>>,
    key: String,
    own: bool,
    mut from: String,
) {
    tracing::info!(stream = feed.stream, own, "live feed started");
    let mut conn = None;
    loop {
        {
            // Under the lock `subscribe` takes: no subscriber can join a reader that is
            // about to stop.
            let mut running = feed.running.lock().await;
            if sender.receiver_count() == 0 {
                // The other reader may have stopped first and a new feed started since:
                // only this feed's own sender is taken away.
                if running.as_ref().is_some_and(|s| s.same_channel(&sender)) {
                    *running = None;
                }
                tracing::info!(
                    stream = feed.stream,
                    own,
                    "live feed stopped: nobody listens"
                );
                return;
            }
        }
        if conn.is_none() {
            match feed.redis.dedicated().await {
                Ok(connected) => conn = Some(connected),
                Err(error) => {
                    tracing::warn!(%error, stream = feed.stream, "live feed: reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let Some(connection) = conn.as_mut() else {
            continue;
        };
        let reply: redis::RedisResult<Option<redis::streams::StreamReadReply>> =
            read_after(&key, &from, BLOCK).query_async(connection).await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(%error, stream = feed.stream, "live feed: reconnecting");
                conn = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in &stream.ids {
                from.clone_from(&entry.id);
                let Some(event) = entry
                    .get::<String>("event")
                    .and_then(|json| serde_json::from_str::<Event>(&json).ok())
                else {
                    tracing::error!(id = %entry.id, stream = %stream.key, "unreadable event skipped");
                    continue;
                };
                let live = if own {
                    match (feed.parse)(&event) {
                        Some(change) => Live::Change(Arc::new(change)),
                        None => continue,
                    }
                } else {
                    Live::Access(Arc::new(event))
                };
                // No receiver left: the check at the top of the loop stops the reader.
                let _ = sender.send(live);
            }
        }
    }
}

/// `XREAD` of up to 500 entries of one stream after entry `from`, waiting up to `block` for
/// the first (one stream per command: streams live in different Redis Cluster slots).
pub fn read_after(key: &str, from: &str, block: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(500)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(key)
        .arg(from);
    cmd
}

/// Publishes `event` on [`ACCESS_STREAM`] at once, outside any outbox: its source of truth
/// is Redis itself (a session taken off the allow-list), with no database transaction to
/// join.
pub async fn publish_access_notice(redis: &Redis, event: &Event) -> anyhow::Result<()> {
    let mut conn = redis
        .pool()
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _: String = redis::cmd("XADD")
        .arg(stream_key(redis, ACCESS_STREAM))
        .arg("MAXLEN")
        .arg("~")
        .arg(ACCESS_MAX_LEN)
        .arg("*")
        .arg("event")
        .arg(serde_json::to_string(event)?)
        .query_async(&mut *conn)
        .await?;
    Ok(())
}
