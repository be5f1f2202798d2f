//! SQL fragments whose text is fixed at compile time and whose values travel only as bind
//! parameters. For the few expressions diesel's DSL cannot spell (full-text search, trigram
//! operators, row comparisons), use [`Bound`] instead of `diesel::dsl::sql(&format!(..))`:
//! its text can only be `&'static str`, so no request value can ever become SQL text.

use std::marker::PhantomData;

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Float8, Text, Uuid as SqlUuid};
use diesel::{QueryResult, sql_types::SqlType};
use uuid::Uuid;

/// One piece of a fragment: fixed text, or a value sent as a parameter.
#[derive(Clone, Debug)]
enum Piece {
    Sql(&'static str),
    Text(String),
    Float(f64),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
    Floats(Vec<f64>),
}

/// A SQL expression of type `ST` built from fixed text and bound values.
#[derive(Debug)]
pub struct Bound<ST> {
    pieces: Vec<Piece>,
    sql_type: PhantomData<ST>,
}

impl<ST> Clone for Bound<ST> {
    fn clone(&self) -> Self {
        Self {
            pieces: self.pieces.clone(),
            sql_type: PhantomData,
        }
    }
}

impl<ST> Bound<ST> {
    /// Starts with fixed text.
    pub fn sql(text: &'static str) -> Self {
        Self {
            pieces: vec![Piece::Sql(text)],
            sql_type: PhantomData,
        }
    }

    /// Appends fixed text.
    pub fn and(mut self, text: &'static str) -> Self {
        self.pieces.push(Piece::Sql(text));
        self
    }

    /// Appends a `text` parameter.
    pub fn text(mut self, value: impl Into<String>) -> Self {
        self.pieces.push(Piece::Text(value.into()));
        self
    }

    /// Appends a `float8` parameter.
    pub fn float(mut self, value: f64) -> Self {
        self.pieces.push(Piece::Float(value));
        self
    }

    /// Appends a `uuid` parameter.
    pub fn uuid(mut self, value: Uuid) -> Self {
        self.pieces.push(Piece::Uuid(value));
        self
    }

    /// Appends a `uuid[]` parameter.
    pub fn uuids(mut self, values: Vec<Uuid>) -> Self {
        self.pieces.push(Piece::Uuids(values));
        self
    }

    /// Appends a `float8[]` parameter.
    pub fn floats(mut self, values: Vec<f64>) -> Self {
        self.pieces.push(Piece::Floats(values));
        self
    }

    /// Appends another fragment (its text and its values).
    pub fn join<Other>(mut self, other: Bound<Other>) -> Self {
        self.pieces.extend(other.pieces);
        self
    }

    /// The same pieces as an expression of another type.
    pub fn typed<Other>(self) -> Bound<Other> {
        Bound {
            pieces: self.pieces,
            sql_type: PhantomData,
        }
    }
}

impl<ST: SqlType + diesel::expression::TypedExpressionType> Expression for Bound<ST> {
    type SqlType = ST;
}

impl<ST> QueryFragment<Pg> for Bound<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        for piece in &self.pieces {
            match piece {
                Piece::Sql(text) => out.push_sql(text),
                Piece::Text(value) => out.push_bind_param::<Text, _>(value)?,
                Piece::Float(value) => out.push_bind_param::<Float8, _>(value)?,
                Piece::Uuid(value) => out.push_bind_param::<SqlUuid, _>(value)?,
                Piece::Uuids(values) => out.push_bind_param::<Array<SqlUuid>, _>(values)?,
                Piece::Floats(values) => out.push_bind_param::<Array<Float8>, _>(values)?,
            }
        }
        Ok(())
    }
}

impl<ST> QueryId for Bound<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> AppearsOnTable<QS> for Bound<ST> where Self: Expression {}

impl<ST, QS> SelectableExpression<QS> for Bound<ST> where Self: AppearsOnTable<QS> {}

impl<ST, GB> ValidGrouping<GB> for Bound<ST> {
    type IsAggregate = is_aggregate::Never;
}

/// A whole statement of fixed text (`diesel::sql_query`'s kind) that each connection prepares
/// once and reuses: diesel never caches a `sql_query` (its text could be built at run time),
/// so PostgreSQL parsed and planned the big checkout statements on every call, which a
/// checkout profile showed as most of the database's time. Only `&'static str` text is
/// accepted (one prepared statement per text, however many calls), and values go only as
/// bind parameters.
#[derive(Debug, Clone, Copy)]
#[must_use = "a statement runs only when loaded or executed"]
pub struct Prepared<Q>(Q);

/// A statement of fixed text, prepared once per connection (see [`Prepared`]); `binds` binds
/// its parameters in order (`|query| query.bind::<Uuid, _>(id).bind::<Text, _>(name)`).
pub fn prepared<Q>(
    sql: &'static str,
    binds: impl FnOnce(diesel::query_builder::SqlQuery) -> Q,
) -> Prepared<Q> {
    Prepared(binds(diesel::sql_query(sql)))
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for Prepared<Q> {
    // No static id: diesel keys the cached statement by its (fixed) text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }

    // `sql_query` marks itself unsafe to cache because its text may be built at run time;
    // this text cannot be (see `prepared`).
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}
