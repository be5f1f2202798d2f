//! The transactional outbox: producers insert events in the transaction of their change;
//! [`relay_worker`] publishes the committed ones to Redis Streams and keeps each until every
//! consumer group handled it ([`crate::settle`]).
//!
//! Every producing subgraph has an `outbox` table in its own schema (its migration creates
//! it with the columns below); connections have `search_path` set to that schema, so this
//! one table definition serves them all.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use service_kit::redis::redis;
use service_kit::subgraph::{Shutdown, Worker, pause};
use service_kit::{DbPool, Redis};
use uuid::Uuid;

use crate::{Event, stream_key};

pub use crate::schema::outbox;

/// An event to insert into the outbox.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct NewEvent {
    pub id: Uuid,
    pub stream: String,
    pub name: String,
    pub version: i32,
    pub aggregate_id: String,
    /// JSON.
    pub payload: String,
    pub traceparent: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl NewEvent {
    /// Version 1 of event `name` about `aggregate_id` on `stream`, happening now.
    pub fn new(
        stream: &str,
        name: &str,
        aggregate_id: impl ToString,
        payload: &impl serde::Serialize,
        traceparent: Option<String>,
    ) -> Self {
        let payload = serde_json::to_string(payload).expect("event payloads serialize");
        Self::with_payload(stream, name, aggregate_id, payload, traceparent)
    }

    /// The same, with its payload already JSON (built by PostgreSQL, say).
    pub fn with_payload(
        stream: &str,
        name: &str,
        aggregate_id: impl ToString,
        payload: String,
        traceparent: Option<String>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            stream: stream.to_owned(),
            name: name.to_owned(),
            version: 1,
            aggregate_id: aggregate_id.to_string(),
            payload,
            traceparent,
            occurred_at: Utc::now(),
        }
    }

    /// Inserts it (inside the caller's transaction).
    pub async fn insert(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> diesel::QueryResult<()> {
        diesel::insert_into(outbox::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
struct OutboxRow {
    seq: i64,
    id: Uuid,
    stream: String,
    name: String,
    version: i32,
    aggregate_id: String,
    payload: String,
    traceparent: Option<String>,
    occurred_at: DateTime<Utc>,
}

/// Events published per transaction.
const BATCH: i64 = 500;
/// Settled rows (every consumer handled them) are deleted after this long.
const KEEP_SETTLED: Duration = Duration::from_secs(24 * 3600);
/// How often published events are checked for being handled (or lost), at the least.
const SETTLE_EVERY: Duration = Duration::from_secs(1);

/// Publishes this subgraph's outbox to the bus until shutdown; looks for new events every
/// `poll` while idle, without pause while there is a backlog. Published events are settled
/// ([`crate::settle`]) every second (or `poll`, if longer): acknowledged by every consumer
/// group, or published again when Redis lost them. Failures (PostgreSQL or Redis down) are
/// logged and retried; nothing is marked published that Redis did not take.
pub fn relay_worker(db: DbPool, redis: Redis, poll: Duration) -> Worker {
    Box::new(move |mut shutdown: Shutdown| {
        Box::pin(async move {
            let mut rounds: u64 = 0;
            // Settled on a steady cadence, whoever published: after a Redis loss, events
            // another replica published may be missing, and this replica may be the one
            // left to publish them again.
            let settle_every = SETTLE_EVERY.max(poll);
            let mut last_settle: Option<std::time::Instant> = None;
            let mut cursor = crate::settle::Cursor::default();
            loop {
                rounds += 1;
                if rounds % 20_000 == 1
                    && let Err(error) = delete_old(&db).await
                {
                    tracing::warn!(%error, "outbox clean-up failed");
                }
                let mut wait = match publish_batch(&db, &redis).await {
                    Ok(published) if published as i64 == BATCH => Duration::ZERO,
                    Ok(_) => poll,
                    Err(error) => {
                        tracing::warn!(%error, "outbox relay: will retry");
                        poll.max(Duration::from_millis(500))
                    }
                };
                if last_settle.is_none_or(|at| at.elapsed() >= settle_every) {
                    last_settle = Some(std::time::Instant::now());
                    match crate::settle::settle(&db, &redis, &mut cursor).await {
                        Ok(settled) if settled.republished > 0 => wait = Duration::ZERO,
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "outbox settle: will retry"),
                    }
                }
                wait = wait.min(settle_every);
                if !pause(&mut shutdown, wait).await {
                    break;
                }
            }
        })
    })
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    flag: bool,
}

/// Publishes up to [`BATCH`] unpublished events in commit order; the number published.
/// Replicas take turns (a transaction-scoped advisory lock per schema): one relay at a time
/// keeps the stream in outbox order.
pub async fn publish_batch(db: &DbPool, redis: &Redis) -> anyhow::Result<usize> {
    let mut conn = db.get().await?;
    // Idle check in one cheap statement, without a transaction.
    let pending: bool = diesel::select(diesel::dsl::exists(
        outbox::table.filter(outbox::published_at.is_null()),
    ))
    .get_result(&mut conn)
    .await?;
    if !pending {
        return Ok(0);
    }
    conn.transaction(async |conn| {
        let locked: Flag = diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock(hashtext('outbox-relay:' || current_schema())) AS flag",
        )
        .get_result(conn)
        .await?;
        if !locked.flag {
            return Ok(0);
        }
        let rows: Vec<OutboxRow> = outbox::table
            .filter(outbox::published_at.is_null())
            .order(outbox::seq)
            .limit(BATCH)
            .select(OutboxRow::as_select())
            .load(conn)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for row in &rows {
            let event = Event {
                id: row.id,
                name: row.name.clone(),
                version: row.version,
                aggregate_id: row.aggregate_id.clone(),
                occurred_at: row.occurred_at,
                traceparent: row.traceparent.clone(),
                payload: serde_json::from_str(&row.payload)?,
            };
            // Not trimmed by length: the settle step trims what every group handled.
            pipe.cmd("XADD")
                .arg(stream_key(redis, &row.stream))
                .arg("*")
                .arg("event")
                .arg(serde_json::to_string(&event)?);
        }
        let mut redis_conn = redis
            .pool()
            .get()
            .await
            .map_err(|e| anyhow::anyhow!("redis: {e}"))?;
        let entry_ids: Vec<String> = pipe.query_async(&mut *redis_conn).await?;
        let now = Utc::now();
        for row in &rows {
            metrics::counter!("events_published_total", "stream" => row.stream.clone(), "name" => row.name.clone())
                .increment(1);
            metrics::histogram!("outbox_publish_delay_seconds", "stream" => row.stream.clone())
                .record((now - row.occurred_at).num_milliseconds().max(0) as f64 / 1000.0);
        }
        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        diesel::sql_query(
            "UPDATE outbox SET published_at = now(), entry_id = published.entry_id \
             FROM unnest($1::bigint[], $2::text[]) AS published (seq, entry_id) \
             WHERE outbox.seq = published.seq",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(&seqs)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&entry_ids)
        .execute(conn)
        .await?;
        tracing::debug!(count = rows.len(), "outbox events published");
        Ok::<_, anyhow::Error>(rows.len())
    })
    .await
}

async fn delete_old(db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(KEEP_SETTLED)?;
    diesel::delete(outbox::table.filter(outbox::acked_at.lt(cutoff)))
        .execute(&mut conn)
        .await?;
    Ok(())
}
