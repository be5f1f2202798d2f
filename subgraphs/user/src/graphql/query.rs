//! Root queries of the user subgraph and the `User` entity resolver.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use auth::{CallerExt as _, RequirePermission};
use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::validate::optional_text;
use uuid::Uuid;

use super::loaders::UserLoader;
use super::types::{Role, User, UserConnection, UserEdge};
use crate::db;

/// Position in the newest-first user listing.
type UserCursor = (DateTime<Utc>, Uuid);

/// Root queries of the user subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        me(ctx).await.map(Some)
    }

    /// One account's public profile; `null` when the id is unknown.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        load_user(ctx, &id).await
    }

    /// Accounts, newest first; `search` matches email or display name (case-insensitive).
    /// Needs `users:read`.
    #[graphql(
        directive = service_kit::subgraph::list_size::apply(Some(vec!["first".into()]), Some(vec!["edges".into()]), None, Some(false)),
        guard = "RequirePermission(\"users:read\")"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Option<UserConnection>> {
        let page = PageRequest::<UserCursor>::parse(first, after.as_deref())?;
        let text = match search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => Some(optional_text("search", text, 100)?),
            None => None,
        };
        let mut conn = service_kit::db::connection(ctx).await?;
        let (total_count, mut rows) =
            db::reads::users_page(&mut conn, text, page.after, page.limit + 1)
                .await
                .map_err(ApiError::from)?;
        let has_next_page = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let edges: Vec<UserEdge> = rows
            .into_iter()
            .map(|row| UserEdge {
                cursor: encode_cursor(&(row.created_at, row.id)),
                node: User::new(row),
            })
            .collect();
        Ok(Some(UserConnection {
            total_count,
            page_info: PageInfo::of_page(
                edges.iter().map(|e| &e.cursor),
                has_next_page,
                page.after.is_some(),
            ),
            edges,
        }))
    }

    /// Every role with its permission entries. Needs `roles:read`.
    #[graphql(guard = "RequirePermission(\"roles:read\")")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Option<Vec<Role>>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = db::reads::all_roles(&mut conn)
            .await
            .map_err(ApiError::from)?;
        Ok(Some(
            rows.into_iter()
                .map(|(name, permissions)| Role { name, permissions })
                .collect(),
        ))
    }

    /// Resolves `User` references from other subgraphs, in batches.
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        load_user(ctx, &id).await
    }
}

/// The user with `id`, through the request's loader; `None` for unknown ids,
/// `BAD_USER_INPUT` for malformed ones.
async fn load_user(ctx: &Context<'_>, id: &str) -> Result<Option<User>> {
    let uuid = service_kit::validate::id("id", id)?;
    let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
    Ok(loader.load_one(uuid).await?.map(User::new))
}

/// The caller's own account.
async fn me(ctx: &Context<'_>) -> Result<User> {
    let id = ctx.caller().user_id()?;
    let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
    Ok(User::new(loader.load_one(id).await?.ok_or_else(|| {
        ApiError::Unauthenticated("this account no longer exists".into())
    })?))
}
