//! PostgreSQL's text search, in memory: a product's `search_document` (a `tsvector`, read
//! as its text) and `ts_rank(document, query, 1)` computed the way PostgreSQL's
//! `tsrank.c` does (single precision, the same order of operations), so the search index
//! ranks exactly as the database would and a relevance cursor means the same on both.

use crate::domain::search::Operand;

/// One lexeme of a document: its positions, each with its weight (A = 3 … D = 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Lexeme {
    pub text: Box<str>,
    /// `position | weight << 14`, as PostgreSQL packs a `WordEntryPos`.
    pub positions: Vec<u16>,
}

/// The lexemes of a `tsvector`'s text output (`'phone':1A,4B 'case':2A`), in its order
/// (PostgreSQL sorts lexemes by their bytes); `None` if the text is not one.
pub fn parse_tsvector(text: &str) -> Option<Vec<Lexeme>> {
    let mut lexemes = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ').is_some() {}
        match chars.next() {
            None => return Some(lexemes),
            Some('\'') => {}
            Some(_) => return None,
        }
        // Quoted: '' is a quote, \x is x.
        let mut lexeme = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.next_if(|c| *c == '\'').is_some() => lexeme.push('\''),
                '\'' => break,
                '\\' => lexeme.push(chars.next()?),
                c => lexeme.push(c),
            }
        }
        let mut positions = Vec::new();
        if chars.next_if(|c| *c == ':').is_some() {
            loop {
                let mut number = 0u32;
                let mut digits = 0;
                while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                    number = number * 10 + digit;
                    digits += 1;
                    chars.next();
                }
                if digits == 0 {
                    return None;
                }
                let weight = match chars.next_if(|c| matches!(c, 'A' | 'B' | 'C' | 'D')) {
                    Some('A') => 3,
                    Some('B') => 2,
                    Some('C') => 1,
                    _ => 0,
                };
                positions.push((number.min(0x3fff) as u16) | (weight << 14));
                if chars.next_if(|c| *c == ',').is_none() {
                    break;
                }
            }
        }
        lexemes.push(Lexeme {
            text: lexeme.into_boxed_str(),
            positions,
        });
    }
}

/// The default weights of `ts_rank`: D, C, B, A.
const WEIGHTS: [f32; 4] = [0.1, 0.2, 0.4, 1.0];

fn weight(position: u32) -> f32 {
    WEIGHTS[(position >> 14 & 3) as usize]
}

fn at(position: u32) -> i32 {
    (position & 0x3fff) as i32
}

fn word_distance(distance: i32) -> f32 {
    if distance > 100 {
        return 1e-30;
    }
    (1.0 / (1.005 + 0.05 * ((distance as f32) as f64 / 1.5 - 2.0).exp())) as f32
}

/// A document as the index keeps it: each lexeme as a number, in the document's order,
/// with its positions, in one allocation (ranking reads it for every match): the count of
/// lexemes, then each lexeme's number and where its positions end, then the positions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed(Box<[u32]>);

impl Packed {
    /// `lexemes` with each text numbered by `number`.
    pub fn new(lexemes: &[Lexeme], mut number: impl FnMut(&str) -> u32) -> Self {
        let count = lexemes.len();
        let mut data = Vec::with_capacity(1 + 2 * count);
        data.push(count as u32);
        let mut end = 1 + 2 * count as u32;
        for lexeme in lexemes {
            end += lexeme.positions.len() as u32;
            data.push(number(&lexeme.text));
            data.push(end);
        }
        for lexeme in lexemes {
            data.extend(lexeme.positions.iter().map(|p| u32::from(*p)));
        }
        Self(data.into())
    }

    /// Each lexeme's number and positions, in the document's order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, &[u32])> {
        let count = self.0.first().map_or(0, |c| *c as usize);
        let mut start = 1 + 2 * count;
        self.0[1..1 + 2 * count].chunks_exact(2).map(move |entry| {
            let positions = &self.0[start..entry[1] as usize];
            start = entry[1] as usize;
            (entry[0], positions)
        })
    }

    fn is_empty(&self) -> bool {
        self.0.first().is_none_or(|count| *count == 0)
    }

    /// Its length in positions (a lexeme without positions counts once).
    fn length(&self) -> usize {
        self.entries()
            .map(|(_, positions)| positions.len().max(1))
            .sum()
    }
}

/// The lexeme numbers an operand finds (a prefix finds several), ascending.
pub type Finds = Vec<u32>;

/// What one entry of a document (its positions) adds to `calc_rank_or`'s sum.
pub fn entry_term(positions: &[u32]) -> f32 {
    let mut sum = 0.0f32;
    let mut heaviest = -1.0f32;
    let mut heaviest_at = 0i32;
    for (j, &position) in positions.iter().enumerate() {
        let j = j as i32;
        sum += weight(position) / ((j + 1) * (j + 1)) as f32;
        if weight(position) > heaviest {
            heaviest = weight(position);
            heaviest_at = j;
        }
    }
    heaviest + sum - heaviest / ((heaviest_at + 1) * (heaviest_at + 1)) as f32
}

/// `calc_rank_or`'s sum with one more entry's [`entry_term`] (entries in the document's
/// order).
pub fn add_term(rank: f32, term: f32) -> f32 {
    (rank as f64 + term as f64 / 1.64493406685) as f32
}

/// `calc_rank_or`: each occurrence weighted, the first and heaviest ones most.
fn rank_or(document: &Packed, operands: &[Finds]) -> f32 {
    let mut rank = 0.0f32;
    for finds in operands {
        // The entries it finds, in the document's order.
        for (_, positions) in document
            .entries()
            .filter(|(number, _)| finds.binary_search(number).is_ok())
        {
            rank = add_term(rank, entry_term(positions));
        }
    }
    if !operands.is_empty() {
        rank /= operands.len() as f32;
    }
    rank
}

/// `calc_rank_and`: pairs of occurrences of different operands, the closer the better.
fn rank_and(document: &Packed, operands: &[Finds]) -> f32 {
    if operands.len() < 2 {
        return rank_or(document, operands);
    }
    // As tsrank.c: the positions of the last entry an operand found pair with the entries
    // of the operands after it.
    let mut last: Vec<Option<&[u32]>> = vec![None; operands.len()];
    let mut rank = -1.0f32;
    for (i, finds) in operands.iter().enumerate() {
        for (_, positions) in document
            .entries()
            .filter(|(number, _)| finds.binary_search(number).is_ok())
        {
            last[i] = Some(positions);
            for earlier in last[..i].iter().flatten() {
                for &here in positions {
                    for &there in *earlier {
                        let distance = (at(here) - at(there)).abs();
                        if distance != 0 {
                            let product = weight(here) * weight(there) * word_distance(distance);
                            let pair = (product as f64).sqrt() as f32;
                            rank = if rank < 0.0 {
                                pair
                            } else {
                                (1.0 - (1.0 - rank as f64) * (1.0 - pair as f64)) as f32
                            };
                        }
                    }
                }
            }
        }
    }
    rank
}

/// A query's operands as PostgreSQL ranks them: distinct, in byte order.
pub fn distinct(operands: Vec<Operand>) -> Vec<Operand> {
    let mut distinct = operands;
    distinct.sort_by(|a, b| a.text.as_bytes().cmp(b.text.as_bytes()));
    distinct.dedup_by(|a, b| a.text == b.text);
    distinct
}

/// `ts_rank(document, query, 1)`: `operands` are what the query's [`distinct`] operands
/// find, and `all` whether the query's top is an AND (`a & b`) rather than one operand or
/// an OR.
pub fn ts_rank(document: &Packed, operands: &[Finds], all: bool) -> f32 {
    if document.is_empty() || operands.is_empty() {
        return 0.0;
    }
    let mut rank = if all {
        rank_and(document, operands)
    } else {
        rank_or(document, operands)
    };
    if rank < 0.0 {
        rank = 1e-20;
    }
    normalized(rank, divisor(document))
}

/// Normalisation 1's divisor for `document`: log2(1 + its length in positions); 0 for an
/// empty document (ranked 0).
pub fn divisor(document: &Packed) -> f64 {
    if document.is_empty() {
        return 0.0;
    }
    ((document.length() + 1) as f64).ln() / 2f64.ln()
}

/// `ts_rank`'s last step: the rank divided by the document's [`divisor`].
pub fn normalized(rank: f32, divisor: f64) -> f32 {
    if divisor == 0.0 {
        return 0.0;
    }
    (rank as f64 / divisor) as f32
}

/// `ts_rank(document, query, 1)` of every document for a query of ONE operand (a word or
/// a prefix), by slot, before normalisation: summed from the postings of the lexemes it
/// finds (`postings`, in byte order, which is every document's order), each entry's term
/// computed when the document was indexed — so no document is read. Equal to
/// [`ts_rank`]'s sum for such a query (a test checks it).
pub fn one_operand_sums<'a>(postings: impl Iterator<Item = &'a Posting>, slots: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; slots];
    for posting in postings {
        for (slot, term) in posting.slots.iter().zip(&posting.terms) {
            let sum = &mut sums[*slot as usize];
            *sum = add_term(*sum, *term);
        }
    }
    sums
}

/// The documents (slots, unordered) holding one lexeme, and what that entry of each adds
/// to a one-operand rank ([`entry_term`]).
#[derive(Debug, Default)]
pub struct Posting {
    pub slots: Vec<u32>,
    pub terms: Vec<f32>,
}

impl Posting {
    pub fn add(&mut self, slot: u32, positions: &[u32]) {
        self.slots.push(slot);
        self.terms.push(entry_term(positions));
    }

    pub fn remove(&mut self, slot: u32) {
        // Every entry of the slot (a document holds a lexeme once, but nothing of it may
        // stay for the next document in the slot).
        while let Some(at) = self.slots.iter().position(|s| *s == slot) {
            self.slots.swap_remove(at);
            self.terms.swap_remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_operand_rank_from_the_postings_is_ts_rank() {
        let documents = [
            "'phone':1A,4B 'phonecase':2A 'red':3",
            "'charger':1A 'phone':5,9C,12",
            "'phone':7 'phones':2B",
            "'tea':1A",
        ];
        let mut numbers: Vec<Box<str>> = Vec::new();
        let mut number = |text: &str| match numbers.iter().position(|n| &**n == text) {
            Some(at) => at as u32,
            None => {
                numbers.push(text.into());
                (numbers.len() - 1) as u32
            }
        };
        let documents: Vec<Packed> = documents
            .iter()
            .map(|text| Packed::new(&parse_tsvector(text).unwrap(), &mut number))
            .collect();
        let mut postings: std::collections::BTreeMap<Box<str>, Posting> = Default::default();
        for (slot, document) in documents.iter().enumerate() {
            for (lexeme, positions) in document.entries() {
                let text = numbers[lexeme as usize].clone();
                postings
                    .entry(text)
                    .or_default()
                    .add(slot as u32, positions);
            }
        }
        // `phone:*` finds phone, phonecase and phones.
        let found: Vec<&Posting> = postings
            .iter()
            .filter(|(text, _)| text.starts_with("phone"))
            .map(|(_, posting)| posting)
            .collect();
        let mut finds: Finds = postings
            .keys()
            .filter(|text| text.starts_with("phone"))
            .map(|text| numbers.iter().position(|n| n == text).unwrap() as u32)
            .collect();
        finds.sort_unstable();
        let sums = one_operand_sums(found.into_iter(), documents.len());
        for (slot, document) in documents.iter().enumerate() {
            let expected = ts_rank(document, std::slice::from_ref(&finds), false);
            let got = normalized(sums[slot], divisor(document));
            assert_eq!(got.to_bits(), expected.to_bits(), "document {slot}");
        }
        assert!(sums[0] > 0.0 && sums[3] == 0.0);
    }

    #[test]
    fn tsvector_text_parses_with_quotes_weights_and_positions() {
        let lexemes = parse_tsvector("'it''s':3B 'phone':1A,5 'a\\\\b':2C").unwrap();
        assert_eq!(&*lexemes[0].text, "it's");
        assert_eq!(lexemes[0].positions, [3 | 2 << 14]);
        assert_eq!(lexemes[1].positions, [1 | 3 << 14, 5]);
        assert_eq!(&*lexemes[2].text, "a\\b");
        assert!(parse_tsvector("").unwrap().is_empty());
        assert!(parse_tsvector("phone").is_none());
    }
}
