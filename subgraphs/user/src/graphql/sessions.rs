//! Sign-up, sign-in, refresh and sign-out: the mutations that start and end sessions.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, Result};
use auth::{Access, CallerExt as _};

use super::types::AuthPayload;
use crate::domain::accounts::{
    check_password, check_presented_password, display_name, normalize_email,
};
use crate::workflows::accounts::{self, Registration};
use crate::workflows::sessions::{self, TokenPair};

#[derive(InputObject)]
pub struct RegisterInput {
    email: String,
    password: String,
    display_name: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    email: String,
    password: String,
}

fn payload(pair: TokenPair) -> AuthPayload {
    AuthPayload {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
        user_id: pair.user_id,
    }
}

/// Sign-up and sessions.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Creates an account with the `customer` role and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let email = normalize_email("input.email", &input.email)?;
        check_password("input.password", &input.password)?;
        let name = display_name("input.displayName", &input.display_name)?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let new = Registration {
            email,
            display_name: name,
            password: input.password,
        };
        let pair = accounts::register(access, ctx.caller().client_ip(), new, || {
            service_kit::db::connection(ctx)
        })
        .await?;
        Ok(payload(pair))
    }

    /// Signs in. Wrong credentials: `UNAUTHENTICATED`; a banned account is told why and
    /// until when; too many failures: `RATE_LIMITED` with `retryAfterSeconds`.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let email = normalize_email("input.email", &input.email)?;
        check_presented_password("input.password", &input.password)?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let client_ip = ctx.caller().client_ip().map(str::to_owned);
        let pair = sessions::sign_in(access, &email, input.password, client_ip.as_deref(), || {
            service_kit::db::connection(ctx)
        })
        .await?;
        Ok(payload(pair))
    }

    /// Exchanges a refresh token for a new pair; the presented token is used up. Presenting
    /// a used token revokes its session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(payload(
            sessions::refresh(&mut conn, access, &refresh_token).await?,
        ))
    }

    /// Ends the current session: its access and refresh tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let session = ctx.caller().identity()?.session_id;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        sessions::revoke(&mut conn, access, &[session], "logout").await?;
        Ok(true)
    }

    /// Ends every session of the caller, on every device.
    async fn logout_all(&self, ctx: &Context<'_>) -> Result<bool> {
        let user = ctx.caller().user_id()?;
        let access = ctx.data_unchecked::<Arc<Access>>();
        let mut conn = service_kit::db::connection(ctx).await?;
        sessions::revoke_all(&mut conn, access, user, "logout everywhere").await?;
        Ok(true)
    }
}
