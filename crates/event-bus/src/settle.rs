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

use crate::schema::outbox;
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

/// Rows looked at per stream and round (the next round goes on from the last one).
const BATCH: i64 = 1000;
/// Settled entries stay in the stream at least this long.
const KEEP_IN_STREAM: std::time::Duration = std::time::Duration::from_secs(60);
/// A dead-lettered event is published again after this long: most failures that exhaust
/// the deliveries are outages (a database down for a minute), which a later try survives.
/// One that fails forever comes back this often, logged and counted each time.
const REPLAY_DEAD_LETTERS_AFTER: chrono::Duration = chrono::Duration::seconds(60);

static GROUPS: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("settle/groups.lua")));

/// `settle/groups.lua`'s answer: per group (last delivered id, first pending id or ''), per
/// entry its `event` field, per entry its first dead-letter record.
type GroupsReply = (
    Vec<Option<(String, String)>>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

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
    /// Missing from the stream, or dead-lettered a while ago: to be published again.
    pub republished: usize,
    /// Still waiting for a group.
    pub waiting: usize,
}

/// Where the next round of each stream starts (rows after this `seq`; 0: the oldest).
#[derive(Debug, Default)]
pub struct Cursor(std::collections::HashMap<String, i64>);

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

/// One settle round over this subgraph's published, unacknowledged events, a transaction
/// per stream (replicas take turns with the relay's advisory lock).
pub async fn settle(db: &DbPool, redis: &Redis, cursor: &mut Cursor) -> anyhow::Result<Settled> {
    let mut conn = db.get().await?;
    // Idle check in one cheap statement (the partial index), without a transaction.
    let streams: Vec<String> = outbox::table
        .filter(outbox::published_at.is_not_null())
        .filter(outbox::acked_at.is_null())
        .select(outbox::stream)
        .distinct()
        .load(&mut conn)
        .await?;
    let mut total = Settled::default();
    for stream in streams {
        let after = cursor.0.get(&stream).copied().unwrap_or(0);
        let (settled, trim, last_seq) = conn
            .transaction(async |conn| {
                let locked: Flag = diesel::sql_query(
                    "SELECT pg_try_advisory_xact_lock(hashtext('outbox-relay:' || current_schema())) AS flag",
                )
                .get_result(conn)
                .await?;
                if !locked.flag {
                    // Another replica settles now; ours comes next round.
                    return Ok::<_, anyhow::Error>((Settled::default(), None, after));
                }
                settle_stream(conn, redis, &stream, after).await
            })
            .await?;
        cursor.0.insert(stream.clone(), last_seq);
        // Trimmed only after the acknowledgements committed: an entry trimmed away is
        // settled for good.
        if let Some(keep_from) = trim {
            let mut redis_conn = redis
                .connection()
                .await
                .map_err(|e| anyhow::anyhow!("redis: {e}"))?;
            let _: i64 = redis::cmd("XTRIM")
                .arg(stream_key(redis, &stream))
                .arg("MINID")
                .arg("~")
                .arg(keep_from.to_string())
                .query_async(&mut redis_conn)
                .await?;
        }
        total.acknowledged += settled.acknowledged;
        total.republished += settled.republished;
        total.waiting += settled.waiting;
    }
    Ok(total)
}

/// Settles the rows of `stream` after `after` (up to [`BATCH`]); what became of them, the
/// entry the stream may be trimmed up to, and where the next round starts.
async fn settle_stream(
    conn: &mut AsyncPgConnection,
    redis: &Redis,
    stream: &str,
    after: i64,
) -> anyhow::Result<(Settled, Option<EntryId>, i64)> {
    let rows: Vec<Unsettled> = outbox::table
        .filter(outbox::stream.eq(stream))
        .filter(outbox::published_at.is_not_null())
        .filter(outbox::acked_at.is_null())
        .filter(outbox::seq.gt(after))
        .order(outbox::seq)
        .limit(BATCH)
        .select((outbox::seq, outbox::id, outbox::entry_id))
        .load(conn)
        .await?;
    // A full round (from the oldest row, all of them seen) may trim; a partial one goes on
    // from its last row next time, so rows past the first BATCH are settled too.
    let complete = after == 0 && (rows.len() as i64) < BATCH;
    let next = if (rows.len() as i64) < BATCH {
        0
    } else {
        rows.last().map_or(0, |row| row.seq)
    };
    let groups = consumers_of(stream);
    let entries: Vec<Option<EntryId>> = rows
        .iter()
        .map(|row| row.entry_id.as_deref().and_then(EntryId::parse))
        .collect();
    let mut script = GROUPS.key(stream_key(redis, stream));
    script.key(consumer::dead_letter_key(redis, stream));
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
    let (states, found, dead): GroupsReply = script.invoke_async(&mut redis_conn).await?;
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
    let mut found = found.into_iter().zip(dead);
    let mut acknowledged: Vec<(i64, EntryId)> = Vec::new();
    let mut republish: Vec<i64> = Vec::new();
    let mut replayed: Vec<EntryId> = Vec::new();
    let mut waiting: Vec<EntryId> = Vec::new();
    let now = Utc::now();
    for (row, entry) in rows.iter().zip(&entries) {
        let Some(entry) = *entry else {
            // Published without an entry id (cannot happen after the migration): again.
            republish.push(row.seq);
            continue;
        };
        let (event, dead_letter) = found.next().unwrap_or_default();
        let same = event
            .and_then(|json| serde_json::from_str::<Event>(&json).ok())
            .is_some_and(|event| event.id == row.id);
        if !same {
            republish.push(row.seq);
        } else if let Some(record) = dead_letter {
            // A group gave up on it (acknowledged without handling): it stays unsettled,
            // and is published again a while later.
            let at = serde_json::from_str::<serde_json::Value>(&record)
                .ok()
                .and_then(|r| {
                    r["at"]
                        .as_str()
                        .and_then(|at| at.parse::<chrono::DateTime<Utc>>().ok())
                });
            if at.is_none_or(|at| now - at >= REPLAY_DEAD_LETTERS_AFTER) {
                republish.push(row.seq);
                replayed.push(entry);
            } else {
                waiting.push(entry);
            }
        } else if states
            .iter()
            .all(|state| state.is_some_and(|state| state.acknowledged(entry)))
        {
            acknowledged.push((row.seq, entry));
        } else {
            waiting.push(entry);
        }
    }
    if !acknowledged.is_empty() {
        let seqs: Vec<i64> = acknowledged.iter().map(|(seq, _)| *seq).collect();
        diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
            .set(outbox::acked_at.eq(now))
            .execute(conn)
            .await?;
    }
    if !republish.is_empty() {
        tracing::warn!(
            stream,
            count = republish.len(),
            replayed_dead_letters = replayed.len(),
            "published events missing from the stream (Redis lost or rolled it back) or dead-lettered a while ago: publishing them again"
        );
        metrics::counter!("events_republished_total", "stream" => stream.to_owned())
            .increment(republish.len() as u64);
        diesel::update(outbox::table.filter(outbox::seq.eq_any(&republish)))
            .set((
                outbox::published_at.eq(None::<chrono::DateTime<Utc>>),
                outbox::entry_id.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        if !replayed.is_empty() {
            let mut hdel = redis::cmd("HDEL");
            hdel.arg(consumer::dead_letter_key(redis, stream));
            for entry in &replayed {
                for group in groups {
                    hdel.arg(format!("{group}/{entry}"));
                }
            }
            let _: i64 = hdel.query_async(&mut redis_conn).await?;
        }
    }
    // Everything older than the oldest entry still needed can go, and than the last minute
    // (live feeds catching up, and anyone looking).
    let trim = complete
        .then(|| {
            let a_minute_ago = EntryId(
                (now - chrono::Duration::from_std(KEEP_IN_STREAM).unwrap_or_default())
                    .timestamp_millis() as u64,
                0,
            );
            waiting
                .iter()
                .min()
                .copied()
                .or_else(|| acknowledged.iter().map(|(_, e)| *e).max())
                .map(|needed| needed.min(a_minute_ago))
        })
        .flatten();
    metrics::gauge!("events_unsettled", "stream" => stream.to_owned()).set(waiting.len() as f64);
    Ok((
        Settled {
            acknowledged: acknowledged.len(),
            republished: republish.len(),
            waiting: waiting.len(),
        },
        trim,
        next,
    ))
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
