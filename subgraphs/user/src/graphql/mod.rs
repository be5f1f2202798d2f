//! The user subgraph's GraphQL schema: thin resolvers over `crate::workflows` and
//! `crate::db`. The mutation root merges its parts by area, in this order (the order of
//! `Mutation`'s fields in the SDL).

pub mod accounts;
pub mod addresses;
pub mod admin;
pub mod loaders;
pub mod query;
pub mod sessions;
pub mod types;

use async_graphql::MergedObject;

pub use query::Query;

// Mutations of the user subgraph. (A `///` comment here would become the type's
// description in the SDL.)
#[derive(Default, MergedObject)]
pub struct Mutation(
    sessions::SessionMutation,
    accounts::AccountMutation,
    addresses::AddressMutation,
    admin::AdminMutation,
);
