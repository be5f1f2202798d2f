//! The order subgraph's workflows: the only code that opens transactions spanning several
//! statements or calls other subgraphs (`crate::peers`). Resolvers and background workers
//! call these; rules come from `crate::domain`, statements from `crate::db`.

pub mod checkout;
pub mod flash_orders;
pub mod lifecycle;
