//! Variants (SKU): adding and changing them, and their stock. Each runs in one transaction
//! that locks the product first (as stock reservations do), changes the variant, writes the
//! ledger and the product's summary (lowest active price, total stock), then the cache.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::log_stock_change;
use crate::db::models::ProductRow;
use crate::db::variants::{self, VariantRow};
use crate::domain::variants::{NewVariant, ProductOption, VariantInput, check_variant};

/// Runs a variant statement; its unique indexes mean, for the client, a SKU taken
/// (`CONFLICT`) or the same option values as a sibling (`BAD_USER_INPUT` naming `field`).
async fn unique<T>(
    field: &str,
    result: impl Future<Output = Result<T, DieselError>>,
) -> Result<T, ApiError> {
    result.await.map_err(|error| match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            match info.constraint_name() {
                Some("product_variants_options_key") => {
                    ApiError::bad_input(field, "another variant has the same option values")
                }
                Some("product_variants_sku_key") => {
                    ApiError::Conflict("a variant with this SKU exists".into())
                }
                // The domain compares names as Rust lowercases them; PostgreSQL's lower()
                // may fold a few letters differently: the index decides.
                Some("product_options_name_key") => {
                    ApiError::bad_input(field, "an option name appears twice")
                }
                _ => ApiError::from(error),
            }
        }
        _ => ApiError::from(error),
    })
}

/// Writes a new product's options and variants (in its creation transaction), each
/// variant's initial stock in the ledger. `ids` gives each variant its id.
pub async fn add_to_new_product(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    options: &[ProductOption],
    new: &[(Uuid, NewVariant)],
    actor: Uuid,
) -> Result<Vec<VariantRow>, ApiError> {
    unique(
        "input.options",
        variants::insert_options(conn, product, options),
    )
    .await?;
    let mut rows = Vec::with_capacity(new.len());
    for (index, (id, variant)) in new.iter().enumerate() {
        let field = format!("input.variants[{index}].options");
        let row = unique(&field, variants::insert(conn, *id, product, variant)).await?;
        if row.stock > 0 {
            log_stock_change(
                conn,
                (product, row.id),
                (row.stock, row.stock),
                "initial stock",
                Some(actor),
            )
            .await?;
        }
        rows.push(row);
    }
    Ok(rows)
}

/// After a write committed: readers see the new product summary from now on.
async fn published(cache: Option<&ProductCache>, row: &ProductRow) {
    if let Some(cache) = cache {
        cache.put(row).await;
    }
}

/// Adds a variant to product `product` (`input` checked against its options, errors naming
/// `input.*`).
pub async fn add_variant(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    product: Uuid,
    input: &VariantInput,
    actor: Uuid,
) -> Result<VariantRow, ApiError> {
    let (variant, row) = conn
        .transaction(async |conn| {
            variants::lock_product(conn, product).await?;
            let options: Vec<ProductOption> = variants::options_of(conn, &[product])
                .await?
                .into_iter()
                .map(|o| ProductOption {
                    name: o.name,
                    values: o.values,
                })
                .collect();
            let new = check_variant("input", &options, input)?;
            let variant = unique(
                "input.options",
                variants::insert(conn, Uuid::now_v7(), product, &new),
            )
            .await?;
            if variant.stock > 0 {
                log_stock_change(
                    conn,
                    (product, variant.id),
                    (variant.stock, variant.stock),
                    "initial stock",
                    Some(actor),
                )
                .await?;
            }
            let row = variants::refresh_product(conn, product).await?;
            Ok::<_, ApiError>((variant, row))
        })
        .await?;
    published(cache, &row).await;
    Ok(variant)
}

/// Changes a variant's price, picture or status; NOT_FOUND if there is no such variant.
pub async fn change_variant(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    id: Uuid,
    price: Option<i64>,
    image_url: Option<Option<&str>>,
    status: Option<&str>,
) -> Result<VariantRow, ApiError> {
    let (variant, row) = conn
        .transaction(async |conn| {
            let Some(current) = variants::by_ids(conn, &[id]).await?.into_iter().next() else {
                return Err(ApiError::NotFound("variant".into()));
            };
            variants::lock_product(conn, current.product_id).await?;
            let variant = variants::change(conn, id, price, image_url, status).await?;
            let row = variants::refresh_product(conn, current.product_id).await?;
            Ok((variant, row))
        })
        .await?;
    published(cache, &row).await;
    Ok(variant)
}

/// Sets the price of product `product`'s only variant (what `updateProduct(price)` means);
/// `BAD_USER_INPUT` on `input.price` when it has several (each has its own). In the
/// product's write transaction, after its row was changed (so locked).
pub async fn price_only_variant(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    price: i64,
) -> Result<ProductRow, ApiError> {
    let all = variants::of_products(conn, &[product]).await?;
    let [only] = all.as_slice() else {
        return Err(ApiError::bad_input(
            "input.price",
            "the product has several variants: set each one's price (updateProductVariant)",
        ));
    };
    variants::change(conn, only.id, Some(price), None, None).await?;
    variants::refresh_product(conn, product).await
}

/// Adds `delta` units to a variant of `product` (its only one when `variant` is `None`),
/// recorded in the stock ledger with `reason` and `actor`. Stock never goes below zero:
/// `CONFLICT`.
pub async fn adjust_stock(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    product: Uuid,
    variant: Option<Uuid>,
    delta: i32,
    (reason, actor): (&str, Uuid),
) -> Result<ProductRow, ApiError> {
    let row = conn
        .transaction(async |conn| {
            variants::lock_product(conn, product).await?;
            let id = chosen(conn, product, variant, "variantId").await?;
            let Some(changed) = variants::add_stock(conn, id, delta).await? else {
                let current = variants::by_ids(conn, &[id]).await?;
                let stock = current.first().map_or(0, |v| v.stock);
                return Err(ApiError::Conflict(format!(
                    "stock cannot go below zero: {stock} in stock, asked to remove {}",
                    -delta
                )));
            };
            log_stock_change(
                conn,
                (product, id),
                (delta, changed.stock),
                reason,
                Some(actor),
            )
            .await?;
            variants::refresh_product(conn, product).await
        })
        .await?;
    published(cache, &row).await;
    Ok(row)
}

/// The variant of `product` a request means ([`crate::domain::variants::choose_variant`]):
/// `NOT_FOUND` for an id that is no variant at all, `BAD_USER_INPUT` on `field` for
/// another product's or a missing choice.
pub async fn chosen(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    given: Option<Uuid>,
    field: &str,
) -> Result<Uuid, ApiError> {
    let ids: Vec<Uuid> = variants::of_products(conn, &[product])
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    if let Some(id) = given
        && !ids.contains(&id)
        && variants::by_ids(conn, &[id]).await?.is_empty()
    {
        return Err(ApiError::NotFound("variant".into()));
    }
    crate::domain::variants::choose_variant(field, given, &ids)
}
