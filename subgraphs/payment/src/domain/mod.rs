//! Payment rules without I/O: the state machine, refund arithmetic and what the reconciler
//! does with a successful payment.

pub mod reconcile;
pub mod status;
