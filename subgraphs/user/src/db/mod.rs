//! The user subgraph's tables (`schema`), rows, and statements, by what they touch:
//! `users`, `sessions` (with their refresh tokens), `roles` (and who holds them),
//! `addresses`, `reads` (for resolvers and loaders) and `seed` (the demo accounts).

pub mod addresses;
pub mod reads;
pub mod roles;
pub mod schema;
pub mod seed;
pub mod sessions;
pub mod users;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// A row of `users` as the API shows it (never the password hash).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = schema::users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub banned_until: Option<DateTime<Utc>>,
    pub ban_reason: Option<String>,
    /// Incremented by every change of the user's access (ban, unban, roles).
    pub access_version: i64,
}

impl UserRow {
    /// The ban in force at `now`, if any: a ban with an end time in the past no longer
    /// applies.
    pub fn ban(&self, now: DateTime<Utc>) -> Option<auth::records::Ban> {
        let ban = auth::records::Ban {
            reason: self.ban_reason.clone().unwrap_or_default(),
            until: self.banned_until,
        };
        (self.status == "BANNED" && ban.in_force(now)).then_some(ban)
    }
}

/// A new account.
#[derive(Insertable)]
#[diesel(table_name = schema::users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

/// A row of `addresses`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = schema::addresses, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct AddressRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub recipient: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub line1: String,
    pub postal_code: Option<String>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}
