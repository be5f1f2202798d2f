//! DataLoaders: lookups of one request are batched into one query per kind.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use service_kit::loader::{BatchWindow, batched, group_by};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{AddressRow, UserRow, reads};

/// Users by id, one query per batch.
pub struct UserLoader(pub DbPool);

impl Loader<Uuid> for UserLoader {
    type Value = UserRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, UserRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = reads::users_by_id(&mut conn, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Role names of users, one query per batch.
pub struct UserRolesLoader(pub DbPool);

impl Loader<Uuid> for UserRolesLoader {
    type Value = Vec<String>;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = reads::roles_of(&mut conn, ids).await?;
        Ok(group_by(rows, |(user, _)| *user)
            .into_iter()
            .map(|(user, rows)| (user, rows.into_iter().map(|(_, role)| role).collect()))
            .collect())
    }
}

/// Addresses of users, default first then oldest first, one query per batch.
pub struct AddressesLoader(pub DbPool);

impl Loader<Uuid> for AddressesLoader {
    type Value = Vec<AddressRow>;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<AddressRow>>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = reads::addresses_of(&mut conn, ids).await?;
        Ok(group_by(rows, |row| row.user_id))
    }
}

/// Adds this request's loaders.
pub fn add_loaders(db: &DbPool, window: BatchWindow, data: &mut async_graphql::Data) {
    data.insert(batched(UserLoader(db.clone()), window));
    data.insert(batched(UserRolesLoader(db.clone()), window));
    data.insert(batched(AddressesLoader(db.clone()), window));
}
