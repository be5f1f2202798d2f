//! The caller's own account: profile and password.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, Result};
use auth::{Access, CallerExt as _};

use super::types::User;
use crate::domain::accounts::{check_password, display_name};
use crate::workflows::accounts;

#[derive(InputObject)]
pub struct UpdateProfileInput {
    display_name: Option<String>,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    current_password: String,
    new_password: String,
}

/// Changes of the caller's account.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Changes the caller's display name.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let user = ctx.caller().user_id()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let name = input
            .display_name
            .map(|name| display_name("input.displayName", &name))
            .transpose()?;
        let row = accounts::update_profile(&mut conn, user, name).await?;
        Ok(User::new(row))
    }

    /// Changes the caller's password and signs out their other sessions.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let identity = ctx.caller().identity()?.clone();
        check_password("input.newPassword", &input.new_password)?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        accounts::change_password(
            &mut conn,
            access,
            identity.user_id,
            identity.session_id,
            ctx.caller().client_ip(),
            input.current_password,
            input.new_password,
        )
        .await?;
        Ok(true)
    }
}
