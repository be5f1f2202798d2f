//! The catalog's rules, without I/O: products and brands, search tokenising and ranking,
//! flash-sale bounds.

pub mod brands;
pub mod details;
pub mod facets;
pub mod flash_sales;
pub mod index;
pub mod products;
pub mod search;
pub mod urls;
pub mod variants;
