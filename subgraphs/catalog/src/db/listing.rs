//! The SQL of the storefront listing: filters, sorts, exact counts, and keyset cursors that
//! are stable under the chosen sort (no OFFSET scans).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Float8};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use service_kit::paging::PageRequest;

use super::filter::{Fragment, ListingConditions};
use super::models::ProductRow;
use super::schema::products;
use crate::domain::search::{Position, ProductSort, RelevanceKey, Scores, Search, SortKey};

type Boxed<'a> = products::BoxedQuery<'a, Pg>;

/// The relevance order, most relevant first ([`Scores`]): a product whose category is what
/// was searched for ("phone" → "Phones 手机"), then the text rank of name (weight A) and
/// description (B), then whether the whole term stands in the text as typed.
fn scores(search: &Search) -> [Fragment<Float8>; 3] {
    let category = if search.categories.is_empty() {
        Fragment::sql("0::float8")
    } else {
        Fragment::sql("COALESCE((")
            .floats(search.categories.iter().map(|c| c.rank).collect())
            .and("::float8[])[array_position(")
            .uuids(search.categories.iter().map(|c| c.id).collect())
            .and("::uuid[], products.category_id)], 0)::float8")
    };
    let text = match &search.tsquery {
        Some(q) => Fragment::sql("ts_rank(products.search_document, to_tsquery('simple', ")
            .text(q)
            .and("), 1)::float8"),
        None => Fragment::sql("0::float8"),
    };
    // Latin words are ranked well by the text rank alone; for Chinese (pairs may match
    // apart) and punctuation, names holding the term exactly as typed come first.
    let substring = if search.like_scores {
        Fragment::sql("(lower(products.name) LIKE ")
            .text(&search.like)
            .and(")::int::float8")
    } else {
        Fragment::sql("0::float8")
    };
    [category, text, substring]
}

/// The listing's products: on sale and matching every condition.
fn matching<'a>(conditions: &ListingConditions) -> Boxed<'a> {
    products::table
        .into_boxed()
        .filter(conditions.where_clause(None))
}

/// How many products match.
async fn count(
    conn: &mut AsyncPgConnection,
    conditions: &ListingConditions,
) -> Result<i64, ApiError> {
    Ok(matching(conditions).count().get_result(conn).await?)
}

/// The ids of the matching products, to look at the plan.
#[cfg(test)]
pub(crate) fn ids_query(
    conditions: &ListingConditions,
) -> products::BoxedQuery<'static, Pg, diesel::sql_types::Uuid> {
    matching(conditions).select(products::id)
}

/// A row of the listing with its relevance scores and the count of every match.
pub struct ListedRow {
    pub product: ProductRow,
    pub scores: Scores,
    /// How many products match, over all pages (`count(*) OVER ()`).
    pub total_count: i64,
    /// The values the row was sorted by, when they may differ from `product`'s (the search
    /// index listed it, then the row was read): creation, lowest price, units sold.
    pub sorted_by: Option<(DateTime<Utc>, i64, i32)>,
}

impl ListedRow {
    /// Where a page ending at this row ends, for `sort`; `relevance` is the hash of the
    /// search when sorted by relevance.
    pub fn position(&self, sort: ProductSort, relevance: Option<u64>) -> Position {
        let row = &self.product;
        let id = row.id;
        let (created_at, price_amount, sales_count) =
            self.sorted_by
                .unwrap_or((row.created_at, row.price_amount, row.sales_count));
        match (sort, relevance) {
            (ProductSort::Relevance, Some(search)) => {
                Position::Relevance(RelevanceKey::new(search, self.scores, id))
            }
            (ProductSort::Relevance | ProductSort::Newest, _) => Position::Newest(SortKey {
                value: created_at,
                id,
            }),
            (ProductSort::PriceAsc, _) => Position::PriceAsc(SortKey {
                value: price_amount,
                id,
            }),
            (ProductSort::PriceDesc, _) => Position::PriceDesc(SortKey {
                value: price_amount,
                id,
            }),
            (ProductSort::BestSelling, _) => Position::BestSelling(SortKey {
                value: sales_count,
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
        .unwrap_or_else(|| [0, 1, 2].map(|_| Fragment::sql("0::float8")));
    let mut query = matching(conditions);
    if let Some(position) = page.after {
        query = match position {
            Position::Relevance(last) => {
                let Scores {
                    category,
                    text,
                    substring,
                } = last.scores();
                let mut row = Fragment::<Bool>::sql("(");
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
            Fragment::<BigInt>::sql("count(*) OVER ()"),
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
                sorted_by: None,
            },
        )
        .collect();
    let total = match page.after {
        None => <[ListedRow]>::first(&rows).map_or(0, |row| row.total_count),
        Some(_) => count(conn, conditions).await?,
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
