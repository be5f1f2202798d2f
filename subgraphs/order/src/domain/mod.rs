//! The order domain: rules without I/O. The state machine decides every status change;
//! checkout rules check and normalise what a customer asks to buy.

pub mod checkout;
pub mod payments;
pub mod status;

pub use status::{Command, Illegal, OrderStatus, decide};
