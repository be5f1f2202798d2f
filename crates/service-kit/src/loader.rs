//! How every subgraph's DataLoaders gather keys into batches.
//!
//! async-graphql's DataLoader waits a fixed time (1 ms by default) after the first key of a
//! batch for more keys, on `async-io`'s timer thread (its `tokio-timer` feature is off). A
//! product detail loads one key and waited the whole millisecond for company that never
//! comes: a third of the catalog's throughput (`benches/read_path.rs`). Batching does not
//! need a clock: the resolvers of one request that could add keys to a batch are polled
//! together (async-graphql resolves sibling fields and list items with a join), so once the
//! request's task has yielded, every key it was going to ask for now is queued.
//! [`BatchWindow::Yield`] dispatches the batch then; [`BatchWindow::Timer`] keeps the old
//! behaviour (on tokio's timer) for comparison.

use std::time::Duration;

use async_graphql::dataloader::DataLoader;

/// When a batch is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchWindow {
    /// Once the requesting task has yielded to the scheduler (no timer; the default).
    Yield,
    /// A fixed time after the batch's first key (async-graphql's way).
    Timer(Duration),
}

impl BatchWindow {
    /// `DATALOADER_DELAY_MICROS`: 0 (the default) is [`BatchWindow::Yield`], anything else a
    /// [`BatchWindow::Timer`] of that many microseconds.
    pub fn from_micros(micros: u64) -> Self {
        if micros == 0 {
            Self::Yield
        } else {
            Self::Timer(Duration::from_micros(micros))
        }
    }
}

/// A DataLoader (without a cross-request cache: it lives for one request) that sends its
/// batches as `window` says.
pub fn batched<T: Send + Sync + 'static>(loader: T, window: BatchWindow) -> DataLoader<T> {
    // async-graphql's own delay is zero (its timer is ready at once); the batch task we are
    // handed waits for the window, then takes every key queued so far.
    let spawner = move |batch: futures::future::BoxFuture<'static, ()>| {
        tokio::spawn(async move {
            match window {
                // The spawned task runs after the requesting task's current poll, in which
                // its sibling resolvers queued their keys; one more yield lets resolvers
                // woken meanwhile (a guard, a cached value) join too.
                BatchWindow::Yield => tokio::task::yield_now().await,
                BatchWindow::Timer(delay) => tokio::time::sleep(delay).await,
            }
            batch.await;
        })
    };
    DataLoader::new(loader, spawner).delay(Duration::ZERO)
}

/// Rows grouped by `key` (the entity they belong to), each group in the rows' order: what a
/// loader of "the X of each Y" answers.
pub fn group_by<K, T>(
    rows: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> std::collections::HashMap<K, Vec<T>>
where
    K: std::hash::Hash + Eq,
{
    let mut grouped: std::collections::HashMap<K, Vec<T>> = std::collections::HashMap::new();
    for row in rows {
        grouped.entry(key(&row)).or_default().push(row);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use async_graphql::dataloader::Loader;

    use super::*;

    /// Records every batch it is asked for.
    struct Recording(Arc<Mutex<Vec<Vec<u32>>>>);

    impl Loader<u32> for Recording {
        type Value = u32;
        type Error = std::convert::Infallible;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, Self::Error> {
            let mut keys = keys.to_vec();
            keys.sort_unstable();
            self.0.lock().unwrap().push(keys.clone());
            Ok(keys.into_iter().map(|k| (k, k * 10)).collect())
        }
    }

    async fn batches_of(window: BatchWindow) -> Vec<Vec<u32>> {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let loader = batched(Recording(batches.clone()), window);
        // Twenty lookups polled together, as async-graphql polls the items of a list, on a
        // runtime worker like a request's task.
        let values = tokio::spawn(async move {
            futures::future::join_all((0..20).map(|k| loader.load_one(k))).await
        })
        .await
        .expect("request task");
        assert_eq!(values[7].unwrap(), Some(70));
        batches.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_polled_together_make_one_batch_without_a_timer() {
        assert_eq!(
            batches_of(BatchWindow::Yield).await,
            vec![(0..20).collect::<Vec<_>>()]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_timer_window_batches_too() {
        let window = BatchWindow::Timer(Duration::from_millis(1));
        assert_eq!(batches_of(window).await, vec![(0..20).collect::<Vec<_>>()]);
    }

    #[test]
    fn zero_micros_means_no_timer() {
        assert_eq!(BatchWindow::from_micros(0), BatchWindow::Yield);
        assert_eq!(
            BatchWindow::from_micros(1000),
            BatchWindow::Timer(Duration::from_millis(1))
        );
    }
}
