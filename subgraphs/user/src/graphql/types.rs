//! The user subgraph's object types: `User` (an entity other subgraphs extend), `Address`,
//! `Role`, `AuthPayload` and the user connection.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use auth::OwnerOr;
use chrono::{DateTime, Utc};
use service_kit::ApiError;
use service_kit::paging::PageInfo;
use uuid::Uuid;

use super::loaders::{AddressesLoader, UserLoader, UserRolesLoader};
use crate::db::{AddressRow, UserRow};

/// Whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum UserStatus {
    /// Normal account.
    Active,
    /// Banned by an administrator (until `bannedUntil`, or until lifted).
    Banned,
}

/// An account. Other subgraphs add fields to it (`cart`, `orders`).
pub struct User {
    row: UserRow,
    /// The caller has just signed in as this user (`register`, `login`): the request carries
    /// no token yet, but the owner's fields are theirs to see.
    signed_in_now: bool,
}

impl User {
    pub fn new(row: UserRow) -> Self {
        Self {
            row,
            signed_in_now: false,
        }
    }

    fn signed_in(row: UserRow) -> Self {
        Self {
            row,
            signed_in_now: true,
        }
    }

    fn owner_or(&self, permission: &'static str) -> OwnerOr {
        OwnerOr::new(self.row.id, permission).or_if(self.signed_in_now)
    }

    fn owner_only(&self) -> auth::guards::OwnerOnly {
        auth::guards::OwnerOnly::new(self.row.id).or_if(self.signed_in_now)
    }
}

#[Object]
impl User {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// Sign-in email, lower-cased. Owner or `users:read`.
    #[graphql(guard = "self.owner_or(\"users:read\")")]
    async fn email(&self) -> Option<&str> {
        Some(&self.row.email)
    }

    /// Public name.
    async fn display_name(&self) -> &str {
        &self.row.display_name
    }

    /// Role names. Owner or `users:read`.
    #[graphql(guard = "self.owner_or(\"users:read\")")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Option<Vec<String>>> {
        let loader = ctx.data_unchecked::<DataLoader<UserRolesLoader>>();
        Ok(Some(
            loader.load_one(self.row.id).await?.unwrap_or_default(),
        ))
    }

    /// `BANNED` while a ban is in force; a ban whose end time has passed no longer counts.
    async fn status(&self) -> UserStatus {
        if self.row.ban(Utc::now()).is_some() {
            UserStatus::Banned
        } else {
            UserStatus::Active
        }
    }

    /// End of the ban in force (`null`: no ban, or banned until lifted). Owner or
    /// `users:read`.
    #[graphql(guard = "self.owner_or(\"users:read\")")]
    async fn banned_until(&self) -> Option<DateTime<Utc>> {
        self.row.ban(Utc::now()).and_then(|ban| ban.until)
    }

    /// Why the account is banned. Owner or `users:read`.
    #[graphql(guard = "self.owner_or(\"users:read\")")]
    async fn ban_reason(&self) -> Option<String> {
        self.row.ban(Utc::now()).map(|ban| ban.reason)
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// Saved shipping addresses, the default first. Owner only (as the contract says: an
    /// address is personal data no permission opens to others).
    #[graphql(guard = "self.owner_only()")]
    async fn addresses(&self, ctx: &Context<'_>) -> Result<Option<Vec<Address>>> {
        let loader = ctx.data_unchecked::<DataLoader<AddressesLoader>>();
        let rows = loader.load_one(self.row.id).await?.unwrap_or_default();
        Ok(Some(rows.into_iter().map(Address).collect()))
    }
}

/// A saved shipping address.
pub struct Address(pub AddressRow);

#[Object]
impl Address {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    async fn phone(&self) -> &str {
        &self.0.phone
    }
    async fn province(&self) -> &str {
        &self.0.province
    }
    async fn city(&self) -> &str {
        &self.0.city
    }
    async fn district(&self) -> &str {
        &self.0.district
    }
    async fn line1(&self) -> &str {
        &self.0.line1
    }
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }
    /// The address checkout uses when none is given; exactly one per user has it.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
}

/// A role and its permission entries (`catalog:product:write`, `orders:*`, `re:^order.*$`).
#[derive(SimpleObject)]
pub struct Role {
    pub name: String,
    pub permissions: Vec<String>,
}

/// Tokens of a new or renewed session.
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user_id: Uuid,
}

#[Object]
impl AuthPayload {
    /// Short-lived JWT for `Authorization: Bearer ...`.
    async fn access_token(&self) -> &str {
        &self.access_token
    }
    /// Single-use token for `refreshToken`; each use returns a new one.
    async fn refresh_token(&self) -> &str {
        &self.refresh_token
    }
    /// Seconds until the access token expires.
    async fn expires_in(&self) -> i64 {
        self.expires_in
    }
    /// The signed-in user.
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        let row = loader
            .load_one(self.user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("user".into()))?;
        Ok(User::signed_in(row))
    }
}

/// A page of users.
#[derive(SimpleObject)]
pub struct UserConnection {
    /// Users matching the search, over all pages.
    pub total_count: i64,
    pub page_info: PageInfo,
    pub edges: Vec<UserEdge>,
}

/// One user in a page.
#[derive(SimpleObject)]
pub struct UserEdge {
    pub cursor: String,
    pub node: User,
}
