//! The catalog's tables, rows and stock reservations.

pub mod models;
pub mod reservations;
pub mod schema;
