//! The facets of a listing, counted over the held products as `db::facets` counts them in
//! PostgreSQL: each facet without its own selection, in one pass over the candidates.

use uuid::Uuid;

use super::bits::Bits;
use super::facet_sets::KeySet;
use super::query::{ATTRIBUTE, BRAND, PRICE};
use super::{Filter, Index, NO_PRICE, NONE};
use crate::domain::facets::AttributeCount;

/// Reading a candidate's pairs costs about as much as this many words or entries of the
/// pairs' sets: a cache miss per product, then its few pairs.
const ROW_COST: usize = 32;

/// The lowest and highest price among the matching products, each with its product's
/// currency (as `db::facets::Prices`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceBounds {
    pub min: i64,
    pub min_currency: String,
    pub max: i64,
    pub max_currency: String,
}

/// Every facet of a listing, counted in one pass.
#[derive(Clone, Debug, Default)]
pub struct FacetCounts {
    /// Brands and their products, unordered.
    pub brands: Vec<(Uuid, i64)>,
    /// As `db::facets::attributes`: a row per pair and one per name, unordered.
    pub attributes: Vec<AttributeCount>,
    pub prices: Option<PriceBounds>,
}

impl Index {
    /// Every facet over `rows` (the candidates with what each misses, [`Index::each_missed`]):
    /// - brands: the products matching every condition but the brand selection;
    /// - prices: those matching every condition but the price bounds, the lowest
    ///   `price_min` (ties: the lowest id) and the highest `price_max` (ties: the highest id);
    /// - attributes: each name counted as if none of its own values were chosen (a product
    ///   missing exactly one chosen name counts for that name only), each shown in its
    ///   first spelling in byte order.
    pub(super) fn facet_counts(&self, rows: &[(u32, u32)], filter: &Filter) -> FacetCounts {
        self.facet_counts_by(rows, filter, None)
    }

    /// [`Index::facet_counts`], the attributes counted from each row's pairs or from the
    /// pairs' sets (`by_sets`; `None`: whichever reads less).
    pub(super) fn facet_counts_by(
        &self,
        rows: &[(u32, u32)],
        filter: &Filter,
        by_sets: Option<bool>,
    ) -> FacetCounts {
        // The interned lower-case name of each chosen name, by its bit.
        let chosen: Vec<Option<u32>> = filter
            .attributes
            .iter()
            .map(|s| self.strings.find(&s.name.to_lowercase()))
            .collect();
        let strings = self.strings.texts.len();
        // By interned pair key: products, and the first spellings (interned).
        let mut pairs: Vec<(i64, u32, u32)> = vec![(0, 0, 0); strings];
        // By interned name: products (each once: the last row counted), first spelling.
        let mut names: Vec<(i64, u32, usize)> = vec![(0, 0, usize::MAX); strings];
        let before = |a, b| self.before(a, b);
        let by_sets = by_sets
            .unwrap_or_else(|| self.facets_by_sets(rows.len(), chosen.iter().flatten().count()));
        // With sets: the rows counted for every pair, and for each chosen name (by its
        // bit) the rows missing only it, counted for that name's pairs only.
        let mut all = Bits::new(if by_sets { self.held.len() } else { 0 });
        let mut alone: Vec<Option<(u32, Bits)>> = chosen.iter().map(|_| None).collect();
        let mut brands = vec![0i64; self.brands.ids.len()];
        // The price and slot of the lowest and the highest.
        let mut lowest: Option<(i64, u32)> = None;
        let mut highest: Option<(i64, u32)> = None;
        let columns = &self.columns;
        let id = |slot: u32| columns.id[slot as usize];
        for (n, &(slot, missed)) in rows.iter().enumerate() {
            let at = slot as usize;
            let brand = columns.brand[at];
            if missed & !BRAND == 0 && brand != NONE {
                brands[brand as usize] += 1;
            }
            let (min, max) = (columns.price_min[at], columns.price_max[at]);
            if missed & !PRICE == 0 && max != NO_PRICE {
                // The ids (a column of their own) only on a tie.
                if lowest.is_none_or(|(price, other)| {
                    min < price || (min == price && id(slot) < id(other))
                }) {
                    lowest = Some((min, slot));
                }
                if highest.is_none_or(|(price, other)| {
                    max > price || (max == price && id(slot) > id(other))
                }) {
                    highest = Some((max, slot));
                }
            }
            if missed & (BRAND | PRICE) != 0 {
                continue;
            }
            let attributes = missed / ATTRIBUTE;
            let only = match attributes.count_ones() {
                0 => None,
                1 => {
                    let bit = attributes.trailing_zeros() as usize;
                    match chosen[bit] {
                        Some(name) => Some((bit, name)),
                        // A name no product has: nothing of it to count.
                        None => continue,
                    }
                }
                _ => continue,
            };
            if by_sets {
                match only {
                    None => all.set(slot),
                    Some((bit, name)) => alone[bit]
                        .get_or_insert_with(|| (name, Bits::new(self.held.len())))
                        .1
                        .set(slot),
                }
                continue;
            }
            for pair in self.pairs_of(slot) {
                if only.is_some_and(|(_, name)| name != pair.name_key) {
                    continue;
                }
                let counted = &mut pairs[pair.key as usize];
                if counted.0 == 0 || before(pair.name_label, counted.1) {
                    counted.1 = pair.name_label;
                }
                if counted.0 == 0 || before(pair.value_label, counted.2) {
                    counted.2 = pair.value_label;
                }
                counted.0 += 1;
                let name = &mut names[pair.name_key as usize];
                if name.0 == 0 || before(pair.name_label, name.1) {
                    name.1 = pair.name_label;
                }
                if name.2 != n {
                    name.0 += 1;
                    name.2 = n;
                }
            }
        }
        if by_sets {
            let alone: Vec<(u32, Bits)> = alone.into_iter().flatten().collect();
            self.count_by_sets(&all, &alone, &mut pairs, &mut names);
        }
        let mut attributes = Vec::new();
        for (key, (count, name, value)) in pairs.iter().enumerate() {
            if *count > 0 {
                let name_key = self.strings.text(key as u32).split('\u{1f}').next();
                attributes.push(AttributeCount {
                    key: name_key.unwrap_or_default().to_owned(),
                    name: self.strings.text(*name).to_owned(),
                    value: Some(self.strings.text(*value).to_owned()),
                    count: *count,
                });
            }
        }
        for (key, (count, name, _)) in names.iter().enumerate() {
            if *count > 0 {
                attributes.push(AttributeCount {
                    key: self.strings.text(key as u32).to_owned(),
                    name: self.strings.text(*name).to_owned(),
                    value: None,
                    count: *count,
                });
            }
        }
        let currency = |slot: u32| {
            self.held[slot as usize]
                .as_ref()
                .map(|held| held.doc.currency.clone())
                .unwrap_or_default()
        };
        let prices = lowest
            .zip(highest)
            .map(|((min, low), (max, high))| PriceBounds {
                min,
                min_currency: currency(low),
                max,
                max_currency: currency(high),
            });
        FacetCounts {
            brands: brands
                .into_iter()
                .zip(&self.brands.ids)
                .filter(|(count, _)| *count > 0)
                .map(|(count, brand)| (*brand, count))
                .collect(),
            attributes,
            prices,
        }
    }

    /// Whether interned spelling `a` comes before `b` in byte order.
    fn before(&self, a: u32, b: u32) -> bool {
        a != b && self.strings.text(a) < self.strings.text(b)
    }

    /// The first name and the first value in byte order of `key`'s spellings among the
    /// products of `sets` (some hold it). Products are read one by one, as rows are, until
    /// the first of all its spellings is found.
    fn first_spelling<'a>(
        &self,
        key: u32,
        set: &KeySet,
        sets: impl Iterator<Item = &'a Bits>,
    ) -> (u32, u32) {
        let least = |a: u32, b: u32| if self.before(b, a) { b } else { a };
        let least_of = |(n, v): (u32, u32), (m, w): (u32, u32)| (least(n, m), least(v, w));
        let spellings = set.spellings.iter().map(|(n, v, _)| (*n, *v));
        let best = spellings.reduce(least_of).unwrap_or_default();
        let mut first: Option<(u32, u32)> = None;
        for among in sets {
            for slot in set.ones_in(among) {
                let Some(pair) = self.pairs_of(slot).iter().find(|p| p.key == key) else {
                    continue;
                };
                let found = (pair.name_label, pair.value_label);
                let now = first.map_or(found, |held| least_of(held, found));
                if now == best {
                    return best;
                }
                first = Some(now);
            }
        }
        debug_assert!(first.is_some(), "a counted key has a counted product");
        first.unwrap_or(best)
    }

    /// Whether counting the attributes of `rows` candidates from the pairs' sets reads less
    /// than reading the candidates' pairs (each name chosen adds a pass over the sets).
    pub(super) fn facets_by_sets(&self, rows: usize, chosen: usize) -> bool {
        self.facet_sets.cost(self.held.len()) * (1 + chosen) < rows * ROW_COST
    }

    /// Counts each pair's and each name's products among `all` (for every pair) and each
    /// `alone` set (for its name's pairs only), with their first spellings, into the
    /// arrays of [`Index::facet_counts_by`].
    fn count_by_sets(
        &self,
        all: &Bits,
        alone: &[(u32, Bits)],
        pairs: &mut [(i64, u32, u32)],
        names: &mut [(i64, u32, usize)],
    ) {
        let before = |a, b| self.before(a, b);
        let of_name = |name: u32| alone.iter().filter(move |(n, _)| *n == name);
        for (key, set) in self.facet_sets.keys() {
            let count = set.count_in(all)
                + of_name(set.name_key)
                    .map(|(_, bits)| set.count_in(bits))
                    .sum::<i64>();
            if count == 0 {
                continue;
            }
            let (name_label, value_label) = match set.spellings.as_slice() {
                [(name, value, _)] => (*name, *value),
                // Spelt in several ways: the first among the counted products.
                _ => {
                    let sets = std::iter::once(all).chain(of_name(set.name_key).map(|(_, b)| b));
                    self.first_spelling(key, set, sets)
                }
            };
            pairs[key as usize] = (count, name_label, value_label);
            let name = &mut names[set.name_key as usize];
            if name.0 == 0 || before(name_label, name.1) {
                name.1 = name_label;
            }
            // Counted below, once per product.
            name.0 = 1;
        }
        for (name, entry) in (0u32..).zip(names.iter_mut()) {
            if entry.0 > 0 {
                entry.0 = self.facet_sets.name_count_in(name, all)
                    + of_name(name)
                        .map(|(_, bits)| self.facet_sets.name_count_in(name, bits))
                        .sum::<i64>();
            }
        }
    }
}
