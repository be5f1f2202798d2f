//! Products: reads and writes of the `products` table, and the SQL of the storefront
//! listing: filters, sorts, exact counts, and keyset cursors that are stable under the
//! chosen sort (no OFFSET scans).

use chrono::Utc;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Float8};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use service_kit::paging::PageRequest;
use service_kit::sql::Bound;
use uuid::Uuid;

use super::models::ProductRow;
use super::schema::products;
use crate::domain::products::ProductStatus;
use crate::domain::search::{Position, ProductSort, RelevanceKey, Scores, Search, SortKey};

/// The product with this id, any status; NOT_FOUND if there is none.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<ProductRow, ApiError> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("product".into()))
}

/// The products with these ids, any status (unknown ids are left out).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ProductRow>> {
    products::table
        .filter(products::id.eq_any(ids))
        .select(ProductRow::as_select())
        .load(conn)
        .await
}

/// Adds one product.
pub async fn insert(conn: &mut AsyncPgConnection, row: &ProductRow) -> QueryResult<()> {
    diesel::insert_into(products::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Adds the products that do not exist yet; returns how many were added.
pub async fn insert_missing(
    conn: &mut AsyncPgConnection,
    rows: Vec<ProductRow>,
) -> QueryResult<usize> {
    diesel::insert_into(products::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

/// The fields `updateProduct` writes; `None` leaves a column as it is.
#[derive(Default, diesel::AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<Option<String>>,
    pub price_amount: Option<i64>,
    pub category_id: Option<Option<Uuid>>,
    pub status: Option<String>,
    pub brand_id: Option<Option<Uuid>>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Applies `changes` to one product and moves its version on (for the cache); NOT_FOUND if
/// there is no such product.
pub async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: ProductChanges,
) -> Result<ProductRow, ApiError> {
    diesel::update(products::table.find(id))
        .set((changes, products::version.eq(products::version + 1)))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::NotFound("product".into()))
}

/// Adds `delta` units to the stock of product `id` (negative removes) and moves its version
/// on; `None` when there is no such product or the stock would go below zero.
// One statement checks and changes: concurrent adjustments never lose an update, and never
// take stock below zero.
pub async fn add_stock(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    delta: i32,
) -> QueryResult<Option<ProductRow>> {
    diesel::update(
        products::table
            .find(id)
            .filter((products::stock + delta).ge(0)),
    )
    .set((
        products::stock.eq(products::stock + delta),
        products::updated_at.eq(Utc::now()),
        products::version.eq(products::version + 1),
    ))
    .returning(ProductRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// A SQL expression with bound values.
type Sql<ST> = Bound<ST>;

type Boxed<'a> = products::BoxedQuery<'a, Pg>;

/// Matches the words (full text: Latin words as prefixes, Chinese as character pairs)
/// in the name or description, a category whose name matches them, and, for terms with
/// punctuation, the whole term as a substring. Each branch has an index.
fn search_condition(search: &Search) -> Sql<Bool> {
    let mut sql = Sql::sql("(false");
    if search.like_filter {
        sql = sql
            .and(" OR lower(products.name || ' ' || products.description) LIKE ")
            .text(&search.like);
    }
    if let Some(q) = &search.tsquery {
        sql = sql
            .and(" OR products.search_document @@ to_tsquery('simple', ")
            .text(q)
            .and(")");
    }
    if !search.categories.is_empty() {
        sql = sql
            .and(" OR products.category_id = ANY(")
            .uuids(search.categories.iter().map(|c| c.id).collect())
            .and(")");
    }
    sql.and(")")
}

/// The relevance order, most relevant first ([`Scores`]): a product whose category is what
/// was searched for ("phone" → "Phones 手机"), then the text rank of name (weight A) and
/// description (B), then whether the whole term stands in the text as typed.
fn scores(search: &Search) -> [Sql<Float8>; 3] {
    let category = if search.categories.is_empty() {
        Sql::sql("0::float8")
    } else {
        Sql::sql("COALESCE((")
            .floats(search.categories.iter().map(|c| c.rank).collect())
            .and("::float8[])[array_position(")
            .uuids(search.categories.iter().map(|c| c.id).collect())
            .and("::uuid[], products.category_id)], 0)::float8")
    };
    let text = match &search.tsquery {
        Some(q) => Sql::sql("ts_rank(products.search_document, to_tsquery('simple', ")
            .text(q)
            .and("), 1)::float8"),
        None => Sql::sql("0::float8"),
    };
    // Latin words are ranked well by the text rank alone; for Chinese (pairs may match
    // apart) and punctuation, names holding the term exactly as typed come first.
    let substring = if search.like_scores {
        Sql::sql("(lower(products.name) LIKE ")
            .text(&search.like)
            .and(")::int::float8")
    } else {
        Sql::sql("0::float8")
    };
    [category, text, substring]
}

/// What listed products must match: the filter, with its search and category looked up.
pub struct ListingConditions {
    pub search: Option<Search>,
    /// A category and all its sub-categories.
    pub categories: Option<Vec<Uuid>>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: Option<bool>,
    /// Any of these brands.
    pub brands: Option<Vec<Uuid>>,
}

impl ListingConditions {
    /// The search, when the listing is sorted by relevance.
    pub fn relevance(&self, sort: ProductSort) -> Option<&Search> {
        self.search
            .as_ref()
            .filter(|_| sort == ProductSort::Relevance)
    }

    /// How many active products match.
    async fn count(&self, conn: &mut AsyncPgConnection) -> Result<i64, ApiError> {
        Ok(self
            .apply(products::table.into_boxed())
            .count()
            .get_result(conn)
            .await?)
    }

    fn apply<'a>(&self, mut query: Boxed<'a>) -> Boxed<'a> {
        query = query.filter(products::status.eq(ProductStatus::Active.as_db()));
        if let Some(search) = &self.search {
            query = query.filter(search_condition(search));
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
        if let Some(brands) = &self.brands {
            query = query.filter(products::brand_id.eq_any(brands.clone()));
        }
        match self.in_stock {
            Some(true) => query.filter(products::stock.gt(0)),
            Some(false) => query.filter(products::stock.eq(0)),
            None => query,
        }
    }

    /// The ids of the matching products, to look at the plan.
    #[cfg(test)]
    pub(crate) fn ids_query(&self) -> products::BoxedQuery<'static, Pg, diesel::sql_types::Uuid> {
        self.apply(products::table.into_boxed())
            .select(products::id)
    }
}

/// A row of the listing with its relevance scores and the count of every match.
pub struct ListedRow {
    pub product: ProductRow,
    pub scores: Scores,
    /// How many products match, over all pages (`count(*) OVER ()`).
    pub total_count: i64,
}

impl ListedRow {
    /// Where a page ending at this row ends, for `sort`; `relevance` is the hash of the
    /// search when sorted by relevance.
    pub fn position(&self, sort: ProductSort, relevance: Option<u64>) -> Position {
        let row = &self.product;
        let id = row.id;
        match (sort, relevance) {
            (ProductSort::Relevance, Some(search)) => {
                Position::Relevance(RelevanceKey::new(search, self.scores, id))
            }
            (ProductSort::Relevance | ProductSort::Newest, _) => Position::Newest(SortKey {
                value: row.created_at,
                id,
            }),
            (ProductSort::PriceAsc, _) => Position::PriceAsc(SortKey {
                value: row.price_amount,
                id,
            }),
            (ProductSort::PriceDesc, _) => Position::PriceDesc(SortKey {
                value: row.price_amount,
                id,
            }),
            (ProductSort::BestSelling, _) => Position::BestSelling(SortKey {
                value: row.sales_count,
                id,
            }),
        }
    }
}

/// One page (plus one row, to tell whether more follow) and the exact number of matches.
/// On a first page the count comes with the rows (`count(*) OVER ()`, one statement); after
/// a cursor the rows are only those past it, so the count is a statement of its own.
/// `page.after` must continue this sort and search ([`Position::continues`]).
pub async fn listing_page(
    conn: &mut AsyncPgConnection,
    conditions: &ListingConditions,
    sort: ProductSort,
    page: &PageRequest<Position>,
) -> Result<(Vec<ListedRow>, i64), ApiError> {
    let relevance = conditions.relevance(sort);
    // Scores are selected for every sort (zeros unless relevance), to keep one row type.
    let [c, t, s] = relevance
        .map(scores)
        .unwrap_or_else(|| [0, 1, 2].map(|_| Sql::sql("0::float8")));
    let mut query = conditions.apply(products::table.into_boxed());
    if let Some(position) = page.after {
        query = match position {
            Position::Relevance(last) => {
                let Scores {
                    category,
                    text,
                    substring,
                } = last.scores();
                let mut row = Sql::<Bool>::sql("(");
                for score in [&c, &t, &s] {
                    row = row.join(score.clone()).and(", ");
                }
                query.filter(
                    row.and("products.id) < (")
                        .float(category)
                        .and(", ")
                        .float(text)
                        .and(", ")
                        .float(substring)
                        .and(", ")
                        .uuid(last.id)
                        .and(")"),
                )
            }
            Position::Newest(SortKey { value: at, id }) => query.filter(
                products::created_at
                    .lt(at)
                    .or(products::created_at.eq(at).and(products::id.lt(id))),
            ),
            Position::PriceAsc(SortKey { value: price, id }) => query.filter(
                products::price_amount
                    .gt(price)
                    .or(products::price_amount.eq(price).and(products::id.gt(id))),
            ),
            Position::PriceDesc(SortKey { value: price, id }) => query.filter(
                products::price_amount
                    .lt(price)
                    .or(products::price_amount.eq(price).and(products::id.lt(id))),
            ),
            Position::BestSelling(SortKey { value: sold, id }) => query.filter(
                products::sales_count
                    .lt(sold)
                    .or(products::sales_count.eq(sold).and(products::id.lt(id))),
            ),
        };
    }
    query = match (sort, relevance) {
        (ProductSort::Relevance, Some(_)) => query.order((
            c.clone().desc(),
            t.clone().desc(),
            s.clone().desc(),
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
    let rows: Vec<(ProductRow, f64, f64, f64, i64)> = query
        .limit(page.limit + 1)
        .select((
            ProductRow::as_select(),
            c,
            t,
            s,
            Sql::<BigInt>::sql("count(*) OVER ()"),
        ))
        .load(conn)
        .await?;
    let rows: Vec<ListedRow> = rows
        .into_iter()
        .map(
            |(product, category, text, substring, total_count)| ListedRow {
                product,
                scores: Scores {
                    category,
                    text,
                    substring,
                },
                total_count,
            },
        )
        .collect();
    let total = match page.after {
        None => <[ListedRow]>::first(&rows).map_or(0, |row| row.total_count),
        Some(_) => conditions.count(conn).await?,
    };
    Ok((rows, total))
}

#[derive(QueryableByName)]
struct VocabularyWord {
    #[diesel(sql_type = diesel::sql_types::Text)]
    word: String,
}

/// The words of the catalog's vocabulary closest to `word`, and others only if nearly as
/// close (trigram similarity ≥ 0.2, the best and any within 0.05 of it, at most 3).
pub async fn close_words(conn: &mut AsyncPgConnection, word: &str) -> QueryResult<Vec<String>> {
    // The closest words, and others only if nearly as close: `iphnoe` means
    // `iphone`, not also `ipad`.
    let close: Vec<VocabularyWord> = diesel::sql_query(
        "SELECT word FROM (SELECT word, public.similarity(word, $1) AS score, \
             max(public.similarity(word, $1)) OVER () AS best \
             FROM search_words WHERE word OPERATOR(public.%) $1) AS close \
         WHERE score >= best - 0.05 ORDER BY score DESC, word LIMIT 3",
    )
    .bind::<diesel::sql_types::Text, _>(word)
    .load(conn)
    .await?;
    Ok(close.into_iter().map(|c| c.word).collect())
}
