//! The end-to-end tests, in one binary: it links the whole system once (each file under
//! `tests/` would be a binary of its own, each linking every subgraph and the router). One
//! module per area; `support` is the harness (the `e2e-harness` crate: `System` starts six subgraphs and the router
//! on free ports, over a database and a Redis key prefix of their own).

use e2e_harness as support;

mod assistant;
mod cart;
mod catalog_admin;
mod federation;
mod identity;
mod migrations;
mod orders;
mod outage;
mod schema_drift;
mod startup;
