//! The catalog's GraphQL schema.

pub mod loaders;
pub mod query;
pub mod types;
