//! The payment subgraph's workflows: the transactions that compose statements with the
//! decisions of `domain/`, and the rounds that ask the order subgraph.
//!
//! `payments` (creation and every status change), `refunds`, `gateway_events` (what the
//! gateway reports through the webhook), `gateway_decisions` (the sandbox gateway's queued
//! webhook calls), `reconcile` (the money reconciler).

pub mod gateway_decisions;
pub mod gateway_events;
pub mod payments;
pub mod reconcile;
pub mod refunds;
#[cfg(test)]
mod testing;
