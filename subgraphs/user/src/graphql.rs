//! The user subgraph's GraphQL schema: the `User` entity.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::db::{UserRow, users};

/// Whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum UserStatus {
    /// Normal account.
    Active,
    /// Banned by an administrator.
    Banned,
}

/// An account. Other subgraphs add fields to it (`cart`, `orders`).
pub struct User(pub UserRow);

#[Object]
impl User {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Public name.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Account status.
    async fn status(&self) -> UserStatus {
        if self.0.status == "BANNED" {
            UserStatus::Banned
        } else {
            UserStatus::Active
        }
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Users by id, one query per batch.
pub struct UserLoader(pub DbPool);

impl Loader<Uuid> for UserLoader {
    type Value = UserRow;
    type Error = ApiError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, UserRow>, ApiError> {
        let mut conn = self.0.get().await?;
        let rows = users::table
            .filter(users::id.eq_any(ids))
            .select(UserRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Root queries of the user subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// One account's public profile; `null` when the id is unknown.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        load_user(ctx, &id).await
    }

    /// Resolves `User` references from other subgraphs, in batches.
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        load_user(ctx, &id).await
    }
}

async fn load_user(ctx: &Context<'_>, id: &ID) -> Result<Option<User>> {
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
    Ok(loader.load_one(uuid).await?.map(User))
}
