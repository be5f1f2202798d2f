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

impl From<crate::domain::index::facets::PriceBounds> for Prices {
    fn from(bounds: crate::domain::index::facets::PriceBounds) -> Self {
        Self {
            min: bounds.min,
            min_currency: bounds.min_currency,
            max: bounds.max,
            max_currency: bounds.max_currency,
        }
    }
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

/// The statement of [`price_range`]: the matching products' lowest (`price_amount`) and
/// highest (`price_max`) active prices, kept on each product; ties go to the lowest product
/// id for the minimum and the highest for the maximum.
pub fn price_statement(conditions: &ListingConditions) -> Statement {
    Fragment::<()>::sql(
        "WITH matching AS MATERIALIZED (\
           SELECT products.id, products.price_amount, products.price_max, products.currency \
             FROM products WHERE ",
    )
    .join(conditions.where_clause(Some(Facet::PriceRange)))
    .and(
        " AND products.price_max IS NOT NULL AND products.price_amount IS NOT NULL), \
         lowest AS (SELECT price_amount, currency FROM matching \
                     ORDER BY price_amount, id LIMIT 1), \
         highest AS (SELECT price_max, currency FROM matching \
                      ORDER BY price_max DESC, id DESC LIMIT 1) \
         SELECT lowest.price_amount AS min, lowest.currency AS min_currency, \
                highest.price_max AS max, highest.currency AS max_currency \
           FROM lowest, highest",
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
    // Each product's pairs are its `facet_keys` (lower(name) U+001F lower(value)) with
    // their spellings (`facet_labels`, in the same order).
    Fragment::<()>::sql(
        "WITH matching AS (SELECT m.id, m.missed, m.facet_keys, m.facet_labels \
           FROM (SELECT products.id, products.facet_keys, products.facet_labels, ",
    )
    .join(missed)
    .and(" AS missed FROM products WHERE ")
    .join(conditions.where_clause(Some(Facet::Attributes)))
    .and(
        ") AS m WHERE cardinality(m.missed) <= 1), \
         pairs AS MATERIALIZED (\
           SELECT m.id, k.pair, split_part(k.pair, chr(31), 1) AS key, \
                  split_part(k.label, chr(31), 1) AS name, \
                  split_part(k.label, chr(31), 2) AS value \
             FROM matching m \
             CROSS JOIN LATERAL unnest(m.facet_keys, m.facet_labels) AS k (pair, label) \
            WHERE cardinality(m.missed) = 0 \
               OR split_part(k.pair, chr(31), 1) = m.missed[1]) \
         SELECT min(key) AS key, min(name COLLATE \"C\") AS name, \
                min(value COLLATE \"C\") AS value, count(*) AS count \
           FROM pairs GROUP BY pair \
         UNION ALL \
         SELECT key, min(name COLLATE \"C\"), NULL, count(DISTINCT id) \
           FROM pairs GROUP BY key",
    )
    .statement()
}
