//! The user subgraph's workflows: transactions composing several statements, and changes
//! that keep PostgreSQL and Redis (the sessions' allow-list, the access records, the
//! sign-in throttle) in step. Resolvers call these; rules come from `crate::domain`,
//! statements from `crate::db`.

pub mod accounts;
pub mod addresses;
pub mod admin;
pub mod passwords;
pub mod records;
pub mod sessions;
