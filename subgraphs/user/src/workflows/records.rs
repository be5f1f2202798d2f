//! The access records every subgraph reads (published to Redis through `auth::records`):
//! each user's roles and ban, and every role's permission entries.

use auth::Access;
use auth::records::{self, RoleSet, UserAccess};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use service_kit::{ApiError, Redis};
use uuid::Uuid;

use crate::db;

/// Publishes `user`'s current roles and ban, with the row's `access_version`: a publish
/// that read the user before a later change (a login racing a ban) is refused by Redis.
pub async fn publish_user(
    conn: &mut AsyncPgConnection,
    access: &Access,
    user: Uuid,
) -> Result<(), ApiError> {
    // Row first, roles second: the roles read are at least as new as the version.
    let row = db::users::load(conn, user).await?;
    let roles = db::roles::of_user(conn, user).await?;
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
    // This process's own copy now; the others' on the notice.
    access.sessions().forget_user(user);
    // Roles are few; republishing them here heals a Redis that lost them.
    publish_roles(conn, access.redis()).await
}

/// Publishes every role's permission entries, versioned by the newest role change.
pub async fn publish_roles(conn: &mut AsyncPgConnection, redis: &Redis) -> Result<(), ApiError> {
    let all = db::roles::all_versioned(conn).await?;
    let set = RoleSet {
        version: all.iter().map(|(_, _, v)| *v).max().unwrap_or(0),
        roles: all.into_iter().map(|(name, p, _)| (name, p)).collect(),
    };
    records::publish_roles(redis, &set).await.map(|_| ())
}
