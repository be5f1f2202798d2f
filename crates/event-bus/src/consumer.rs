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
    unordered_consumer_worker(redis, stream, group, 1, handler)
}

/// Like [`consumer_worker`], but up to `concurrency` events at once and in no particular
/// order (in stream order when it is 1): for streams whose events are independent of each
/// other (flash-sale admissions).
pub fn unordered_consumer_worker<H, F>(
    redis: Redis,
    stream: &'static str,
    group: &'static str,
    concurrency: usize,
    handler: H,
) -> Worker
where
    H: Fn(Event) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let handler = Arc::new(handler);
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            let consumer = format!("{group}-{}", uuid::Uuid::new_v4().simple());
            let key = stream_key(&redis, stream);
            loop {
                if let Err(error) = consume(
                    &redis,
                    &key,
                    (group, &consumer, concurrency),
                    &*handler,
                    &mut shutdown,
                )
                .await
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
    (group, consumer, concurrency): (&str, &str, usize),
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
            handle_all(&conn, key, group, &claimed.claimed, concurrency, handler).await?;
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
            handle_all(&conn, key, group, &stream.ids, concurrency, handler).await?;
        }
    }
    Ok(())
}

/// Handles `entries`, `concurrency` at a time (in order when 1).
async fn handle_all<H, F>(
    conn: &redis::aio::MultiplexedConnection,
    key: &str,
    group: &str,
    entries: &[redis::streams::StreamId],
    concurrency: usize,
    handler: &H,
) -> anyhow::Result<()>
where
    H: Fn(Event) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    for chunk in entries.chunks(concurrency) {
        let mut conns = vec![conn.clone(); chunk.len()];
        let handled = futures::future::join_all(
            chunk
                .iter()
                .zip(conns.iter_mut())
                .map(|(entry, conn)| handle(conn, key, group, entry, handler)),
        )
        .await;
        handled.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
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
            // The handling continues the trace of the request that caused the event.
            let span = tracing::info_span!(
                "event",
                otel.name = %format!("{group} handles {name}"),
                event = %name,
                stream = %stream,
                group = %group,
            );
            service_kit::telemetry::continue_trace(&span, event.traceparent.as_deref());
            let handled = tracing::Instrument::instrument(handler(event), span).await;
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
