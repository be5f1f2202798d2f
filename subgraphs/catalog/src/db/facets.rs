//! The facets of a listing: exact counts of products over the listing's conditions
//! (`db::filter`), each facet without its own selection ([`Facet`]). One statement each.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::brands::BrandRow;
use super::filter::{Fragment, ListingConditions, Statement, attribute_condition};
use crate::domain::facets::{AttributeCount, Facet};

#[derive(QueryableByName)]
struct BrandCount {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    logo_url: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The brands of the products that match every condition but the brand selection, with how
/// many each has (brands without a matching product are left out; so are products without
/// a brand). Unordered.
pub async fn brands(
    conn: &mut AsyncPgConnection,
    conditions: &ListingConditions,
) -> diesel::QueryResult<Vec<(BrandRow, i64)>> {
    let rows: Vec<BrandCount> = brands_statement(conditions).load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                BrandRow {
                    id: row.id,
                    name: row.name,
                    logo_url: row.logo_url,
                    created_at: row.created_at,
                },
                row.count,
            )
        })
        .collect())
}

/// The statement of [`brands`].
pub fn brands_statement(conditions: &ListingConditions) -> Statement {
    Fragment::<()>::sql(
        "SELECT b.id, b.name, b.logo_url, b.created_at, c.count \
         FROM (SELECT products.brand_id, count(*) AS count FROM products WHERE ",
    )
    .join(conditions.where_clause(Some(Facet::Brands)))
    .and(
        " AND products.brand_id IS NOT NULL GROUP BY products.brand_id) AS c \
         JOIN brands b ON b.id = c.brand_id",
    )
    .statement()
}

/// The lowest and highest price of a listing's active variants, each in the currency of
/// its product.
#[derive(QueryableByName, Clone, Debug, PartialEq, Eq)]
pub struct Prices {
    #[diesel(sql_type = BigInt)]
    pub min: i64,
    #[diesel(sql_type = Text)]
    pub min_currency: String,
    #[diesel(sql_type = BigInt)]
    pub max: i64,
    #[diesel(sql_type = Text)]
    pub max_currency: String,
}

/// The price range of the active variants of the products that match every condition but
/// the price bounds; `None` when there are none.
pub async fn price_range(
    conn: &mut AsyncPgConnection,
    conditions: &ListingConditions,
) -> diesel::QueryResult<Option<Prices>> {
    let rows: Vec<Prices> = price_statement(conditions).load(conn).await?;
    Ok(rows.into_iter().next())
}

/// The statement of [`price_range`]: the matching products' ids in a hash, then
/// `product_variants_active_price_idx` read from each end up to the first variant of one
/// of them. Reading every variant of every matching product (ten thousand products of a
/// common word) costs ten times as much.
pub fn price_statement(conditions: &ListingConditions) -> Statement {
    const END: &str = "SELECT v.price_amount, v.product_id FROM product_variants v \
         WHERE v.status = 'ACTIVE' AND EXISTS (SELECT 1 FROM matching) \
         AND (false OR v.product_id IN (SELECT m.id FROM matching m)) ";
    // `false OR`: the planner keeps the IN as a hashed subplan filtering the ordered index
    // scan, rather than a join that would read every matching product's variants.
    Fragment::<()>::sql("WITH matching AS MATERIALIZED (SELECT products.id FROM products WHERE ")
        .join(conditions.where_clause(Some(Facet::PriceRange)))
        .and("), lowest AS (")
        .and(END)
        .and("ORDER BY v.price_amount, v.product_id LIMIT 1), highest AS (")
        .and(END)
        .and(
            "ORDER BY v.price_amount DESC, v.product_id DESC LIMIT 1) \
             SELECT lowest.price_amount AS min, low.currency AS min_currency, \
                    highest.price_amount AS max, high.currency AS max_currency \
               FROM lowest JOIN products low ON low.id = lowest.product_id, \
                    highest JOIN products high ON high.id = highest.product_id",
        )
        .statement()
}

#[derive(QueryableByName)]
struct AttributeRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The attribute names and values (specification attributes and active variants'
/// options, whatever their case; each shown in one of its spellings, the first in byte
/// order: capitals first) of the products that match every condition, each name
/// counted as if none of its own values were chosen: a product that misses exactly one
/// chosen name counts for that name's values only. A row per name (`value` null: the
/// products with any value of it) and per name and value. Unordered.
pub async fn attributes(
    conn: &mut AsyncPgConnection,
    conditions: &ListingConditions,
) -> diesel::QueryResult<Vec<AttributeCount>> {
    let rows: Vec<AttributeRow> = attributes_statement(conditions).load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| AttributeCount {
            key: row.key,
            name: row.name,
            value: row.value,
            count: row.count,
        })
        .collect())
}

/// The statement of [`attributes`].
pub fn attributes_statement(conditions: &ListingConditions) -> Statement {
    // The chosen names a product misses (at most one may be missed to count anywhere).
    let missed = if conditions.attributes.is_empty() {
        Fragment::<()>::sql("'{}'::text[]")
    } else {
        Fragment::sql("array_remove(ARRAY[")
            .join_all(
                conditions.attributes.iter().map(|selection| {
                    Fragment::<()>::sql("CASE WHEN ")
                        .join(attribute_condition(selection))
                        .and(" THEN NULL ELSE lower(")
                        .text(&selection.name)
                        .and(") END")
                }),
                ", ",
                "",
            )
            .and("]::text[], NULL)")
    };
    Fragment::<()>::sql("WITH matching AS (SELECT m.id, m.missed FROM (SELECT products.id, ")
        .join(missed)
        .and(" AS missed FROM products WHERE ")
        .join(conditions.where_clause(Some(Facet::Attributes)))
        .and(
            ") AS m WHERE cardinality(m.missed) <= 1), \
             pairs AS (\
               SELECT m.id, m.missed, a.name, a.value \
                 FROM matching m JOIN product_attributes a ON a.product_id = m.id \
               UNION ALL \
               SELECT m.id, m.missed, o.o ->> 'name', o.o ->> 'value' \
                 FROM matching m \
                 JOIN product_variants v ON v.product_id = m.id AND v.status = 'ACTIVE' \
                 CROSS JOIN LATERAL jsonb_array_elements(v.options) AS o (o)), \
             found AS MATERIALIZED (\
               SELECT p.id, lower(p.name) AS key, lower(p.value) AS lvalue, \
                      min(p.name COLLATE \"C\") AS name, min(p.value COLLATE \"C\") AS value \
                 FROM pairs p \
                WHERE p.name IS NOT NULL AND p.value IS NOT NULL \
                  AND (cardinality(p.missed) = 0 OR p.missed[1] = lower(p.name)) \
                GROUP BY p.id, lower(p.name), lower(p.value)) \
             SELECT key, min(name) AS name, min(value) AS value, count(*) AS count \
               FROM found GROUP BY key, lvalue \
             UNION ALL \
             SELECT key, min(name), NULL, count(*) \
               FROM (SELECT id, key, min(name) AS name FROM found GROUP BY id, key) AS n \
              GROUP BY key",
        )
        .statement()
}
