//! Search: how a query is tokenised and listed products are ranked (no I/O).
//!
//! A search term becomes a [`Search`]: its words as tsquery text, a LIKE pattern, and which
//! of them decide what matches and how it ranks; the SQL made of it is in `db::filter` and
//! `db::listing`.
//! A page of the listing ends at a [`Position`], which its cursor carries.

use async_graphql::Enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::facets::AttributeSelection;

/// Order of the listing.
// The docs are the published schema's descriptions: keep them as they are.
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

/// A listing filter whose values are checked, before its search and category are looked up.
#[derive(Debug, Default)]
pub struct ListingFilter {
    /// The search term: trimmed, lower case, not empty.
    pub search: Option<String>,
    /// A category, including all its sub-categories.
    pub category: Option<Uuid>,
    /// Lowest price, minor units, inclusive.
    pub min_price: Option<i64>,
    /// Highest price, minor units, inclusive.
    pub max_price: Option<i64>,
    /// Only products that can be bought now (`true`) or only sold-out ones (`false`).
    pub in_stock: Option<bool>,
    /// Products of any of these brands.
    pub brands: Option<Vec<Uuid>>,
    /// Attributes or variant options: any of the values within one name, every name.
    pub attributes: Vec<AttributeSelection>,
}

/// Where a page ends, for the sort (and search) it was made with. Ties are broken by id.
///
/// A cursor is this value as JSON, `{"s": <variant>, "k": [<keys>...]}`: each key struct
/// travels as an array, so cursors handed out before keep working.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(tag = "s", content = "k")]
pub enum Position {
    /// The search and the scores of the last row.
    Relevance(RelevanceKey),
    /// `created_at` of the last row.
    Newest(SortKey<DateTime<Utc>>),
    /// Price of the last row.
    PriceAsc(SortKey<i64>),
    /// Price of the last row.
    PriceDesc(SortKey<i64>),
    /// Units sold of the last row.
    BestSelling(SortKey<i32>),
}

impl Position {
    /// Whether this cursor continues a listing with `sort` (and, for relevance, the same
    /// search).
    pub fn continues(self, sort: ProductSort, relevance: Option<&Search>) -> bool {
        match (self, sort, relevance) {
            (Self::Relevance(last), ProductSort::Relevance, Some(search)) => {
                last.search == search.hash
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

/// The sorted value of the last row of a page, and its id (which breaks ties).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(from = "(T, Uuid)", into = "(T, Uuid)")]
#[serde(bound(serialize = "T: Serialize + Copy", deserialize = "T: Deserialize<'de>"))]
pub struct SortKey<T> {
    pub value: T,
    pub id: Uuid,
}

impl<T> From<(T, Uuid)> for SortKey<T> {
    fn from((value, id): (T, Uuid)) -> Self {
        Self { value, id }
    }
}

impl<T> From<SortKey<T>> for (T, Uuid) {
    fn from(key: SortKey<T>) -> Self {
        (key.value, key.id)
    }
}

/// Where a relevance page ends: the hash of the search, then the scores of its last row and
/// its id.
///
/// Scores travel as their bit patterns: a decimal float in JSON may come back one unit
/// off (serde_json parses fast, not exactly), and a cursor one unit above the row it
/// names would skip every row that ties with it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(
    from = "(u64, u64, u64, u64, Uuid)",
    into = "(u64, u64, u64, u64, Uuid)"
)]
pub struct RelevanceKey {
    /// [`Search::hash`] of the search the page was made with.
    pub search: u64,
    /// [`Scores::category`], as bits.
    pub category: u64,
    /// [`Scores::text`], as bits.
    pub text: u64,
    /// [`Scores::substring`], as bits.
    pub substring: u64,
    pub id: Uuid,
}

impl RelevanceKey {
    /// The key of a row with `scores` and `id`, found by the search hashed `search`.
    pub fn new(search: u64, scores: Scores, id: Uuid) -> Self {
        Self {
            search,
            category: scores.category.to_bits(),
            text: scores.text.to_bits(),
            substring: scores.substring.to_bits(),
            id,
        }
    }

    /// The scores, exactly as they were.
    pub fn scores(&self) -> Scores {
        Scores {
            category: f64::from_bits(self.category),
            text: f64::from_bits(self.text),
            substring: f64::from_bits(self.substring),
        }
    }
}

impl From<(u64, u64, u64, u64, Uuid)> for RelevanceKey {
    fn from((search, category, text, substring, id): (u64, u64, u64, u64, Uuid)) -> Self {
        Self {
            search,
            category,
            text,
            substring,
            id,
        }
    }
}

impl From<RelevanceKey> for (u64, u64, u64, u64, Uuid) {
    fn from(key: RelevanceKey) -> Self {
        (key.search, key.category, key.text, key.substring, key.id)
    }
}

/// Relevance scores of a listed row, compared in this order (higher first); all 0 unless the
/// listing is sorted by relevance.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Scores {
    /// How well the product's category matches the words.
    pub category: f64,
    /// Text rank of the words in the name (weight A) and description (B).
    pub text: f64,
    /// 1 when the name holds the whole term as typed (only scored for terms with Chinese
    /// characters or punctuation), else 0.
    pub substring: f64,
}

/// A category whose name matches a search's words, with its rank.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CategoryMatch {
    pub id: Uuid,
    pub rank: f64,
}

/// A search term, as the parts its SQL is made of.
pub struct Search {
    /// The term: trimmed, lower case.
    pub term: String,
    /// Stable hash of the normalised term: a relevance cursor continues only the same search.
    pub hash: u64,
    /// The term's words: Latin words match as prefixes; a run of Chinese (Japanese,
    /// Korean) characters matches as its pairs of neighbours, as the catalog indexes it
    /// (`cjk_tokens`). At most 10.
    pub words: Vec<Word>,
    /// `to_tsquery` argument: every word required; `None` without words.
    pub tsquery: Option<String>,
    /// `%term%` for LIKE, wildcards escaped: ranks names holding the whole term first.
    pub like: String,
    /// Whether LIKE also decides what matches: only for terms with characters that are
    /// neither letters, digits nor spaces (punctuation is no word, so only a substring can
    /// find it). Anything else is found through the full-text index.
    pub like_filter: bool,
    /// Whether names holding the whole term rank first: for terms with Chinese characters
    /// (their pairs may match apart) or punctuation.
    pub like_scores: bool,
    /// Categories whose name matches the words, with their rank (most relevant first).
    /// Empty until looked up (`db::categories::matching`).
    pub categories: Vec<CategoryMatch>,
}

/// One operand of a query: a word, or a prefix of words (`phone:*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operand {
    pub text: String,
    pub prefix: bool,
}

/// One word of a search term, as tsquery text.
pub struct Word {
    /// Latin: `word:*`; Chinese: `手机 & 机壳` (its pairs), or `茶` alone.
    pub query: String,
    /// The same as operands, all required (the search index evaluates these).
    pub operands: Vec<Operand>,
    /// A Latin word of 3 or more letters, which a typo correction may replace.
    pub correctable: Option<String>,
    /// Words of the catalog's vocabulary that may stand for this one instead (whole words),
    /// set by [`Search::correct_typos`].
    pub corrections: Vec<String>,
}

/// Below this many exact matches, a search also tries corrected spellings of its words.
pub const CORRECT_BELOW: i64 = 20;

/// A hash that stays the same across Rust releases and machines (cursors outlive both):
/// the first half of the term's name-based UUID (SHA-1).
fn stable_hash(text: &str) -> u64 {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, text.as_bytes())
        .as_u64_pair()
        .0
}

/// Chinese, Japanese and Korean characters, as the migration's `cjk_tokens` defines them.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff)
}

impl Word {
    fn of(token: &str) -> Self {
        // The parser makes one token of a whole word, so its Latin start is a prefix of it;
        // each run of Chinese characters is also indexed as characters and pairs.
        let leading: String = token.chars().take_while(|c| !is_cjk(*c)).collect();
        let mut parts = Vec::new();
        let mut operands = Vec::new();
        if !leading.is_empty() {
            parts.push(format!("{leading}:*"));
            operands.push(Operand {
                text: leading.clone(),
                prefix: true,
            });
        }
        let chars: Vec<char> = token.chars().collect();
        let mut has_cjk = false;
        for run in chars.split(|c| !is_cjk(*c)).filter(|run| !run.is_empty()) {
            has_cjk = true;
            let tokens: Vec<String> = match run {
                [one] => vec![one.to_string()],
                _ => run.windows(2).map(|pair| pair.iter().collect()).collect(),
            };
            operands.extend(tokens.iter().map(|token| Operand {
                text: token.clone(),
                prefix: false,
            }));
            parts.extend(tokens);
        }
        let correctable = (!has_cjk && leading.chars().count() >= 3).then_some(leading);
        let query = if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" & "))
        };
        Self {
            query,
            operands,
            correctable,
            corrections: Vec::new(),
        }
    }
}

impl Search {
    /// The search for `text` (checked, trimmed and lower case); `None` when it is empty.
    /// Its [`categories`](Self::categories) are still to be looked up.
    pub fn of(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
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
        let like_filter = text
            .chars()
            .any(|c| !(c.is_alphanumeric() || c.is_whitespace()));
        let like_scores = like_filter || text.chars().any(is_cjk);
        Some(Self {
            term: text.to_owned(),
            hash: stable_hash(text),
            words,
            tsquery,
            like: format!("%{escaped}%"),
            like_filter,
            like_scores,
            categories: Vec::new(),
        })
    }

    /// The words a typo correction may replace, in order.
    pub fn correctable_words(&self) -> impl Iterator<Item = &str> {
        self.words.iter().filter_map(|w| w.correctable.as_deref())
    }

    /// Replaces each Latin word by itself or the closest words of the catalog's vocabulary
    /// (trigram similarity ≥ 0.2, the best and any within 0.05 of it, at most 3): `iphnoe`
    /// becomes `iphnoe:* | iphone`. `close` holds the close words of each
    /// [correctable word](Self::correctable_words), in their order.
    /// Returns whether anything changed.
    pub fn correct_typos(&mut self, close: &[Vec<String>]) -> bool {
        let mut close = close.iter();
        let mut changed = false;
        let mut parts = Vec::with_capacity(self.words.len());
        for word in &mut self.words {
            let Some(latin) = &word.correctable else {
                parts.push(word.query.clone());
                continue;
            };
            let alternatives: Vec<&str> = close
                .next()
                .into_iter()
                .flatten()
                .map(String::as_str)
                // Vocabulary words are letters and digits only (split on everything else).
                .filter(|w| *w != latin.as_str() && w.chars().all(char::is_alphanumeric))
                .collect();
            if alternatives.is_empty() {
                parts.push(word.query.clone());
            } else {
                changed = true;
                parts.push(format!("({} | {})", word.query, alternatives.join(" | ")));
                word.corrections = alternatives.iter().map(|w| (*w).to_owned()).collect();
            }
        }
        if changed {
            self.tsquery = Some(parts.join(" & "));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn positions_keep_the_json_of_cursors_handed_out_before() {
        // Keys were tuples once: their JSON must not change, or cursors in clients break.
        let id = Uuid::from_u128(7);
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let cases = [
            (
                Position::Relevance(RelevanceKey::from((1, 2, 3, 4, id))),
                format!(r#"{{"s":"Relevance","k":[1,2,3,4,"{id}"]}}"#),
            ),
            (
                Position::Newest(SortKey { value: at, id }),
                format!(r#"{{"s":"Newest","k":["2026-01-01T00:00:00Z","{id}"]}}"#),
            ),
            (
                Position::PriceAsc(SortKey { value: 990, id }),
                format!(r#"{{"s":"PriceAsc","k":[990,"{id}"]}}"#),
            ),
            (
                Position::PriceDesc(SortKey { value: 990, id }),
                format!(r#"{{"s":"PriceDesc","k":[990,"{id}"]}}"#),
            ),
            (
                Position::BestSelling(SortKey { value: 12, id }),
                format!(r#"{{"s":"BestSelling","k":[12,"{id}"]}}"#),
            ),
        ];
        for (position, json) in cases {
            assert_eq!(serde_json::to_string(&position).unwrap(), json);
            assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), position);
        }
    }

    #[test]
    fn relevance_keys_keep_scores_exactly() {
        let scores = Scores {
            category: 0.1 + 0.2,
            text: 1.0 / 3.0,
            substring: 1.0,
        };
        let key = RelevanceKey::new(9, scores, Uuid::from_u128(1));
        let json = serde_json::to_string(&Position::Relevance(key)).unwrap();
        let Position::Relevance(back) = serde_json::from_str(&json).unwrap() else {
            panic!("{json}");
        };
        assert_eq!(back.scores(), scores);
    }

    #[test]
    fn words_become_prefixes_and_chinese_pairs() {
        let search = Search::of("phone 手机壳 50%").unwrap();
        assert_eq!(
            search.tsquery.as_deref(),
            Some("phone:* & (手机 & 机壳) & 50:*")
        );
        assert_eq!(search.like, "%phone 手机壳 50\\%%");
        assert!(search.like_filter && search.like_scores);
        assert_eq!(search.correctable_words().collect::<Vec<_>>(), ["phone"]);
        assert!(Search::of("").is_none());
    }

    #[test]
    fn typos_are_corrected_by_close_words_other_than_themselves() {
        let mut search = Search::of("iphnoe case").unwrap();
        let close = [
            vec!["iphone".to_owned(), "iphnoe".to_owned()],
            vec!["case".to_owned()],
        ];
        assert!(search.correct_typos(&close));
        assert_eq!(
            search.tsquery.as_deref(),
            Some("(iphnoe:* | iphone) & case:*")
        );
        let mut unchanged = Search::of("case").unwrap();
        assert!(!unchanged.correct_typos(&[vec!["case".to_owned()]]));
        assert_eq!(unchanged.tsquery.as_deref(), Some("case:*"));
    }
}
