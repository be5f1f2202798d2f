//! The catalog's tables, rows and stock reservations.

pub mod flash_sales;
pub mod models;
pub mod reservations;
pub mod schema;
