//! The storefront listing (`products`): filters, sorts, exact counts, and keyset cursors
//! that are stable under the chosen sort (no OFFSET scans).

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Float8};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::validate::optional_text;
use uuid::Uuid;

use super::types::{Product, ProductConnection, ProductEdge, ProductStatus};
use crate::db::models::ProductRow;
use crate::db::schema::products;

/// Which products to list.
#[derive(InputObject, Default)]
pub struct ProductFilter {
    /// Words to look for in the name, description and category (full-text, as prefixes;
    /// typos and Chinese substrings are found through trigrams). Up to 100 characters.
    pub search: Option<String>,
    /// A category, including all its sub-categories.
    pub category_id: Option<ID>,
    /// Lowest price, minor units, inclusive.
    pub min_price: Option<i32>,
    /// Highest price, minor units, inclusive.
    pub max_price: Option<i32>,
    /// Only products that can be bought now (`true`) or only sold-out ones (`false`).
    pub in_stock: Option<bool>,
}

/// Order of the listing.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// Best match of `filter.search` first (see [`Search::scores`]); without a search, the
    /// same as `NEWEST`.
    Relevance,
    /// Newest first (the default).
    #[default]
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Most units sold first.
    BestSelling,
}

/// Where a page ends, for the sort (and search) it was made with. Ties are broken by id.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(tag = "s", content = "k")]
enum Position {
    /// Hash of the search, then its scores (category, text, similarity).
    Relevance(u64, f64, f64, f64, Uuid),
    Newest(DateTime<Utc>, Uuid),
    PriceAsc(i64, Uuid),
    PriceDesc(i64, Uuid),
    BestSelling(i32, Uuid),
}

/// Relevance scores of a row: category match, text match, name similarity.
type Scores = (f64, f64, f64);

impl Position {
    fn of(sort: ProductSort, row: &ProductRow, relevance: Option<(u64, Scores)>) -> Self {
        match (sort, relevance) {
            (ProductSort::Relevance, Some((hash, (c, t, s)))) => {
                Self::Relevance(hash, c, t, s, row.id)
            }
            (ProductSort::Relevance | ProductSort::Newest, _) => {
                Self::Newest(row.created_at, row.id)
            }
            (ProductSort::PriceAsc, _) => Self::PriceAsc(row.price_amount, row.id),
            (ProductSort::PriceDesc, _) => Self::PriceDesc(row.price_amount, row.id),
            (ProductSort::BestSelling, _) => Self::BestSelling(row.sales_count, row.id),
        }
    }

    /// Whether this cursor continues a listing with `sort` (and, for relevance, the same
    /// search).
    fn continues(self, sort: ProductSort, relevance: Option<&Search>) -> bool {
        match (self, sort, relevance) {
            (Self::Relevance(hash, ..), ProductSort::Relevance, Some(search)) => {
                hash == search.hash
            }
            (Self::Newest(..), ProductSort::Relevance, None) => true,
            (Self::Newest(..), ProductSort::Newest, _) => true,
            (Self::PriceAsc(..), ProductSort::PriceAsc, _) => true,
            (Self::PriceDesc(..), ProductSort::PriceDesc, _) => true,
            (Self::BestSelling(..), ProductSort::BestSelling, _) => true,
            _ => false,
        }
    }
}

/// A search term, as SQL. The term is inlined as a quoted literal (control characters are
/// refused first, quotes doubled; `standard_conforming_strings` is on), so that each
/// fragment is one plain SQL string usable in filters, orderings and selections alike.
struct Search {
    /// Hash of the normalised term: a relevance cursor continues only the same search.
    hash: u64,
    /// `to_tsquery` argument: every word as a prefix, all required; `None` without words.
    tsquery: Option<String>,
    /// The lower-cased term.
    term: String,
    /// `%term%` for LIKE, wildcards escaped.
    like: String,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Search {
    fn parse(raw: &str) -> Result<Option<Self>, ApiError> {
        let text = optional_text("filter.search", raw.trim(), 100)?.to_lowercase();
        if text.is_empty() {
            return Ok(None);
        }
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(10)
            .map(|w| format!("{w}:*"))
            .collect();
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&text, &mut hasher);
        Ok(Some(Self {
            hash: std::hash::Hasher::finish(&hasher),
            tsquery: (!words.is_empty()).then(|| quote(&words.join(" & "))),
            term: quote(&text),
            like: quote(&format!("%{escaped}%")),
        }))
    }

    /// Matches the words (full text, as prefixes) in the name, description or category
    /// name, or the whole term as a substring (Chinese has no spaces), or a name close to
    /// it (typos: trigram word similarity).
    fn condition(&self) -> String {
        let mut any = vec![
            format!(
                "lower(products.name || ' ' || products.description) LIKE {}",
                self.like
            ),
            format!(
                "public.word_similarity({}, lower(products.name)) >= 0.3",
                self.term
            ),
        ];
        if let Some(q) = &self.tsquery {
            any.push(format!(
                "products.search_document @@ to_tsquery('simple', {q})"
            ));
            any.push(format!(
                "EXISTS (SELECT 1 FROM categories c WHERE c.id = products.category_id \
                 AND to_tsvector('simple', c.name) @@ to_tsquery('simple', {q}))"
            ));
        }
        format!("({})", any.join(" OR "))
    }

    /// The relevance order, most relevant first: a product whose category is what was
    /// searched for ("phone" → "Phones 手机"; the rank is normalised by the category name's
    /// length, so "Phones" beats "Phone Accessories"), then the text rank of name (weight A)
    /// and description (B), then the whole term as a substring, then the trigram similarity
    /// of the name (typos).
    fn scores(&self) -> [String; 3] {
        let (category, text) = match &self.tsquery {
            Some(q) => (
                format!(
                    "COALESCE((SELECT ts_rank(to_tsvector('simple', c.name), \
                     to_tsquery('simple', {q}), 2) FROM categories c \
                     WHERE c.id = products.category_id), 0)::float8"
                ),
                format!("ts_rank(products.search_document, to_tsquery('simple', {q}), 1)::float8"),
            ),
            None => ("0::float8".to_owned(), "0::float8".to_owned()),
        };
        // The whole term inside the text (Chinese words have no spaces) beats a fuzzy
        // trigram match.
        let similarity = format!(
            "((lower(products.name || ' ' || products.description) LIKE {like})::int \
             + public.word_similarity({term}, lower(products.name)))::float8",
            like = self.like,
            term = self.term
        );
        [category, text, similarity]
    }
}

type Boxed<'a> = products::BoxedQuery<'a, Pg>;

/// Validated filter: what the SQL needs.
struct Conditions {
    search: Option<Search>,
    categories: Option<Vec<Uuid>>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
}

impl Conditions {
    fn apply<'a>(&self, mut query: Boxed<'a>) -> Boxed<'a> {
        query = query.filter(products::status.eq(ProductStatus::Active.as_db()));
        if let Some(search) = &self.search {
            query = query.filter(sql::<Bool>(&search.condition()));
        }
        if let Some(ids) = &self.categories {
            query = query.filter(products::category_id.eq_any(ids.clone()));
        }
        if let Some(min) = self.min_price {
            query = query.filter(products::price_amount.ge(min));
        }
        if let Some(max) = self.max_price {
            query = query.filter(products::price_amount.le(max));
        }
        match self.in_stock {
            Some(true) => query.filter(products::stock.gt(0)),
            Some(false) => query.filter(products::stock.eq(0)),
            None => query,
        }
    }
}

#[derive(QueryableByName)]
struct CategoryId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

async fn check_filter(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
) -> Result<Conditions, ApiError> {
    let search = match filter.search.as_deref() {
        Some(raw) => Search::parse(raw)?,
        None => None,
    };
    let price = |field: &str, value: Option<i32>| match value {
        Some(v) if v < 0 => Err(ApiError::bad_input(
            field,
            "must be 0 or more (minor units)",
        )),
        other => Ok(other.map(i64::from)),
    };
    let min_price = price("filter.minPrice", filter.min_price)?;
    let max_price = price("filter.maxPrice", filter.max_price)?;
    if let (Some(min), Some(max)) = (min_price, max_price)
        && min > max
    {
        return Err(ApiError::bad_input(
            "filter.minPrice",
            format!("must not exceed maxPrice ({min} > {max})"),
        ));
    }
    let categories = match &filter.category_id {
        None => None,
        Some(id) => {
            let root = Uuid::parse_str(id)
                .map_err(|_| ApiError::bad_input("filter.categoryId", "is not a category id"))?;
            let tree: Vec<CategoryId> = diesel::sql_query(
                "WITH RECURSIVE tree AS (
                     SELECT id FROM categories WHERE id = $1
                     UNION ALL
                     SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
                 ) SELECT id FROM tree",
            )
            .bind::<diesel::sql_types::Uuid, _>(root)
            .load(conn)
            .await?;
            if tree.is_empty() {
                return Err(ApiError::bad_input("filter.categoryId", "no such category"));
            }
            Some(tree.into_iter().map(|c| c.id).collect())
        }
    };
    Ok(Conditions {
        search,
        categories,
        min_price,
        max_price,
        in_stock: filter.in_stock,
    })
}

/// One page of the listing.
pub async fn list(
    conn: &mut AsyncPgConnection,
    first: Option<i32>,
    after: Option<&str>,
    filter: &ProductFilter,
    sort: ProductSort,
) -> Result<ProductConnection, ApiError> {
    let page = PageRequest::<Position>::parse(first, after)?;
    let conditions = check_filter(conn, filter).await?;
    let relevance = conditions
        .search
        .as_ref()
        .filter(|_| sort == ProductSort::Relevance);
    // Scores are selected for every sort (zeros unless relevance), to keep one row type.
    let [c, t, s] = relevance
        .map(Search::scores)
        .unwrap_or_else(|| ["0::float8".into(), "0::float8".into(), "0::float8".into()]);
    let mut query = conditions.apply(products::table.into_boxed());
    if let Some(position) = page.after {
        if !position.continues(sort, relevance) {
            return Err(ApiError::bad_input(
                "after",
                "is a cursor of another sort order or search; start again without `after`",
            ));
        }
        query = match position {
            Position::Relevance(_, category, text, similarity, id) => {
                query.filter(sql::<Bool>(&format!(
                    "({c}, {t}, {s}, products.id) < ({category:?}::float8, {text:?}::float8, \
                     {similarity:?}::float8, '{id}'::uuid)"
                )))
            }
            Position::Newest(at, id) => query.filter(
                products::created_at
                    .lt(at)
                    .or(products::created_at.eq(at).and(products::id.lt(id))),
            ),
            Position::PriceAsc(price, id) => query.filter(
                products::price_amount
                    .gt(price)
                    .or(products::price_amount.eq(price).and(products::id.gt(id))),
            ),
            Position::PriceDesc(price, id) => query.filter(
                products::price_amount
                    .lt(price)
                    .or(products::price_amount.eq(price).and(products::id.lt(id))),
            ),
            Position::BestSelling(sold, id) => query.filter(
                products::sales_count
                    .lt(sold)
                    .or(products::sales_count.eq(sold).and(products::id.lt(id))),
            ),
        };
    }
    query = match (sort, relevance) {
        (ProductSort::Relevance, Some(_)) => query.order((
            sql::<Float8>(&c).desc(),
            sql::<Float8>(&t).desc(),
            sql::<Float8>(&s).desc(),
            products::id.desc(),
        )),
        (ProductSort::Relevance | ProductSort::Newest, _) => {
            query.order((products::created_at.desc(), products::id.desc()))
        }
        (ProductSort::PriceAsc, _) => {
            query.order((products::price_amount.asc(), products::id.asc()))
        }
        (ProductSort::PriceDesc, _) => {
            query.order((products::price_amount.desc(), products::id.desc()))
        }
        (ProductSort::BestSelling, _) => {
            query.order((products::sales_count.desc(), products::id.desc()))
        }
    };
    let mut rows: Vec<(ProductRow, f64, f64, f64)> = query
        .limit(page.limit + 1)
        .select((
            ProductRow::as_select(),
            sql::<Float8>(&c),
            sql::<Float8>(&t),
            sql::<Float8>(&s),
        ))
        .load(conn)
        .await?;
    let total_count: i64 = conditions
        .apply(products::table.into_boxed())
        .count()
        .get_result(conn)
        .await?;
    let has_next_page = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let edges: Vec<ProductEdge> = rows
        .into_iter()
        .map(|(row, c, t, s)| ProductEdge {
            cursor: encode_cursor(&Position::of(
                sort,
                &row,
                relevance.map(|search| (search.hash, (c, t, s))),
            )),
            node: Product(row),
        })
        .collect();
    Ok(ProductConnection {
        total_count,
        page_info: PageInfo::of_page(
            edges.iter().map(|e| &e.cursor),
            has_next_page,
            page.after.is_some(),
        ),
        edges,
    })
}
