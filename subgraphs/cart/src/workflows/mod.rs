//! The cart subgraph's workflows: a change of a cart, one transaction under its row lock;
//! which variant an add or a set is about, checked with the catalog.

pub mod change;
pub mod variants;
