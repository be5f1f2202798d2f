//! The consumer against a real Redis.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

async fn redis() -> Redis {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Redis::connect(&url, &test_support::redis_prefix(), 2)
        .await
        .expect("redis")
}

async fn publish(redis: &Redis, name: &str) -> String {
    let event = Event {
        id: uuid::Uuid::now_v7(),
        name: name.into(),
        version: 1,
        aggregate_id: "x".into(),
        occurred_at: chrono::Utc::now(),
        traceparent: None,
        payload: serde_json::json!({}),
    };
    let mut conn = redis.connection().await.unwrap();
    redis::cmd("XADD")
        .arg(stream_key(redis, "orders"))
        .arg("*")
        .arg("event")
        .arg(serde_json::to_string(&event).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// 150 events that always fail, then one that fails once: retries walk the pending list
/// past the first hundred (a restart at `0-0` with COUNT 100 never reached it), and the
/// hopeless ones are dead-lettered after `max_deliveries`, recorded with their event.
#[tokio::test(flavor = "multi_thread")]
async fn failing_events_are_dead_lettered_and_never_starve_the_retry_of_others() {
    let redis = redis().await;
    for _ in 0..150 {
        publish(&redis, "Poison").await;
    }
    let good = publish(&redis, "Good").await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let retries = Retries {
        claim_after: Duration::from_millis(100),
        claim_every: Duration::from_millis(100),
        max_deliveries: 3,
    };
    let worker = {
        let (attempts, handled) = (attempts.clone(), handled.clone());
        consumer_worker_with(
            redis.clone(),
            ("orders", "cart"),
            1,
            retries,
            move |event: Event| {
                let (attempts, handled) = (attempts.clone(), handled.clone());
                async move {
                    if event.name == "Poison" {
                        anyhow::bail!("always fails");
                    }
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        anyhow::bail!("fails once");
                    }
                    handled.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
        )
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker(shutdown));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = redis.connection().await.unwrap();
    loop {
        let dead: usize = redis::cmd("HLEN")
            .arg(dead_letter_key(&redis, "orders"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if handled.load(Ordering::SeqCst) == 1 && dead == 150 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "handled {} (attempts {}), dead-lettered {dead}",
            handled.load(Ordering::SeqCst),
            attempts.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream_key(&redis, "orders"))
        .arg("cart")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.count(), 0, "nothing left pending");
    let record: Option<String> = redis::cmd("HGET")
        .arg(dead_letter_key(&redis, "orders"))
        .arg(format!("cart/{good}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(record, None, "the good event was not given up");
    let first_dead: Vec<String> = redis::cmd("HVALS")
        .arg(dead_letter_key(&redis, "orders"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&first_dead[0]).unwrap();
    assert_eq!(record["group"], "cart");
    assert_eq!(record["deliveries"], 3);
    assert!(
        record["event"].as_str().unwrap().contains("Poison"),
        "{record}"
    );
}
