//! Payment rules without I/O: the state machine and refund arithmetic.

pub mod status;
