//! The payment subgraph's GraphQL schema: the `Payment` entity, `Order.payments`,
//! `payOrder`, `refundPayment` and `paymentUpdated`.

pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;
pub use types::PaymentStatus;
