//! Products and categories: administration, changes with their stock-ledger entries, then
//! the cache, so readers see them (the storefront listing is `workflows::listing`).

use chrono::Utc;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::categories;
use crate::db::details::{self, AttributeRow, ImageRow};
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::products::{self, ProductChanges};
use crate::domain::details::{Attribute, Image};
use crate::domain::variants::{NewVariant, ProductOption};
use crate::workflows::variants;

/// After a write committed: readers see the new row from now on.
async fn published(cache: Option<&ProductCache>, row: ProductRow) -> ProductRow {
    if let Some(cache) = cache {
        cache.put(&row).await;
    }
    row
}

/// Adds a category under `parent` (or at the top), after its siblings.
pub async fn add_category(
    conn: &mut AsyncPgConnection,
    parent: Option<Uuid>,
    name: String,
) -> Result<CategoryRow, ApiError> {
    let siblings = categories::count_children(conn, parent).await?;
    let row = CategoryRow {
        id: Uuid::now_v7(),
        parent_id: parent,
        name,
        position: siblings as i32,
        created_at: Utc::now(),
    };
    categories::insert(conn, &row).await?;
    Ok(row)
}

/// A product's gallery and attributes to write with it; `None` keeps them as they are (a new
/// product has none).
#[derive(Default)]
pub struct Details {
    pub images: Option<Vec<Image>>,
    pub attributes: Option<Vec<Attribute>>,
}

impl Details {
    fn is_empty(&self) -> bool {
        self.images.is_none() && self.attributes.is_none()
    }
}

/// Writes the given parts of `product`'s details (in the product's write transaction).
async fn write_details(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    given: &Details,
) -> Result<(), ApiError> {
    if let Some(images) = &given.images {
        let rows: Vec<ImageRow> = images
            .iter()
            .enumerate()
            .map(|(position, image)| ImageRow {
                product_id: product,
                position: position as i32,
                url: image.url.clone(),
                alt: image.alt.clone(),
            })
            .collect();
        details::replace_images(conn, product, &rows).await?;
    }
    if let Some(attributes) = &given.attributes {
        let rows: Vec<AttributeRow> = attributes
            .iter()
            .enumerate()
            .map(|(position, attribute)| AttributeRow {
                product_id: product,
                position: position as i32,
                name: attribute.name.clone(),
                value: attribute.value.clone(),
            })
            .collect();
        details::replace_attributes(conn, product, &rows)
            .await
            .map_err(|error| match error {
                // The domain compares names as Rust lowercases them; PostgreSQL's lower() may
                // fold a few letters differently (a final sigma): the index decides, and the
                // client still learns which input is wrong.
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                    if info.constraint_name() == Some("product_attributes_name_key") =>
                {
                    ApiError::bad_input("input.attributes", "a name appears twice")
                }
                other => ApiError::from(other),
            })?;
    }
    Ok(())
}

/// Adds a product with its details, options and variants, and their initial stock in the
/// ledger (by `actor`), in one transaction.
pub async fn add_product(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    row: ProductRow,
    given: &Details,
    (options, new_variants): (&[ProductOption], &[(Uuid, NewVariant)]),
    actor: Uuid,
) -> Result<ProductRow, ApiError> {
    conn.transaction(async |conn| {
        products::insert(conn, &row).await?;
        write_details(conn, row.id, given).await?;
        variants::add_to_new_product(conn, row.id, options, new_variants, actor).await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(published(cache, row).await)
}

/// Applies `changes` to product `id`; NOT_FOUND if there is no such product. A price is
/// its only variant's (`BAD_USER_INPUT` when it has several).
pub async fn change_product(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    id: Uuid,
    changes: ProductChanges,
    given: &Details,
) -> Result<ProductRow, ApiError> {
    let row = if given.is_empty() && changes.price_amount.is_none() {
        products::change(conn, id, changes).await?
    } else {
        // The row first: its lock orders concurrent changes of the details and variants too.
        conn.transaction(async |conn| {
            let price = changes.price_amount;
            let mut row = products::change(conn, id, changes).await?;
            write_details(conn, id, given).await?;
            if let Some(price) = price {
                row = variants::price_only_variant(conn, id, price).await?;
            }
            Ok::<_, ApiError>(row)
        })
        .await?
    };
    Ok(published(cache, row).await)
}
