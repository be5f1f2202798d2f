//! Mutations of the user subgraph: sign-up and sessions, profile and addresses, and the
//! administration of bans and roles.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::{Access, CallerExt as _, RequirePermission};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use peer_api::PostalAddress;
use service_kit::ApiError;
use service_kit::validate::{AddressParts, required_text};
use std::sync::Arc;
use uuid::Uuid;

use super::types::{Address, AuthPayload, Role, User};
use crate::accounts::{self, check_password, display_name, normalize_email};
use crate::db::{AddressRow, NewUser, UserRow, addresses, roles, user_roles, users};
use crate::sessions::{self, TokenPair};
use crate::throttle;

/// Most addresses one user may keep.
pub const MAX_ADDRESSES: i64 = 20;
/// Most permission entries in one role.
pub const MAX_PERMISSIONS: usize = 100;

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

#[derive(InputObject)]
pub struct UpdateProfileInput {
    display_name: Option<String>,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    current_password: String,
    new_password: String,
}

#[derive(InputObject)]
pub struct AddressInput {
    recipient: String,
    phone: String,
    province: String,
    city: String,
    district: String,
    line1: String,
    postal_code: Option<String>,
    is_default: Option<bool>,
}

impl AddressInput {
    fn validate(&self) -> Result<PostalAddress, ApiError> {
        service_kit::validate::postal_address(
            "input",
            AddressParts {
                recipient: &self.recipient,
                phone: &self.phone,
                province: &self.province,
                city: &self.city,
                district: &self.district,
                line1: &self.line1,
                postal_code: self.postal_code.as_deref(),
            },
        )
    }
}

fn address_row(
    fields: PostalAddress,
    id: Uuid,
    user_id: Uuid,
    is_default: bool,
    created_at: DateTime<Utc>,
) -> AddressRow {
    AddressRow {
        id,
        user_id,
        recipient: fields.recipient,
        phone: fields.phone,
        province: fields.province,
        city: fields.city,
        district: fields.district,
        line1: fields.line1,
        postal_code: fields.postal_code,
        is_default,
        created_at,
    }
}

fn access<'a>(ctx: &Context<'a>) -> &'a Arc<Access> {
    ctx.data_unchecked::<Arc<Access>>()
}

fn payload(pair: TokenPair) -> AuthPayload {
    AuthPayload {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
        user_id: pair.user_id,
    }
}

fn parse_id(field: &str, id: &str) -> Result<Uuid, ApiError> {
    service_kit::validate::id(field, id)
}

/// Mutations of the user subgraph.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates an account with the `customer` role and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let email = normalize_email("input.email", &input.email)?;
        check_password("input.password", &input.password)?;
        let name = display_name("input.displayName", &input.display_name)?;
        let access = access(ctx);
        throttle::admit_registration(
            access.redis(),
            ctx.caller().client_ip(),
            access.settings().register_limit_per_address,
        )
        .await?;
        let hash = accounts::hash_password(input.password).await?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let id = Uuid::now_v7();
        conn.transaction(async |conn| {
            diesel::insert_into(users::table)
                .values(NewUser {
                    id,
                    email: &email,
                    display_name: &name,
                    password_hash: &hash,
                })
                .execute(conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        ApiError::Conflict("this email is already registered".into())
                    }
                    other => ApiError::from(other),
                })?;
            diesel::insert_into(user_roles::table)
                .values((user_roles::user_id.eq(id), user_roles::role.eq("customer")))
                .execute(conn)
                .await?;
            Ok::<_, ApiError>(())
        })
        .await?;
        tracing::info!(user = %id, "account registered");
        Ok(payload(sessions::start(&mut conn, access, id).await?))
    }

    /// Signs in. Wrong credentials: `UNAUTHENTICATED`; a banned account is told why and
    /// until when; too many failures: `RATE_LIMITED` with `retryAfterSeconds`.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let email = normalize_email("input.email", &input.email)?;
        if input.password.len() > accounts::PASSWORD_CHARS.end() * 4 {
            return Err(ApiError::bad_input("input.password", "is too long").into());
        }
        let access = access(ctx);
        let client_ip = ctx.caller().client_ip().map(str::to_owned);
        throttle::admit_login(access.redis(), &email, client_ip.as_deref()).await?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let found: Option<(UserRow, Option<String>)> = crate::db::by_email(&email)
            .select((UserRow::as_select(), users::password_hash))
            .first(&mut conn)
            .await
            .optional()
            .map_err(ApiError::from)?;
        let (row, hash) = match found {
            Some((row, hash)) => (Some(row), hash),
            None => (None, None),
        };
        if !accounts::verify_password(input.password, hash).await? {
            tracing::info!("sign-in refused: wrong email or password");
            return Err(ApiError::Unauthenticated("wrong email or password".into()).into());
        }
        let row = row.ok_or(ApiError::Internal)?;
        throttle::login_succeeded(access.redis(), &email, client_ip.as_deref()).await?;
        if let Some(ban) = row.ban(Utc::now()) {
            return Err(ApiError::Unauthenticated(ban.message()).into());
        }
        tracing::info!(user = %row.id, "signed in");
        Ok(payload(sessions::start(&mut conn, access, row.id).await?))
    }

    /// Exchanges a refresh token for a new pair; the presented token is used up. Presenting
    /// a used token revokes its session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        let mut conn = service_kit::db::connection(ctx).await?;
        Ok(payload(
            sessions::refresh(&mut conn, access(ctx), &refresh_token).await?,
        ))
    }

    /// Ends the current session: its access and refresh tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let session = ctx.caller().identity()?.session_id;
        let mut conn = service_kit::db::connection(ctx).await?;
        sessions::revoke(&mut conn, access(ctx), &[session], "logout").await?;
        Ok(true)
    }

    /// Ends every session of the caller, on every device.
    async fn logout_all(&self, ctx: &Context<'_>) -> Result<bool> {
        let user = ctx.caller().user_id()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        sessions::revoke_all(&mut conn, access(ctx), user, "logout everywhere").await?;
        Ok(true)
    }

    /// Changes the caller's display name.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let user = ctx.caller().user_id()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = match input.display_name {
            Some(name) => {
                let name = display_name("input.displayName", &name)?;
                diesel::update(users::table.find(user))
                    .set((
                        users::display_name.eq(name),
                        users::updated_at.eq(Utc::now()),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(&mut conn)
                    .await
                    .map_err(ApiError::from)?
            }
            None => sessions::load_user(&mut conn, user).await?,
        };
        Ok(User::new(row))
    }

    /// Changes the caller's password and signs out their other sessions.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let identity = ctx.caller().identity()?.clone();
        check_password("input.newPassword", &input.new_password)?;
        let access = access(ctx);
        let mut conn = service_kit::db::connection(ctx).await?;
        let (email, hash): (String, Option<String>) = users::table
            .find(identity.user_id)
            .select((users::email, users::password_hash))
            .first(&mut conn)
            .await
            .map_err(ApiError::from)?;
        throttle::admit_login(access.redis(), &email, ctx.caller().client_ip()).await?;
        if !accounts::verify_password(input.current_password, hash).await? {
            return Err(ApiError::bad_input(
                "input.currentPassword",
                "is not your current password",
            )
            .into());
        }
        throttle::login_succeeded(access.redis(), &email, ctx.caller().client_ip()).await?;
        let new_hash = accounts::hash_password(input.new_password).await?;
        diesel::update(users::table.find(identity.user_id))
            .set((
                users::password_hash.eq(new_hash),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(&mut conn)
            .await
            .map_err(ApiError::from)?;
        let others: Vec<Uuid> = crate::db::sessions::table
            .filter(crate::db::sessions::user_id.eq(identity.user_id))
            .filter(crate::db::sessions::revoked_at.is_null())
            .filter(crate::db::sessions::id.ne(identity.session_id))
            .select(crate::db::sessions::id)
            .load(&mut conn)
            .await
            .map_err(ApiError::from)?;
        sessions::revoke(&mut conn, access, &others, "password changed").await?;
        Ok(true)
    }

    /// Saves an address. The first address, or one with `isDefault: true`, becomes the
    /// default.
    async fn add_address(&self, ctx: &Context<'_>, input: AddressInput) -> Result<Address> {
        let user = ctx.caller().user_id()?;
        let fields = input.validate()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = conn
            .transaction(async |conn| {
                lock_user(conn, user).await?;
                let count: i64 = addresses::table
                    .filter(addresses::user_id.eq(user))
                    .count()
                    .get_result(conn)
                    .await?;
                if count >= MAX_ADDRESSES {
                    return Err(ApiError::Conflict(format!(
                        "at most {MAX_ADDRESSES} addresses can be saved"
                    )));
                }
                let is_default = count == 0 || input.is_default == Some(true);
                if is_default {
                    clear_default(conn, user).await?;
                }
                let row = address_row(fields, Uuid::now_v7(), user, is_default, Utc::now());
                diesel::insert_into(addresses::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                Ok(row)
            })
            .await?;
        Ok(Address(row))
    }

    /// Replaces an address of the caller. `isDefault: true` makes it the default; the
    /// default cannot be unset (make another address the default instead).
    async fn update_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AddressInput,
    ) -> Result<Address> {
        let user = ctx.caller().user_id()?;
        let id = parse_id("id", &id)?;
        let fields = input.validate()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = conn
            .transaction(async |conn| {
                lock_user(conn, user).await?;
                let current: AddressRow = addresses::table
                    .filter(addresses::id.eq(id))
                    .filter(addresses::user_id.eq(user))
                    .select(AddressRow::as_select())
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ApiError::NotFound("address".into()))?;
                let is_default = match input.is_default {
                    Some(false) if current.is_default => {
                        return Err(ApiError::Conflict(
                            "this is the default address: make another address the default instead"
                                .into(),
                        ));
                    }
                    Some(true) => true,
                    _ => current.is_default,
                };
                if is_default && !current.is_default {
                    clear_default(conn, user).await?;
                }
                let row = address_row(fields, current.id, user, is_default, current.created_at);
                diesel::update(addresses::table.find(id))
                    .set(&row)
                    .execute(conn)
                    .await?;
                Ok(row)
            })
            .await?;
        Ok(Address(row))
    }

    /// Deletes an address of the caller; if it was the default, the oldest remaining
    /// address becomes the default.
    async fn delete_address(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let user = ctx.caller().user_id()?;
        let id = parse_id("id", &id)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        conn.transaction(async |conn| {
            lock_user(conn, user).await?;
            let was_default: bool = diesel::delete(
                addresses::table
                    .filter(addresses::id.eq(id))
                    .filter(addresses::user_id.eq(user)),
            )
            .returning(addresses::is_default)
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::NotFound("address".into()))?;
            if was_default {
                let next: Option<Uuid> = addresses::table
                    .filter(addresses::user_id.eq(user))
                    .order((addresses::created_at, addresses::id))
                    .select(addresses::id)
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(next) = next {
                    diesel::update(addresses::table.find(next))
                        .set(addresses::is_default.eq(true))
                        .execute(conn)
                        .await?;
                }
            }
            Ok::<_, ApiError>(())
        })
        .await?;
        Ok(true)
    }

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
        let target = parse_id("userId", &user_id)?;
        let reason = required_text("reason", &reason, 500)?;
        if until.is_some_and(|until| until <= Utc::now()) {
            return Err(ApiError::bad_input("until", "must be in the future").into());
        }
        if target == admin {
            return Err(ApiError::Conflict("you cannot ban yourself".into()).into());
        }
        let access = access(ctx);
        let mut conn = service_kit::db::connection(ctx).await?;
        let row: UserRow = diesel::update(users::table.find(target))
            .set((
                users::status.eq("BANNED"),
                users::banned_until.eq(until),
                users::ban_reason.eq(&reason),
                users::updated_at.eq(Utc::now()),
                users::access_version.eq(users::access_version + 1),
            ))
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("user".into()))?;
        sessions::revoke_all(&mut conn, access, target, "banned").await?;
        sessions::publish_user(&mut conn, access, target).await?;
        tracing::info!(%admin, user = %target, until = ?until, "user banned");
        Ok(User::new(row))
    }

    /// Lifts a ban. Needs `users:ban`.
    #[graphql(guard = "RequirePermission(\"users:ban\")")]
    async fn unban_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let target = parse_id("userId", &user_id)?;
        let access = access(ctx);
        let mut conn = service_kit::db::connection(ctx).await?;
        let row: UserRow = diesel::update(users::table.find(target))
            .set((
                users::status.eq("ACTIVE"),
                users::banned_until.eq(None::<DateTime<Utc>>),
                users::ban_reason.eq(None::<String>),
                users::updated_at.eq(Utc::now()),
                users::access_version.eq(users::access_version + 1),
            ))
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("user".into()))?;
        sessions::publish_user(&mut conn, access, target).await?;
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
        let name = name.trim().to_owned();
        let valid_name = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            return Err(ApiError::bad_input(
                "name",
                "must be 1 to 64 lower-case letters, digits, _ or -, starting with a letter",
            )
            .into());
        }
        if permissions.len() > MAX_PERMISSIONS {
            return Err(ApiError::bad_input(
                "permissions",
                format!("at most {MAX_PERMISSIONS} entries"),
            )
            .into());
        }
        let mut entries: Vec<String> = Vec::with_capacity(permissions.len());
        for (index, entry) in permissions.iter().enumerate() {
            auth::permissions::validate_entry(entry)
                .map_err(|why| ApiError::bad_input(format!("permissions[{index}]"), why))?;
            if !entries.contains(entry) {
                entries.push(entry.clone());
            }
        }
        let access = access(ctx);
        let mut conn = service_kit::db::connection(ctx).await?;
        diesel::insert_into(roles::table)
            .values((roles::name.eq(&name), roles::permissions.eq(&entries)))
            .on_conflict(roles::name)
            .do_update()
            .set((
                roles::permissions.eq(&entries),
                roles::updated_at.eq(Utc::now()),
                roles::version.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "nextval('role_versions')",
                )),
            ))
            .execute(&mut conn)
            .await
            .map_err(ApiError::from)?;
        sessions::publish_roles(&mut conn, access.redis()).await?;
        tracing::info!(role = %name, "role updated");
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
        let target = parse_id("userId", &user_id)?;
        let mut wanted = roles;
        wanted.sort();
        wanted.dedup();
        let access = access(ctx);
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = conn
            .transaction(async |conn| {
                // Bumping the version also locks the user: overlapping role changes of one
                // user take turns, and the later one publishes last with the higher version.
                let row: UserRow = diesel::update(users::table.find(target))
                    .set(users::access_version.eq(users::access_version + 1))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ApiError::NotFound("user".into()))?;
                let known: Vec<String> = roles::table
                    .filter(roles::name.eq_any(&wanted))
                    .select(roles::name)
                    .load(conn)
                    .await?;
                if let Some(unknown) = wanted.iter().find(|r| !known.contains(r)) {
                    return Err(ApiError::bad_input(
                        "roles",
                        format!("unknown role {unknown:?}"),
                    ));
                }
                diesel::delete(user_roles::table.filter(user_roles::user_id.eq(target)))
                    .execute(conn)
                    .await?;
                diesel::insert_into(user_roles::table)
                    .values(
                        wanted
                            .iter()
                            .map(|role| (user_roles::user_id.eq(target), user_roles::role.eq(role)))
                            .collect::<Vec<_>>(),
                    )
                    .execute(conn)
                    .await?;
                Ok(row)
            })
            .await?;
        sessions::publish_user(&mut conn, access, target).await?;
        Ok(User::new(row))
    }
}

/// Serialises address changes of one user (so exactly one default survives races).
async fn lock_user(conn: &mut diesel_async::AsyncPgConnection, user: Uuid) -> Result<(), ApiError> {
    users::table
        .find(user)
        .select(users::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::Unauthenticated("this account no longer exists".into()))?;
    Ok(())
}

async fn clear_default(
    conn: &mut diesel_async::AsyncPgConnection,
    user: Uuid,
) -> Result<(), ApiError> {
    diesel::update(
        addresses::table
            .filter(addresses::user_id.eq(user))
            .filter(addresses::is_default),
    )
    .set(addresses::is_default.eq(false))
    .execute(conn)
    .await?;
    Ok(())
}
