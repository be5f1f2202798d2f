//! Sessions and their rotating refresh tokens, and the access records every subgraph reads
//! (published to Redis through `auth::records`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rand::RngCore as _;
use service_kit::{ApiError, Redis};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use auth::Access;
use auth::records::{self, UserAccess};

use crate::db::{UserRow, refresh_tokens, roles, sessions, user_roles, users};

/// A freshly issued token pair.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user_id: Uuid,
}

fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn pair(access: &Access, user: Uuid, session: Uuid, refresh_token: String) -> TokenPair {
    let ttl = access.settings().access_token_ttl;
    TokenPair {
        access_token: auth::tokens::issue(access.keys(), user, session, ttl),
        refresh_token,
        expires_in: ttl.as_secs() as i64,
        user_id: user,
    }
}

/// Starts a session for `user` and publishes their access record.
pub async fn start(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
) -> Result<TokenPair, ApiError> {
    let session = Uuid::now_v7();
    let (refresh_token, hash) = new_refresh_token();
    let expires_at = Utc::now() + access.settings().refresh_token_ttl;
    conn.transaction(async |conn| {
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(session),
                sessions::user_id.eq(user),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(&hash),
                refresh_tokens::session_id.eq(session),
            ))
            .execute(conn)
            .await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    publish_user(conn, access, user).await?;
    Ok(pair(access, user, session, refresh_token))
}

/// What presenting a refresh token found.
enum Rotation {
    Rotated {
        user: Uuid,
        session: Uuid,
        next: String,
    },
    Reused {
        session: Uuid,
    },
    Invalid(&'static str),
}

/// Exchanges a refresh token for a new pair. The presented token is used up; presenting a
/// used token again revokes its whole session (it was stolen, or the client is confused):
/// of two concurrent refreshes with one token, at most one succeeds.
pub async fn refresh(
    conn: &mut AsyncPgConnection,
    access: &Access,
    presented: &str,
) -> Result<TokenPair, ApiError> {
    if presented.is_empty() || presented.len() > 256 {
        return Err(ApiError::Unauthenticated("invalid refresh token".into()));
    }
    let hash = hash_refresh_token(presented);
    let now = Utc::now();
    let rotation = conn
        .transaction(async |conn| {
            // The row lock makes concurrent refreshes with one token take turns; the loser
            // finds it used.
            let used: Option<Uuid> = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&hash))
                    .filter(refresh_tokens::used_at.is_null()),
            )
            .set(refresh_tokens::used_at.eq(now))
            .returning(refresh_tokens::session_id)
            .get_result(conn)
            .await
            .optional()?;
            let Some(session) = used else {
                let known: Option<Uuid> = refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&hash))
                    .select(refresh_tokens::session_id)
                    .first(conn)
                    .await
                    .optional()?;
                return Ok::<_, ApiError>(match known {
                    Some(session) => Rotation::Reused { session },
                    None => Rotation::Invalid("invalid refresh token"),
                });
            };
            let (user, expires_at, revoked_at): (
                Uuid,
                chrono::DateTime<Utc>,
                Option<chrono::DateTime<Utc>>,
            ) = sessions::table
                .find(session)
                .select((
                    sessions::user_id,
                    sessions::expires_at,
                    sessions::revoked_at,
                ))
                .for_update()
                .first(conn)
                .await?;
            if revoked_at.is_some() {
                return Ok(Rotation::Invalid("this session has been signed out"));
            }
            if expires_at <= now {
                return Ok(Rotation::Invalid("this session has expired: sign in again"));
            }
            let (next, next_hash) = new_refresh_token();
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::token_hash.eq(&next_hash),
                    refresh_tokens::session_id.eq(session),
                ))
                .execute(conn)
                .await?;
            Ok(Rotation::Rotated {
                user,
                session,
                next,
            })
        })
        .await?;
    match rotation {
        Rotation::Rotated {
            user,
            session,
            next,
        } => {
            let row = load_user(conn, user).await?;
            if let Some(ban) = row.ban(Utc::now()) {
                revoke(conn, access, &[session], "banned").await?;
                return Err(ApiError::Unauthenticated(ban.message()));
            }
            publish_user(conn, access, user).await?;
            Ok(pair(access, user, session, next))
        }
        Rotation::Reused { session } => {
            tracing::warn!(%session, "refresh token reused: revoking the session");
            revoke(conn, access, &[session], "refresh token reused").await?;
            Err(ApiError::Unauthenticated(
                "this refresh token was already used: the session has been revoked, sign in again"
                    .into(),
            ))
        }
        Rotation::Invalid(message) => Err(ApiError::Unauthenticated(message.into())),
    }
}

/// Revokes `sessions` in the database and in the revocation list, so that their access
/// tokens stop working on the next request in every subgraph.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    access: &Access,
    ids: &[Uuid],
    reason: &str,
) -> Result<(), ApiError> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq_any(ids))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(Utc::now()),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await?;
    records::revoke_sessions(access.redis(), ids, revocation_ttl(access)).await
}

/// Revokes every live session of `user`.
pub async fn revoke_all(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
    reason: &str,
) -> Result<(), ApiError> {
    let live: Vec<Uuid> = sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .load(conn)
        .await?;
    revoke(conn, access, &live, reason).await
}

/// Access tokens outlive their session's revocation by at most their lifetime (plus the
/// verification leeway).
fn revocation_ttl(access: &Access) -> std::time::Duration {
    access.settings().access_token_ttl + std::time::Duration::from_secs(60)
}

pub async fn load_user(conn: &mut AsyncPgConnection, user: Uuid) -> Result<UserRow, ApiError> {
    users::table
        .find(user)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("user".into()))
}

/// Publishes `user`'s current roles and ban for every subgraph.
pub async fn publish_user(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
) -> Result<(), ApiError> {
    let row = load_user(conn, user).await?;
    let roles: Vec<String> = user_roles::table
        .filter(user_roles::user_id.eq(user))
        .select(user_roles::role)
        .order(user_roles::role)
        .load(conn)
        .await?;
    let record = UserAccess {
        roles,
        ban: row.ban(Utc::now()),
    };
    records::publish_user(
        access.redis(),
        user,
        &record,
        access.settings().refresh_token_ttl,
    )
    .await?;
    // Roles are few; republishing them here heals a Redis that lost them.
    publish_roles(conn, access.redis()).await
}

/// Publishes every role's permission entries.
pub async fn publish_roles(conn: &mut AsyncPgConnection, redis: &Redis) -> Result<(), ApiError> {
    let all: Vec<(String, Vec<String>)> = roles::table
        .select((roles::name, roles::permissions))
        .load(conn)
        .await?;
    records::publish_roles(redis, &all).await
}
