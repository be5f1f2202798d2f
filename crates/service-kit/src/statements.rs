//! Counting the SQL statements a pool sends (tests prove batching with it).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts SQL statements sent through a pool, so that tests can prove batching.
#[derive(Debug, Default)]
pub struct StatementCounter(AtomicU64);

impl StatementCounter {
    /// Statements started since creation or the last [`reset`](Self::reset).
    pub fn get(&self) -> u64 {
        AtomicU64::load(&self.0, Ordering::SeqCst)
    }
    /// Starts counting from zero again.
    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
    /// One more statement started.
    pub(crate) fn count_one(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
