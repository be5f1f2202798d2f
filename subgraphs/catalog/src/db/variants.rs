//! Variants (SKU) and options: reads and writes of `product_variants` and `product_options`.
//! A variant's stock changes only with its product's row locked first ([`lock_product`]),
//! as the reservation functions do, and the product's summary (lowest active price, total
//! stock) is written in the same transaction ([`refresh_product`]).

use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use peer_api::SelectedOption;
use service_kit::ApiError;
use uuid::Uuid;

use super::models::ProductRow;
use crate::domain::variants::{NewVariant, ProductOption};

/// The columns of a variant row, options as JSON text.
const VARIANT_COLUMNS: &str = "v.id, v.product_id, v.position, v.sku, v.options::text AS options, \
     v.price_amount, v.stock, v.image_url, v.status, v.version";

/// A row of `product_variants`.
#[derive(Clone, Debug, diesel::QueryableByName)]
pub struct VariantRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub product_id: Uuid,
    #[diesel(sql_type = Int4)]
    pub position: i32,
    #[diesel(sql_type = Text)]
    pub sku: String,
    /// `[{"name": .., "value": ..}]`, in the product's option order.
    #[diesel(sql_type = Text)]
    pub options: String,
    #[diesel(sql_type = Int8)]
    pub price_amount: i64,
    #[diesel(sql_type = Int4)]
    pub stock: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub image_url: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Int8)]
    pub version: i64,
}

impl VariantRow {
    /// The option values; a row whose JSON does not read is logged and shows none.
    pub fn selected_options(&self) -> Vec<SelectedOption> {
        serde_json::from_str(&self.options).unwrap_or_else(|error| {
            tracing::error!(%error, variant = %self.id, "unreadable variant options");
            Vec::new()
        })
    }
}

/// A row of `product_options`.
#[derive(Clone, Debug, diesel::QueryableByName)]
pub struct OptionRow {
    #[diesel(sql_type = SqlUuid)]
    pub product_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Array<Text>)]
    pub values: Vec<String>,
}

/// The variants of these products, in display order.
pub async fn of_products(
    conn: &mut AsyncPgConnection,
    products: &[Uuid],
) -> Result<Vec<VariantRow>, ApiError> {
    Ok(diesel::sql_query(format!(
        "SELECT {VARIANT_COLUMNS} FROM product_variants v WHERE v.product_id = ANY($1) \
         ORDER BY v.product_id, v.position, v.id"
    ))
    .bind::<Array<SqlUuid>, _>(products)
    .load(conn)
    .await?)
}

/// The variants with these ids (unknown ids are left out).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<VariantRow>, ApiError> {
    Ok(diesel::sql_query(format!(
        "SELECT {VARIANT_COLUMNS} FROM product_variants v WHERE v.id = ANY($1)"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?)
}

/// The options of these products, in display order.
pub async fn options_of(
    conn: &mut AsyncPgConnection,
    products: &[Uuid],
) -> Result<Vec<OptionRow>, ApiError> {
    Ok(diesel::sql_query(
        "SELECT product_id, name, \"values\" FROM product_options WHERE product_id = ANY($1) \
         ORDER BY product_id, position",
    )
    .bind::<Array<SqlUuid>, _>(products)
    .load(conn)
    .await?)
}

/// Writes a new product's options.
pub async fn insert_options(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    options: &[ProductOption],
) -> diesel::QueryResult<()> {
    for (position, option) in options.iter().enumerate() {
        diesel::sql_query(
            "INSERT INTO product_options (product_id, position, name, \"values\") \
             VALUES ($1, $2, $3, $4)",
        )
        .bind::<SqlUuid, _>(product)
        .bind::<Int4, _>(position as i32)
        .bind::<Text, _>(&option.name)
        .bind::<Array<Text>, _>(&option.values)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Adds a variant of `product` after its others; its initial stock goes to the product's
/// total (the caller holds the product's lock).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    product: Uuid,
    variant: &NewVariant,
) -> diesel::QueryResult<VariantRow> {
    let options = serde_json::to_string(&variant.options)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    diesel::sql_query(format!(
        "INSERT INTO product_variants AS v \
             (id, product_id, position, sku, options, price_amount, stock, image_url) \
         VALUES ($1, $2, \
                 (SELECT coalesce(max(position) + 1, 0) FROM product_variants \
                   WHERE product_id = $2), \
                 $3, $4::jsonb, $5, $6, $7) \
         RETURNING {VARIANT_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(product)
    .bind::<Text, _>(&variant.sku)
    .bind::<Text, _>(options)
    .bind::<Int8, _>(variant.price)
    .bind::<Int4, _>(variant.stock)
    .bind::<Nullable<Text>, _>(variant.image_url.as_deref())
    .get_result(conn)
    .await
}

/// Locks product `id` for a change of its variants; NOT_FOUND if there is none.
pub async fn lock_product(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), ApiError> {
    match lock_products(conn, &[id]).await? {
        0 => Err(ApiError::NotFound("product".into())),
        _ => Ok(()),
    }
}

/// Locks these products in id order (the order every stock change locks them in); how
/// many there are.
pub async fn lock_products(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<usize, ApiError> {
    Ok(
        diesel::sql_query("SELECT 1 FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind::<Array<SqlUuid>, _>(ids)
            .execute(conn)
            .await?,
    )
}

/// Changes a variant's price, picture or status (`None` keeps it); NOT_FOUND if there is
/// none. The caller holds its product's lock.
pub async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    price: Option<i64>,
    image_url: Option<Option<&str>>,
    status: Option<&str>,
) -> Result<VariantRow, ApiError> {
    diesel::sql_query(format!(
        "UPDATE product_variants AS v \
            SET price_amount = coalesce($2, v.price_amount), \
                image_url = CASE WHEN $3 THEN $4 ELSE v.image_url END, \
                status = coalesce($5, v.status), \
                version = v.version + 1, updated_at = now() \
          WHERE v.id = $1 \
         RETURNING {VARIANT_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<Int8>, _>(price)
    .bind::<diesel::sql_types::Bool, _>(image_url.is_some())
    .bind::<Nullable<Text>, _>(image_url.flatten())
    .bind::<Nullable<Text>, _>(status)
    .get_result(conn)
    .await
    .map_err(|error| match error {
        diesel::result::Error::NotFound => ApiError::NotFound("variant".into()),
        other => other.into(),
    })
}

/// Adds `delta` units to variant `id` (negative removes); `None` when the stock would go
/// below zero. The caller holds its product's lock.
pub async fn add_stock(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    delta: i32,
) -> Result<Option<VariantRow>, ApiError> {
    let rows: Vec<VariantRow> = diesel::sql_query(format!(
        "UPDATE product_variants AS v \
            SET stock = v.stock + $2, version = v.version + 1, updated_at = now() \
          WHERE v.id = $1 AND v.stock + $2 >= 0 \
         RETURNING {VARIANT_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Int4, _>(delta)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

/// Takes `quantity` units of an active variant of an active product (a flash sale sets
/// them aside); `None` when either is not active or there are fewer units. The caller holds
/// the product's lock.
pub async fn take_active(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    quantity: i32,
) -> Result<Option<VariantRow>, ApiError> {
    let rows: Vec<VariantRow> = diesel::sql_query(format!(
        "UPDATE product_variants AS v \
            SET stock = v.stock - $2, version = v.version + 1, updated_at = now() \
          FROM products p \
          WHERE v.id = $1 AND p.id = v.product_id AND p.status = 'ACTIVE' \
            AND v.status = 'ACTIVE' AND v.stock >= $2 \
         RETURNING {VARIANT_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Int4, _>(quantity)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

/// Writes product `id`'s summary of its variants: the lowest active price (kept when none
/// is active), the total stock; moves its version on (for the cache). The caller holds its
/// lock.
pub async fn refresh_product(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<ProductRow, ApiError> {
    use diesel::{ExpressionMethods as _, QueryDsl as _, SelectableHelper as _};

    use super::products::ProductChanges;
    use super::schema::products;
    let (price, stock) = summary(conn, id).await?;
    let changes = ProductChanges {
        price_amount: price,
        updated_at: chrono::Utc::now(),
        ..ProductChanges::default()
    };
    Ok(diesel::update(products::table.find(id))
        .set((
            changes,
            products::stock.eq(stock),
            products::version.eq(products::version + 1),
        ))
        .returning(ProductRow::as_returning())
        .get_result::<ProductRow>(conn)
        .await?)
}

/// The lowest active price (or, with none active, the lowest of all) and the total stock
/// of a product's variants.
async fn summary(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(Option<i64>, i32), ApiError> {
    #[derive(diesel::QueryableByName)]
    struct Summary {
        #[diesel(sql_type = Nullable<Int8>)]
        price: Option<i64>,
        #[diesel(sql_type = Int8)]
        stock: i64,
    }
    let summary: Summary = diesel::sql_query(
        "SELECT coalesce(min(price_amount) FILTER (WHERE status = 'ACTIVE'), min(price_amount)) \
                AS price, \
                coalesce(sum(stock), 0)::int8 AS stock \
           FROM product_variants WHERE product_id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await?;
    let stock = i32::try_from(summary.stock).map_err(|_| {
        ApiError::Conflict(format!(
            "a product holds at most {} units over all its variants",
            i32::MAX
        ))
    })?;
    Ok((summary.price, stock))
}

/// Gives each of these products that has no variant its default one (the product's id,
/// price and stock, SKU `default_sku`), as the migration did for the products before
/// variants; returns how many were added.
pub async fn insert_defaults(
    conn: &mut AsyncPgConnection,
    products: &[Uuid],
) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO product_variants (id, product_id, sku, price_amount, stock, status) \
         SELECT p.id, p.id, default_sku(p.id), p.price_amount, p.stock, \
                CASE WHEN p.status = 'ARCHIVED' THEN 'ARCHIVED' ELSE 'ACTIVE' END \
           FROM products p \
          WHERE p.id = ANY($1) \
            AND NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(products)
    .execute(conn)
    .await
}
