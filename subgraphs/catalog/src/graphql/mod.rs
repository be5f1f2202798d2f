//! The catalog's GraphQL schema.

pub mod listing;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod types;
