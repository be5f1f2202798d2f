//! Sessions and their rotating refresh tokens, and the access records every subgraph reads
//! (published to Redis through `auth::records`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use auth::Access;
use auth::records::{self, RoleSet, UserAccess};

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

/// What is left of a session's lifetime, as an allow-list time to live.
fn remaining(expires_at: DateTime<Utc>) -> std::time::Duration {
    (expires_at - Utc::now())
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
}

/// Starts a session for `user` and publishes their access record. The user row is share-
/// locked while the session is written and allow-listed, so a ban cannot slip between
/// the ban check and the session: it waits, and then revokes this session too.
pub async fn start(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
) -> Result<TokenPair, ApiError> {
    let session = Uuid::now_v7();
    let (refresh_token, hash) = new_refresh_token();
    let expires_at = Utc::now() + access.settings().refresh_token_ttl;
    conn.transaction(async |conn| {
        let row: UserRow = users::table
            .find(user)
            .select(UserRow::as_select())
            .for_share()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::Unauthenticated("this account no longer exists".into()))?;
        if let Some(ban) = row.ban(Utc::now()) {
            return Err(ApiError::Unauthenticated(ban.message()));
        }
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
        records::allow_session(access.redis(), session, user, remaining(expires_at)).await
    })
    .await?;
    publish_user(conn, access, user).await?;
    Ok(pair(access, user, session, refresh_token))
}

/// What presenting a refresh token found.
enum Rotation {
    Rotated(TokenPair),
    /// Used moments ago (another tab): the pair that use produced, if still kept.
    JustUsed {
        session: Uuid,
    },
    Reused {
        session: Uuid,
    },
    Banned {
        session: Uuid,
        message: String,
    },
    Invalid(&'static str),
}

/// The pair a refresh produced, kept for the grace window under its predecessor's hash.
#[derive(Serialize, Deserialize)]
struct GracePair {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    user_id: Uuid,
}

fn grace_key(access: &Access, used_hash: &[u8]) -> String {
    let hex: String = used_hash.iter().map(|b| format!("{b:02x}")).collect();
    access.redis().key(&format!("auth:refresh-grace:{hex}"))
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "session store (Redis) failed");
    ApiError::Unavailable("the session store")
}

/// Exchanges a refresh token for a new pair. The presented token is used up. Presented
/// again within the grace window (two tabs refreshing at once), it gets the same new pair;
/// later, reuse revokes the whole session (the token was stolen, or the client is confused).
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
    let grace = access.settings().refresh_reuse_grace;
    let rotation = conn
        .transaction(async |conn| {
            // The row lock makes concurrent refreshes with one token take turns; the later
            // ones find it used, and the pair the first one kept (written before it
            // committed).
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
                let known: Option<(Uuid, Option<DateTime<Utc>>)> = refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&hash))
                    .select((refresh_tokens::session_id, refresh_tokens::used_at))
                    .first(conn)
                    .await
                    .optional()?;
                return Ok::<_, ApiError>(match known {
                    // `now` was taken before waiting for the row lock, so a refresh that
                    // won the race may have used the token "after" it: a negative age is
                    // within the window too.
                    Some((session, Some(used_at)))
                        if now.signed_duration_since(used_at)
                            <= chrono::Duration::from_std(grace).unwrap_or_default() =>
                    {
                        Rotation::JustUsed { session }
                    }
                    Some((session, _)) => Rotation::Reused { session },
                    None => Rotation::Invalid("invalid refresh token"),
                });
            };
            let (user, expires_at, revoked_at): (Uuid, DateTime<Utc>, Option<DateTime<Utc>>) =
                sessions::table
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
            let row: UserRow = users::table
                .find(user)
                .select(UserRow::as_select())
                .for_share()
                .first(conn)
                .await?;
            if let Some(ban) = row.ban(now) {
                return Ok(Rotation::Banned {
                    session,
                    message: ban.message(),
                });
            }
            let (next, next_hash) = new_refresh_token();
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::token_hash.eq(&next_hash),
                    refresh_tokens::session_id.eq(session),
                ))
                .execute(conn)
                .await?;
            let pair = pair(access, user, session, next);
            records::allow_session(access.redis(), session, user, remaining(expires_at)).await?;
            let kept = GracePair {
                access_token: pair.access_token.clone(),
                refresh_token: pair.refresh_token.clone(),
                expires_in: pair.expires_in,
                user_id: user,
            };
            let json = serde_json::to_string(&kept).map_err(|_| ApiError::Internal)?;
            let mut redis = access.redis().connection().await.map_err(unavailable)?;
            let _: () = redis::cmd("SET")
                .arg(grace_key(access, &hash))
                .arg(json)
                .arg("EX")
                .arg(grace.as_secs().max(1))
                .query_async(&mut redis)
                .await
                .map_err(unavailable)?;
            Ok(Rotation::Rotated(pair))
        })
        .await?;
    match rotation {
        Rotation::Rotated(pair) => {
            publish_user(conn, access, pair.user_id).await?;
            Ok(pair)
        }
        Rotation::JustUsed { session } => {
            let mut redis = access.redis().connection().await.map_err(unavailable)?;
            let kept: Option<String> = redis::cmd("GET")
                .arg(grace_key(access, &hash))
                .query_async(&mut redis)
                .await
                .map_err(unavailable)?;
            let live: bool = sessions::table
                .find(session)
                .filter(sessions::revoked_at.is_null())
                .count()
                .get_result::<i64>(conn)
                .await?
                == 1;
            match kept.and_then(|json| serde_json::from_str::<GracePair>(&json).ok()) {
                Some(kept) if live => Ok(TokenPair {
                    access_token: kept.access_token,
                    refresh_token: kept.refresh_token,
                    expires_in: kept.expires_in,
                    user_id: kept.user_id,
                }),
                _ => Err(ApiError::Unauthenticated(
                    "this refresh token was just used: continue with the pair it returned".into(),
                )),
            }
        }
        Rotation::Reused { session } => {
            tracing::warn!(%session, "refresh token reused: revoking the session");
            revoke(conn, access, &[session], "refresh token reused").await?;
            Err(ApiError::Unauthenticated(
                "this refresh token was already used: the session has been revoked, sign in again"
                    .into(),
            ))
        }
        Rotation::Banned { session, message } => {
            revoke(conn, access, &[session], "banned").await?;
            Err(ApiError::Unauthenticated(message))
        }
        Rotation::Invalid(message) => Err(ApiError::Unauthenticated(message.into())),
    }
}

/// Revokes `sessions` in the database and takes them off the allow-list, so that their
/// access tokens stop working on the next request in every subgraph. The database first:
/// a refresh racing this holds the session row, and allow-lists only a session it found
/// unrevoked, before this update can commit.
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
    records::end_sessions(access.redis(), ids).await
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

pub async fn load_user(conn: &mut AsyncPgConnection, user: Uuid) -> Result<UserRow, ApiError> {
    users::table
        .find(user)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("user".into()))
}

/// Publishes `user`'s current roles and ban, with the row's `access_version`: a publish
/// that read the user before a later change (a login racing a ban) is refused by Redis.
pub async fn publish_user(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
) -> Result<(), ApiError> {
    // Row first, roles second: the roles read are at least as new as the version.
    let row = load_user(conn, user).await?;
    let roles: Vec<String> = user_roles::table
        .filter(user_roles::user_id.eq(user))
        .select(user_roles::role)
        .order(user_roles::role)
        .load(conn)
        .await?;
    let record = UserAccess {
        version: row.access_version,
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

/// Publishes every role's permission entries, versioned by the newest role change.
pub async fn publish_roles(conn: &mut AsyncPgConnection, redis: &Redis) -> Result<(), ApiError> {
    let all: Vec<(String, Vec<String>, i64)> = roles::table
        .select((roles::name, roles::permissions, roles::version))
        .load(conn)
        .await?;
    let set = RoleSet {
        version: all.iter().map(|(_, _, v)| *v).max().unwrap_or(0),
        roles: all.into_iter().map(|(name, p, _)| (name, p)).collect(),
    };
    records::publish_roles(redis, &set).await.map(|_| ())
}
