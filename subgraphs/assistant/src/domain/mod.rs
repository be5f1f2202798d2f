//! The assistant's rules, without I/O: the tools offered to the model and how their
//! arguments are checked (`tools`), what the model is told (`prompt`), and the life of a
//! proposed action (`actions`).

pub mod actions;
pub mod prompt;
pub mod tools;
