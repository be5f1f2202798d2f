//! The assistant's tables and rows; statements are in `conversations` (conversations and
//! messages) and `actions` (proposed actions and their outcomes).

pub mod actions;
pub mod conversations;
pub mod schema;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// A row of `conversations`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::conversations, check_for_backend(diesel::pg::Pg))]
pub struct ConversationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tokens_used: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row of `messages`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = schema::messages, check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: String,
    pub text: String,
    pub product_ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub action_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A message to insert (its position is the table's sequence).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = schema::messages, check_for_backend(diesel::pg::Pg))]
pub struct NewMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: String,
    pub text: String,
    pub product_ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub action_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A row of `assistant_actions`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::assistant_actions, check_for_backend(diesel::pg::Pg))]
pub struct ActionRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub summary: String,
    pub request: String,
    pub status: String,
    pub confirm_key: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub attempt_until: Option<DateTime<Utc>>,
    pub order_id: Option<Uuid>,
    pub error: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
