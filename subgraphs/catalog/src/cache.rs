//! Product rows cached in Redis (cache-aside for reads, write-through for writes).
//!
//! Readers take what Redis has and load the rest from PostgreSQL, adding it with `SET NX`;
//! every write replaces the cached row after its transaction commits. So a reader that
//! loaded an old row before a write can never overwrite the newer row the write put there,
//! and no reader sees an old price once the write has returned. Redis failures never fail a
//! read: the rows come from PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use service_kit::Redis;
use service_kit::redis::redis;
use uuid::Uuid;

use crate::db::models::ProductRow;

/// How long a cached row lives without being read from PostgreSQL again.
pub const TTL: Duration = Duration::from_secs(300);

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
        let result: anyhow::Result<Vec<Option<String>>> = async {
            let mut conn = self.redis.pool().get().await?;
            let keys: Vec<String> = ids.iter().map(|id| self.key(*id)).collect();
            Ok(redis::cmd("MGET").arg(keys).query_async(&mut *conn).await?)
        }
        .await;
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
        self.store(rows, true).await;
    }

    /// Replaces the cached row after a write committed. If Redis cannot take it, the old
    /// row is at least deleted; if that fails too it may live until its TTL (logged).
    pub async fn put(&self, row: &ProductRow) {
        if !self.store(std::slice::from_ref(row), false).await {
            let key = self.key(row.id);
            let deleted: anyhow::Result<()> = async {
                let mut conn = self.redis.pool().get().await?;
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut *conn).await?;
                Ok(())
            }
            .await;
            if let Err(error) = deleted {
                tracing::error!(%error, product = %row.id, "product cache may be stale until its TTL");
            }
        }
    }

    async fn store(&self, rows: &[ProductRow], only_if_absent: bool) -> bool {
        if rows.is_empty() {
            return true;
        }
        let result: anyhow::Result<()> = async {
            let mut conn = self.redis.pool().get().await?;
            let mut pipe = redis::pipe();
            for row in rows {
                let command = pipe
                    .cmd("SET")
                    .arg(self.key(row.id))
                    .arg(serde_json::to_string(row)?)
                    .arg("EX")
                    .arg(TTL.as_secs());
                if only_if_absent {
                    command.arg("NX");
                }
                command.ignore();
            }
            let _: () = pipe.query_async(&mut *conn).await?;
            Ok(())
        }
        .await;
        if let Err(error) = &result {
            tracing::warn!(%error, "product cache write failed");
        }
        result.is_ok()
    }
}
