//! The user subgraph's tables and rows (reads for resolvers and loaders in `reads`).

pub mod reads;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        status -> Text,
        created_at -> Timestamptz,
        password_hash -> Nullable<Text>,
        banned_until -> Nullable<Timestamptz>,
        ban_reason -> Nullable<Text>,
        updated_at -> Timestamptz,
        access_version -> Int8,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        permissions -> Array<Text>,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Uuid,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    addresses (id) {
        id -> Uuid,
        user_id -> Uuid,
        recipient -> Text,
        phone -> Text,
        province -> Text,
        city -> Text,
        district -> Text,
        line1 -> Text,
        postal_code -> Nullable<Text>,
        is_default -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    roles,
    user_roles,
    sessions,
    refresh_tokens,
    addresses
);

/// The sign-in lookup: by the stored, lower-cased email, through `users_email_idx`.
pub fn by_email(
    email: &str,
) -> diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::email, &str>> {
    users::table.filter(users::email.eq(email))
}

/// A row of `users` as the API shows it (never the password hash).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
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
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

/// A row of `addresses`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = addresses, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
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

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel_async::SimpleAsyncConnection as _;

    use super::*;

    #[tokio::test]
    async fn sign_in_finds_the_user_through_the_email_index() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        conn.batch_execute("SET enable_seqscan = off")
            .await
            .unwrap();
        let plan = test_support::explain(&mut conn, by_email("ada@example.com").select(users::id))
            .await
            .join("\n");
        assert!(plan.contains("users_email_idx"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}
