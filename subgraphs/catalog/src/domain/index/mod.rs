//! The storefront's search index, in memory (no I/O): every active product with what the
//! listing filters, sorts and counts by, so a search page and its facets cost no
//! PostgreSQL statement but the category lookups. It answers exactly what the SQL of
//! `db::filter`, `db::listing` and `db::facets` answers over the same rows (a test compares
//! the two), ranking by PostgreSQL's own `ts_rank` ([`rank`]).
//!
//! PostgreSQL stays the truth: `search_index.rs` fills this from it, applies every
//! product's newer version and tells when the index may lag, and the listing falls back
//! to SQL then.

mod bits;
mod facet_sets;
#[cfg(test)]
mod facet_tests;
pub mod facets;
mod order;
mod query;
pub mod rank;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use self::query::{Filter, Found, Listed};
use self::rank::{Lexeme, Packed, Posting};

/// A product as the index holds it (only active products are held).
#[derive(Clone, Debug)]
pub struct Doc {
    pub id: Uuid,
    pub version: i64,
    pub category: Option<Uuid>,
    pub brand: Option<Uuid>,
    pub stock: i32,
    pub sales_count: i32,
    /// Its lowest active price (`products.price_amount`).
    pub price_min: i64,
    /// Its highest active price; `None` without an active variant.
    pub price_max: Option<i64>,
    pub currency: String,
    /// Its active variants' prices, ascending.
    pub variant_prices: Vec<i64>,
    pub created_at: DateTime<Utc>,
    /// `lower(name)`, as PostgreSQL lowers it.
    pub name_lower: String,
    /// Its `search_document` (held [`Packed`]: empty once held).
    pub lexemes: Vec<Lexeme>,
    /// Its `facet_keys` (`lower(name) U+001F lower(value)`) with their spellings
    /// (`facet_labels`, `Name U+001F Value`), in the same order.
    pub facets: Vec<(String, String)>,
}

/// A product's facet pair, interned.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Pair {
    /// The pair's key (`lower(name) U+001F lower(value)`).
    key: u32,
    /// `lower(name)`.
    name_key: u32,
    /// The spellings, interned: most products spell a pair alike, so counting compares
    /// numbers, and texts only when they differ.
    name_label: u32,
    value_label: u32,
}

/// What only a page or a rare filter reads of a held product.
#[derive(Debug)]
struct Held {
    doc: Doc,
}

/// Strings as numbers (never forgotten: facet keys, brands and categories are few).
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.into());
        self.ids.insert(text.into(), id);
        id
    }

    fn find(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }
}

/// Uuids as numbers (never forgotten).
#[derive(Debug, Default)]
struct Numbers {
    numbers: HashMap<Uuid, u32>,
    ids: Vec<Uuid>,
}

impl Numbers {
    fn number(&mut self, id: Uuid) -> u32 {
        *self.numbers.entry(id).or_insert_with(|| {
            self.ids.push(id);
            (self.ids.len() - 1) as u32
        })
    }

    fn find(&self, id: &Uuid) -> Option<u32> {
        self.numbers.get(id).copied()
    }
}

/// No brand, no category, no product in a slot.
const NONE: u32 = u32::MAX;
/// No highest price (no active variant).
const NO_PRICE: i64 = i64::MIN;

/// What every query reads of every candidate, one column per field, by slot: a query walks
/// thousands of products, and columns keep that walk in the cache.
#[derive(Debug, Default)]
struct Columns {
    id: Vec<Uuid>,
    category: Vec<u32>,
    brand: Vec<u32>,
    stock: Vec<i32>,
    price_min: Vec<i64>,
    price_max: Vec<i64>,
    /// Where the slot's pairs are in [`Index::pairs`]: start and length.
    pairs: Vec<(u32, u32)>,
    /// The doc's lexemes, numbered ([`Index::lexemes`]).
    words: Vec<Packed>,
    /// Its rank's divisor ([`rank::divisor`]).
    divisor: Vec<f64>,
}

/// Every active product, and the version of every product seen.
#[derive(Debug, Default)]
pub struct Index {
    held: Vec<Option<Held>>,
    columns: Columns,
    /// Every slot's facet pairs, one after the other (a changed product's new pairs go to
    /// the end when they do not fit where the old ones were; compacted when half is stale).
    pairs: Vec<Pair>,
    stale_pairs: usize,
    /// The same pairs as sets of slots, for counting facets over many candidates.
    facet_sets: facet_sets::FacetSets,
    slots: HashMap<Uuid, u32>,
    free: Vec<u32>,
    versions: HashMap<Uuid, i64>,
    /// Each lexeme's products (slots, unordered).
    postings: BTreeMap<Box<str>, Posting>,
    /// Lexemes by number (never forgotten).
    lexemes: Interner,
    strings: Interner,
    brands: Numbers,
    categories: Numbers,
}

impl Index {
    /// How many active products are held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no active product is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The version held for `id` (active or not), if any.
    pub fn version(&self, id: Uuid) -> Option<i64> {
        self.versions.get(&id).copied()
    }

    /// Every product's held version.
    pub fn versions(&self) -> &HashMap<Uuid, i64> {
        &self.versions
    }

    /// Keeps a product at `version` (`doc` when it is active, `None` when it is not), unless
    /// a newer or the same version is held (or `force`, after changes behind the catalog's
    /// back). Returns whether anything changed.
    pub fn apply(&mut self, id: Uuid, version: i64, doc: Option<Doc>, force: bool) -> bool {
        if !force && self.versions.get(&id).is_some_and(|held| *held >= version) {
            return false;
        }
        self.versions.insert(id, version);
        let Some(mut doc) = doc else {
            self.remove(id);
            return true;
        };
        let words = Packed::new(&doc.lexemes, |text| self.lexemes.id(text));
        doc.lexemes = Vec::new();
        // Most changes (stock, sales, prices) keep the words: the postings stay as they are.
        if let Some(&slot) = self.slots.get(&id)
            && self.columns.words[slot as usize] == words
        {
            self.fill(slot, doc, words);
            return true;
        }
        self.remove(id);
        self.insert(doc, words);
        true
    }

    /// Forgets a product that no longer exists.
    pub fn forget(&mut self, id: Uuid) {
        self.versions.remove(&id);
        self.remove(id);
    }

    fn remove(&mut self, id: Uuid) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        self.held[slot as usize] = None;
        let words = std::mem::take(&mut self.columns.words[slot as usize]);
        for (number, _) in words.entries() {
            let text = self.lexemes.text(number);
            if let Some(posting) = self.postings.get_mut(text) {
                posting.remove(slot);
                if posting.slots.is_empty() {
                    self.postings.remove(text);
                }
            }
        }
        let at = slot as usize;
        let (start, len) = self.columns.pairs[at];
        let held = &self.pairs[start as usize..(start + len) as usize];
        self.facet_sets.remove(slot, held);
        self.stale_pairs += len as usize;
        self.columns.pairs[at] = (0, 0);
        self.columns.category[at] = NONE;
        self.columns.brand[at] = NONE;
        self.free.push(slot);
    }

    fn insert(&mut self, doc: Doc, words: Packed) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.held.push(None);
                let columns = &mut self.columns;
                columns.id.push(Uuid::nil());
                columns.category.push(NONE);
                columns.brand.push(NONE);
                columns.stock.push(0);
                columns.price_min.push(0);
                columns.price_max.push(NO_PRICE);
                columns.pairs.push((0, 0));
                columns.words.push(Packed::default());
                columns.divisor.push(0.0);
                (self.held.len() - 1) as u32
            }
        };
        for (number, positions) in words.entries() {
            self.postings
                .entry(self.lexemes.text(number).into())
                .or_default()
                .add(slot, positions);
        }
        self.slots.insert(doc.id, slot);
        self.fill(slot, doc, words);
    }

    /// Writes a held product into its slot (its postings are already there).
    fn fill(&mut self, slot: u32, doc: Doc, words: Packed) {
        let at = slot as usize;
        let pairs = self.intern_pairs(&doc.facets);
        let (start, len) = self.columns.pairs[at];
        let held = &self.pairs[start as usize..(start + len) as usize];
        if held != pairs.as_slice() {
            self.facet_sets.remove(slot, held);
            self.facet_sets.add(slot, &pairs, self.held.len());
        }
        if pairs.len() <= len as usize {
            self.pairs[start as usize..start as usize + pairs.len()].copy_from_slice(&pairs);
            self.stale_pairs += len as usize - pairs.len();
            self.columns.pairs[at] = (start, pairs.len() as u32);
        } else {
            self.stale_pairs += len as usize;
            self.columns.pairs[at] = (self.pairs.len() as u32, pairs.len() as u32);
            self.pairs.extend_from_slice(&pairs);
        }
        let columns = &mut self.columns;
        columns.id[at] = doc.id;
        columns.category[at] = doc.category.map_or(NONE, |c| self.categories.number(c));
        columns.brand[at] = doc.brand.map_or(NONE, |b| self.brands.number(b));
        columns.stock[at] = doc.stock;
        columns.price_min[at] = doc.price_min;
        columns.price_max[at] = doc.price_max.unwrap_or(NO_PRICE);
        columns.divisor[at] = rank::divisor(&words);
        columns.words[at] = words;
        self.held[at] = Some(Held { doc });
        if self.stale_pairs > 1024 && self.stale_pairs > self.pairs.len() / 2 {
            self.compact_pairs();
        }
    }

    /// Copies the live pairs together, in slot order.
    fn compact_pairs(&mut self) {
        let mut pairs = Vec::with_capacity(self.pairs.len() - self.stale_pairs);
        for at in &mut self.columns.pairs {
            let (start, len) = *at;
            *at = (pairs.len() as u32, len);
            pairs.extend_from_slice(&self.pairs[start as usize..(start + len) as usize]);
        }
        self.pairs = pairs;
        self.stale_pairs = 0;
    }

    /// A slot's facet pairs.
    fn pairs_of(&self, slot: u32) -> &[Pair] {
        let (start, len) = self.columns.pairs[slot as usize];
        &self.pairs[start as usize..(start + len) as usize]
    }

    /// A doc's facet pairs, interned.
    fn intern_pairs(&mut self, facets: &[(String, String)]) -> Vec<Pair> {
        facets
            .iter()
            .filter_map(|(key, label)| {
                let (name, _) = key.split_once('\u{1f}')?;
                let (name_label, value_label) = label.split_once('\u{1f}')?;
                Some(Pair {
                    key: self.strings.id(key),
                    name_key: self.strings.id(name),
                    name_label: self.strings.id(name_label),
                    value_label: self.strings.id(value_label),
                })
            })
            .collect()
    }
}
