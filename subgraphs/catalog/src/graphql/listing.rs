//! The storefront listing (`products`): filters, sorts, exact counts, and keyset cursors
//! that are stable under the chosen sort (no OFFSET scans).

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Float8};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::sql::Bound;
use service_kit::validate::optional_text;
use uuid::Uuid;

use super::types::{Product, ProductConnection, ProductEdge, ProductStatus};
use crate::db::models::ProductRow;
use crate::db::schema::products;

/// Which products to list.
#[derive(InputObject, Default)]
pub struct ProductFilter {
    /// Words to look for in the name, description and category (full-text, as prefixes;
    /// Chinese words anywhere in a name; misspelt words are corrected when fewer than 20
    /// products match as typed). Up to 100 characters.
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
    ///
    /// Scores travel as their bit patterns: a decimal float in JSON may come back one unit
    /// off (serde_json parses fast, not exactly), and a cursor one unit above the row it
    /// names would skip every row that ties with it.
    Relevance(u64, u64, u64, u64, Uuid),
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
                Self::Relevance(hash, c.to_bits(), t.to_bits(), s.to_bits(), row.id)
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

/// A search term, as SQL fragments whose values are all bind parameters.
struct Search {
    /// Stable hash of the normalised term: a relevance cursor continues only the same search.
    hash: u64,
    /// The term's words: Latin words match as prefixes; a run of Chinese (Japanese,
    /// Korean) characters matches as its pairs of neighbours, as the catalog indexes it
    /// (`cjk_tokens`). At most 10.
    words: Vec<Word>,
    /// `to_tsquery` argument: every word required; `None` without words.
    tsquery: Option<String>,
    /// `%term%` for LIKE, wildcards escaped: ranks names holding the whole term first.
    like: String,
    /// Whether LIKE also decides what matches: only for terms with characters that are
    /// neither letters, digits nor spaces (punctuation is no word, so only a substring can
    /// find it). Anything else is found through the full-text index.
    like_filter: bool,
    /// Whether names holding the whole term rank first: for terms with Chinese characters
    /// (their pairs may match apart) or punctuation.
    like_scores: bool,
    /// Categories whose name matches the words, with their rank (most relevant first).
    categories: Vec<(Uuid, f64)>,
}

/// One word of a search term, as tsquery text.
struct Word {
    /// Latin: `word:*`; Chinese: `手机 & 机壳` (its pairs), or `茶` alone.
    query: String,
    /// A Latin word of 3 or more letters, which a typo correction may replace.
    correctable: Option<String>,
}

/// Below this many exact matches, a search also tries corrected spellings of its words.
const CORRECT_BELOW: i64 = 20;

/// A SQL expression with bound values.
type Sql<ST> = Bound<ST>;

/// A hash that stays the same across Rust releases and machines (cursors outlive both):
/// the first half of the term's name-based UUID (SHA-1).
fn stable_hash(text: &str) -> u64 {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, text.as_bytes())
        .as_u64_pair()
        .0
}

/// Chinese, Japanese and Korean characters, as the migration's `cjk_tokens` defines them.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff)
}

impl Word {
    fn of(token: &str) -> Self {
        // The parser makes one token of a whole word, so its Latin start is a prefix of it;
        // each run of Chinese characters is also indexed as characters and pairs.
        let leading: String = token.chars().take_while(|c| !is_cjk(*c)).collect();
        let mut parts = Vec::new();
        if !leading.is_empty() {
            parts.push(format!("{leading}:*"));
        }
        let chars: Vec<char> = token.chars().collect();
        let mut has_cjk = false;
        for run in chars.split(|c| !is_cjk(*c)).filter(|run| !run.is_empty()) {
            has_cjk = true;
            match run {
                [one] => parts.push(one.to_string()),
                _ => parts.extend(run.windows(2).map(|pair| pair.iter().collect::<String>())),
            }
        }
        let correctable = (!has_cjk && leading.chars().count() >= 3).then_some(leading);
        let query = if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" & "))
        };
        Self { query, correctable }
    }
}

#[derive(QueryableByName)]
struct CategoryMatch {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Float8)]
    rank: f64,
}

#[derive(QueryableByName)]
struct Correction {
    #[diesel(sql_type = diesel::sql_types::Text)]
    word: String,
}

impl Search {
    async fn parse(conn: &mut AsyncPgConnection, raw: &str) -> Result<Option<Self>, ApiError> {
        let text = optional_text("filter.search", raw.trim(), 100)?.to_lowercase();
        if text.is_empty() {
            return Ok(None);
        }
        let words: Vec<Word> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(10)
            .map(Word::of)
            .collect();
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let tsquery = (!words.is_empty()).then(|| {
            words
                .iter()
                .map(|w| w.query.as_str())
                .collect::<Vec<_>>()
                .join(" & ")
        });
        // Categories are few: matching them first turns "in a matching category" into an
        // indexed `category_id = ANY(...)` instead of a subquery per product. The rank is
        // normalised by the name's length, so "Phones" beats "Phone Accessories".
        let categories = match &tsquery {
            Some(q) => diesel::sql_query(
                "SELECT id, ts_rank(document, query, 2)::float8 AS rank \
                 FROM categories, \
                      to_tsvector('simple', name || ' ' || cjk_tokens(name)) AS document, \
                      to_tsquery('simple', $1) AS query \
                 WHERE document @@ query",
            )
            .bind::<diesel::sql_types::Text, _>(q)
            .load::<CategoryMatch>(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c.rank))
            .collect(),
            None => Vec::new(),
        };
        let like_filter = text
            .chars()
            .any(|c| !(c.is_alphanumeric() || c.is_whitespace()));
        let like_scores = like_filter || text.chars().any(is_cjk);
        Ok(Some(Self {
            hash: stable_hash(&text),
            words,
            tsquery,
            like: format!("%{escaped}%"),
            like_filter,
            like_scores,
            categories,
        }))
    }

    /// Replaces each Latin word by itself or the closest words of the catalog's vocabulary
    /// (trigram similarity ≥ 0.2, the best and any within 0.05 of it, at most 3): `iphnoe`
    /// becomes `iphnoe:* | iphone`.
    /// Returns whether anything changed.
    async fn correct_typos(&mut self, conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
        let mut changed = false;
        let mut parts = Vec::with_capacity(self.words.len());
        for word in &self.words {
            let Some(latin) = &word.correctable else {
                parts.push(word.query.clone());
                continue;
            };
            // The closest words, and others only if nearly as close: `iphnoe` means
            // `iphone`, not also `ipad`.
            let close: Vec<Correction> = diesel::sql_query(
                "SELECT word FROM (SELECT word, public.similarity(word, $1) AS score, \
                     max(public.similarity(word, $1)) OVER () AS best \
                     FROM search_words WHERE word OPERATOR(public.%) $1) AS close \
                 WHERE score >= best - 0.05 ORDER BY score DESC, word LIMIT 3",
            )
            .bind::<diesel::sql_types::Text, _>(latin)
            .load(conn)
            .await?;
            let alternatives: Vec<&str> = close
                .iter()
                .map(|c| c.word.as_str())
                // Vocabulary words are letters and digits only (split on everything else).
                .filter(|w| *w != latin && w.chars().all(char::is_alphanumeric))
                .collect();
            if alternatives.is_empty() {
                parts.push(word.query.clone());
            } else {
                changed = true;
                parts.push(format!("({} | {})", word.query, alternatives.join(" | ")));
            }
        }
        if changed {
            self.tsquery = Some(parts.join(" & "));
        }
        Ok(changed)
    }

    /// Matches the words (full text: Latin words as prefixes, Chinese as character pairs)
    /// in the name or description, a category whose name matches them, and, for terms with
    /// punctuation, the whole term as a substring. Each branch has an index.
    fn condition(&self) -> Sql<Bool> {
        let mut sql = Sql::sql("(false");
        if self.like_filter {
            sql = sql
                .and(" OR lower(products.name || ' ' || products.description) LIKE ")
                .text(&self.like);
        }
        if let Some(q) = &self.tsquery {
            sql = sql
                .and(" OR products.search_document @@ to_tsquery('simple', ")
                .text(q)
                .and(")");
        }
        if !self.categories.is_empty() {
            sql = sql
                .and(" OR products.category_id = ANY(")
                .uuids(self.categories.iter().map(|(id, _)| *id).collect())
                .and(")");
        }
        sql.and(")")
    }

    /// The relevance order, most relevant first: a product whose category is what was
    /// searched for ("phone" → "Phones 手机"), then the text rank of name (weight A) and
    /// description (B), then whether the whole term stands in the text as typed.
    fn scores(&self) -> [Sql<Float8>; 3] {
        let category = if self.categories.is_empty() {
            Sql::sql("0::float8")
        } else {
            Sql::sql("COALESCE((")
                .floats(self.categories.iter().map(|(_, rank)| *rank).collect())
                .and("::float8[])[array_position(")
                .uuids(self.categories.iter().map(|(id, _)| *id).collect())
                .and("::uuid[], products.category_id)], 0)::float8")
        };
        let text = match &self.tsquery {
            Some(q) => Sql::sql("ts_rank(products.search_document, to_tsquery('simple', ")
                .text(q)
                .and("), 1)::float8"),
            None => Sql::sql("0::float8"),
        };
        // Latin words are ranked well by the text rank alone; for Chinese (pairs may match
        // apart) and punctuation, names holding the term exactly as typed come first.
        let substring = if self.like_scores {
            Sql::sql("(lower(products.name) LIKE ")
                .text(&self.like)
                .and(")::int::float8")
        } else {
            Sql::sql("0::float8")
        };
        [category, text, substring]
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
            query = query.filter(search.condition());
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
        Some(raw) => Search::parse(conn, raw).await?,
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
    let mut conditions = check_filter(conn, filter).await?;
    let (mut rows, mut total_count) = fetch(conn, &conditions, sort, &page).await?;
    if let Some(search) = conditions.search.as_mut()
        && total_count < CORRECT_BELOW
        && search.correct_typos(conn).await?
    {
        (rows, total_count) = fetch(conn, &conditions, sort, &page).await?;
    }
    let relevance = conditions
        .search
        .as_ref()
        .filter(|_| sort == ProductSort::Relevance);
    let has_next_page = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let edges: Vec<ProductEdge> = rows
        .into_iter()
        .map(|(row, c, t, s, _)| ProductEdge {
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

/// A row of the listing with its relevance scores and the count of every match.
type ListedRow = (ProductRow, f64, f64, f64, i64);

/// One page (plus one row, to tell whether more follow) and the exact number of matches.
/// On a first page the count comes with the rows (`count(*) OVER ()`, one statement); after
/// a cursor the rows are only those past it, so the count is a statement of its own.
async fn fetch(
    conn: &mut AsyncPgConnection,
    conditions: &Conditions,
    sort: ProductSort,
    page: &PageRequest<Position>,
) -> Result<(Vec<ListedRow>, i64), ApiError> {
    let relevance = conditions
        .search
        .as_ref()
        .filter(|_| sort == ProductSort::Relevance);
    // Scores are selected for every sort (zeros unless relevance), to keep one row type.
    let [c, t, s] = relevance
        .map(Search::scores)
        .unwrap_or_else(|| [0, 1, 2].map(|_| Sql::sql("0::float8")));
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
                let [category, text, similarity] = [category, text, similarity].map(f64::from_bits);
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
                        .float(similarity)
                        .and(", ")
                        .uuid(id)
                        .and(")"),
                )
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
    let rows: Vec<ListedRow> = query
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
    let total = match page.after {
        None => <[ListedRow]>::first(&rows).map_or(0, |row| row.4),
        Some(_) => conditions.count(conn).await?,
    };
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use diesel_async::SimpleAsyncConnection as _;

    use super::*;

    #[test]
    fn relevance_cursors_hash_the_same_everywhere() {
        // A cursor handed out before an upgrade must still continue the same search after
        // it: the hash is fixed by the algorithm (SHA-1 name-based UUID), not by Rust's
        // `DefaultHasher`, which may change between releases.
        assert_eq!(stable_hash("phone"), stable_hash("phone"));
        assert_ne!(stable_hash("phone"), stable_hash("phones"));
        assert_eq!(stable_hash("phone"), 0x974b_5a05_a3db_5f43);
    }

    #[tokio::test]
    async fn every_branch_of_a_search_is_served_by_an_index() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        conn.batch_execute("SET enable_seqscan = off")
            .await
            .unwrap();
        // Words (full text and a category), a substring, and a typo.
        for term in ["phone case", "手机", "iphnoe", "50% off"] {
            let filter = ProductFilter {
                search: Some(term.to_owned()),
                ..ProductFilter::default()
            };
            let mut conditions = check_filter(&mut conn, &filter).await.unwrap();
            // Corrected spellings too (the typo finds `iphone`).
            let search = conditions.search.as_mut().unwrap();
            let corrected = search.correct_typos(&mut conn).await.unwrap();
            assert!(corrected || term != "iphnoe", "the typo is corrected");
            let query = conditions
                .apply(products::table.into_boxed())
                .select(products::id);
            let plan = test_support::explain(&mut conn, query).await.join("\n");
            assert!(!plan.contains("Seq Scan on products"), "{term}: {plan}");
            assert!(plan.contains("Bitmap Index Scan"), "{term}: {plan}");
        }
    }
}
