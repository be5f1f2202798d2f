//! The order subgraph's workflows: transactions spanning several statements and calls to
//! other subgraphs (`crate::peers`). Resolvers and background workers call these; rules
//! come from `crate::domain`, statements from `crate::db`.

pub mod checkout;
pub mod flash_orders;
pub mod lifecycle;
