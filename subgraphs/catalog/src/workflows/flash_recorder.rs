//! Recording a sale's admissions together (group commit).
//!
//! Every recording of a sale raises the sale's `held` under its row lock and keeps the row
//! through its COMMIT, WAL flush included, so one sale's recordings commit one after the
//! other: in a flash sale, the admission phase went at the pace of one flush per admission.
//! Here, while one recording of a sale is under way, the admissions that arrive for that
//! sale wait in its queue; the next recording takes them all (up to [`MAX_BATCH`]) in one
//! statement and one transaction (`db::flash_purchases::record_batch`). Nothing waits for
//! company: an admission alone is recorded at once, alone.
//!
//! Each process batches its own admissions; PostgreSQL keeps the bounds across processes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, PoisonError};

use service_kit::{ApiError, DbPool};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::flash_purchases::{self, NewPurchase, Recorded};

/// Admissions recorded in one transaction at most.
pub const MAX_BATCH: usize = 64;

/// An admission waiting in its sale's queue, and where its answer goes.
struct Waiting {
    purchase: NewPurchase,
    answer: oneshot::Sender<Result<Recorded, ApiError>>,
}

/// The admissions waiting, by sale. A sale has an entry while its recordings are under way
/// (one task records them, batch after batch, until its queue is empty).
#[derive(Clone, Default)]
pub struct Recorder {
    queues: Arc<Mutex<HashMap<Uuid, Vec<Waiting>>>>,
}

impl Recorder {
    /// Records `purchase` with whatever else of its sale is waiting; what became of it.
    pub async fn record(&self, db: &DbPool, purchase: NewPurchase) -> Result<Recorded, ApiError> {
        let (answer, answered) = oneshot::channel();
        let sale = purchase.sale;
        let waiting = Waiting { purchase, answer };
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
            // A task of its own: a caller that goes away does not abandon the others.
            tokio::spawn(self.clone().drain(db.clone(), sale));
        }
        answered.await.map_err(|_| ApiError::Internal)?
    }

    /// Records the sale's queue, batch after batch, until it is empty.
    async fn drain(self, db: DbPool, sale: Uuid) {
        // Should this task end early (a panic), the sale's queue goes with it: its waiting
        // admissions get an error rather than waiting for good, and the next starts anew.
        let mut guard = Draining {
            recorder: &self,
            sale,
            done: false,
        };
        loop {
            let batch: Vec<Waiting> = {
                let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(queue) = queues.get_mut(&sale).filter(|queue| !queue.is_empty()) else {
                    queues.remove(&sale);
                    guard.done = true;
                    return;
                };
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            metrics::histogram!("flash_sale_recording_batch_size").record(batch.len() as f64);
            let (purchases, answers): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|waiting| (waiting.purchase, waiting.answer))
                .unzip();
            let recorded = record_all(&db, sale, &purchases).await;
            for (answer, recorded) in answers.into_iter().zip(recorded) {
                // A caller that went away: its recording stands all the same.
                let _ = answer.send(recorded);
            }
        }
    }
}

/// Ends a sale's queue if its task ends without emptying it.
struct Draining<'a> {
    recorder: &'a Recorder,
    sale: Uuid,
    done: bool,
}

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut queues = (self.recorder.queues.lock()).unwrap_or_else(PoisonError::into_inner);
            queues.remove(&self.sale);
        }
    }
}

/// Records `purchases` together. If the statement fails, they are recorded one by one, at
/// once, so that one admission's failure (or a deadlock) is only its own; a batch whose
/// reply was lost did commit, and each admission then finds its own purchase under its key.
/// Without a connection, every admission gets the error (no second wait for one).
async fn record_all(
    db: &DbPool,
    sale: Uuid,
    purchases: &[NewPurchase],
) -> Vec<Result<Recorded, ApiError>> {
    let mut conn = match db.get().await {
        Ok(conn) => conn,
        Err(error) => {
            let error = ApiError::from(error);
            return purchases.iter().map(|_| Err(error.clone())).collect();
        }
    };
    match flash_purchases::record_batch(&mut conn, sale, purchases).await {
        Ok(recorded) => recorded.into_iter().map(Ok).collect(),
        Err(error) if purchases.len() == 1 => vec![Err(error)],
        Err(error) => {
            drop(conn);
            tracing::warn!(error = %error.message(), %sale, admissions = purchases.len(), "recording a batch failed: recording one by one");
            futures::future::join_all(purchases.iter().map(|purchase| async move {
                let mut conn = db.get().await?;
                flash_purchases::record(&mut conn, purchase).await
            }))
            .await
        }
    }
}
