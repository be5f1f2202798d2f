//! The listing's orders over held products, and where a cursor leaves off.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Doc;
use crate::domain::search::{Position, ProductSort, Scores};

/// A listed row's place in its sort, compared so that the first row is the least.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum SortValue {
    /// Higher first, then the higher id.
    Relevance([f64; 3], Uuid),
    /// Newest first, then the higher id.
    Newest(DateTime<Utc>, Uuid),
    PriceAsc(i64, Uuid),
    PriceDesc(i64, Uuid),
    BestSelling(i32, Uuid),
}

impl SortValue {
    pub(super) fn relevance(scores: Scores, id: Uuid) -> Self {
        Self::Relevance([scores.category, scores.text, scores.substring], id)
    }

    /// Without a search to rank by.
    pub(super) fn of(doc: &Doc, sort: ProductSort) -> Self {
        let id = doc.id;
        match sort {
            ProductSort::Relevance | ProductSort::Newest => Self::Newest(doc.created_at, id),
            ProductSort::PriceAsc => Self::PriceAsc(doc.price_min, id),
            ProductSort::PriceDesc => Self::PriceDesc(doc.price_min, id),
            ProductSort::BestSelling => Self::BestSelling(doc.sales_count, id),
        }
    }

    pub(super) fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Self::Relevance(a, x), Self::Relevance(b, y)) => {
                for (a, b) in a.iter().zip(b) {
                    match b.total_cmp(a) {
                        Ordering::Equal => {}
                        other => return other,
                    }
                }
                y.cmp(x)
            }
            (Self::Newest(a, x), Self::Newest(b, y)) => (b, y).cmp(&(a, x)),
            (Self::PriceAsc(a, x), Self::PriceAsc(b, y)) => (a, x).cmp(&(b, y)),
            (Self::PriceDesc(a, x), Self::PriceDesc(b, y)) => (b, y).cmp(&(a, x)),
            (Self::BestSelling(a, x), Self::BestSelling(b, y)) => (b, y).cmp(&(a, x)),
            _ => Ordering::Equal,
        }
    }

    /// Whether this row comes after the cursor's (which continues the same sort).
    pub(super) fn is_after(&self, after: &Position) -> bool {
        let last = match *after {
            Position::Relevance(key) => {
                let s = key.scores();
                Self::Relevance([s.category, s.text, s.substring], key.id)
            }
            Position::Newest(key) => Self::Newest(key.value, key.id),
            Position::PriceAsc(key) => Self::PriceAsc(key.value, key.id),
            Position::PriceDesc(key) => Self::PriceDesc(key.value, key.id),
            Position::BestSelling(key) => Self::BestSelling(key.value, key.id),
        };
        self.cmp(&last) == std::cmp::Ordering::Greater
    }
}
