//! Consumers: a Redis consumer group per consuming service, so that each event is handled by
//! one replica of that service. An event is acknowledged only after its handler succeeded;
//! a handler that fails, or a replica that dies holding events, leaves them pending, and
//! any replica claims pending events that have been idle for [`CLAIM_AFTER`] and handles
//! them again. Handlers must therefore be idempotent.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use service_kit::Redis;
use service_kit::redis::redis;
use service_kit::subgraph::{Shutdown, Worker, pause};

use crate::{Event, stream_key};

/// Pending events idle this long are taken over by another consumer.
pub const CLAIM_AFTER: Duration = Duration::from_secs(5);
/// How often a consumer looks for such events.
const CLAIM_EVERY: Duration = Duration::from_secs(2);
/// How long one read waits for new events (also the delay to notice a shutdown).
const BLOCK: Duration = Duration::from_millis(500);

/// Handles the events of `stream` in consumer group `group` until shutdown.
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
    let handler = Arc::new(handler);
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            let consumer = format!("{group}-{}", uuid::Uuid::new_v4().simple());
            let key = stream_key(&redis, stream);
            loop {
                if let Err(error) =
                    consume(&redis, &key, group, &consumer, &*handler, &mut shutdown).await
                {
                    tracing::warn!(%error, stream, group, "event consumer: reconnecting");
                }
                if !pause(&mut shutdown, Duration::from_millis(500)).await {
                    break;
                }
            }
        })
    })
}

async fn consume<H, F>(
    redis: &Redis,
    key: &str,
    group: &str,
    consumer: &str,
    handler: &H,
    shutdown: &mut Shutdown,
) -> anyhow::Result<()>
where
    H: Fn(Event) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let mut conn = redis.dedicated().await?;
    // From the start of the stream the first time: events published before this service
    // first ran are still handled.
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
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
    while !*shutdown.borrow() {
        if last_claim.is_none_or(|at| at.elapsed() >= CLAIM_EVERY) {
            last_claim = Some(Instant::now());
            let claimed: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(key)
                .arg(group)
                .arg(consumer)
                .arg(CLAIM_AFTER.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await?;
            for entry in &claimed.claimed {
                handle(&mut conn, key, group, entry, handler).await?;
            }
        }
        let read: Option<redis::streams::StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(100)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(key)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        for stream in read.map(|r| r.keys).unwrap_or_default() {
            for entry in &stream.ids {
                handle(&mut conn, key, group, entry, handler).await?;
            }
        }
    }
    Ok(())
}

async fn handle<H, F>(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    group: &str,
    entry: &redis::streams::StreamId,
    handler: &H,
) -> anyhow::Result<()>
where
    H: Fn(Event) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let event = entry
        .get::<String>("event")
        .and_then(|json| serde_json::from_str::<Event>(&json).ok());
    let done = match event {
        None => {
            // Retrying cannot make it readable.
            tracing::error!(id = %entry.id, "unreadable event dropped");
            true
        }
        Some(event) => {
            let (name, id) = (event.name.clone(), event.id);
            let delay = (chrono::Utc::now() - event.occurred_at)
                .num_milliseconds()
                .max(0);
            let stream = key.rsplit(':').next().unwrap_or(key).to_owned();
            metrics::histogram!("event_consumer_delay_seconds", "stream" => stream.clone(), "group" => group.to_owned())
                .record(delay as f64 / 1000.0);
            let handled = handler(event).await;
            let result = if handled.is_ok() { "ok" } else { "retry" };
            metrics::counter!("events_consumed_total", "stream" => stream, "group" => group.to_owned(), "result" => result)
                .increment(1);
            match handled {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(%error, event = %name, %id, "event handler failed; it will be retried");
                    false
                }
            }
        }
    };
    if done {
        let _: i64 = redis::cmd("XACK")
            .arg(key)
            .arg(group)
            .arg(&entry.id)
            .query_async(conn)
            .await?;
    }
    Ok(())
}
