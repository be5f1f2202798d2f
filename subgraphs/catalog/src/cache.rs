//! Product rows cached in Redis (cache-aside for reads, write-through for writes).
//!
//! Readers take what Redis has and load the rest from PostgreSQL, adding it to the cache;
//! every write replaces the cached row after its transaction commits. Both go through one
//! script that keeps whichever row has the higher version (`service_kit::redis::STORE_IF_NEWER`): a reader
//! that loaded a row before a write cannot put it over the written one, and of two
//! concurrent writes the later commit stays cached whatever order their cache updates
//! arrive in. So no reader sees an old price once the write has returned. Redis failures
//! never fail a read: the rows come from PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use service_kit::Redis;
use service_kit::redis::redis;
use uuid::Uuid;

use crate::db::models::ProductRow;

/// How long a cached row lives without being read from PostgreSQL again.
pub const TTL: Duration = Duration::from_secs(300);

/// How long a read waits for Redis before going to PostgreSQL instead. A cache slower than
/// the database is worse than none: a silent Redis would otherwise cost every read the
/// connection's response timeout (2 s) twice, once to look and once to fill. Writes wait
/// longer (`put`), since a lost write-through leaves a stale price until the TTL.
pub const READ_BUDGET: Duration = Duration::from_millis(250);

/// The product cache of one deployment.
#[derive(Clone, Debug)]
pub struct ProductCache {
    redis: Redis,
}

impl ProductCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, id: Uuid) -> String {
        self.redis.key(&format!("catalog:product:{id}"))
    }

    /// The cached rows among `ids`; empty when Redis fails.
    pub async fn get_many(&self, ids: &[Uuid]) -> HashMap<Uuid, ProductRow> {
        if ids.is_empty() {
            return HashMap::new();
        }
        let lookup = async {
            let mut conn = self.redis.connection().await?;
            let keys: Vec<String> = ids.iter().map(|id| self.key(*id)).collect();
            Ok(redis::cmd("MGET").arg(keys).query_async(&mut conn).await?)
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

    /// Adds rows just read from PostgreSQL, unless a newer write already put them there.
    pub async fn fill(&self, rows: &[ProductRow]) {
        if tokio::time::timeout(READ_BUDGET, self.store(rows))
            .await
            .is_err()
        {
            tracing::warn!("product cache fill gave up after {READ_BUDGET:?}");
        }
    }

    /// Replaces the cached row after a write committed. If Redis cannot take it, the old
    /// row is at least deleted; if that fails too it may live until its TTL (logged).
    pub async fn put(&self, row: &ProductRow) {
        self.put_many(std::slice::from_ref(row)).await;
    }

    /// [`Self::put`] for several rows in one round trip (a stock reservation changes one row
    /// per line).
    pub async fn put_many(&self, rows: &[ProductRow]) {
        if !self.store(rows).await {
            let keys: Vec<String> = rows.iter().map(|row| self.key(row.id)).collect();
            let deleted: anyhow::Result<()> = async {
                let mut conn = self.redis.connection().await?;
                let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
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
            let mut invocation = service_kit::redis::STORE_IF_NEWER.prepare_invoke();
            for row in rows {
                invocation
                    .key(self.key(row.id))
                    .arg(serde_json::to_string(row)?)
                    .arg(row.version);
            }
            invocation.arg(TTL.as_secs());
            let mut conn = self.redis.connection().await?;
            let _stored: i64 = invocation.invoke_async(&mut conn).await?;
            Ok(())
        }
        .await;
        if let Err(error) = &result {
            tracing::warn!(%error, "product cache write failed");
        }
        result.is_ok()
    }
}
