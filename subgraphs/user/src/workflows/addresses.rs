//! Changes of a user's saved addresses. Each runs in a transaction holding the user's row
//! lock, so that exactly one default survives concurrent changes.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use peer_api::PostalAddress;
use service_kit::ApiError;
use uuid::Uuid;

use crate::db::{self, AddressRow};
use crate::domain::addresses::{new_is_default, replaced_is_default};

fn address_row(
    fields: PostalAddress,
    id: Uuid,
    user_id: Uuid,
    is_default: bool,
    created_at: chrono::DateTime<Utc>,
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

/// Serialises address changes of one user (so exactly one default survives races).
async fn lock_user(conn: &mut AsyncPgConnection, user: Uuid) -> Result<(), ApiError> {
    db::users::lock(conn, user)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("this account no longer exists".into()))?;
    Ok(())
}

/// Saves an address of `user` (already checked). The first address, or one `make_default`
/// asks for, becomes the default.
pub async fn add(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    fields: PostalAddress,
    make_default: Option<bool>,
) -> Result<AddressRow, ApiError> {
    conn.transaction(async |conn| {
        lock_user(conn, user).await?;
        let count = db::addresses::count_of(conn, user).await?;
        let is_default = new_is_default(count, make_default)?;
        if is_default {
            db::addresses::clear_default(conn, user).await?;
        }
        let row = address_row(fields, Uuid::now_v7(), user, is_default, Utc::now());
        db::addresses::insert(conn, &row).await?;
        Ok(row)
    })
    .await
}

/// Replaces the address `id` of `user` with `fields` (already checked); `make_default`
/// as `crate::domain::addresses::replaced_is_default` allows.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    id: Uuid,
    fields: PostalAddress,
    make_default: Option<bool>,
) -> Result<AddressRow, ApiError> {
    conn.transaction(async |conn| {
        lock_user(conn, user).await?;
        let current = db::addresses::find_owned(conn, id, user)
            .await?
            .ok_or_else(|| ApiError::NotFound("address".into()))?;
        let is_default = replaced_is_default(current.is_default, make_default)?;
        if is_default && !current.is_default {
            db::addresses::clear_default(conn, user).await?;
        }
        let row = address_row(fields, current.id, user, is_default, current.created_at);
        db::addresses::replace(conn, &row).await?;
        Ok(row)
    })
    .await
}

/// Deletes the address `id` of `user`; if it was the default, the oldest remaining address
/// becomes the default.
pub async fn delete(conn: &mut AsyncPgConnection, user: Uuid, id: Uuid) -> Result<(), ApiError> {
    conn.transaction(async |conn| {
        lock_user(conn, user).await?;
        let was_default = db::addresses::delete_owned(conn, id, user)
            .await?
            .ok_or_else(|| ApiError::NotFound("address".into()))?;
        if was_default && let Some(next) = db::addresses::oldest(conn, user).await? {
            db::addresses::make_default(conn, next).await?;
        }
        Ok::<_, ApiError>(())
    })
    .await
}
