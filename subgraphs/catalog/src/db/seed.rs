//! The demo catalog's own statements (`crate::seed` holds the data): products with their
//! options and variants written together, and specification attributes. Every statement
//! leaves what exists alone, so the seed may run at every start.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::details::AttributeRow;
use super::models::ProductRow;
use super::{products, variants};
use crate::domain::variants::{NewVariant, ProductOption};

/// A demo variant of a product with options: its id, product, display position and values.
#[derive(Clone, Debug)]
pub struct VariantSeed {
    pub id: Uuid,
    pub product_id: Uuid,
    pub position: i32,
    pub variant: NewVariant,
    pub created_at: DateTime<Utc>,
}

/// Adds the products without options that do not exist yet, each with its default variant
/// (`variants::insert_defaults`), in one transaction: no product is ever seen without a
/// variant. Returns how many products were added.
pub async fn insert_plain(
    conn: &mut AsyncPgConnection,
    rows: Vec<ProductRow>,
) -> Result<usize, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    conn.transaction(async |conn| {
        let inserted = products::insert_missing(conn, rows).await?;
        // The products first, in id order, as every writer locks them (the facet triggers
        // on variants lock them too).
        variants::lock_products(conn, &ids).await?;
        // Also those an older start left without one.
        variants::insert_defaults(conn, &ids).await?;
        Ok(inserted)
    })
    .await
}

/// What [`insert_with_variants`] added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Added {
    pub products: usize,
    pub variants: usize,
}

/// Adds the products with options that do not exist yet, with their options and variants,
/// in one transaction. A product that has any variant already is left as it is (an older
/// seed may have given it its default one). `rows` carry their variants' summary (lowest
/// active price, total stock); should a product have existed without variants, or a
/// variant been skipped (its SKU taken), the summary is written from what was stored.
pub async fn insert_with_variants(
    conn: &mut AsyncPgConnection,
    rows: Vec<ProductRow>,
    options: &[(Uuid, Vec<ProductOption>)],
    new: &[VariantSeed],
) -> Result<Added, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    conn.transaction(async |conn| {
        let inserted = products::insert_missing(conn, rows).await?;
        let varied: HashSet<Uuid> = variants::of_products(conn, &ids)
            .await?
            .into_iter()
            .map(|variant| variant.product_id)
            .collect();
        let fresh: Vec<Uuid> = ids.into_iter().filter(|id| !varied.contains(id)).collect();
        if fresh.is_empty() {
            return Ok(Added {
                products: inserted,
                variants: 0,
            });
        }
        let options: Vec<(Uuid, &[ProductOption])> = options
            .iter()
            .filter(|(product, _)| fresh.contains(product))
            .map(|(product, options)| (*product, options.as_slice()))
            .collect();
        insert_options(conn, &options).await?;
        let new: Vec<&VariantSeed> = new
            .iter()
            .filter(|seed| fresh.contains(&seed.product_id))
            .collect();
        let added = insert_variants(conn, &new).await?;
        if inserted != fresh.len() || added != new.len() {
            for id in &fresh {
                variants::lock_product(conn, *id).await?;
                variants::refresh_product(conn, *id).await?;
            }
        }
        Ok::<_, ApiError>(Added {
            products: inserted,
            variants: added,
        })
    })
    .await
}

/// Writes the options of products, those that exist left as they are.
async fn insert_options(
    conn: &mut AsyncPgConnection,
    options: &[(Uuid, &[ProductOption])],
) -> Result<usize, ApiError> {
    let (mut products, mut positions, mut names, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (product, options) in options {
        for (position, option) in options.iter().enumerate() {
            products.push(*product);
            positions.push(position as i32);
            names.push(option.name.clone());
            values.push(json(&option.values)?);
        }
    }
    Ok(diesel::sql_query(
        "INSERT INTO product_options (product_id, position, name, \"values\") \
         SELECT o.product_id, o.position, o.name, \
                ARRAY(SELECT jsonb_array_elements_text(o.vals::jsonb)) \
           FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[]) \
                AS o (product_id, position, name, vals) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(products)
    .bind::<Array<Int4>, _>(positions)
    .bind::<Array<Text>, _>(names)
    .bind::<Array<Text>, _>(values)
    .execute(conn)
    .await?)
}

/// Writes variants, those whose id, SKU or values are taken left out; their stock is the
/// demo's opening stock (no ledger entry, as for the products' default variants).
async fn insert_variants(
    conn: &mut AsyncPgConnection,
    new: &[&VariantSeed],
) -> Result<usize, ApiError> {
    let mut options = Vec::with_capacity(new.len());
    for seed in new {
        options.push(json(&seed.variant.options)?);
    }
    Ok(diesel::sql_query(
        "INSERT INTO product_variants (id, product_id, position, sku, options, price_amount, \
                                       stock, image_url, created_at, updated_at) \
         SELECT v.id, v.product_id, v.position, v.sku, v.options::jsonb, v.price, v.stock, \
                v.image_url, v.created_at, v.created_at \
           FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], \
                       $6::int8[], $7::int4[], $8::text[], $9::timestamptz[]) \
                AS v (id, product_id, position, sku, options, price, stock, image_url, \
                      created_at) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(new.iter().map(|s| s.id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(new.iter().map(|s| s.product_id).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(new.iter().map(|s| s.position).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(new.iter().map(|s| &s.variant.sku).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(options)
    .bind::<Array<Int8>, _>(new.iter().map(|s| s.variant.price).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(new.iter().map(|s| s.variant.stock).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        new.iter()
            .map(|s| s.variant.image_url.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(new.iter().map(|s| s.created_at).collect::<Vec<_>>())
    .execute(conn)
    .await?)
}

/// Gives each product that exists and has no attribute yet its `rows`; a product with
/// attributes of its own (an administrator's) is left as it is. Returns how many were added.
pub async fn insert_attributes(
    conn: &mut AsyncPgConnection,
    rows: &[AttributeRow],
) -> Result<usize, ApiError> {
    let mut ids: Vec<Uuid> = rows.iter().map(|r| r.product_id).collect();
    ids.dedup();
    conn.transaction(async |conn| {
        // The products first, in id order, as every writer locks them (the facet triggers
        // on attributes lock them too): no deadlock with an administrator's edit.
        variants::lock_products(conn, &ids).await?;
        Ok(insert_attribute_rows(conn, rows).await?)
    })
    .await
}

async fn insert_attribute_rows(
    conn: &mut AsyncPgConnection,
    rows: &[AttributeRow],
) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO product_attributes (product_id, position, name, value) \
         SELECT a.product_id, a.position, a.name, a.value \
           FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[]) \
                AS a (product_id, position, name, value) \
          WHERE EXISTS (SELECT 1 FROM products p WHERE p.id = a.product_id) \
            AND NOT EXISTS (SELECT 1 FROM product_attributes x \
                             WHERE x.product_id = a.product_id) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.product_id).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(rows.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| &r.name).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| &r.value).collect::<Vec<_>>())
    .execute(conn)
    .await
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|error| ApiError::from(diesel::result::Error::SerializationError(Box::new(error))))
}
