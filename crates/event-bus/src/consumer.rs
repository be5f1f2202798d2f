//! Consumers: a Redis consumer group per consuming service, so that each event is handled by
//! one replica of that service. An event is acknowledged only after its handler succeeded;
//! a handler that fails, or a replica that dies holding events, leaves them pending, and
//! any replica claims pending events that have been idle for [`Retries::claim_after`] and
//! handles them again. Handlers must therefore be idempotent.
//!
//! Retries walk the pending list from where the last walk stopped (so a few entries that
//! always fail never starve the others), and an entry delivered
//! [`Retries::max_deliveries`] times is dead-lettered: recorded under the stream's
//! dead-letter key with the event, logged and counted (`events_dead_lettered_total`), and
//! acknowledged. The producer does not count a dead-lettered event as handled
//! ([`crate::settle`]): it stays in its outbox and is published again a minute later (most
//! such failures are outages that a later try survives).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use service_kit::Redis;
use service_kit::redis::redis;
use service_kit::subgraph::{Shutdown, Worker, pause};

use crate::settle::consumers_of;
use crate::{Event, stream_key};

mod handlers;
use handlers::{Batches, EachEvent, Handler, Labels, Read};

/// How a consumer retries events whose handling failed.
#[derive(Clone, Copy, Debug)]
pub struct Retries {
    /// Pending events idle this long are taken over (by this or another replica).
    pub claim_after: Duration,
    /// How often a consumer looks for such events.
    pub claim_every: Duration,
    /// Deliveries after which an event is dead-lettered instead of delivered again.
    pub max_deliveries: u64,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            claim_after: Duration::from_secs(5),
            claim_every: Duration::from_secs(2),
            max_deliveries: 10,
        }
    }
}

/// How long one read waits for new events (also the delay to notice a shutdown).
const BLOCK: Duration = Duration::from_millis(500);
/// Entries one read takes (at most what a [`batch_consumer_worker`]'s handler gets at once).
pub const READ_COUNT: usize = 100;
/// Pending entries looked at per claim round.
const CLAIM_COUNT: usize = 100;

/// The key of the dead letters of `stream`: a hash, field `<group>/<entry id>`, value the
/// event's JSON with why it was given up. It shares the stream key's hash tag (the settle
/// script reads both at once, also on Redis Cluster).
pub fn dead_letter_key(redis: &Redis, stream: &str) -> String {
    format!("{}:dead-letters", stream_key(redis, stream))
}

/// Handles the events of `stream` in consumer group `group` until shutdown, one at a time
/// in stream order (per replica).
pub fn consumer_worker<H, F>(
    redis: Redis,
    stream: &'static str,
    group: &'static str,
    handler: H,
) -> Worker
where
    H: Fn(Event) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    consumer_worker_with(redis, (stream, group), Retries::default(), handler)
}

/// A consumer with its own retry settings (tests shorten them).
///
/// Panics when `group` is not listed as a consumer of `stream` in
/// [`crate::settle::CONSUMERS`]: the producer would never wait for it.
pub fn consumer_worker_with<H, F>(
    redis: Redis,
    (stream, group): (&'static str, &'static str),
    retries: Retries,
    handler: H,
) -> Worker
where
    H: Fn(Event) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    worker(redis, (stream, group), retries, EachEvent { handler })
}

/// Like [`consumer_worker`], but `handler` gets the events of each read at once (up to
/// [`READ_COUNT`], in stream order), and they are acknowledged together once it succeeded:
/// for consumers that save by doing their work once per read (one transaction, one call to
/// a peer). A batch that fails is handled again one event at a time, so one event that
/// always fails holds back (and is dead-lettered) alone.
pub fn batch_consumer_worker<H, F>(
    redis: Redis,
    stream: &'static str,
    group: &'static str,
    handler: H,
) -> Worker
where
    H: Fn(Vec<Event>) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    batch_consumer_worker_with(redis, (stream, group), Retries::default(), handler)
}

/// A [`batch_consumer_worker`] with its own retry settings (tests shorten them).
pub fn batch_consumer_worker_with<H, F>(
    redis: Redis,
    (stream, group): (&'static str, &'static str),
    retries: Retries,
    handler: H,
) -> Worker
where
    H: Fn(Vec<Event>) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    worker(redis, (stream, group), retries, Batches { handler })
}

fn worker(
    redis: Redis,
    (stream, group): (&'static str, &'static str),
    retries: Retries,
    handler: impl Handler,
) -> Worker {
    assert!(
        consumers_of(stream).contains(&group),
        "consumer group {group} of stream {stream} is not listed in event_bus::settle::CONSUMERS"
    );
    let handler = Arc::new(handler);
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            let consumer = Consumer {
                key: stream_key(&redis, stream),
                dead_letters: dead_letter_key(&redis, stream),
                labels: Labels { stream, group },
                name: format!("{group}-{}", uuid::Uuid::new_v4().simple()),
                retries,
            };
            loop {
                if let Err(error) = consumer.consume(&redis, &*handler, &mut shutdown).await {
                    tracing::warn!(%error, stream, group, "event consumer: reconnecting");
                }
                if !pause(&mut shutdown, Duration::from_millis(500)).await {
                    break;
                }
            }
        })
    })
}

struct Consumer {
    key: String,
    dead_letters: String,
    labels: Labels,
    /// This replica's name in the group.
    name: String,
    retries: Retries,
}

impl Consumer {
    async fn consume(
        &self,
        redis: &Redis,
        handler: &impl Handler,
        shutdown: &mut Shutdown,
    ) -> anyhow::Result<()> {
        let mut conn = redis.dedicated().await?;
        // From the start of the stream the first time: events published before this
        // service first ran are still handled.
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.key)
            .arg(self.labels.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(error) = created
            && error.code() != Some("BUSYGROUP")
        {
            return Err(error.into());
        }
        let mut last_claim: Option<Instant> = None;
        // Where the next walk of the pending list starts ("-": the beginning).
        let mut cursor = String::from("-");
        while !*shutdown.borrow() {
            if last_claim.is_none_or(|at| at.elapsed() >= self.retries.claim_every) {
                last_claim = Some(Instant::now());
                cursor = self.retry_pending(&mut conn, &cursor, handler).await?;
            }
            let read: Option<redis::streams::StreamReadReply> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(self.labels.group)
                .arg(&self.name)
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(">")
                .query_async(&mut conn)
                .await?;
            for stream in read.map(|r| r.keys).unwrap_or_default() {
                self.handle_all(&mut conn, stream.ids, handler).await?;
            }
        }
        Ok(())
    }

    /// Claims and handles again up to [`CLAIM_COUNT`] pending entries idle long enough,
    /// from `cursor` on; dead-letters those delivered too often. The next cursor.
    async fn retry_pending(
        &self,
        conn: &mut service_kit::redis::Connection,
        cursor: &str,
        handler: &impl Handler,
    ) -> anyhow::Result<String> {
        let idle = self.retries.claim_after.as_millis() as u64;
        let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(self.labels.group)
            .arg("IDLE")
            .arg(idle)
            .arg(cursor)
            .arg("+")
            .arg(CLAIM_COUNT)
            .query_async(conn)
            .await?;
        let Some(last) = pending.ids.last() else {
            return Ok("-".into());
        };
        let next = if pending.ids.len() < CLAIM_COUNT {
            "-".to_owned()
        } else {
            format!("({}", last.id)
        };
        let (exhausted, retry): (Vec<_>, Vec<_>) = pending
            .ids
            .iter()
            .partition(|entry| entry.times_delivered as u64 >= self.retries.max_deliveries);
        for entry in exhausted {
            self.dead_letter(conn, &entry.id, entry.times_delivered as u64)
                .await?;
        }
        if !retry.is_empty() {
            let mut claim = redis::cmd("XCLAIM");
            claim
                .arg(&self.key)
                .arg(self.labels.group)
                .arg(&self.name)
                .arg(idle);
            for entry in &retry {
                claim.arg(&entry.id);
            }
            let claimed: redis::streams::StreamClaimReply = claim.query_async(conn).await?;
            self.handle_all(conn, claimed.ids, handler).await?;
        }
        Ok(next)
    }

    /// Gives up on entry `id`: recorded with the event under the dead-letter key first,
    /// then acknowledged (so that the producer, which reads acknowledgements first and
    /// dead letters second, never takes it for handled).
    async fn dead_letter(
        &self,
        conn: &mut service_kit::redis::Connection,
        id: &str,
        deliveries: u64,
    ) -> anyhow::Result<()> {
        let found: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(id)
            .arg(id)
            .query_async(conn)
            .await?;
        let event = found
            .ids
            .first()
            .and_then(|entry| entry.get::<String>("event"));
        let record = serde_json::json!({
            "group": self.labels.group,
            "entry": id,
            "deliveries": deliveries,
            "at": chrono::Utc::now(),
            "event": event,
        });
        let _: () = redis::pipe()
            .atomic()
            .hset(
                &self.dead_letters,
                format!("{}/{id}", self.labels.group),
                record.to_string(),
            )
            .ignore()
            .cmd("XACK")
            .arg(&self.key)
            .arg(self.labels.group)
            .arg(id)
            .ignore()
            .query_async(conn)
            .await?;
        tracing::error!(
            stream = self.labels.stream,
            group = self.labels.group,
            entry = id,
            deliveries,
            "event dead-lettered after failing every delivery; replay it once the cause is fixed"
        );
        metrics::counter!("events_dead_lettered_total", "stream" => self.labels.stream, "group" => self.labels.group)
            .increment(1);
        Ok(())
    }

    /// Handles `entries` and acknowledges those done, with one `XACK` (and those of a
    /// failed batch one by one as they are handled again alone).
    async fn handle_all(
        &self,
        conn: &mut service_kit::redis::Connection,
        entries: Vec<redis::streams::StreamId>,
        handler: &impl Handler,
    ) -> anyhow::Result<()> {
        let reads = entries
            .into_iter()
            .map(|entry| Read {
                json: entry.get::<String>("event"),
                id: entry.id,
            })
            .collect();
        let handled = handler.handle(self.labels, reads).await;
        self.acknowledge(conn, &handled.done).await?;
        for read in handled.alone {
            let handled = handler.handle(self.labels, vec![read]).await;
            self.acknowledge(conn, &handled.done).await?;
        }
        Ok(())
    }

    async fn acknowledge(
        &self,
        conn: &mut service_kit::redis::Connection,
        done: &[String],
    ) -> anyhow::Result<()> {
        if !done.is_empty() {
            let _: i64 = redis::cmd("XACK")
                .arg(&self.key)
                .arg(self.labels.group)
                .arg(done)
                .query_async(conn)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
