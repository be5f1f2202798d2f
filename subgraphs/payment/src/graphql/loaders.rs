//! DataLoaders: lookups of one request are batched into one query per kind.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use service_kit::loader::{BatchWindow, batched, group_by};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{PaymentRow, payments};

/// Payments by id, one query per batch.
pub struct PaymentLoader(pub DbPool);

impl Loader<Uuid> for PaymentLoader {
    type Value = PaymentRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, PaymentRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = payments::by_ids(&mut conn, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Payments by order id, one query per batch.
pub struct PaymentsByOrderLoader(pub DbPool);

impl Loader<Uuid> for PaymentsByOrderLoader {
    type Value = Vec<PaymentRow>;
    type Error = ApiError;

    async fn load(&self, order_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<PaymentRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = payments::of_orders(&mut conn, order_ids).await?;
        Ok(group_by(rows, |row| row.order_id))
    }
}

/// Adds a fresh set of loaders (a per-request cache) to a request's data.
pub fn add_loaders(db: &DbPool, window: BatchWindow, data: &mut async_graphql::Data) {
    data.insert(batched(PaymentLoader(db.clone()), window));
    data.insert(batched(PaymentsByOrderLoader(db.clone()), window));
}
