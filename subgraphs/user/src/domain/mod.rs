//! The user domain: rules without I/O. Accounts (emails, passwords, display names, bans),
//! password hashing, sessions (refresh tokens and their grace window), addresses (the
//! default) and roles (names, permission entries).

pub mod accounts;
pub mod addresses;
pub mod passwords;
pub mod roles;
pub mod sessions;
