//! The cart subgraph's workflows: a change of a cart, one transaction under its row lock.

pub mod change;
