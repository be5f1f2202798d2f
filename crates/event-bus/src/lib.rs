//! Domain events: how a subgraph tells the others that something happened.
//!
//! A state change and its event commit together: the producer inserts the event into its
//! own `outbox` table in the transaction of the change ([`outbox`]). A relay in every
//! replica publishes committed events to a Redis stream, one replica at a time and in commit
//! order, and marks them published; a rolled-back change never had an event. An event is
//! done only when every consumer group of its stream handled it ([`settle`]): until then
//! its row stays, and an event Redis lost (a restart, a failover, an older snapshot) is
//! published again. Delivery is at least once, so every consumer is idempotent by event id
//! or by the state it changes ([`consumer`]); an event that fails every delivery is
//! dead-lettered, never silently dropped.
//!
//! The envelope ([`Event`]) and every event's payload are listed in `docs/events.md`.

pub mod consumer;
pub mod live;
pub mod outbox;
pub mod schema;
pub mod settle;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::Redis;
use uuid::Uuid;

pub use consumer::consumer_worker;
pub use live::{Live, LiveFeed};
pub use outbox::{NewEvent, relay_worker};

/// One domain event as it travels on the bus (the `event` field of a stream entry, JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique; consumers deduplicate on it.
    pub id: Uuid,
    /// What happened: `OrderPlaced`, `OrderCancelled`, …
    pub name: String,
    /// Version of the payload's shape for this name; a consumer ignores versions it does not
    /// know.
    pub version: i32,
    /// Id of the thing that changed (an order id).
    pub aggregate_id: String,
    /// When the change committed (its transaction's time).
    pub occurred_at: DateTime<Utc>,
    /// W3C trace context of the request that caused it (`00-<trace>-<span>-01`).
    pub traceparent: Option<String>,
    /// The event's data; its shape is given by `name` and `version`.
    pub payload: serde_json::Value,
}

/// The Redis key of a stream of events (`orders`, …) under the deployment's prefix:
/// `events:{orders}`, the stream's name as the hash tag that its dead letters share (Redis
/// Cluster).
pub fn stream_key(redis: &Redis, stream: &str) -> String {
    redis.key(&format!("events:{{{stream}}}"))
}
