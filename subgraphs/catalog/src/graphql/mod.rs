//! The catalog's GraphQL schema.

pub mod answers;
pub mod brands;
pub mod facets;
pub mod flash_purchases;
pub mod flash_sales;
pub mod listing;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod types;
pub mod variants;
