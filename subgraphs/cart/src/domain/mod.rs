//! The cart's rules, without I/O.

pub mod lines;
pub mod variants;
