//! Account changes: registration (the account, its `customer` role, and a first session),
//! the profile, and password changes (which sign out the other sessions).

use auth::Access;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use service_kit::db::DbConn;
use uuid::Uuid;

use super::passwords::{hash_password, verify_password};
use super::sessions::{self, TokenPair};
use crate::db::{self, NewUser, UserRow};
use crate::throttle;

/// A new account's checked input.
pub struct Registration {
    /// Normalised (`crate::domain::accounts::normalize_email`).
    pub email: String,
    pub display_name: String,
    pub password: String,
}

/// Creates an account with the `customer` role and starts its first session. Counts the
/// registration from `client_ip` first (`crate::throttle`); `connect` is called only after
/// that and the password hash, so that neither holds a pooled connection.
pub async fn register<'c>(
    access: &Access,
    client_ip: Option<&str>,
    new: Registration,
    connect: impl AsyncFnOnce() -> Result<DbConn<'c>, ApiError>,
) -> Result<TokenPair, ApiError> {
    throttle::admit_registration(
        access.redis(),
        client_ip,
        access.settings().register_limit_per_address,
    )
    .await?;
    let hash = hash_password(new.password).await?;
    let mut conn = connect().await?;
    let id = Uuid::now_v7();
    conn.transaction(async |conn| {
        let user = NewUser {
            id,
            email: &new.email,
            display_name: &new.display_name,
            password_hash: &hash,
        };
        db::users::insert(conn, &user).await.map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict("this email is already registered".into())
            }
            other => ApiError::from(other),
        })?;
        db::roles::grant(conn, id, "customer").await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    tracing::info!(user = %id, "account registered");
    sessions::start(&mut conn, access, id).await
}

/// Sets the display name of `user` (already checked) if one is given; the user's row.
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    display_name: Option<String>,
) -> Result<UserRow, ApiError> {
    match display_name {
        Some(name) => db::users::set_display_name(conn, user, name)
            .await
            .map_err(ApiError::from),
        None => db::users::load(conn, user).await,
    }
}

/// Replaces the password of `user` once `current` is verified (counted as a sign-in
/// attempt), and signs out their sessions other than `session`. `new` is already checked.
pub async fn change_password(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
    session: Uuid,
    client_ip: Option<&str>,
    current: String,
    new: String,
) -> Result<(), ApiError> {
    let (email, hash) = db::users::credentials(conn, user)
        .await
        .map_err(ApiError::from)?;
    throttle::admit_login(access.redis(), &email, client_ip).await?;
    if !verify_password(current, hash).await? {
        return Err(ApiError::bad_input(
            "input.currentPassword",
            "is not your current password",
        ));
    }
    throttle::login_succeeded(access.redis(), &email, client_ip).await?;
    let new_hash = hash_password(new).await?;
    db::users::set_password_hash(conn, user, new_hash)
        .await
        .map_err(ApiError::from)?;
    let others = db::sessions::other_unrevoked_of(conn, user, session)
        .await
        .map_err(ApiError::from)?;
    sessions::revoke(conn, access, &others, "password changed").await
}
