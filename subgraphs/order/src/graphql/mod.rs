//! The order subgraph's GraphQL schema: the `Order` entity (visible to its owner or an
//! `orders:read` holder, however it is reached), `User.orders`, checkout and the customer's
//! order mutations, and `orderUpdated`.

pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;
