//! Sessions and their rotating refresh tokens: sign-in, starting a session, refresh (with
//! the reuse grace window) and revocation. Each keeps PostgreSQL and the Redis allow-list
//! (`auth::records`) in step.

use auth::Access;
use auth::records;
use chrono::Utc;
use diesel::OptionalExtension as _;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::db::DbConn;
use service_kit::redis::redis;
use uuid::Uuid;

use super::passwords::verify_password;
use super::records::publish_user;
use crate::db;
use crate::domain::sessions::{
    hash_refresh_token, new_refresh_token, plausible_refresh_token, refusal, remaining,
    within_grace,
};
use crate::throttle;

/// A freshly issued token pair.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user_id: Uuid,
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

/// Signs in with `email` (normalised) and `password`, counting the attempt first
/// (`crate::throttle`). `connect` is called once the attempt is admitted, so that refused
/// attempts hold no pooled connection.
pub async fn sign_in<'c>(
    access: &Access,
    email: &str,
    password: String,
    client_ip: Option<&str>,
    connect: impl AsyncFnOnce() -> Result<DbConn<'c>, ApiError>,
) -> Result<TokenPair, ApiError> {
    throttle::admit_login(access.redis(), email, client_ip).await?;
    let mut conn = connect().await?;
    let found = db::users::credentials_by_email(&mut conn, email)
        .await
        .map_err(ApiError::from)?;
    let (row, hash) = match found {
        Some((row, hash)) => (Some(row), hash),
        None => (None, None),
    };
    if !verify_password(password, hash).await? {
        tracing::info!("sign-in refused: wrong email or password");
        return Err(ApiError::Unauthenticated("wrong email or password".into()));
    }
    let row = row.ok_or(ApiError::Internal)?;
    throttle::login_succeeded(access.redis(), email, client_ip).await?;
    if let Some(ban) = row.ban(Utc::now()) {
        return Err(ApiError::Unauthenticated(ban.message()));
    }
    tracing::info!(user = %row.id, "signed in");
    start(&mut conn, access, row.id).await
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
        let row = db::users::find_for_share(conn, user)
            .await
            .optional()?
            .ok_or_else(|| ApiError::Unauthenticated("this account no longer exists".into()))?;
        if let Some(ban) = row.ban(Utc::now()) {
            return Err(ApiError::Unauthenticated(ban.message()));
        }
        db::sessions::insert(conn, session, user, expires_at).await?;
        db::sessions::insert_refresh_token(conn, &hash, session).await?;
        records::allow_session(
            access.redis(),
            session,
            user,
            remaining(expires_at, Utc::now()),
        )
        .await
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
    if !plausible_refresh_token(presented) {
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
            let used = db::sessions::use_refresh_token(conn, &hash, now).await?;
            let Some(session) = used else {
                let known = db::sessions::refresh_token(conn, &hash).await?;
                return Ok::<_, ApiError>(match known {
                    Some((session, Some(used_at))) if within_grace(used_at, now, grace) => {
                        Rotation::JustUsed { session }
                    }
                    Some((session, _)) => Rotation::Reused { session },
                    None => Rotation::Invalid("invalid refresh token"),
                });
            };
            let (user, expires_at, revoked_at) = db::sessions::lock(conn, session).await?;
            if let Some(message) = refusal(expires_at, revoked_at, now) {
                return Ok(Rotation::Invalid(message));
            }
            let row = db::users::find_for_share(conn, user).await?;
            if let Some(ban) = row.ban(now) {
                return Ok(Rotation::Banned {
                    session,
                    message: ban.message(),
                });
            }
            let (next, next_hash) = new_refresh_token();
            db::sessions::insert_refresh_token(conn, &next_hash, session).await?;
            let pair = pair(access, user, session, next);
            records::allow_session(
                access.redis(),
                session,
                user,
                remaining(expires_at, Utc::now()),
            )
            .await?;
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
            let unrevoked = db::sessions::is_unrevoked(conn, session).await?;
            match kept.and_then(|json| serde_json::from_str::<GracePair>(&json).ok()) {
                Some(kept) if unrevoked => Ok(TokenPair {
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
    db::sessions::revoke(conn, ids, reason).await?;
    records::end_sessions(access.redis(), ids).await?;
    // This process's own copy now; the others' on the notice.
    access.sessions().forget_sessions(ids);
    Ok(())
}

/// Revokes every unrevoked session of `user`.
pub async fn revoke_all(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
    reason: &str,
) -> Result<(), ApiError> {
    let sessions = db::sessions::unrevoked_of(conn, user).await?;
    revoke(conn, access, &sessions, reason).await
}
