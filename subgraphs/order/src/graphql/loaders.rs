//! DataLoaders: lookups of one request are batched into one query per kind.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use service_kit::loader::{BatchWindow, batched, group_by};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{HistoryRow, OrderItemRow, OrderRow, orders};

/// Orders by id.
pub struct OrderLoader(pub DbPool);

impl Loader<Uuid> for OrderLoader {
    type Value = OrderRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, OrderRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = orders::orders_by_id(&mut conn, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Lines of orders, by order id, in purchase order.
pub struct OrderItemsLoader(pub DbPool);

impl Loader<Uuid> for OrderItemsLoader {
    type Value = Vec<OrderItemRow>;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<OrderItemRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = orders::items_of(&mut conn, ids).await?;
        Ok(group_by(rows, |row| row.order_id))
    }
}

/// Status changes of orders, by order id, oldest first.
pub struct HistoryLoader(pub DbPool);

impl Loader<Uuid> for HistoryLoader {
    type Value = Vec<HistoryRow>;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<HistoryRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = orders::history_of(&mut conn, ids).await?;
        Ok(group_by(rows, |row| row.order_id))
    }
}

/// Adds a fresh set of loaders (a per-request cache) to a request's data.
pub fn add_loaders(db: &DbPool, window: BatchWindow, data: &mut async_graphql::Data) {
    data.insert(batched(OrderLoader(db.clone()), window));
    data.insert(batched(OrderItemsLoader(db.clone()), window));
    data.insert(batched(HistoryLoader(db.clone()), window));
}
