//! Queries of the index: which held products a filter's search and category find, what
//! each misses of the other conditions (one bit per condition a facet sets aside), and the
//! page in the listing's order, as `db::filter` and `db::listing` define them.

use std::collections::HashSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::bits::Bits;
use super::order::SortValue;
use super::rank::{self, Finds, Posting, ts_rank};
use super::{Held, Index, NO_PRICE, NONE};
use crate::domain::facets::AttributeSelection;
use crate::domain::search::{Operand, Position, ProductSort, Scores, Search};

/// What a listing matches, as the index evaluates it (`db::filter::ListingConditions`).
#[derive(Default)]
pub struct Filter<'a> {
    pub search: Option<&'a Search>,
    pub categories: Option<HashSet<Uuid>>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: Option<bool>,
    pub brands: Option<&'a [Uuid]>,
    pub attributes: &'a [AttributeSelection],
}

/// One listed product: its id and relevance scores, and the version and sort values the
/// index listed it at (its cursor is made of these, whatever the row read after says).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Listed {
    pub id: Uuid,
    pub scores: Scores,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// Its lowest active price.
    pub price: i64,
    pub sales_count: i32,
}

/// A page of the listing, how many match in all, and the facets if asked for.
pub struct Found {
    pub page: Vec<Listed>,
    pub total: i64,
    pub facets: Option<super::facets::FacetCounts>,
}

/// What a held product misses of a filter, one bit per condition a facet may set aside.
pub(super) const BRAND: u32 = 1;
pub(super) const PRICE: u32 = 2;
/// The first attribute selection's bit; the n-th is `ATTRIBUTE << n`.
pub(super) const ATTRIBUTE: u32 = 4;

/// A filter in the index's numbers.
struct Numbered {
    /// By category number: whether the filter's categories hold it.
    categories: Option<Vec<bool>>,
    /// By brand number: whether the filter names it.
    brands: Option<Vec<bool>>,
    /// Each attribute selection's pair keys, sorted.
    selections: Vec<Vec<u32>>,
}

impl Index {
    fn numbered(&self, filter: &Filter) -> Numbered {
        let flags = |count: usize, numbers: &mut dyn Iterator<Item = Option<u32>>| {
            let mut flags = vec![false; count];
            for number in numbers.flatten() {
                flags[number as usize] = true;
            }
            flags
        };
        Numbered {
            categories: filter.categories.as_ref().map(|ids| {
                let count = self.categories.ids.len();
                flags(count, &mut ids.iter().map(|id| self.categories.find(id)))
            }),
            brands: filter.brands.map(|ids| {
                let count = self.brands.ids.len();
                flags(count, &mut ids.iter().map(|id| self.brands.find(id)))
            }),
            selections: filter
                .attributes
                .iter()
                .map(|selection| {
                    let name = selection.name.to_lowercase();
                    let mut keys: Vec<u32> = selection
                        .values
                        .iter()
                        .filter_map(|value| {
                            let key = format!("{name}\u{1f}{}", value.to_lowercase());
                            self.strings.find(&key)
                        })
                        .collect();
                    keys.sort_unstable();
                    keys
                })
                .collect(),
        }
    }

    /// Sets the bits of the slots an operand finds.
    fn found_by(&self, operand: &Operand, into: &mut Bits) {
        for (_, posting) in self.lexemes_of(operand) {
            into.set_all(&posting.slots);
        }
    }

    /// The lexemes an operand finds (a prefix several), with their postings.
    fn lexemes_of<'a>(
        &'a self,
        operand: &'a Operand,
    ) -> impl Iterator<Item = (&'a str, &'a Posting)> + 'a {
        let from = operand.text.as_str();
        self.postings
            .range::<str, _>((Bound::Included(from), Bound::Unbounded))
            .take_while(move |(lexeme, _)| {
                if operand.prefix {
                    lexeme.starts_with(from)
                } else {
                    &***lexeme == from
                }
            })
            .map(|(lexeme, slots)| (&**lexeme, slots))
    }

    /// The slots the search's words find (every word: all its operands, or a correction).
    fn found(&self, search: &Search) -> Bits {
        let size = self.held.len();
        let mut result: Option<Bits> = None;
        for word in &search.words {
            let mut all: Option<Bits> = None;
            for operand in &word.operands {
                let mut these = Bits::new(size);
                self.found_by(operand, &mut these);
                all = Some(match all {
                    None => these,
                    Some(before) => before.and(&these),
                });
            }
            let mut any = all.unwrap_or_else(|| Bits::new(size));
            for correction in &word.corrections {
                let operand = Operand {
                    text: correction.clone(),
                    prefix: false,
                };
                self.found_by(&operand, &mut any);
            }
            result = Some(match result {
                None => any,
                Some(before) => before.and(&any),
            });
        }
        result.unwrap_or_else(|| Bits::new(size))
    }

    /// The held slots a filter's search and category may match (ascending), or every one.
    fn candidates(&self, filter: &Filter) -> Vec<u32> {
        let Some(search) = filter.search else {
            return (0..self.held.len() as u32)
                .filter(|slot| self.held[*slot as usize].is_some())
                .collect();
        };
        let mut slots = self.found(search);
        let wanted: Vec<u32> = search
            .categories
            .iter()
            .filter_map(|c| self.categories.find(&c.id))
            .collect();
        if !wanted.is_empty() {
            for (slot, category) in self.columns.category.iter().enumerate() {
                if *category != NONE && wanted.contains(category) {
                    slots.set(slot as u32);
                }
            }
        }
        slots.ones().collect()
    }

    /// The conditions a slot misses ([`BRAND`], [`PRICE`], attribute bits), or `None` when it
    /// misses one no facet sets aside (the category, stock).
    fn missed(&self, slot: u32, filter: &Filter, numbered: &Numbered) -> Option<u32> {
        let at = slot as usize;
        let columns = &self.columns;
        if let Some(categories) = &numbered.categories {
            let category = columns.category[at];
            if category == NONE || !categories[category as usize] {
                return None;
            }
        }
        match filter.in_stock {
            Some(true) if columns.stock[at] <= 0 => return None,
            Some(false) if columns.stock[at] != 0 => return None,
            _ => {}
        }
        let mut missed = 0;
        if let Some(brands) = &numbered.brands {
            let brand = columns.brand[at];
            if brand == NONE || !brands[brand as usize] {
                missed |= BRAND;
            }
        }
        if (filter.min_price.is_some() || filter.max_price.is_some())
            && !self.within_price(slot, filter.min_price, filter.max_price)
        {
            missed |= PRICE;
        }
        if !numbered.selections.is_empty() {
            let pairs = self.pairs_of(slot);
            for (n, keys) in numbered.selections.iter().enumerate() {
                if !pairs
                    .iter()
                    .any(|pair| keys.binary_search(&pair.key).is_ok())
                {
                    missed |= ATTRIBUTE << n;
                }
            }
        }
        Some(missed)
    }

    /// Whether one of the product's active variants is priced within the bounds (as
    /// `db::filter::price_condition`).
    fn within_price(&self, slot: u32, min: Option<i64>, max: Option<i64>) -> bool {
        let at = slot as usize;
        let (lowest, highest) = (self.columns.price_min[at], self.columns.price_max[at]);
        if highest == NO_PRICE
            || min.is_some_and(|min| highest < min)
            || max.is_some_and(|max| lowest > max)
        {
            return false;
        }
        match (min, max, &self.held[at]) {
            (Some(min), Some(max), Some(held)) => held
                .doc
                .variant_prices
                .iter()
                .any(|price| (min..=max).contains(price)),
            _ => true,
        }
    }

    /// Each held slot the filter may count, with what it misses.
    pub(super) fn each_missed(&self, filter: &Filter) -> Vec<(u32, u32)> {
        let numbered = self.numbered(filter);
        self.candidates(filter)
            .into_iter()
            .filter_map(|slot| Some((slot, self.missed(slot, filter, &numbered)?)))
            .collect()
    }

    /// One page of the listing after `after` (plus one row, to tell whether more follow),
    /// and how many products match in all. `after` must continue `sort`.
    pub fn page(
        &self,
        filter: &Filter,
        sort: ProductSort,
        after: Option<Position>,
        limit: usize,
    ) -> (Vec<Listed>, i64) {
        let found = self.search(filter, sort, after, limit, false);
        (found.page, found.total)
    }

    /// [`Index::page`], and the facets when asked, from one pass over the candidates (and
    /// so from the same products).
    pub fn search(
        &self,
        filter: &Filter,
        sort: ProductSort,
        after: Option<Position>,
        limit: usize,
        with_facets: bool,
    ) -> Found {
        let relevance = filter.search.filter(|_| sort == ProductSort::Relevance);
        let candidates = self.each_missed(filter);
        let facets = with_facets.then(|| self.facet_counts(&candidates, filter));
        let mut matching: Vec<u32> = candidates
            .into_iter()
            .filter(|(_, missed)| *missed == 0)
            .map(|(slot, _)| slot)
            .collect();
        let total = matching.len() as i64;
        let ranking = relevance.map(|search| Ranking::of(search, self));
        if let Some(ranking) = &ranking {
            matching = ranking.worth_ranking(self, matching, after, limit + 1);
        }
        let mut rows: Vec<(SortValue, (Uuid, Scores))> = matching
            .into_iter()
            .filter_map(|slot| {
                let id = self.columns.id[slot as usize];
                let (value, scores) = match relevance.zip(ranking.as_ref()) {
                    // Ranked from the columns alone (the held doc only for a substring).
                    Some((search, ranking)) => {
                        let scores = score(self, slot, search, ranking);
                        (SortValue::relevance(scores, id), scores)
                    }
                    None => {
                        let held = self.held[slot as usize].as_ref()?;
                        (SortValue::of(&held.doc, sort), Scores::default())
                    }
                };
                Some((value, (id, scores)))
            })
            .filter(|(value, _)| after.is_none_or(|after| value.is_after(&after)))
            .collect();
        let take = (limit + 1).min(rows.len());
        if take < rows.len() {
            rows.select_nth_unstable_by(take, |a, b| a.0.cmp(&b.0));
            rows.truncate(take);
        }
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let page = rows
            .into_iter()
            .filter_map(|(_, (id, scores))| {
                let held = self.held[*self.slots.get(&id)? as usize].as_ref()?;
                let doc = &held.doc;
                Some(Listed {
                    id,
                    scores,
                    version: doc.version,
                    created_at: doc.created_at,
                    price: doc.price_min,
                    sales_count: doc.sales_count,
                })
            })
            .collect();
        Found {
            page,
            total,
            facets,
        }
    }
}

/// A search's query as `ts_rank` sees it: what its operands find, and whether its top is
/// an AND.
struct Ranking {
    operands: Vec<Finds>,
    all: bool,
    /// For a query of one operand (most are one word): every slot's rank before
    /// normalisation, from the postings alone ([`rank::one_operand_sums`]).
    sums: Option<Vec<f32>>,
    /// By category number: the rank of the categories the words name (0 for the others).
    categories: Vec<f64>,
}

impl Ranking {
    fn of(search: &Search, index: &Index) -> Self {
        let operands: Vec<Operand> = search
            .words
            .iter()
            .flat_map(|word| {
                word.operands
                    .iter()
                    .cloned()
                    .chain(word.corrections.iter().map(|text| Operand {
                        text: text.clone(),
                        prefix: false,
                    }))
            })
            .collect();
        // The query's top is an AND unless it is one word that is one operand or has
        // corrections (then an OR).
        let all = search.words.len() > 1
            || search
                .words
                .first()
                .is_some_and(|w| w.corrections.is_empty() && w.operands.len() > 1);
        let distinct = rank::distinct(operands);
        let sums = match distinct.as_slice() {
            // One operand is ranked as an OR even under an AND (`calc_rank_and`).
            [operand] => Some(rank::one_operand_sums(
                index.lexemes_of(operand).map(|(_, posting)| posting),
                index.held.len(),
            )),
            _ => None,
        };
        let operands = distinct
            .iter()
            .map(|operand| {
                let mut finds: Finds = index
                    .lexemes_of(operand)
                    .filter_map(|(lexeme, _)| index.lexemes.find(lexeme))
                    .collect();
                finds.sort_unstable();
                finds
            })
            .collect();
        let mut categories = vec![0.0; index.categories.ids.len()];
        for matched in &search.categories {
            if let Some(number) = index.categories.find(&matched.id) {
                // The first match of a category counts, as `array_position` finds it.
                if categories[number as usize] == 0.0 {
                    categories[number as usize] = matched.rank;
                }
            }
        }
        Self {
            operands,
            all,
            sums,
            categories,
        }
    }

    fn category_score(&self, index: &Index, slot: u32) -> f64 {
        let category = index.columns.category[slot as usize];
        if category == NONE {
            0.0
        } else {
            self.categories[category as usize]
        }
    }

    /// The slots among `matching` that may be on the page: relevance orders by the
    /// category's score first, so only the best categories' products (past the cursor's)
    /// that fill `wanted` rows need their text ranked; the others cannot come before them.
    fn worth_ranking(
        &self,
        index: &Index,
        matching: Vec<u32>,
        after: Option<Position>,
        wanted: usize,
    ) -> Vec<u32> {
        let after = match after {
            Some(Position::Relevance(key)) => Some(key.scores().category),
            _ => None,
        };
        let mut groups: Vec<(f64, Vec<u32>)> = Vec::new();
        for slot in matching {
            let score = self.category_score(index, slot);
            // Wholly before the cursor.
            if after.is_some_and(|after| score > after) {
                continue;
            }
            match groups
                .iter_mut()
                .find(|(s, _)| s.to_bits() == score.to_bits())
            {
                Some((_, slots)) => slots.push(slot),
                None => groups.push((score, vec![slot])),
            }
        }
        groups.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut kept = Vec::new();
        // Rows surely past the cursor: the cursor's own category may lie partly before it.
        let mut past = 0;
        for (score, slots) in groups {
            if after.is_none_or(|after| score < after) {
                past += slots.len();
            }
            kept.extend_from_slice(&slots);
            if past >= wanted {
                break;
            }
        }
        kept
    }
}

/// The relevance scores of a held product for `search` (as `db::listing::scores`).
fn score(index: &Index, slot: u32, search: &Search, ranking: &Ranking) -> Scores {
    let category = ranking.category_score(index, slot);
    let text = if search.tsquery.is_some() {
        let at = slot as usize;
        f64::from(match &ranking.sums {
            Some(sums) => rank::normalized(sums[at], index.columns.divisor[at]),
            None => ts_rank(&index.columns.words[at], &ranking.operands, ranking.all),
        })
    } else {
        0.0
    };
    let holds_term = |held: &Held| held.doc.name_lower.contains(search.term.as_str());
    let substring =
        if search.like_scores && index.held[slot as usize].as_ref().is_some_and(holds_term) {
            1.0
        } else {
            0.0
        };
    Scores {
        category,
        text,
        substring,
    }
}
