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

use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::flash_purchases::{self, NewPurchase, Recorded};
use crate::grouped::Grouped;

/// Admissions recorded in one transaction at most.
pub const MAX_BATCH: usize = 64;

/// The admissions waiting to be recorded, by sale (`crate::grouped`).
#[derive(Clone)]
pub struct Recorder(Grouped<NewPurchase, Result<Recorded, ApiError>>);

impl Default for Recorder {
    fn default() -> Self {
        Self(Grouped::new(MAX_BATCH))
    }
}

impl Recorder {
    /// Records `purchase` with whatever else of its sale is waiting; what became of it.
    pub async fn record(&self, db: &DbPool, purchase: NewPurchase) -> Result<Recorded, ApiError> {
        let db = db.clone();
        let sale = purchase.sale;
        self.0
            .submit(sale, purchase, move |batch: Vec<NewPurchase>| {
                let db = db.clone();
                async move {
                    metrics::histogram!("flash_sale_recording_batch_size")
                        .record(batch.len() as f64);
                    record_all(&db, sale, &batch).await
                }
            })
            .await
            .unwrap_or(Err(ApiError::Internal))
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
