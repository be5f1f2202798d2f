//! The payment subgraph's workflows that span statements and other subgraphs.

pub mod reconcile;
