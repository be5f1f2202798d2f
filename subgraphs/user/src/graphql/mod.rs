//! The user subgraph's GraphQL schema.

pub mod mutation;
pub mod query;
pub mod types;

pub use mutation::Mutation;
pub use query::Query;
