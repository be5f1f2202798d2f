//! The search index of one replica (`domain::index`), kept current from PostgreSQL.
//!
//! PostgreSQL is the truth and Redis only rings the bell: the index is read whole from
//! PostgreSQL when its task starts, then every product version announced on the product
//! cache's invalidation channel (`cache::invalidation_channel`: every write announces one)
//! is read again by id, in batches, and kept if newer. Announcements lost while the
//! channel was down, or by a Redis that forgot or restarted, are found by comparing every
//! product's version with PostgreSQL's: when the channel comes back, and every
//! `SEARCH_INDEX_RECONCILE_SECONDS` anyway. While the channel is down or the index has
//! not been read yet, the index says it is not current and the listing asks PostgreSQL
//! (`workflows::listing`); `/ready` reports which (`status`).
//!
//! This replica's own writes are noted directly ([`SearchIndex::noted`]): a listing that
//! starts after one waits (briefly) until the index has read it, so a client sees its own
//! change on the replica that made it; other replicas see it within the channel's
//! delivery and one read (milliseconds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use futures::{FutureExt as _, StreamExt as _};
use service_kit::{DbPool, Redis};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::cache::{FORGET_ALL, invalidation_channel};
use crate::db::index_docs;
use crate::domain::index::Index;

/// How many products one statement reads.
const BATCH: usize = 2_000;
/// How long a listing waits for this replica's own writes to reach the index before it
/// asks PostgreSQL instead.
const OWN_WRITES_WAIT: Duration = Duration::from_millis(200);

const BUILDING: u8 = 0;
const CURRENT: u8 = 1;
const LAGGING: u8 = 2;

/// A replica's search index and whether it can be trusted now.
pub struct SearchIndex {
    index: RwLock<Index>,
    state: AtomicU8,
    /// Own writes noted so far (numbered and sent under one lock, so they arrive in
    /// order), and the highest number the index has read up to.
    noted: AtomicU64,
    applied: watch::Sender<u64>,
    own_writes: std::sync::Mutex<mpsc::UnboundedSender<(u64, Vec<Uuid>)>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// An index kept by a task for as long as it lives, reconciled with PostgreSQL every
    /// `reconcile`. `db` should be the task's own (`Database::Url`): listings that wait for
    /// the index hold connections of the request pool.
    pub fn start(db: Database, redis: Redis, reconcile: Duration) -> Arc<Self> {
        let (own_writes, noted_rx) = mpsc::unbounded_channel();
        let index = Arc::new(Self {
            index: RwLock::new(Index::default()),
            state: AtomicU8::new(BUILDING),
            noted: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            own_writes: std::sync::Mutex::new(own_writes),
        });
        tokio::spawn(keep(Arc::downgrade(&index), noted_rx, db, redis, reconcile));
        index
    }

    /// `building`, `current` or `lagging` (for `/ready`).
    pub fn status(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            BUILDING => "building",
            CURRENT => "current",
            _ => "lagging",
        }
    }

    /// `read` of the index, when it is current and holds this replica's writes so far;
    /// `None`: ask PostgreSQL.
    pub async fn read<R>(&self, read: impl FnOnce(&Index) -> R) -> Option<R> {
        if self.state.load(Ordering::Acquire) != CURRENT {
            return None;
        }
        let wanted = self.noted.load(Ordering::Acquire);
        let mut applied = self.applied.subscribe();
        if *applied.borrow() < wanted {
            let caught_up = applied.wait_for(|applied| *applied >= wanted);
            if !matches!(
                tokio::time::timeout(OWN_WRITES_WAIT, caught_up).await,
                Ok(Ok(_))
            ) {
                return None;
            }
        }
        if self.state.load(Ordering::Acquire) != CURRENT {
            return None;
        }
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        Some(read(&index))
    }

    /// This replica wrote these products (committed): the index reads them again before it
    /// answers another listing.
    pub fn noted(&self, ids: Vec<Uuid>) {
        let sender = self.own_writes.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.noted.fetch_add(1, Ordering::AcqRel) + 1;
        // The task is gone only when the index is.
        let _ = sender.send((seq, ids));
    }

    /// The index has read every own write up to `seq` (never moves back).
    fn read_up_to(&self, seq: u64) {
        self.applied.send_if_modified(|applied| {
            let newer = seq > *applied;
            *applied = (*applied).max(seq);
            newer
        });
    }

    /// Its status and how many products it holds, for `/ready`.
    pub fn report(&self) -> serde_json::Value {
        serde_json::json!({ "status": self.status(), "products": self.len() })
    }

    fn set(&self, state: u8) {
        let before = self.state.swap(state, Ordering::AcqRel);
        if before != state {
            let status = self.status();
            tracing::info!(status, products = self.len(), "search index");
        }
    }

    fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads `ids` again and keeps what is newer (`force`: whatever its version).
async fn read_again(
    index: &SearchIndex,
    db: &DbPool,
    ids: &[Uuid],
    force: bool,
) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    for chunk in ids.chunks(BATCH) {
        let rows = index_docs::by_ids(&mut conn, chunk).await?;
        let found: std::collections::HashSet<Uuid> = rows.iter().map(|row| row.id).collect();
        let docs: Vec<_> = rows
            .into_iter()
            .map(|row| (row.id, row.version, row.into_doc()))
            .collect();
        // The write lock a hundred products at a time: listings read in between.
        for part in docs.chunks(100) {
            let mut index = index.write();
            for (id, version, doc) in part {
                index.apply(*id, *version, doc.clone(), force);
            }
        }
        let mut index = index.write();
        for id in chunk.iter().filter(|id| !found.contains(id)) {
            index.forget(*id);
        }
    }
    Ok(())
}

/// The whole catalog as an index, read a batch at a time.
pub async fn load(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Index> {
    let mut fresh = Index::default();
    let mut after = None;
    loop {
        let rows = index_docs::batch_after(conn, after, BATCH as i64).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        for row in rows {
            let (id, version) = (row.id, row.version);
            fresh.apply(id, version, row.into_doc(), true);
        }
    }
    Ok(fresh)
}

/// Reads the whole catalog into a new index and puts it in place, while the old one goes
/// on answering (announcements arriving meanwhile are applied after, by version).
async fn read_all(index: &SearchIndex, db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    let fresh = load(&mut conn).await?;
    let old = std::mem::replace(&mut *index.write(), fresh);
    // Freed outside the lock: listings go on meanwhile.
    drop(old);
    Ok(())
}

/// Where the keeper's connections come from.
pub enum Database {
    /// A pool of its own (two connections) to this URL.
    Url(String),
    /// A pool it shares (tests).
    Pool(DbPool),
}

impl Database {
    /// The pool, once PostgreSQL takes connections (retried).
    async fn pool(self) -> DbPool {
        match self {
            Self::Pool(pool) => pool,
            Self::Url(url) => loop {
                match service_kit::db::pool(&url, &crate::DATABASE, 2, None).await {
                    Ok(pool) => return pool,
                    Err(error) => tracing::warn!(%error, "search index: no PostgreSQL yet"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        }
    }
}

/// Compares every held version with PostgreSQL's and reads again what differs.
async fn reconcile(index: &SearchIndex, db: &DbPool) -> anyhow::Result<usize> {
    let versions = {
        let mut conn = db.get().await?;
        index_docs::versions(&mut conn).await?
    };
    let existing: std::collections::HashSet<Uuid> = versions.iter().map(|r| r.id).collect();
    let stale: Vec<Uuid> = {
        let held = index.index.read().unwrap_or_else(|e| e.into_inner());
        let mut stale: Vec<Uuid> = versions
            .iter()
            .filter(|row| held.version(row.id) != Some(row.version))
            .map(|row| row.id)
            .collect();
        stale.extend(held.versions().keys().filter(|id| !existing.contains(id)));
        stale
    };
    // Much changed (an outage): reading everything is cheaper than product by product.
    if stale.len() > existing.len() / 10 {
        read_all(index, db).await?;
        return Ok(stale.len());
    }
    // Force: a version PostgreSQL holds lower than the index (a restored backup) wins too.
    read_again(index, db, &stale, true).await?;
    Ok(stale.len())
}

/// Keeps the index current while it exists: reads it whole, then follows the channel.
async fn keep(
    index: Weak<SearchIndex>,
    mut own_writes: mpsc::UnboundedReceiver<(u64, Vec<Uuid>)>,
    db: Database,
    redis: Redis,
    every: Duration,
) {
    let db = db.pool().await;
    let channel = invalidation_channel(&redis);
    let mut loaded = false;
    // Should this task ever panic, the index says it lags (and is not used) from then on.
    struct Lagging(Weak<SearchIndex>);
    impl Drop for Lagging {
        fn drop(&mut self) {
            if let Some(index) = self.0.upgrade() {
                index.state.store(LAGGING, Ordering::Release);
            }
        }
    }
    let _lagging = Lagging(index.clone());
    loop {
        let subscribed = async {
            let mut pubsub = redis.pubsub(&channel).await?;
            pubsub.subscribe(&channel).await?;
            anyhow::Ok(pubsub)
        };
        let pubsub = match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(pubsub)) => Some(pubsub),
            Ok(Err(error)) => {
                tracing::debug!(%error, "search index: cannot subscribe yet");
                None
            }
            Err(_elapsed) => None,
        };
        let Some(this) = index.upgrade() else { return };
        if let Some(pubsub) = pubsub {
            // Subscribed first: whatever is announced from now on is still seen; so are
            // the own writes noted before reading.
            let noted = this.noted.load(Ordering::Acquire);
            let synced = if loaded {
                reconcile(&this, &db).await.map(drop)
            } else {
                read_all(&this, &db).await
            };
            match synced {
                Ok(()) => {
                    loaded = true;
                    this.read_up_to(noted);
                    this.set(CURRENT);
                    drop(this);
                    follow(&index, pubsub, &mut own_writes, &db, every).await;
                }
                Err(error) => tracing::warn!(%error, "search index not read from PostgreSQL"),
            }
        } else {
            drop(this);
        }
        match index.upgrade() {
            Some(this) if loaded => this.set(LAGGING),
            Some(_) => {}
            None => return,
        }
        // Own writes noted while the index cannot be trusted are caught by the next sync.
        while own_writes.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Follows announcements and own writes until the channel or PostgreSQL fails.
async fn follow(
    index: &Weak<SearchIndex>,
    pubsub: service_kit::redis::redis::aio::PubSub,
    own_writes: &mut mpsc::UnboundedReceiver<(u64, Vec<Uuid>)>,
    db: &DbPool,
    every: Duration,
) {
    let mut messages = pubsub.into_on_message();
    let mut reconcile_at = tokio::time::interval(every);
    reconcile_at.tick().await;
    // Every tenth reconciliation reads everything again instead: a change PostgreSQL made
    // without moving a version on (a migration, SQL by hand whose '*' was lost) is found too.
    let mut reconciled = 0u32;
    loop {
        // Announced versions (own writes: read whatever their version, as `None`).
        let mut wanted: HashMap<Uuid, Option<i64>> = HashMap::new();
        let mut forget_all = false;
        let mut own_seq = None;
        let mut due = false;
        let mut take = |message: service_kit::redis::redis::Msg| {
            let payload: String = message.get_payload().unwrap_or_default();
            forget_all |= payload == FORGET_ALL;
            wanted.extend(announced(&payload).map(|(id, version)| (id, Some(version))));
        };
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => {
                    take(message);
                    // Announcements already delivered join this batch (one read for all).
                    let mut more = BATCH;
                    while more > 0
                        && let Some(Some(message)) = messages.next().now_or_never()
                    {
                        take(message);
                        more -= 1;
                    }
                }
                None => return,
            },
            noted = own_writes.recv() => match noted {
                Some((seq, ids)) => {
                    own_seq = Some(seq);
                    wanted.extend(ids.into_iter().map(|id| (id, None)));
                }
                None => return,
            },
            _ = reconcile_at.tick() => due = true,
            // Wakes now and then to notice that the index is gone.
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Whatever else is already waiting joins this batch.
        while let Ok((seq, ids)) = own_writes.try_recv() {
            own_seq = own_seq.max(Some(seq));
            wanted.extend(ids.into_iter().map(|id| (id, None)));
        }
        let Some(this) = index.upgrade() else { return };
        // Announcements of versions already held (this replica's own) need no read.
        let ids: Vec<Uuid> = {
            let held = this.index.read().unwrap_or_else(|e| e.into_inner());
            wanted
                .into_iter()
                .filter(|(id, version)| match version {
                    Some(version) => held.version(*id).is_none_or(|held| held < *version),
                    None => true,
                })
                .map(|(id, _)| id)
                .collect()
        };
        if due {
            reconciled += 1;
        }
        let result = if forget_all {
            // Changed behind the catalog's back: PostgreSQL answers until read again.
            this.set(LAGGING);
            let read = read_all(&this, db).await;
            if read.is_ok() {
                this.set(CURRENT);
            }
            read
        } else if due && reconciled.is_multiple_of(10) {
            // Nothing known to be stale: the index answers while it is read again.
            read_all(&this, db).await
        } else if due {
            reconcile(&this, db).await.map(|stale| {
                if stale > 0 {
                    tracing::info!(stale, "search index reconciled with PostgreSQL");
                }
            })
        } else {
            if ids.is_empty() {
                Ok(())
            } else {
                read_again(&this, db, &ids, false).await
            }
        };
        match result {
            Ok(()) => {
                if due
                    && !ids.is_empty()
                    && let Err(error) = read_again(&this, db, &ids, false).await
                {
                    tracing::warn!(%error, "search index: products not read again");
                    return;
                }
                if let Some(seq) = own_seq {
                    this.read_up_to(seq);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "search index: products not read again");
                return;
            }
        }
    }
}

/// The products and versions of an announcement (`id:version,...`).
fn announced(payload: &str) -> impl Iterator<Item = (Uuid, i64)> + '_ {
    payload.split(',').filter_map(|entry| {
        let (id, version) = entry.split_once(':')?;
        Some((id.parse().ok()?, version.parse().ok()?))
    })
}

#[cfg(test)]
mod tests;
