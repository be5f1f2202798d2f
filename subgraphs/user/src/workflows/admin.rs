//! Administration of access: bans and roles. Each change bumps the user's access version
//! and is published (`super::records`), so it applies on the user's next request in every
//! subgraph, without a new sign-in.

use auth::Access;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use super::records::{publish_roles, publish_user};
use super::sessions;
use crate::db::{self, UserRow};
use crate::domain::roles::check_known;

/// Bans `target` (until `until`, or until lifted; already checked) for `reason`: their
/// sessions end at once.
pub async fn ban(
    conn: &mut AsyncPgConnection,
    access: &Access,
    admin: Uuid,
    target: Uuid,
    reason: &str,
    until: Option<DateTime<Utc>>,
) -> Result<UserRow, ApiError> {
    let row = db::users::ban(conn, target, reason, until)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    sessions::revoke_all(conn, access, target, "banned").await?;
    publish_user(conn, access, target).await?;
    tracing::info!(%admin, user = %target, until = ?until, "user banned");
    Ok(row)
}

/// Lifts the ban of `target`.
pub async fn unban(
    conn: &mut AsyncPgConnection,
    access: &Access,
    target: Uuid,
) -> Result<UserRow, ApiError> {
    let row = db::users::unban(conn, target)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    publish_user(conn, access, target).await?;
    Ok(row)
}

/// Creates or replaces the role `name` with `entries` (both already checked) and publishes
/// the roles.
pub async fn upsert_role(
    conn: &mut AsyncPgConnection,
    access: &Access,
    name: &str,
    entries: &[String],
) -> Result<(), ApiError> {
    db::roles::upsert(conn, name, entries)
        .await
        .map_err(ApiError::from)?;
    publish_roles(conn, access.redis()).await?;
    // This process's own copy now; the others' on the notice.
    access.sessions().forget_all();
    tracing::info!(role = %name, "role updated");
    Ok(())
}

/// Replaces the roles of `target` with `wanted` (sorted, without repeats); `BAD_USER_INPUT`
/// for a role that does not exist.
pub async fn set_user_roles(
    conn: &mut AsyncPgConnection,
    access: &Access,
    target: Uuid,
    wanted: &[String],
) -> Result<UserRow, ApiError> {
    let row = conn
        .transaction(async |conn| {
            // Bumping the version also locks the user: overlapping role changes of one
            // user take turns, and the later one publishes last with the higher version.
            let row = db::users::bump_access_version(conn, target)
                .await?
                .ok_or_else(|| ApiError::NotFound("user".into()))?;
            let known = db::roles::existing(conn, wanted).await?;
            check_known(wanted, &known)?;
            db::roles::replace_of_user(conn, target, wanted).await?;
            Ok::<_, ApiError>(row)
        })
        .await?;
    publish_user(conn, access, target).await?;
    Ok(row)
}
