//! The catalog's tables and rows.

pub mod models;
pub mod schema;
