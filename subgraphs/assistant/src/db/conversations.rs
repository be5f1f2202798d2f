//! Statements on conversations and their messages. Values travel as bind parameters only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

use super::schema::{conversations, messages};
use super::{ConversationRow, MessageRow, NewMessage};

/// The conversation `id` if it is `user`'s (anyone else's is as if it did not exist).
pub async fn find_owned(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: Uuid,
) -> Result<Option<ConversationRow>, ApiError> {
    Ok(conversations::table
        .filter(conversations::id.eq(id))
        .filter(conversations::user_id.eq(user))
        .select(ConversationRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Creates the conversation unless it exists; rows written (0 or 1).
pub async fn create(conn: &mut AsyncPgConnection, row: ConversationRow) -> Result<usize, ApiError> {
    Ok(diesel::insert_into(conversations::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?)
}

/// Locks a conversation until the transaction ends (turns store their messages in turn).
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), ApiError> {
    conversations::table
        .filter(conversations::id.eq(id))
        .select(conversations::id)
        .for_update()
        .first::<Uuid>(conn)
        .await?;
    Ok(())
}

/// Adds what a turn spent to the conversation's tokens.
pub async fn spend(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    tokens: i64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::update(conversations::table.filter(conversations::id.eq(id)))
        .set((
            conversations::tokens_used.eq(conversations::tokens_used + tokens),
            conversations::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Every message of a conversation, oldest first.
pub async fn messages_of(
    conn: &mut AsyncPgConnection,
    conversation: Uuid,
) -> Result<Vec<MessageRow>, ApiError> {
    Ok(messages::table
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::position)
        .select(MessageRow::as_select())
        .load(conn)
        .await?)
}

/// The last `limit` messages of a conversation, oldest first (the model's context).
pub async fn recent_messages(
    conn: &mut AsyncPgConnection,
    conversation: Uuid,
    limit: i64,
) -> Result<Vec<MessageRow>, ApiError> {
    let mut rows: Vec<MessageRow> = messages::table
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::position.desc())
        .limit(limit)
        .select(MessageRow::as_select())
        .load(conn)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// Appends messages (in the order given).
pub async fn add_messages(
    conn: &mut AsyncPgConnection,
    rows: Vec<NewMessage>,
) -> Result<(), ApiError> {
    for row in rows {
        diesel::insert_into(messages::table)
            .values(row)
            .execute(conn)
            .await?;
    }
    Ok(())
}
