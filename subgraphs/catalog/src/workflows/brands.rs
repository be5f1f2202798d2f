//! Brands: creating one with the categories it is offered in, and listing them.

use chrono::Utc;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::db::brands::{self, BrandRow};
use crate::db::categories;
use crate::domain::brands::NewBrand;

/// Creates `brand` and offers it in its categories, in one transaction: every category must
/// exist (`BAD_USER_INPUT` naming `input.categoryIds`), and a name taken in any case is a
/// `CONFLICT` (the unique index decides, so two concurrent creations cannot both win).
pub async fn create(conn: &mut AsyncPgConnection, brand: NewBrand) -> Result<BrandRow, ApiError> {
    conn.transaction(async |conn| {
        if !brand.categories.is_empty() {
            let found = categories::count_existing(conn, &brand.categories).await?;
            if found != brand.categories.len() as i64 {
                return Err(ApiError::bad_input("input.categoryIds", "no such category"));
            }
        }
        let row = BrandRow {
            id: Uuid::now_v7(),
            name: brand.name,
            logo_url: brand.logo_url,
            created_at: Utc::now(),
        };
        brands::insert(conn, &row)
            .await
            .map_err(|error| match error {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    ApiError::Conflict(format!("a brand named {:?} exists already", row.name))
                }
                other => ApiError::from(other),
            })?;
        if !brand.categories.is_empty() {
            brands::offer_in(conn, row.id, &brand.categories).await?;
        }
        Ok(row)
    })
    .await
}

/// Every brand, or (`category`) those offered in it or any category below it; an unknown
/// category is `BAD_USER_INPUT` (as in the products' filter).
pub async fn list(
    conn: &mut AsyncPgConnection,
    category: Option<Uuid>,
) -> Result<Vec<BrandRow>, ApiError> {
    Ok(match category {
        None => brands::all(conn).await?,
        Some(category) => {
            let subtree = categories::subtree(conn, category).await?;
            if subtree.is_empty() {
                return Err(ApiError::bad_input("categoryId", "no such category"));
            }
            brands::offered_in(conn, &subtree).await?
        }
    })
}
