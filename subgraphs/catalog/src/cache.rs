//! Product rows cached in Redis (cache-aside for reads, write-through for writes), and hot
//! ones also in the memory of each catalog replica.
//!
//! Readers take what Redis has and load the rest from PostgreSQL, adding it to the cache;
//! every write replaces the cached row after its transaction commits. Both go through one
//! script that keeps whichever row has the higher version (`service_kit::redis::STORE_IF_NEWER`): a reader
//! that loaded a row before a write cannot put it over the written one, and of two
//! concurrent writes the later commit stays cached whatever order their cache updates
//! arrive in. So no reader sees an old price once the write has returned. Redis failures
//! never fail a read: the rows come from PostgreSQL.
//!
//! In memory ([`MemoryProducts`], `CATALOG_MEMORY_CACHE`): a product detail answered from
//! Redis spent most of its time on the round trip and the JSON. Every write publishes the
//! product's new version on a Redis channel after storing the row; each replica listens and
//! drops any older row it holds, and remembers the version so that a reader still holding
//! the older row cannot put it back. The writing replica holds the new row at once; other
//! replicas lose the old one within the channel's delivery time (well under a millisecond
//! on one host; `tests/e2e/catalog_admin.rs` measures it across two replicas). While the
//! subscription is down nothing is served from or kept in memory, and everything held is
//! dropped when it comes back, since invalidations may have been missed meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use moka::ops::compute::Op;
use service_kit::Redis;
use service_kit::redis::redis;
use uuid::Uuid;

use crate::db::models::{CategoryRow, ProductRow};

/// How long a cached row lives without being read from PostgreSQL again.
pub const TTL: Duration = Duration::from_secs(300);

/// How long a read waits for Redis before going to PostgreSQL instead. A cache slower than
/// the database is worse than none: a silent Redis would otherwise cost every read the
/// connection's response timeout (2 s) twice, once to look and once to fill. Writes wait
/// longer (`put`), since a lost write-through leaves a stale price until the TTL.
pub const READ_BUDGET: Duration = Duration::from_millis(250);

/// How long a row stays in a replica's memory at most, should an invalidation ever be lost
/// without the subscription noticing.
pub const MEMORY_TTL: Duration = Duration::from_secs(30);

/// The product cache of one deployment.
#[derive(Clone)]
pub struct ProductCache {
    redis: Redis,
    /// This replica's copy of hot rows; `None` for writers that never read (background work)
    /// or when `CATALOG_MEMORY_CACHE` is 0.
    memory: Option<Arc<MemoryProducts>>,
    /// Told of the products of every write made through this cache (this replica's search
    /// index: `search_index::SearchIndex::noted`).
    on_write: Option<OnWrite>,
}

/// What a cache tells of the products each write changed.
pub type OnWrite = Arc<dyn Fn(Vec<Uuid>) + Send + Sync>;

impl std::fmt::Debug for ProductCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductCache")
            .field("redis", &self.redis)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl ProductCache {
    /// Redis only.
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            memory: None,
            on_write: None,
        }
    }

    /// Tells `on_write` (if any) of the products of every write made through this cache.
    pub fn on_write(self, on_write: Option<OnWrite>) -> Self {
        Self { on_write, ..self }
    }

    /// Redis, and up to `capacity` rows in memory (0: none), kept current by the
    /// invalidation channel, which a task listens to for as long as the cache lives.
    pub fn with_memory(redis: Redis, capacity: u64) -> Self {
        let memory = (capacity > 0).then(|| {
            let memory = Arc::new(MemoryProducts::new(capacity));
            tokio::spawn(listen_for_invalidations(
                Arc::downgrade(&memory),
                redis.clone(),
            ));
            memory
        });
        Self {
            redis,
            memory,
            on_write: None,
        }
    }

    /// Whether reads are served from memory now (its invalidation channel is up).
    pub fn uses_memory(&self) -> bool {
        self.memory
            .as_ref()
            .is_some_and(|memory| memory.epoch().is_some())
    }

    /// The epoch of memory while its invalidations are live (a new one whenever it may have
    /// missed some, or was told to forget everything).
    pub fn memory_epoch(&self) -> Option<u64> {
        self.memory.as_ref().and_then(|memory| memory.epoch())
    }

    /// Whether memory holds product `id` at `version` with its invalidations live: then
    /// that is the product's current version, as exactly as memory is (answers that read
    /// it are served again: `graphql::answers`).
    pub fn holds(&self, id: Uuid, version: i64) -> bool {
        self.memory.as_ref().is_some_and(|memory| {
            memory.epoch().is_some()
                && matches!(memory.rows.get(&id), Some(Held::Row(row)) if row.version == version)
        })
    }

    fn key(&self, id: Uuid) -> String {
        self.redis.key(&format!("catalog:product:{id}"))
    }

    /// The cached rows among `ids` (memory first, then Redis); empty when Redis fails.
    pub async fn get_many(&self, ids: &[Uuid]) -> HashMap<Uuid, ProductRow> {
        if ids.is_empty() {
            return HashMap::new();
        }
        let Some(memory) = self.memory.as_ref() else {
            return self.get_from_redis(ids).await;
        };
        let Some(epoch) = memory.epoch() else {
            return self.get_from_redis(ids).await;
        };
        let mut found = HashMap::with_capacity(ids.len());
        let mut misses = Vec::new();
        for id in ids {
            match memory.rows.get(id) {
                Some(Held::Row(row)) => {
                    found.insert(*id, row.as_ref().clone());
                }
                _ => misses.push(*id),
            }
        }
        if !misses.is_empty() {
            let from_redis = self.get_from_redis(&misses).await;
            for row in from_redis.values() {
                memory.offer(row, epoch);
            }
            found.extend(from_redis);
        }
        found
    }

    async fn get_from_redis(&self, ids: &[Uuid]) -> HashMap<Uuid, ProductRow> {
        let lookup = async {
            let mut conn = self.redis.connection().await?;
            // GETs in one pipeline rather than one MGET: products live in different Redis
            // Cluster slots.
            let mut pipe = redis::pipe();
            for id in ids {
                pipe.get(self.key(*id));
            }
            Ok(pipe.query_async(&mut conn).await?)
        };
        let result: anyhow::Result<Vec<Option<String>>> =
            match tokio::time::timeout(READ_BUDGET, lookup).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("no answer within {READ_BUDGET:?}")),
            };
        match result {
            Ok(values) => values
                .into_iter()
                .flatten()
                .filter_map(|json| serde_json::from_str::<ProductRow>(&json).ok())
                .map(|row| (row.id, row))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "product cache unavailable: reading PostgreSQL");
                HashMap::new()
            }
        }
    }

    /// Taken before reading rows from PostgreSQL, for [`Self::fill`]: rows read while the
    /// invalidation channel was down, or before it came back, may have missed an
    /// invalidation, so memory does not keep them.
    pub fn read_ticket(&self) -> ReadTicket {
        ReadTicket(self.memory.as_ref().and_then(|memory| memory.epoch()))
    }

    /// Adds rows just read from PostgreSQL (after taking `ticket`), unless a newer write
    /// already put them there.
    pub async fn fill(&self, rows: &[ProductRow], ticket: ReadTicket) {
        if tokio::time::timeout(READ_BUDGET, self.store(rows))
            .await
            .is_err()
        {
            tracing::warn!("product cache fill gave up after {READ_BUDGET:?}");
        }
        if let (Some(memory), ReadTicket(Some(epoch))) = (&self.memory, ticket) {
            for row in rows {
                memory.offer(row, epoch);
            }
        }
    }

    /// Replaces the cached row after a write committed. If Redis cannot take it, the old
    /// row is at least deleted; if that fails too it may live until its TTL (logged).
    pub async fn put(&self, row: &ProductRow) {
        self.put_many(std::slice::from_ref(row)).await;
    }

    /// [`Self::put`] for several rows in one round trip (a stock reservation changes one row
    /// per line). Then every replica is told to drop older copies from its memory (this one
    /// holds the new rows at once).
    pub async fn put_many(&self, rows: &[ProductRow]) {
        if rows.is_empty() {
            return;
        }
        if let Some(on_write) = &self.on_write {
            on_write(rows.iter().map(|row| row.id).collect());
        }
        // While unsubscribed memory holds nothing (and forgets all on resubscribing).
        if let Some((memory, epoch)) = self.memory.as_ref().and_then(|m| Some((m, m.epoch()?))) {
            for row in rows {
                memory.offer(row, epoch);
            }
        }
        self.store_or_delete(rows).await;
        self.publish_versions(rows).await;
    }

    async fn store_or_delete(&self, rows: &[ProductRow]) {
        if !self.store(rows).await {
            let deleted: anyhow::Result<()> = async {
                let mut conn = self.redis.connection().await?;
                let mut pipe = redis::pipe();
                for row in rows {
                    pipe.del(self.key(row.id)).ignore();
                }
                let _: () = pipe.query_async(&mut conn).await?;
                Ok(())
            }
            .await;
            if let Err(error) = deleted {
                let products: Vec<_> = rows.iter().map(|row| row.id).collect();
                tracing::error!(%error, ?products, "product cache may be stale until its TTL");
            }
        }
    }

    /// Stores each row unless the cached one is at least as new; false if Redis failed.
    async fn store(&self, rows: &[ProductRow]) -> bool {
        if rows.is_empty() {
            return true;
        }
        let result: anyhow::Result<()> = async {
            // One script call per row (products live in different Redis Cluster slots), all
            // sent at once on the multiplexed connection; each loads the script again if
            // the node it reaches lacks it.
            let mut invocations = Vec::with_capacity(rows.len());
            for row in rows {
                let mut invocation = service_kit::redis::STORE_IF_NEWER.prepare_invoke();
                invocation
                    .key(self.key(row.id))
                    .arg(serde_json::to_string(row)?)
                    .arg(row.version)
                    .arg(TTL.as_secs());
                invocations.push(invocation);
            }
            let conn = self.redis.connection().await?;
            futures::future::try_join_all(invocations.iter().map(|invocation| {
                let mut conn = conn.clone();
                async move { invocation.invoke_async::<i64>(&mut conn).await }
            }))
            .await?;
            Ok(())
        }
        .await;
        if let Err(error) = &result {
            tracing::warn!(%error, "product cache write failed");
        }
        result.is_ok()
    }

    /// Publishes `id:version` of each row on the invalidation channel. A lost message (Redis
    /// down) leaves no replica stale: their subscriptions are down too, so they hold nothing.
    async fn publish_versions(&self, rows: &[ProductRow]) {
        let message = rows
            .iter()
            .map(|row| format!("{}:{}", row.id, row.version))
            .collect::<Vec<_>>()
            .join(",");
        let published: anyhow::Result<()> = async {
            let mut conn = self.redis.connection().await?;
            let _receivers: i64 = redis::cmd("PUBLISH")
                .arg(invalidation_channel(&self.redis))
                .arg(message)
                .query_async(&mut conn)
                .await?;
            Ok(())
        }
        .await;
        if let Err(error) = published {
            tracing::warn!(%error, "product invalidation not published");
        }
    }
}

/// When a read from PostgreSQL began, as memory counts time ([`ProductCache::read_ticket`]).
#[derive(Clone, Copy, Debug)]
pub struct ReadTicket(Option<u64>);

/// The Redis channel on which writes announce products' new versions.
pub fn invalidation_channel(redis: &Redis) -> String {
    redis.key("catalog:product-versions")
}

/// A message on [`invalidation_channel`] that makes every replica forget every product it
/// holds: for after a change made behind the catalog's back (SQL by hand), together with
/// deleting the `catalog:product:*` keys.
pub const FORGET_ALL: &str = "*";

/// What a replica's memory holds for a product.
#[derive(Clone, Debug)]
enum Held {
    /// The row.
    Row(Arc<ProductRow>),
    /// No row, but its version is known to be at least this: an older row is refused.
    Newer(i64),
}

impl Held {
    fn version(&self) -> i64 {
        match self {
            Self::Row(row) => row.version,
            Self::Newer(version) => *version,
        }
    }
}

/// Hot product rows in this replica's memory.
#[derive(Debug)]
pub struct MemoryProducts {
    rows: moka::sync::Cache<Uuid, Held>,
    /// Whether the invalidation subscription is live.
    listening: AtomicBool,
    /// Incremented whenever the subscription is lost or (re)established: a row read under
    /// an older epoch is not kept.
    epoch: AtomicU64,
}

impl MemoryProducts {
    fn new(capacity: u64) -> Self {
        Self {
            rows: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(MEMORY_TTL)
                .build(),
            listening: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// The current epoch, if the subscription is live (else memory is not used).
    fn epoch(&self) -> Option<u64> {
        let epoch = self.epoch.load(Ordering::Acquire);
        self.listening.load(Ordering::Acquire).then_some(epoch)
    }

    /// Keeps `row` unless memory holds a newer version (or knows of one), or the
    /// subscription changed since the row was read.
    fn offer(&self, row: &ProductRow, read_in: u64) {
        self.rows.entry(row.id).and_compute_with(|held| {
            if self.epoch() != Some(read_in) {
                return Op::Nop;
            }
            match held.as_ref().map(|held| held.value()) {
                Some(Held::Row(held)) if held.version >= row.version => Op::Nop,
                Some(Held::Newer(version)) if *version > row.version => Op::Nop,
                _ => Op::Put(Held::Row(Arc::new(row.clone()))),
            }
        });
    }

    /// Drops any row older than `version`, and refuses such rows from now on.
    fn invalidate(&self, id: Uuid, version: i64) {
        self.rows.entry(id).and_compute_with(|held| match held {
            Some(held) if held.value().version() >= version => Op::Nop,
            _ => Op::Put(Held::Newer(version)),
        });
    }

    /// Subscription lost or re-established: what is held may have missed invalidations.
    fn reset(&self, listening: bool) {
        self.listening.store(false, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.rows.invalidate_all();
        self.listening.store(listening, Ordering::Release);
    }
}

/// Applies published versions to `memory` for as long as it exists, resubscribing after a
/// lost connection.
async fn listen_for_invalidations(memory: std::sync::Weak<MemoryProducts>, redis: Redis) {
    let channel = invalidation_channel(&redis);
    loop {
        let subscribed = async {
            let mut pubsub = redis.pubsub(&channel).await?;
            pubsub.subscribe(&channel).await?;
            anyhow::Ok(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(pubsub)) => {
                let Some(held) = memory.upgrade() else { return };
                held.reset(true);
                drop(held);
                let mut messages = pubsub.into_on_message();
                // Wakes now and then to notice that the cache is gone.
                loop {
                    let next = tokio::time::timeout(Duration::from_secs(1), messages.next());
                    let Some(held) = memory.upgrade() else { return };
                    match next.await {
                        Ok(Some(message)) => {
                            let payload: String = message.get_payload().unwrap_or_default();
                            if payload == FORGET_ALL {
                                held.reset(true);
                            }
                            for (id, version) in payload.split(',').filter_map(parse_version) {
                                held.invalidate(id, version);
                            }
                        }
                        Ok(None) => break,
                        Err(_elapsed) => {}
                    }
                }
                tracing::warn!("product invalidations unsubscribed: memory cache off until back");
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "product invalidations: cannot subscribe yet");
            }
            Err(_elapsed) => {}
        }
        match memory.upgrade() {
            Some(held) => held.reset(false),
            None => return,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn parse_version(entry: &str) -> Option<(Uuid, i64)> {
    let (id, version) = entry.split_once(':')?;
    Some((id.parse().ok()?, version.parse().ok()?))
}

/// Categories by id in this replica's memory. A category is never changed or deleted once
/// created (no mutation does either), so a held one is always current; add invalidation
/// here before adding such a mutation.
#[derive(Clone, Debug, Default)]
pub struct MemoryCategories(Option<moka::sync::Cache<Uuid, CategoryRow>>);

impl MemoryCategories {
    /// Up to `capacity` categories (0: none).
    pub fn new(capacity: u64) -> Self {
        Self((capacity > 0).then(|| moka::sync::Cache::new(capacity)))
    }

    /// The held categories among `ids`.
    pub fn get_many(&self, ids: &[Uuid]) -> HashMap<Uuid, CategoryRow> {
        let Some(held) = &self.0 else {
            return HashMap::new();
        };
        ids.iter()
            .filter_map(|id| held.get(id).map(|row| (*id, row)))
            .collect()
    }

    /// Holds `rows`, just read from PostgreSQL.
    pub fn keep(&self, rows: &[CategoryRow]) {
        if let Some(held) = &self.0 {
            for row in rows {
                held.insert(row.id, row.clone());
            }
        }
    }
}
