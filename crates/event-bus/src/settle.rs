//! Settling published events: an event is done when every consumer group of its stream has
//! handled it, not when Redis took it. Redis may lose a stream (a restart without
//! persistence, a failover) or roll it back (an older snapshot) before a consumer read it,
//! so the producer keeps each outbox row until then and looks, in one atomic read
//! (`settle/groups.lua`), at what the groups acknowledged and which entries the stream
//! still has:
//! - a row whose entry every group ([`consumers_of`]) has delivered and acknowledged, and
//!   that no group dead-lettered ([`crate::consumer`]), is `acked_at` (deleted a day later);
//! - a row whose entry the stream no longer has (lost, or rolled back past it) is published
//!   again: consumers are idempotent, so a second delivery changes nothing;
//! - the stream is trimmed up to its oldest entry still needed (`XTRIM MINID`), never by
//!   length, so no unread entry of a slow group is trimmed away.
//!
//! A consumer acknowledges an entry only after its handler committed its effect in its own
//! PostgreSQL schema, so an acknowledgement seen once stays true whatever Redis forgets
//! afterwards.

use std::sync::LazyLock;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use service_kit::redis::redis;
use service_kit::{DbPool, Redis};

use crate::outbox::outbox;
use crate::{Event, consumer, stream_key};

/// The consumer groups of each stream: an event is settled when all of them handled it.
/// Every `consumer_worker` of a stream must be listed here (the consumer refuses to start
/// otherwise), and `docs/events.md` lists the same.
pub const CONSUMERS: &[(&str, &[&str])] = &[
    ("orders", &["cart", "catalog", "payment"]),
    ("payments", &["order"]),
    ("flash-sales", &["order"]),
];

/// The consumer groups of `stream` (none for a stream nobody consumes).
pub fn consumers_of(stream: &str) -> &'static [&'static str] {
    CONSUMERS
        .iter()
        .find(|(name, _)| *name == stream)
        .map_or(&[], |(_, groups)| groups)
}

/// Rows looked at per stream and round.
const BATCH: i64 = 1000;
/// Settled entries stay in the stream at least this long.
const KEEP_IN_STREAM: std::time::Duration = std::time::Duration::from_secs(60);

/// `settle/groups.lua`'s answer: per group (last delivered id, first pending id or ''),
/// per entry its `event` field.
type GroupsReply = (Vec<Option<(String, String)>>, Vec<Option<String>>);

static GROUPS: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("settle/groups.lua")));

/// A stream entry id (`<ms>-<seq>`), ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(u64, u64);

impl EntryId {
    pub fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// What one group has handled: entries up to `last_delivered` were delivered, and the
/// pending ones (not acknowledged) start at `first_pending`.
#[derive(Clone, Copy, Debug)]
struct GroupState {
    last_delivered: EntryId,
    first_pending: Option<EntryId>,
}

impl GroupState {
    fn acknowledged(&self, entry: EntryId) -> bool {
        entry <= self.last_delivered && self.first_pending.is_none_or(|first| entry < first)
    }
}

/// What became of the rows of one settle round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Acknowledged by every group.
    pub acknowledged: usize,
    /// Missing from the stream: to be published again.
    pub republished: usize,
    /// Still waiting for a group.
    pub waiting: usize,
}

#[derive(Queryable)]
struct Unsettled {
    seq: i64,
    id: uuid::Uuid,
    entry_id: Option<String>,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    flag: bool,
}

/// One settle round over this subgraph's published, unacknowledged events (replicas take
/// turns with the relay's advisory lock).
pub async fn settle(db: &DbPool, redis: &Redis) -> anyhow::Result<Settled> {
    let mut conn = db.get().await?;
    conn.transaction(async |conn| {
        let locked: Flag = diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock(hashtext('outbox-relay:' || current_schema())) AS flag",
        )
        .get_result(conn)
        .await?;
        if !locked.flag {
            return Ok(Settled::default());
        }
        let streams: Vec<String> = outbox::table
            .filter(outbox::published_at.is_not_null())
            .filter(outbox::acked_at.is_null())
            .select(outbox::stream)
            .distinct()
            .load(conn)
            .await?;
        let mut total = Settled::default();
        for stream in streams {
            let settled = settle_stream(conn, redis, &stream).await?;
            total.acknowledged += settled.acknowledged;
            total.republished += settled.republished;
            total.waiting += settled.waiting;
        }
        Ok::<_, anyhow::Error>(total)
    })
    .await
}

async fn settle_stream(
    conn: &mut AsyncPgConnection,
    redis: &Redis,
    stream: &str,
) -> anyhow::Result<Settled> {
    let rows: Vec<Unsettled> = outbox::table
        .filter(outbox::stream.eq(stream))
        .filter(outbox::published_at.is_not_null())
        .filter(outbox::acked_at.is_null())
        .order(outbox::seq)
        .limit(BATCH)
        .select((outbox::seq, outbox::id, outbox::entry_id))
        .load(conn)
        .await?;
    let groups = consumers_of(stream);
    let key = stream_key(redis, stream);
    let entries: Vec<Option<EntryId>> = rows
        .iter()
        .map(|row| row.entry_id.as_deref().and_then(EntryId::parse))
        .collect();
    let mut script = GROUPS.key(&key);
    script.arg(groups.len());
    for group in groups {
        script.arg(*group);
    }
    for entry in entries.iter().flatten() {
        script.arg(entry.to_string());
    }
    let mut redis_conn = redis
        .connection()
        .await
        .map_err(|e| anyhow::anyhow!("redis: {e}"))?;
    let (states, found): GroupsReply = script.invoke_async(&mut redis_conn).await?;
    let states: Vec<Option<GroupState>> = states
        .into_iter()
        .map(|state| {
            let (last, first) = state?;
            Some(GroupState {
                last_delivered: EntryId::parse(&last)?,
                first_pending: EntryId::parse(&first),
            })
        })
        .collect();
    let mut found = found.into_iter();
    // Acknowledged by every group as far as the groups say; dead letters are checked next.
    let mut acknowledged: Vec<(i64, EntryId)> = Vec::new();
    let mut missing: Vec<i64> = Vec::new();
    let mut waiting: Vec<EntryId> = Vec::new();
    for (row, entry) in rows.iter().zip(&entries) {
        let Some(entry) = *entry else {
            // Published without an entry id (cannot happen after the migration): again.
            missing.push(row.seq);
            continue;
        };
        let event = found.next().flatten();
        let same = event
            .and_then(|json| serde_json::from_str::<Event>(&json).ok())
            .is_some_and(|event| event.id == row.id);
        if !same {
            missing.push(row.seq);
        } else if states
            .iter()
            .all(|state| state.is_some_and(|state| state.acknowledged(entry)))
        {
            acknowledged.push((row.seq, entry));
        } else {
            waiting.push(entry);
        }
    }
    // An entry a group gave up on (dead-lettered) was acknowledged without being handled:
    // it stays unsettled until someone replays it.
    let dead = consumer::dead_lettered(
        redis,
        stream,
        groups,
        &acknowledged.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
    )
    .await?;
    let (dead, acknowledged): (Vec<_>, Vec<_>) = acknowledged
        .into_iter()
        .partition(|(_, entry)| dead.contains(entry));
    waiting.extend(dead.iter().map(|(_, entry)| *entry));

    if !acknowledged.is_empty() {
        let seqs: Vec<i64> = acknowledged.iter().map(|(seq, _)| *seq).collect();
        diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
            .set(outbox::acked_at.eq(Utc::now()))
            .execute(conn)
            .await?;
    }
    if !missing.is_empty() {
        tracing::warn!(
            stream,
            count = missing.len(),
            "published events missing from the stream (Redis lost or rolled it back): publishing them again"
        );
        metrics::counter!("events_republished_total", "stream" => stream.to_owned())
            .increment(missing.len() as u64);
        diesel::update(outbox::table.filter(outbox::seq.eq_any(&missing)))
            .set((
                outbox::published_at.eq(None::<chrono::DateTime<Utc>>),
                outbox::entry_id.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
    }
    // Everything older than the oldest entry still needed can go, and than the last minute
    // (live feeds catching up, and anyone looking); only when this round saw every
    // unsettled row of the stream.
    if (rows.len() as i64) < BATCH {
        let a_minute_ago = EntryId(
            (Utc::now() - chrono::Duration::from_std(KEEP_IN_STREAM)?).timestamp_millis() as u64,
            0,
        );
        let keep_from = waiting
            .iter()
            .min()
            .copied()
            .or_else(|| acknowledged.iter().map(|(_, e)| *e).max())
            .map(|needed| needed.min(a_minute_ago));
        if let Some(keep_from) = keep_from {
            let _: i64 = redis::cmd("XTRIM")
                .arg(&key)
                .arg("MINID")
                .arg("~")
                .arg(keep_from.to_string())
                .query_async(&mut redis_conn)
                .await?;
        }
    }
    metrics::gauge!("events_unsettled", "stream" => stream.to_owned()).set(waiting.len() as f64);
    Ok(Settled {
        acknowledged: acknowledged.len(),
        republished: missing.len(),
        waiting: waiting.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_as_redis_orders_them() {
        let id = |s| EntryId::parse(s).unwrap();
        assert!(id("1700000000000-0") < id("1700000000000-1"));
        assert!(id("999-5") < id("1000-0"));
        assert_eq!(id("12-3").to_string(), "12-3");
        assert_eq!(EntryId::parse("12"), None);
        assert_eq!(EntryId::parse(""), None);
    }

    #[test]
    fn an_entry_is_acknowledged_once_delivered_and_no_longer_pending() {
        let id = |s| EntryId::parse(s).unwrap();
        let group = GroupState {
            last_delivered: id("10-0"),
            first_pending: Some(id("8-0")),
        };
        assert!(group.acknowledged(id("7-9")));
        assert!(!group.acknowledged(id("8-0")), "pending");
        assert!(
            !group.acknowledged(id("9-0")),
            "after a pending one: not known"
        );
        assert!(!group.acknowledged(id("11-0")), "not delivered yet");
        let caught_up = GroupState {
            last_delivered: id("10-0"),
            first_pending: None,
        };
        assert!(caught_up.acknowledged(id("10-0")));
        assert!(!caught_up.acknowledged(id("10-1")));
    }

    #[test]
    fn every_stream_names_its_consumers() {
        assert_eq!(consumers_of("orders"), ["cart", "catalog", "payment"]);
        assert!(consumers_of("nobody-reads-this").is_empty());
    }
}
