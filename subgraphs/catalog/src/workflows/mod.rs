//! What composes statements with Redis, the cache or other subgraphs, and the transactions
//! that decide across statements (a transaction of plain statements may stay in `db/`).

pub mod brands;
pub mod flash_purchases;
pub mod flash_recorder;
pub mod flash_sales;
pub mod listing;
pub mod products;
pub mod stock;
pub mod variants;
