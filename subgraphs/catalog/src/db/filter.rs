//! What listed products must match, as SQL over `products`, shared by the listing
//! (`db::listing`) and its facets (`db::facets`), so both count the same products.
//!
//! Conditions are [`Fragment`] fragments: their text is fixed (`&'static str`), their values bind
//! parameters, as with `service_kit::sql::Bound`, with the parameter types these need
//! (bigint, text arrays), and they can also be whole statements ([`Statement`]).

use std::marker::PhantomData;

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, BigInt, Bool, Float8, Integer, SqlType, Text, Untyped, Uuid as SqlUuid,
};
use diesel::{QueryResult, expression::TypedExpressionType};
use uuid::Uuid;

use crate::domain::facets::{AttributeSelection, Facet};
use crate::domain::search::{ProductSort, Search};

/// One piece of a fragment: fixed text, or a value sent as a parameter.
#[derive(Clone, Debug)]
enum Piece {
    Fragment(&'static str),
    Text(String),
    Texts(Vec<String>),
    BigInt(i64),
    Int(i32),
    Float(f64),
    Floats(Vec<f64>),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
}

/// A SQL expression of type `ST` built from fixed text and bound values.
#[derive(Debug)]
pub struct Fragment<ST = Bool> {
    pieces: Vec<Piece>,
    sql_type: PhantomData<ST>,
}

impl<ST> Clone for Fragment<ST> {
    fn clone(&self) -> Self {
        Self {
            pieces: self.pieces.clone(),
            sql_type: PhantomData,
        }
    }
}

impl<ST> Fragment<ST> {
    /// Starts with fixed text.
    pub fn sql(text: &'static str) -> Self {
        Self {
            pieces: vec![Piece::Fragment(text)],
            sql_type: PhantomData,
        }
    }

    fn push(mut self, piece: Piece) -> Self {
        self.pieces.push(piece);
        self
    }

    /// Appends fixed text.
    pub fn and(self, text: &'static str) -> Self {
        self.push(Piece::Fragment(text))
    }

    /// Appends a `text` parameter.
    pub fn text(self, value: impl Into<String>) -> Self {
        self.push(Piece::Text(value.into()))
    }

    /// Appends a `text[]` parameter.
    pub fn texts(self, values: Vec<String>) -> Self {
        self.push(Piece::Texts(values))
    }

    /// Appends a `bigint` parameter.
    pub fn bigint(self, value: i64) -> Self {
        self.push(Piece::BigInt(value))
    }

    /// Appends an `integer` parameter.
    pub fn int(self, value: i32) -> Self {
        self.push(Piece::Int(value))
    }

    /// Appends a `float8` parameter.
    pub fn float(self, value: f64) -> Self {
        self.push(Piece::Float(value))
    }

    /// Appends a `float8[]` parameter.
    pub fn floats(self, values: Vec<f64>) -> Self {
        self.push(Piece::Floats(values))
    }

    /// Appends a `uuid` parameter.
    pub fn uuid(self, value: Uuid) -> Self {
        self.push(Piece::Uuid(value))
    }

    /// Appends a `uuid[]` parameter.
    pub fn uuids(self, values: Vec<Uuid>) -> Self {
        self.push(Piece::Uuids(values))
    }

    /// Appends another fragment (its text and its values).
    pub fn join<Other>(mut self, other: Fragment<Other>) -> Self {
        self.pieces.extend(other.pieces);
        self
    }

    /// Appends `parts` joined by `separator`; `empty` when there are none.
    pub fn join_all<Other>(
        mut self,
        parts: impl IntoIterator<Item = Fragment<Other>>,
        separator: &'static str,
        empty: &'static str,
    ) -> Self {
        let mut any = false;
        for part in parts {
            if any {
                self = self.and(separator);
            }
            self = self.join(part);
            any = true;
        }
        if any { self } else { self.and(empty) }
    }

    /// The whole fragment as a statement whose rows are read by name.
    pub fn statement(self) -> Statement {
        Statement(self.pieces)
    }
}

impl<ST: SqlType + TypedExpressionType> Expression for Fragment<ST> {
    type SqlType = ST;
}

fn walk<'b>(pieces: &'b [Piece], mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
    out.unsafe_to_cache_prepared();
    for piece in pieces {
        match piece {
            Piece::Fragment(text) => out.push_sql(text),
            Piece::Text(value) => out.push_bind_param::<Text, _>(value)?,
            Piece::Texts(values) => out.push_bind_param::<Array<Text>, _>(values)?,
            Piece::BigInt(value) => out.push_bind_param::<BigInt, _>(value)?,
            Piece::Int(value) => out.push_bind_param::<Integer, _>(value)?,
            Piece::Float(value) => out.push_bind_param::<Float8, _>(value)?,
            Piece::Floats(values) => out.push_bind_param::<Array<Float8>, _>(values)?,
            Piece::Uuid(value) => out.push_bind_param::<SqlUuid, _>(value)?,
            Piece::Uuids(values) => out.push_bind_param::<Array<SqlUuid>, _>(values)?,
        }
    }
    Ok(())
}

impl<ST> QueryFragment<Pg> for Fragment<ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk(&self.pieces, out)
    }
}

impl<ST> QueryId for Fragment<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> AppearsOnTable<QS> for Fragment<ST> where Self: Expression {}

impl<ST, QS> SelectableExpression<QS> for Fragment<ST> where Self: AppearsOnTable<QS> {}

impl<ST, GB> ValidGrouping<GB> for Fragment<ST> {
    type IsAggregate = is_aggregate::Never;
}

/// A whole statement made of fixed text and bound values; its rows are read by name
/// (`QueryableByName`), like `sql_query`'s.
#[derive(Debug, Clone)]
pub struct Statement(Vec<Piece>);

impl QueryFragment<Pg> for Statement {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk(&self.0, out)
    }
}

impl QueryId for Statement {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement {
    type SqlType = Untyped;
}

/// What listed products must match: the filter, with its search and category looked up.
#[derive(Default)]
pub struct ListingConditions {
    pub search: Option<Search>,
    /// A category and all its sub-categories.
    pub categories: Option<Vec<Uuid>>,
    /// A product matches when one of its active variants costs at least this.
    pub min_price: Option<i64>,
    /// ... and at most this (the same variant).
    pub max_price: Option<i64>,
    pub in_stock: Option<bool>,
    /// Any of these brands.
    pub brands: Option<Vec<Uuid>>,
    /// Attributes or active variants' options: any value of a name, every name.
    pub attributes: Vec<AttributeSelection>,
}

/// Matches the words (full text: Latin words as prefixes, Chinese as character pairs)
/// in the name or description, a category whose name matches them, and, for terms with
/// punctuation, the whole term as a substring. Each branch has an index.
fn search_condition(search: &Search) -> Fragment {
    let mut sql = Fragment::sql("(false");
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

/// The product has an active variant priced within the bounds (the price filter), read from
/// the product's lowest (`price_amount`) and highest (`price_max`, NULL without an active
/// variant) active prices; with both bounds, a variant within them is looked for too
/// (`product_variants_product_idx`), as the lowest and highest may lie on either side.
fn price_condition(min: Option<i64>, max: Option<i64>) -> Fragment {
    let mut sql = Fragment::sql("products.price_max IS NOT NULL");
    if let Some(min) = min {
        sql = sql.and(" AND products.price_max >= ").bigint(min);
    }
    if let Some(max) = max {
        sql = sql.and(" AND products.price_amount <= ").bigint(max);
    }
    if let (Some(min), Some(max)) = (min, max) {
        sql = sql
            .and(
                " AND EXISTS (SELECT 1 FROM product_variants pv \
                 WHERE pv.product_id = products.id AND pv.status = 'ACTIVE' \
                 AND pv.price_amount >= ",
            )
            .bigint(min)
            .and(" AND pv.price_amount <= ")
            .bigint(max)
            .and(")");
    }
    sql
}

/// The keys of `selection`'s values in `products.facet_keys`: lower(name) U+001F
/// lower(value), as the catalog's triggers write them.
fn attribute_keys(selection: &AttributeSelection) -> Fragment<Array<Text>> {
    Fragment::sql("ARRAY(SELECT lower(")
        .text(&selection.name)
        .and(") || chr(31) || lower(x) FROM unnest(")
        .texts(selection.values.clone())
        .and("::text[]) AS x)")
}

/// The product's attributes or one of its active variants' options give `selection`'s
/// name one of its values, whatever their case: its `facet_keys` hold one of the values'
/// keys (`products_facet_keys_idx`).
pub fn attribute_condition(selection: &AttributeSelection) -> Fragment {
    Fragment::sql("products.facet_keys && ").join(attribute_keys(selection))
}

impl ListingConditions {
    /// The search, when the listing is sorted by relevance.
    pub fn relevance(&self, sort: ProductSort) -> Option<&Search> {
        self.search
            .as_ref()
            .filter(|_| sort == ProductSort::Relevance)
    }

    /// What every product counted must match, whatever the facet: on sale, the search, the
    /// category, in stock or not.
    pub fn common(&self) -> Vec<Fragment> {
        let mut parts = vec![Fragment::sql("products.status = 'ACTIVE'")];
        if let Some(search) = &self.search {
            parts.push(search_condition(search));
        }
        if let Some(ids) = &self.categories {
            parts.push(
                Fragment::sql("products.category_id = ANY(")
                    .uuids(ids.clone())
                    .and(")"),
            );
        }
        match self.in_stock {
            Some(true) => parts.push(Fragment::sql("products.stock > 0")),
            Some(false) => parts.push(Fragment::sql("products.stock = 0")),
            None => {}
        }
        parts
    }

    /// The brand selection, if any.
    pub fn brand(&self) -> Option<Fragment> {
        self.brands.as_ref().map(|brands| {
            Fragment::sql("products.brand_id = ANY(")
                .uuids(brands.clone())
                .and(")")
        })
    }

    /// The price bounds, if any.
    pub fn price(&self) -> Option<Fragment> {
        (self.min_price.is_some() || self.max_price.is_some())
            .then(|| price_condition(self.min_price, self.max_price))
    }

    /// Every condition but those `facet` sets aside ([`Facet`]); `None`: every condition (the
    /// listing). For [`Facet::Attributes`], the attribute selections are left to the caller,
    /// which counts each name without its own.
    pub fn except(&self, facet: Option<Facet>) -> Vec<Fragment> {
        let mut parts = self.common();
        if facet != Some(Facet::Brands) {
            parts.extend(self.brand());
        }
        if facet != Some(Facet::PriceRange) {
            parts.extend(self.price());
        }
        if facet != Some(Facet::Attributes) {
            parts.extend(self.attributes.iter().map(attribute_condition));
        }
        parts
    }

    /// `facet`'s conditions ([`except`](Self::except)) joined by AND.
    pub fn where_clause(&self, facet: Option<Facet>) -> Fragment {
        Fragment::sql("(")
            .join_all(self.except(facet), ") AND (", "true")
            .and(")")
    }
}
