//! Administration: bans and roles, each behind its permission.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use auth::{Access, CallerExt as _, RequirePermission};
use chrono::{DateTime, Utc};
use service_kit::validate::required_text;

use super::types::{Role, User};
use crate::domain::accounts::check_ban;
use crate::domain::roles::{permission_entries, role_name, role_set};
use crate::workflows;

/// Bans and roles.
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Bans a user (until `until`, or until lifted): their sessions end at once and sign-in
    /// is refused with the reason. Needs `users:ban`.
    #[graphql(guard = "RequirePermission(\"users:ban\")")]
    async fn ban_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        reason: String,
        until: Option<DateTime<Utc>>,
    ) -> Result<User> {
        let admin = ctx.caller().user_id()?;
        let target = service_kit::validate::id("userId", &user_id)?;
        let reason = required_text("reason", &reason, 500)?;
        check_ban(admin, target, until, Utc::now())?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = workflows::admin::ban(&mut conn, access, admin, target, &reason, until).await?;
        Ok(User::new(row))
    }

    /// Lifts a ban. Needs `users:ban`.
    #[graphql(guard = "RequirePermission(\"users:ban\")")]
    async fn unban_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let target = service_kit::validate::id("userId", &user_id)?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = workflows::admin::unban(&mut conn, access, target).await?;
        Ok(User::new(row))
    }

    /// Creates or replaces a role. Entries are exact permissions, `*` wildcards or `re:`
    /// regular expressions (matched against the whole permission). Applies to every holder
    /// on their next request. Needs `roles:write`.
    #[graphql(guard = "RequirePermission(\"roles:write\")")]
    async fn upsert_role(
        &self,
        ctx: &Context<'_>,
        name: String,
        permissions: Vec<String>,
    ) -> Result<Role> {
        let name = role_name(&name)?;
        let entries = permission_entries(&permissions)?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        workflows::admin::upsert_role(&mut conn, access, &name, &entries).await?;
        Ok(Role {
            name,
            permissions: entries,
        })
    }

    /// Replaces a user's roles; applies on their next request, without a new sign-in.
    /// Needs `roles:write`.
    #[graphql(guard = "RequirePermission(\"roles:write\")")]
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        roles: Vec<String>,
    ) -> Result<User> {
        let target = service_kit::validate::id("userId", &user_id)?;
        let wanted = role_set(roles);
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = workflows::admin::set_user_roles(&mut conn, access, target, &wanted).await?;
        Ok(User::new(row))
    }
}
