//! The assistant's GraphQL types. Products and orders are references by id: the router
//! fetches their fields from the catalog and order subgraphs, as the customer, when the
//! reply is read — so a card shows today's price and the order's current status.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{self, ActionRow, ConversationRow, MessageRow};
use crate::domain::actions::{ActionKind, ActionStatus, status_at};

/// A product of the catalog subgraph, referenced by id; the router fetches its fields there.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductRef {
    /// The product's id.
    pub id: ID,
}

/// An order of the order subgraph, referenced by id; the router fetches its fields there.
#[derive(SimpleObject)]
#[graphql(name = "Order", unresolvable = "id")]
pub struct OrderRef {
    /// The order's id.
    pub id: ID,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(name = "AssistantRole")]
pub enum AssistantRole {
    Customer,
    Assistant,
}

/// One of the caller's conversations with the shopping assistant.
pub struct AssistantConversation(pub ConversationRow);

#[Object]
impl AssistantConversation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Every message, oldest first.
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<AssistantMessage>> {
        let mut conn = service_kit::db::connection(ctx).await?;
        let rows = db::conversations::messages_of(&mut conn, self.0.id).await?;
        let ids: Vec<Uuid> = rows.iter().filter_map(|m| m.action_id).collect();
        let mut actions = if ids.is_empty() {
            Vec::new()
        } else {
            db::actions::find_many(&mut conn, &ids).await?
        };
        Ok(rows
            .into_iter()
            .map(|row| {
                let action = row.action_id.and_then(|id| {
                    actions
                        .iter()
                        .position(|a| a.id == id)
                        .map(|at| actions.swap_remove(at))
                });
                AssistantMessage { row, action }
            })
            .collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A message of a conversation: the customer's, or the assistant's reply with the products
/// and orders it refers to and the action it proposes.
pub struct AssistantMessage {
    pub row: MessageRow,
    pub action: Option<ActionRow>,
}

#[Object]
impl AssistantMessage {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn conversation_id(&self) -> ID {
        ID(self.row.conversation_id.to_string())
    }

    async fn role(&self) -> AssistantRole {
        if self.row.role == "CUSTOMER" {
            AssistantRole::Customer
        } else {
            AssistantRole::Assistant
        }
    }

    async fn text(&self) -> &str {
        &self.row.text
    }

    /// Catalog products the message refers to.
    async fn products(&self) -> Vec<ProductRef> {
        self.row
            .product_ids
            .iter()
            .map(|id| ProductRef {
                id: ID(id.to_string()),
            })
            .collect()
    }

    /// The customer's orders the message refers to.
    async fn orders(&self) -> Vec<OrderRef> {
        self.row
            .order_ids
            .iter()
            .map(|id| OrderRef {
                id: ID(id.to_string()),
            })
            .collect()
    }

    /// An action the assistant proposes; nothing happens until the customer confirms it.
    async fn action(&self) -> Option<AssistantAction> {
        self.action.clone().map(AssistantAction)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

/// An action the assistant proposes; nothing happens until the customer confirms it.
pub struct AssistantAction(pub ActionRow);

#[Object]
impl AssistantAction {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> Result<ActionKind> {
        ActionKind::parse(&self.0.kind).ok_or_else(|| {
            service_kit::ApiError::corrupt("assistant action kind", &self.0.kind).into()
        })
    }

    /// What will happen, in words, e.g. "Order 1 × iPhone 15 Pro 256GB (¥11,198.00) to Li
    /// Lei, Hangzhou".
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// Where it stands now (`EXPIRED` once its time passed unconfirmed).
    async fn status(&self) -> Result<ActionStatus> {
        status_at(&self.0, Utc::now()).ok_or_else(|| {
            service_kit::ApiError::corrupt("assistant action status", &self.0.status).into()
        })
    }

    /// The order placed or cancelled, once DONE.
    async fn order(&self) -> Option<OrderRef> {
        (self.0.status == "DONE")
            .then_some(self.0.order_id)
            .flatten()
            .map(|id| OrderRef {
                id: ID(id.to_string()),
            })
    }

    /// The API's error code when FAILED.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// One piece of a streamed reply.
pub struct AssistantReplyEvent {
    pub conversation_id: Uuid,
    pub delta: Option<String>,
    pub message: Option<AssistantMessage>,
}

#[Object]
impl AssistantReplyEvent {
    async fn conversation_id(&self) -> ID {
        ID(self.conversation_id.to_string())
    }

    /// The next piece of the reply's text.
    async fn delta(&self) -> Option<&str> {
        self.delta.as_deref()
    }

    /// Set on the last event only: the whole reply.
    async fn message(&self) -> Option<&AssistantMessage> {
        self.message.as_ref()
    }
}
