//! What the search index (`search_index.rs`) reads of products: everything the listing
//! filters, sorts, ranks and counts by, as PostgreSQL computes it (`lower()`, the
//! `search_document` as text), and every product's version.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Int4, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::index::Doc;
use crate::domain::index::rank::parse_tsvector;

/// A product as the index reads it.
#[derive(QueryableByName)]
pub struct DocRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Int8)]
    pub version: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    category_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    brand_id: Option<Uuid>,
    #[diesel(sql_type = Int4)]
    stock: i32,
    #[diesel(sql_type = Int4)]
    sales_count: i32,
    #[diesel(sql_type = Int8)]
    price_amount: i64,
    #[diesel(sql_type = Nullable<Int8>)]
    price_max: Option<i64>,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    name_lower: String,
    #[diesel(sql_type = Text)]
    document: String,
    #[diesel(sql_type = Array<Text>)]
    facet_keys: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    facet_labels: Vec<String>,
    #[diesel(sql_type = Array<BigInt>)]
    variant_prices: Vec<i64>,
}

impl DocRow {
    /// The index's doc, when the product is on sale (`None`: not listed). A document that
    /// does not parse is logged and listed without words.
    pub fn into_doc(self) -> Option<Doc> {
        if self.status != "ACTIVE" {
            return None;
        }
        let lexemes = parse_tsvector(&self.document).unwrap_or_else(|| {
            tracing::error!(product = %self.id, "search document not understood");
            Vec::new()
        });
        Some(Doc {
            id: self.id,
            version: self.version,
            category: self.category_id,
            brand: self.brand_id,
            stock: self.stock,
            sales_count: self.sales_count,
            price_min: self.price_amount,
            price_max: self.price_max,
            currency: self.currency,
            variant_prices: self.variant_prices,
            created_at: self.created_at,
            name_lower: self.name_lower,
            lexemes,
            facets: self.facet_keys.into_iter().zip(self.facet_labels).collect(),
        })
    }
}

/// The columns of a [`DocRow`] (the document only of products on sale).
macro_rules! doc_columns {
    () => {
        "SELECT p.id, p.version, p.status, p.category_id, p.brand_id, p.stock, \
    p.sales_count, p.price_amount, p.price_max, p.currency, p.created_at, \
    lower(p.name) AS name_lower, \
    CASE WHEN p.status = 'ACTIVE' THEN p.search_document::text ELSE '' END AS document, \
    p.facet_keys, p.facet_labels, \
    ARRAY(SELECT v.price_amount FROM product_variants v \
          WHERE v.product_id = p.id AND v.status = 'ACTIVE' ORDER BY v.price_amount) \
      AS variant_prices \
    FROM products p"
    };
}

/// Up to `limit` products after `after` in id order (the whole catalog, a batch at a time).
pub async fn batch_after(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> diesel::QueryResult<Vec<DocRow>> {
    diesel::sql_query(concat!(
        doc_columns!(),
        " WHERE p.id > coalesce($1, '00000000-0000-0000-0000-000000000000'::uuid) \
         ORDER BY p.id LIMIT $2"
    ))
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// The products with these ids (unknown ids are left out).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> diesel::QueryResult<Vec<DocRow>> {
    diesel::sql_query(concat!(doc_columns!(), " WHERE p.id = ANY($1)"))
        .bind::<Array<SqlUuid>, _>(ids)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
pub struct VersionRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Int8)]
    pub version: i64,
}

/// Every product's version.
pub async fn versions(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<VersionRow>> {
    diesel::sql_query("SELECT id, version FROM products")
        .load(conn)
        .await
}

/// Renames the `nth` active product (in id order) and moves its version on, as SQL by
/// hand would, behind the catalog's back (no announcement); returns its id.
#[cfg(test)]
pub async fn rename_behind_the_catalogs_back(
    conn: &mut AsyncPgConnection,
    nth: i64,
    name: &str,
) -> diesel::QueryResult<Uuid> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let row: Id = diesel::sql_query(
        "UPDATE products SET name = $1, version = version + 1 \
         WHERE id = (SELECT id FROM products WHERE status = 'ACTIVE' \
                     ORDER BY id OFFSET $2 LIMIT 1) RETURNING id",
    )
    .bind::<Text, _>(name)
    .bind::<BigInt, _>(nth)
    .get_result(conn)
    .await?;
    Ok(row.id)
}

/// Takes a product off sale as SQL by hand would, behind the catalog's back.
#[cfg(test)]
pub async fn archive_behind_the_catalogs_back(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> diesel::QueryResult<()> {
    diesel::sql_query(
        "UPDATE products SET status = 'ARCHIVED', version = version + 1 WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await
    .map(drop)
}
