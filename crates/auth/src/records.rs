//! What every subgraph reads on each authenticated request, kept in Redis by the user
//! subgraph: the live sessions (an allow-list), each user's roles and ban, and each role's
//! permissions. One pipelined round trip answers all three, so a sign-out, a ban or a role
//! change is seen by every subgraph on the very next request. User and role records carry
//! the version of the PostgreSQL rows they were read from and are stored only if newer.

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
    /// `users.access_version` when it was read: a publish never replaces a newer one.
    pub version: i64,
    /// Role names.
    pub roles: Vec<String>,
    /// The ban in force, if any.
    pub ban: Option<Ban>,
}

/// Every role's permission entries, as of `version` (the highest `roles.version`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleSet {
    pub version: i64,
    pub roles: HashMap<String, Vec<String>>,
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

fn session_key(redis: &Redis, session: Uuid) -> String {
    redis.key(&format!("auth:session:{session}"))
}

fn roles_key(redis: &Redis) -> String {
    redis.key("auth:roles")
}

/// Stores a versioned record unless a newer one is there, and says what it did: 0 a newer
/// one is there (nothing stored); 1 stored over an older one or none (a change: announce
/// it); 2 the same version again (stored, which renews its time to live; nothing changed,
/// so nothing to announce — every sign-in and refresh republishes its user).
static STORE_VERSIONED: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local version = tonumber(ARGV[2])
local cached = redis.call('GET', KEYS[1])
local result = 1
if cached then
  local ok, row = pcall(cjson.decode, cached)
  if ok and type(row) == 'table' and tonumber(row.version) then
    local old = tonumber(row.version)
    if old > version then return 0 end
    if old == version then result = 2 end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return result
",
    )
});

/// What [`store_if_newer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    /// A newer record is there.
    No,
    /// Over an older record or none.
    Changed,
    /// The same version again.
    Renewed,
}

/// How long the published roles live without a login or refresh republishing them.
const ROLES_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What one request's check found.
pub(crate) struct SessionState {
    /// The session is live and belongs to the token's user.
    pub live: bool,
    /// What is left of the session's allow-list entry (zero when unknown).
    pub session_ttl: Duration,
    /// Whether the roles' record was there (a check made without it must not be kept).
    pub roles_found: bool,
    pub user: Option<UserAccess>,
    pub roles: HashMap<String, Vec<String>>,
}

/// What a check found besides the caller.
pub(crate) struct SessionFound {
    pub session_ttl: Duration,
    pub roles_found: bool,
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, ApiError> {
    json.map(|json| {
        serde_json::from_str(&json).map_err(|error| {
            tracing::error!(%error, "unreadable access record");
            ApiError::Internal
        })
    })
    .transpose()
}

/// Reads the session's allow-list entry, the user's access and the roles in one round trip.
pub(crate) async fn load(
    redis: &Redis,
    user: Uuid,
    session: Uuid,
) -> Result<SessionState, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let (owner, ttl_ms, record, roles): (Option<String>, i64, Option<String>, Option<String>) =
        redis::pipe()
            .get(session_key(redis, session))
            .pttl(session_key(redis, session))
            .get(user_key(redis, user))
            .get(roles_key(redis))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
    let roles: Option<RoleSet> = parse(roles)?;
    Ok(SessionState {
        roles_found: roles.is_some(),
        live: owner.is_some_and(|owner| owner == user.to_string()),
        // -1 (no expiry) cannot happen for an allow-list entry; -2: gone meanwhile.
        session_ttl: Duration::from_millis(ttl_ms.max(0) as u64),
        user: parse(record)?,
        roles: roles.map(|set| set.roles).unwrap_or_default(),
    })
}

/// Stores `json` under `key` unless a newer version is there.
async fn store_if_newer(
    redis: &Redis,
    key: String,
    version: i64,
    json: String,
    ttl: Duration,
) -> Result<Stored, ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let stored: i64 = STORE_VERSIONED
        .key(key)
        .arg(json)
        .arg(version)
        .arg(ttl.as_secs().max(1))
        .invoke_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(match stored {
        0 => Stored::No,
        2 => Stored::Renewed,
        _ => Stored::Changed,
    })
}

/// Publishes `user`'s roles and ban unless a newer record is there; kept for `ttl` (the
/// refresh token lifetime: a user without a live session needs no record, and login or
/// refresh writes it again). Returns whether it was stored; a change is announced.
pub async fn publish_user(
    redis: &Redis,
    user: Uuid,
    access: &UserAccess,
    ttl: Duration,
) -> Result<bool, ApiError> {
    let json = serde_json::to_string(access).map_err(|_| ApiError::Internal)?;
    let stored = store_if_newer(redis, user_key(redis, user), access.version, json, ttl).await?;
    if stored == Stored::Changed {
        announce(redis, USER_ACCESS_CHANGED, Some(user), &[]).await;
    }
    Ok(stored != Stored::No)
}

/// Publishes every role's permission entries unless a newer set is there; a change is
/// announced.
pub async fn publish_roles(redis: &Redis, roles: &RoleSet) -> Result<bool, ApiError> {
    let json = serde_json::to_string(roles).map_err(|_| ApiError::Internal)?;
    let stored = store_if_newer(redis, roles_key(redis), roles.version, json, ROLES_TTL).await?;
    if stored == Stored::Changed {
        announce(redis, ROLES_CHANGED, None, &[]).await;
    }
    Ok(stored != Stored::No)
}

/// Puts `session` of `user` on the allow-list for `ttl` (what is left of its lifetime).
/// Only listed sessions authenticate: a token naming any other session is refused, however
/// well it is signed.
pub async fn allow_session(
    redis: &Redis,
    session: Uuid,
    user: Uuid,
    ttl: Duration,
) -> Result<(), ApiError> {
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let _: () = redis::cmd("SET")
        .arg(session_key(redis, session))
        .arg(user.to_string())
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Takes `sessions` off the allow-list: their access tokens stop working on the next request
/// in every subgraph.
pub async fn end_sessions(redis: &Redis, sessions: &[Uuid]) -> Result<(), ApiError> {
    if sessions.is_empty() {
        return Ok(());
    }
    let mut conn = redis.connection().await.map_err(unavailable)?;
    // One DEL per session (a pipeline: one round trip): sessions live in different Redis
    // Cluster slots.
    let mut pipe = redis::pipe();
    for session in sessions {
        pipe.del(session_key(redis, *session)).ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.map_err(unavailable)?;
    announce(redis, SESSIONS_ENDED, None, sessions).await;
    Ok(())
}

/// Access notice: these sessions were taken off the allow-list.
pub const SESSIONS_ENDED: &str = "SessionsEnded";
/// Access notice: a user's roles or ban changed.
pub const USER_ACCESS_CHANGED: &str = "UserAccessChanged";
/// Access notice: the roles' permission entries changed.
pub const ROLES_CHANGED: &str = "RolesChanged";

/// The payload of an access notice.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessNotice {
    #[serde(default)]
    pub user: Option<Uuid>,
    #[serde(default)]
    pub sessions: Vec<Uuid>,
}

/// Tells every process that access changed: each forgets its copy of what the notice names
/// ([`crate::sessions`]), and live subscriptions (`event_bus::live`) of the sessions or user
/// concerned are checked again at once. If this fails after Redis changed, a copy held
/// elsewhere lives out its `SESSION_CACHE_SECONDS` (Redis itself already refuses).
async fn announce(redis: &Redis, name: &str, user: Option<Uuid>, sessions: &[Uuid]) {
    let notice = AccessNotice {
        user,
        sessions: sessions.to_vec(),
    };
    let event = event_bus::Event {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        version: 1,
        aggregate_id: user.map(|u| u.to_string()).unwrap_or_default(),
        occurred_at: Utc::now(),
        traceparent: None,
        payload: serde_json::to_value(&notice).unwrap_or_default(),
    };
    if let Err(error) = event_bus::live::publish_access_notice(redis, &event).await {
        tracing::warn!(%error, notice = name, "access notice not published");
    }
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "session store (Redis) failed");
    ApiError::Unavailable("the session store")
}
