//! Each facet pair's and each attribute name's products as a set of slots, kept with the
//! index. A common term's listing has thousands of candidates; reading every candidate's
//! pairs costs a cache miss per product, while counting a pair's products among them is an
//! intersection of two sets: a popcount over words for a pair many products have, a walk
//! of a short sorted list for a rare one. `Index::facet_counts` picks whichever costs less.

use super::Pair;
use super::bits::Bits;

/// A sparse set turns dense once it holds this many slots and one in [`DENSE_RATIO`] of
/// all (a dense set then takes no more memory than the list did).
const DENSE_AT: usize = 1024;
const DENSE_RATIO: usize = 32;

/// The slots holding a pair (or a name).
#[derive(Debug)]
enum SlotSet {
    /// Ascending.
    Sparse(Vec<u32>),
    /// One bit per slot, and how many are set.
    Dense { words: Vec<u64>, len: usize },
}

impl Default for SlotSet {
    fn default() -> Self {
        Self::Sparse(Vec::new())
    }
}

impl SlotSet {
    fn is_empty(&self) -> bool {
        match self {
            Self::Sparse(slots) => slots.is_empty(),
            Self::Dense { len, .. } => *len == 0,
        }
    }

    /// How many of its slots `among` holds.
    fn count_in(&self, among: &Bits) -> i64 {
        match self {
            Self::Sparse(slots) => {
                slots.iter().filter(|slot| among.contains(**slot)).count() as i64
            }
            Self::Dense { words, .. } => words
                .iter()
                .zip(among.words())
                .map(|(a, b)| i64::from((a & b).count_ones()))
                .sum(),
        }
    }

    /// Its slots that `among` holds.
    fn ones_in<'a>(&'a self, among: &'a Bits) -> Box<dyn Iterator<Item = u32> + 'a> {
        match self {
            Self::Sparse(slots) => Box::new(slots.iter().copied().filter(|s| among.contains(*s))),
            Self::Dense { words, .. } => Box::new(
                words
                    .iter()
                    .zip(among.words())
                    .enumerate()
                    .flat_map(|(at, (a, b))| {
                        let mut word = a & b;
                        std::iter::from_fn(move || {
                            (word != 0).then(|| {
                                let bit = word.trailing_zeros();
                                word &= word - 1;
                                at as u32 * 64 + bit
                            })
                        })
                    }),
            ),
        }
    }
}

/// Every pair's and every name's slots, with what counting them over all costs.
#[derive(Debug, Default)]
pub(super) struct FacetSets {
    /// By interned pair key.
    keys: Vec<KeySet>,
    /// By interned lower-case name: the slots holding one of its pairs.
    names: Vec<SlotSet>,
    /// Slots listed in sparse sets, and dense sets: what a count over every set reads.
    sparse_entries: usize,
    dense_sets: usize,
}

#[derive(Debug, Default)]
pub(super) struct KeySet {
    slots: SlotSet,
    /// Its `lower(name)`, interned.
    pub(super) name_key: u32,
    /// Its spellings (name and value, interned) and how many slots spell it so: nearly
    /// always one, and then it is the facet's label without looking at any product.
    pub(super) spellings: Vec<(u32, u32, u32)>,
}

impl KeySet {
    pub(super) fn count_in(&self, among: &Bits) -> i64 {
        self.slots.count_in(among)
    }

    pub(super) fn ones_in<'a>(&'a self, among: &'a Bits) -> impl Iterator<Item = u32> + 'a {
        self.slots.ones_in(among)
    }
}

impl FacetSets {
    /// Checks the costs kept against the sets (tests).
    #[cfg(test)]
    pub(super) fn assert_costs(&self) -> (usize, usize) {
        let all = self.keys.iter().map(|k| &k.slots).chain(&self.names);
        let (mut sparse, mut dense) = (0, 0);
        for set in all {
            match set {
                SlotSet::Sparse(list) => sparse += list.len(),
                SlotSet::Dense { words, len } => {
                    let ones: u32 = words.iter().map(|w| w.count_ones()).sum();
                    assert_eq!(ones as usize, *len);
                    dense += 1;
                }
            }
        }
        assert_eq!((sparse, dense), (self.sparse_entries, self.dense_sets));
        (sparse, dense)
    }

    /// What counting over every set reads, in words or list entries.
    pub(super) fn cost(&self, slots: usize) -> usize {
        self.sparse_entries + self.dense_sets * slots.div_ceil(64)
    }

    /// Every pair key some slot holds, with its set.
    pub(super) fn keys(&self) -> impl Iterator<Item = (u32, &KeySet)> {
        (0u32..)
            .zip(&self.keys)
            .filter(|(_, set)| !set.slots.is_empty())
    }

    /// How many of a name's products `among` holds.
    pub(super) fn name_count_in(&self, name: u32, among: &Bits) -> i64 {
        self.names
            .get(name as usize)
            .map_or(0, |set| set.count_in(among))
    }

    /// Records that `slot` holds `pairs` (`slots`: how many slots the index has).
    pub(super) fn add(&mut self, slot: u32, pairs: &[Pair], slots: usize) {
        for pair in pairs {
            let at = pair.key as usize;
            if self.keys.len() <= at {
                self.keys.resize_with(at + 1, KeySet::default);
            }
            let key = &mut self.keys[at];
            key.name_key = pair.name_key;
            match key
                .spellings
                .iter_mut()
                .find(|(n, v, _)| (*n, *v) == (pair.name_label, pair.value_label))
            {
                Some(spelling) => spelling.2 += 1,
                None => key.spellings.push((pair.name_label, pair.value_label, 1)),
            }
            insert(
                &mut key.slots,
                slot,
                slots,
                &mut self.sparse_entries,
                &mut self.dense_sets,
            );
        }
        for name in names(pairs) {
            if self.names.len() <= name as usize {
                self.names.resize_with(name as usize + 1, SlotSet::default);
            }
            let set = &mut self.names[name as usize];
            insert(
                set,
                slot,
                slots,
                &mut self.sparse_entries,
                &mut self.dense_sets,
            );
        }
    }

    /// Records that `slot` no longer holds `pairs`.
    pub(super) fn remove(&mut self, slot: u32, pairs: &[Pair]) {
        for pair in pairs {
            let Some(key) = self.keys.get_mut(pair.key as usize) else {
                continue;
            };
            if let Some(at) = key
                .spellings
                .iter()
                .position(|(n, v, _)| (*n, *v) == (pair.name_label, pair.value_label))
            {
                key.spellings[at].2 -= 1;
                if key.spellings[at].2 == 0 {
                    key.spellings.swap_remove(at);
                }
            }
            remove(
                &mut key.slots,
                slot,
                &mut self.sparse_entries,
                &mut self.dense_sets,
            );
        }
        for name in names(pairs) {
            if let Some(set) = self.names.get_mut(name as usize) {
                remove(set, slot, &mut self.sparse_entries, &mut self.dense_sets);
            }
        }
    }
}

/// The distinct names of a slot's pairs (a few).
fn names(pairs: &[Pair]) -> Vec<u32> {
    let mut names: Vec<u32> = pairs.iter().map(|pair| pair.name_key).collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn insert(set: &mut SlotSet, slot: u32, slots: usize, sparse: &mut usize, dense: &mut usize) {
    match set {
        SlotSet::Sparse(list) => {
            // Slots mostly come in ascending order (loading, new products).
            let at = match list.last() {
                Some(last) if *last < slot => list.len(),
                _ => match list.binary_search(&slot) {
                    Ok(_) => return,
                    Err(at) => at,
                },
            };
            list.insert(at, slot);
            *sparse += 1;
            if list.len() >= DENSE_AT && list.len() * DENSE_RATIO >= slots {
                let mut words = vec![0u64; slots.max(slot as usize + 1).div_ceil(64)];
                for slot in list.iter() {
                    words[*slot as usize / 64] |= 1 << (slot % 64);
                }
                *sparse -= list.len();
                *dense += 1;
                *set = SlotSet::Dense {
                    len: list.len(),
                    words,
                };
            }
        }
        SlotSet::Dense { words, len } => {
            let at = slot as usize / 64;
            if words.len() <= at {
                words.resize(at + 1, 0);
            }
            let bit = 1 << (slot % 64);
            if words[at] & bit == 0 {
                words[at] |= bit;
                *len += 1;
            }
        }
    }
}

fn remove(set: &mut SlotSet, slot: u32, sparse: &mut usize, dense: &mut usize) {
    match set {
        SlotSet::Sparse(list) => {
            if let Ok(at) = list.binary_search(&slot) {
                list.remove(at);
                *sparse -= 1;
            }
        }
        SlotSet::Dense { words, len } => {
            let at = slot as usize / 64;
            let bit = 1 << (slot % 64);
            if words.get(at).is_some_and(|word| word & bit != 0) {
                words[at] &= !bit;
                *len -= 1;
            }
            // Back to a list once few are left (with room before it turns dense again).
            if *len < DENSE_AT / 2 || *len * DENSE_RATIO * 4 < words.len() * 64 {
                let list: Vec<u32> = Bits::from_words(std::mem::take(words)).ones().collect();
                *sparse += list.len();
                *dense -= 1;
                *set = SlotSet::Sparse(list);
            }
        }
    }
}
