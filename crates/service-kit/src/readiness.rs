//! What `/ready` answers: PostgreSQL and Redis up, and what the subgraph adds.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use diesel_async::SimpleAsyncConnection as _;

use crate::Stores;

/// What a subgraph adds to its `/ready` answer under a name of its own (e.g. the catalog's
/// search index: whether it is current). Informational: it never makes the replica unready.
pub type ReadinessReport = Arc<dyn Fn() -> (&'static str, serde_json::Value) + Send + Sync>;

/// Whether the stores answer (each within 2 s), and the answer's body.
pub(crate) async fn check(
    stores: &Stores,
    report: Option<&ReadinessReport>,
) -> (StatusCode, serde_json::Value) {
    const LIMIT: Duration = Duration::from_secs(2);
    // Probes answer "up" or "down"; why is in the log, never in the (public) answer.
    let database = tokio::time::timeout(LIMIT, async {
        let mut conn = stores.db.get().await.map_err(|e| e.to_string())?;
        conn.batch_execute("SELECT 1")
            .await
            .map_err(|e| e.to_string())
    });
    let redis = tokio::time::timeout(LIMIT, stores.redis.ping());
    let (database, redis) = tokio::join!(database, redis);
    let database = match database {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("timed out".to_owned()),
    };
    let redis = match redis {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let status = if database.is_ok() && redis.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let describe = |store: &str, r: &Result<(), String>| match r {
        Ok(()) => "up",
        Err(error) => {
            tracing::warn!(%error, "readiness: {store} is down");
            "down"
        }
    };
    let mut body = serde_json::json!({
        "ready": status == StatusCode::OK,
        "database": describe("PostgreSQL", &database),
        "redis": describe("Redis", &redis),
    });
    if let Some(report) = report {
        let (name, value) = report();
        body[name] = value;
    }
    (status, body)
}
