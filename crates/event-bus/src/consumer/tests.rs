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

/// Retries quick enough for a test: claimed after 100 ms, dead-lettered at the third
/// delivery.
const QUICK_RETRIES: Retries = Retries {
    claim_after: Duration::from_millis(100),
    claim_every: Duration::from_millis(100),
    max_deliveries: 3,
};

/// Runs `worker` until `finished(entries dead-lettered so far)`, then stops it (failing
/// with `state()` after 20 s); a connection for the checks that follow.
async fn run_until(
    redis: &Redis,
    worker: Worker,
    finished: impl Fn(usize) -> bool,
    state: impl Fn() -> String,
) -> service_kit::redis::Connection {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker(shutdown));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = redis.connection().await.unwrap();
    loop {
        let dead: usize = redis::cmd("HLEN")
            .arg(dead_letter_key(redis, "orders"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if finished(dead) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}, dead-lettered {dead}",
            state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    conn
}

/// Entries of `orders` still pending for the group `cart`.
async fn pending(redis: &Redis, conn: &mut service_kit::redis::Connection) -> usize {
    let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream_key(redis, "orders"))
        .arg("cart")
        .query_async(conn)
        .await
        .unwrap();
    pending.count()
}

/// The dead letter of entry `id` for the group `cart`, if it was given up.
async fn dead_letter(
    redis: &Redis,
    conn: &mut service_kit::redis::Connection,
    id: &str,
) -> Option<String> {
    redis::cmd("HGET")
        .arg(dead_letter_key(redis, "orders"))
        .arg(format!("cart/{id}"))
        .query_async(conn)
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
    let worker = {
        let (attempts, handled) = (attempts.clone(), handled.clone());
        consumer_worker_with(
            redis.clone(),
            ("orders", "cart"),
            QUICK_RETRIES,
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
    let mut conn = run_until(
        &redis,
        worker,
        |dead| handled.load(Ordering::SeqCst) == 1 && dead == 150,
        || {
            format!(
                "handled {} (attempts {})",
                handled.load(Ordering::SeqCst),
                attempts.load(Ordering::SeqCst)
            )
        },
    )
    .await;
    assert_eq!(pending(&redis, &mut conn).await, 0, "nothing left pending");
    assert_eq!(
        dead_letter(&redis, &mut conn, &good).await,
        None,
        "the good event was not given up"
    );
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

/// Five events read at once by a batch consumer, one of which always fails: the batch
/// fails, its events are handled again one at a time, each good one acknowledged as soon
/// as it is handled (not at the end of the read), each handled once, and the bad one
/// alone is dead-lettered.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_an_event_that_always_fails_holds_back_only_that_event() {
    let redis = redis().await;
    let mut good = Vec::new();
    for name in ["Good", "Good", "Poison", "Good", "Good"] {
        let entry = publish(&redis, name).await;
        if name == "Good" {
            good.push(entry);
        }
    }
    // Per call of the handler: how many events it got, and how many were pending then.
    let batches = Arc::new(std::sync::Mutex::new(Vec::<(usize, usize)>::new()));
    let handled = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (batches, handled, redis) = (batches.clone(), handled.clone(), redis.clone());
        batch_consumer_worker_with(
            redis.clone(),
            ("orders", "cart"),
            QUICK_RETRIES,
            move |events: Vec<Event>| {
                let (batches, handled, redis) = (batches.clone(), handled.clone(), redis.clone());
                async move {
                    let mut conn = redis.connection().await?;
                    let waiting = pending(&redis, &mut conn).await;
                    batches.lock().unwrap().push((events.len(), waiting));
                    if events.iter().any(|e| e.name == "Poison") {
                        anyhow::bail!("always fails");
                    }
                    handled.fetch_add(events.len(), Ordering::SeqCst);
                    Ok(())
                }
            },
        )
    };
    let mut conn = run_until(
        &redis,
        worker,
        |dead| dead == 1,
        || format!("batches {:?}", batches.lock().unwrap()),
    )
    .await;
    let batches = batches.lock().unwrap().clone();
    let sizes: Vec<usize> = batches.iter().map(|(size, _)| *size).collect();
    assert_eq!(sizes[0], 5, "one read, one batch: {batches:?}");
    assert!(sizes[1..].iter().all(|n| *n == 1), "{batches:?}");
    // Alone, in stream order (good, good, bad, good, good): each good one was acknowledged
    // before the next was handled; the bad one stayed pending.
    let waiting: Vec<usize> = batches[1..6].iter().map(|(_, waiting)| *waiting).collect();
    assert_eq!(waiting, [5, 4, 3, 3, 2], "{batches:?}");
    assert_eq!(handled.load(Ordering::SeqCst), 4, "each good event once");
    assert_eq!(pending(&redis, &mut conn).await, 0, "nothing left pending");
    for entry in good {
        assert_eq!(
            dead_letter(&redis, &mut conn, &entry).await,
            None,
            "a good event was given up"
        );
    }
}
