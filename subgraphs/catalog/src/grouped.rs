//! Work done a group at a time, per sale: while one batch of a sale is under way, the items
//! that arrive for that sale wait in its queue, and the next batch takes them all (up to a
//! maximum). Nothing waits for company: an item alone is done at once, alone. In a flash
//! sale, one batch replaces a round trip (or a commit) per item, and the batches grow with
//! the load.
//!
//! Each process groups its own items; what must hold across processes is kept by the store
//! that does the work (PostgreSQL's row lock, Redis's atomic script).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use uuid::Uuid;

/// The queues of waiting items, by sale. A sale has an entry while its batches are under
/// way (one task does them, batch after batch, until its queue is empty).
pub struct Grouped<I, O> {
    queues: Queues<I, O>,
    max_batch: usize,
}

type Queues<I, O> = Arc<Mutex<HashMap<Uuid, Vec<Waiting<I, O>>>>>;

/// An item waiting in its sale's queue, and where its answer goes.
struct Waiting<I, O> {
    item: I,
    answer: oneshot::Sender<O>,
}

impl<I, O> Clone for Grouped<I, O> {
    fn clone(&self) -> Self {
        Self {
            queues: self.queues.clone(),
            max_batch: self.max_batch,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Grouped<I, O> {
    /// Batches of at most `max_batch` items.
    pub fn new(max_batch: usize) -> Self {
        Self {
            queues: Arc::default(),
            max_batch: max_batch.max(1),
        }
    }

    /// Does `item` with whatever else of `sale` is waiting: `work` gets a batch and answers
    /// each of its items, in order. `None` when the batch's task ended without an answer
    /// (it panicked).
    ///
    /// The batches run in a task of their own, so a caller that goes away abandons neither
    /// its own item (it is done all the same) nor the others.
    pub async fn submit<W, F>(&self, sale: Uuid, item: I, work: W) -> Option<O>
    where
        W: Fn(Vec<I>) -> F + Send + 'static,
        F: Future<Output = Vec<O>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting { item, answer };
        let start = match self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(sale)
        {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push(waiting);
                false
            }
            Entry::Vacant(queue) => {
                queue.insert(vec![waiting]);
                true
            }
        };
        if start {
            // Should the task end early (a panic, or dropped unstarted by a runtime shutting
            // down), the sale's queue goes with it: its waiting items get no answer rather
            // than waiting for good, and the next starts anew.
            let guard = Draining {
                queues: self.queues.clone(),
                sale,
                done: false,
            };
            tokio::spawn(self.clone().drain(guard, work));
        }
        answered.await.ok()
    }

    /// Does the sale's queue, batch after batch, until it is empty.
    async fn drain<W, F>(self, mut guard: Draining<I, O>, work: W)
    where
        W: Fn(Vec<I>) -> F,
        F: Future<Output = Vec<O>>,
    {
        let sale = guard.sale;
        loop {
            let batch: Vec<Waiting<I, O>> = {
                let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(queue) = queues.get_mut(&sale).filter(|queue| !queue.is_empty()) else {
                    queues.remove(&sale);
                    guard.done = true;
                    return;
                };
                let take = queue.len().min(self.max_batch);
                queue.drain(..take).collect()
            };
            let (items, answers): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|waiting| (waiting.item, waiting.answer))
                .unzip();
            let done = work(items).await;
            debug_assert_eq!(done.len(), answers.len(), "one answer per item");
            for (answer, done) in answers.into_iter().zip(done) {
                // A caller that went away: its item was done all the same.
                let _ = answer.send(done);
            }
        }
    }
}

/// Ends a sale's queue if its task ends without emptying it.
struct Draining<I, O> {
    queues: Queues<I, O>,
    sale: Uuid,
    done: bool,
}

impl<I, O> Drop for Draining<I, O> {
    fn drop(&mut self) {
        if !self.done {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            queues.remove(&self.sale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_that_arrive_during_a_batch_go_together_into_the_next() {
        let grouped: Grouped<u32, (u32, usize)> = Grouped::new(3);
        let sale = Uuid::new_v4();
        let (release, released) = tokio::sync::watch::channel(false);
        let work = move |items: Vec<u32>| {
            let mut released = released.clone();
            async move {
                // The first batch waits until the others are queued behind it.
                let _ = released.wait_for(|go| *go).await;
                let size = items.len();
                items.into_iter().map(|item| (item, size)).collect()
            }
        };
        let submit = |i: u32| {
            let (grouped, work) = (grouped.clone(), work.clone());
            tokio::spawn(async move { grouped.submit(sale, i, work).await })
        };
        let queued = |grouped: &Grouped<u32, (u32, usize)>| {
            grouped.queues.lock().unwrap().get(&sale).map(Vec::len)
        };
        // The first is taken alone (its batch then waits), the next four queue behind it.
        let mut calls = vec![submit(0)];
        while queued(&grouped) != Some(0) {
            tokio::task::yield_now().await;
        }
        calls.extend((1..5).map(submit));
        while queued(&grouped) != Some(4) {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        let mut sizes = Vec::new();
        for (i, call) in calls.into_iter().enumerate() {
            let (item, size) = call.await.unwrap().expect("an answer");
            assert_eq!(item, i as u32, "each caller gets its own item's answer");
            sizes.push(size);
        }
        sizes.sort_unstable();
        // One alone, then the four waiting in batches of at most three.
        assert_eq!(sizes, [1, 1, 3, 3, 3]);
        assert!(grouped.queues.lock().unwrap().is_empty(), "the queue ends");
    }
}
