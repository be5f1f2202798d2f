//! What every subgraph reads on each authenticated request, kept in Redis by the user
//! subgraph: revoked sessions, each user's roles and ban, and each role's permissions.
//! One pipelined round trip answers all three, so a revocation, a ban or a role change is
//! seen by every subgraph on the very next request.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::redis::redis;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

/// A user's access as published by the user subgraph.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserAccess {
    /// Role names.
    pub roles: Vec<String>,
    /// The ban in force, if any.
    pub ban: Option<Ban>,
}

/// A ban: why, and until when (`None`: until lifted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ban {
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
}

impl Ban {
    /// Whether the ban applies at `now` (a ban with an end time lifts itself).
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// The message a banned user sees.
    pub fn message(&self) -> String {
        match self.until {
            Some(until) => format!(
                "this account is banned until {}: {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                self.reason
            ),
            None => format!("this account is banned: {}", self.reason),
        }
    }
}

fn user_key(redis: &Redis, user: Uuid) -> String {
    redis.key(&format!("auth:user:{user}"))
}

fn revoked_key(redis: &Redis, session: Uuid) -> String {
    redis.key(&format!("auth:revoked:{session}"))
}

fn roles_key(redis: &Redis) -> String {
    redis.key("auth:roles")
}

/// What one request's check found.
pub(crate) struct SessionState {
    pub revoked: bool,
    pub user: Option<UserAccess>,
    pub roles: HashMap<String, Vec<String>>,
}

/// Reads the session's revocation flag, the user's access and all roles in one round trip.
pub(crate) async fn load(
    redis: &Redis,
    user: Uuid,
    session: Uuid,
) -> Result<SessionState, ApiError> {
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let (revoked, user, roles): (bool, Option<String>, HashMap<String, String>) = redis::pipe()
        .exists(revoked_key(redis, session))
        .get(user_key(redis, user))
        .hgetall(roles_key(redis))
        .query_async(&mut *conn)
        .await
        .map_err(unavailable)?;
    let user = match user {
        Some(json) => Some(serde_json::from_str(&json).map_err(|error| {
            tracing::error!(%error, "unreadable user access record");
            ApiError::Internal
        })?),
        None => None,
    };
    let roles = roles
        .into_iter()
        .filter_map(|(name, json)| Some((name, serde_json::from_str(&json).ok()?)))
        .collect();
    Ok(SessionState {
        revoked,
        user,
        roles,
    })
}

/// Publishes `user`'s roles and ban; kept for `ttl` (the refresh token lifetime: a user
/// without a live session needs no record, and login or refresh writes it again).
pub async fn publish_user(
    redis: &Redis,
    user: Uuid,
    access: &UserAccess,
    ttl: Duration,
) -> Result<(), ApiError> {
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let json = serde_json::to_string(access).map_err(|_| ApiError::Internal)?;
    let _: () = redis::cmd("SET")
        .arg(user_key(redis, user))
        .arg(json)
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .query_async(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Replaces the published roles with `roles` (name → permission entries).
pub async fn publish_roles(redis: &Redis, roles: &[(String, Vec<String>)]) -> Result<(), ApiError> {
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let key = roles_key(redis);
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key);
    for (name, permissions) in roles {
        let json = serde_json::to_string(permissions).map_err(|_| ApiError::Internal)?;
        pipe.hset(&key, name, json);
    }
    let _: () = pipe.query_async(&mut *conn).await.map_err(unavailable)?;
    Ok(())
}

/// Marks `sessions` revoked for `ttl` (the access token lifetime: after that every token of
/// the session has expired anyway).
pub async fn revoke_sessions(
    redis: &Redis,
    sessions: &[Uuid],
    ttl: Duration,
) -> Result<(), ApiError> {
    if sessions.is_empty() {
        return Ok(());
    }
    let mut conn = redis.pool().get().await.map_err(unavailable)?;
    let mut pipe = redis::pipe();
    for session in sessions {
        pipe.cmd("SET")
            .arg(revoked_key(redis, *session))
            .arg(1)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .ignore();
    }
    let _: () = pipe.query_async(&mut *conn).await.map_err(unavailable)?;
    Ok(())
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "session store (Redis) failed");
    ApiError::Unavailable("the session store")
}
