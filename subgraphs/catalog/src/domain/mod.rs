//! The catalog's rules, without I/O: search tokenising and ranking, flash-sale bounds.

pub mod flash_sales;
pub mod products;
pub mod search;
