//! Payment rules without I/O: the state machine, refund arithmetic, who may start paying
//! an order and for how long, and what the reconciler does with a successful payment.

pub mod payable;
pub mod reconcile;
pub mod status;
