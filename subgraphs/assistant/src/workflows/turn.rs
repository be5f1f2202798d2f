//! One conversation turn: the customer's message, the model's reply with its tool calls run
//! through the router as the customer, and both messages (with a proposal, if the reply
//! made one) stored in one transaction once the reply is complete. A turn that fails (the
//! model unreachable) stores nothing: the customer sends the message again.

use std::time::Instant;

use chrono::{Duration, Utc};
use diesel_async::AsyncConnection as _;
use service_kit::ApiError;
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use super::Assistant;
use super::results::Proposal;
use super::tools;
use crate::db::{self, ActionRow, ConversationRow, MessageRow, NewMessage};
use crate::domain::prompt;
use crate::model::ChatMessage;
use crate::peers::Customer;

/// Model calls one reply may take (each tool round is one); the last is offered no tools,
/// so it answers with what it has.
const MAX_ROUNDS: usize = 4;
/// Tool calls run per model call; more are answered with an error (a model steered into a
/// storm of calls costs the router a bounded number of requests).
const MAX_CALLS_PER_ROUND: usize = 5;

/// The customer's message.
pub struct Ask {
    pub user: Uuid,
    pub customer: Customer,
    /// `None`: a new conversation.
    pub conversation: Option<Uuid>,
    pub text: String,
}

/// The stored reply.
pub struct Reply {
    pub message: MessageRow,
    pub action: Option<ActionRow>,
}

/// The conversation a message goes to: the customer's own (`NOT_FOUND` for anyone else's),
/// or a new one, created now: a stream names it in its first event, and the customer may
/// read it or send to it before this reply is complete. (A turn that then fails leaves it
/// without messages.) `None` with the id: no history.
pub async fn conversation_for(
    assistant: &Assistant,
    user: Uuid,
    conversation: Option<Uuid>,
) -> Result<(Uuid, Option<ConversationRow>), ApiError> {
    match conversation {
        None => {
            let now = Utc::now();
            let id = Uuid::now_v7();
            let mut conn = assistant.db.get().await?;
            db::conversations::create(
                &mut conn,
                ConversationRow {
                    id,
                    user_id: user,
                    tokens_used: 0,
                    created_at: now,
                    updated_at: now,
                },
            )
            .await?;
            Ok((id, None))
        }
        Some(id) => {
            let mut conn = assistant.db.get().await?;
            let row = db::conversations::find_owned(&mut conn, id, user)
                .await?
                .ok_or_else(|| ApiError::NotFound("conversation".into()))?;
            Ok((id, Some(row)))
        }
    }
}

/// Runs one turn of `conversation` (from [`conversation_for`]); text deltas go to `deltas`
/// as the model writes them.
pub async fn reply(
    assistant: &Assistant,
    ask: &Ask,
    conversation: (Uuid, Option<ConversationRow>),
    deltas: Option<&UnboundedSender<String>>,
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let outcome = run(assistant, ask, conversation, deltas).await;
    let label = match &outcome {
        Ok(_) => "ok",
        Err(error) => error.code(),
    };
    metrics::histogram!("assistant_turn_seconds", "outcome" => label)
        .record(started.elapsed().as_secs_f64());
    outcome
}

async fn run(
    assistant: &Assistant,
    ask: &Ask,
    (conversation_id, existing): (Uuid, Option<ConversationRow>),
    deltas: Option<&UnboundedSender<String>>,
) -> Result<Reply, ApiError> {
    super::limits::count_message(
        &assistant.redis,
        ask.user,
        assistant.settings.messages_per_minute,
    )
    .await?;
    if existing
        .as_ref()
        .is_some_and(|c| c.tokens_used >= assistant.settings.token_budget)
    {
        return Err(ApiError::Conflict(
            "this conversation has used its token budget: start a new conversation".into(),
        ));
    }
    let history = match &existing {
        Some(_) => {
            let mut conn = assistant.db.get().await?;
            db::conversations::recent_messages(&mut conn, conversation_id, prompt::HISTORY).await?
        }
        None => Vec::new(),
    };
    let mut messages = prompt::context(&history, &ask.text);
    let specs = crate::domain::tools::specs();
    let mut text = String::new();
    let mut products: Vec<Uuid> = Vec::new();
    let mut orders: Vec<Uuid> = Vec::new();
    let mut proposal: Option<Proposal> = None;
    let mut tokens: i64 = 0;
    for round in 0..MAX_ROUNDS {
        let offered: &[_] = if round + 1 < MAX_ROUNDS { &specs } else { &[] };
        let turn = assistant
            .model
            .complete(&messages, offered, deltas)
            .await
            .map_err(ApiError::from)?;
        tokens += i64::from(turn.usage.prompt_tokens) + i64::from(turn.usage.completion_tokens);
        text.push_str(&turn.text);
        if turn.tool_calls.is_empty() || offered.is_empty() {
            break;
        }
        messages.push(ChatMessage::Assistant {
            text: turn.text.clone(),
            tool_calls: turn.tool_calls.clone(),
        });
        for (index, call) in turn.tool_calls.iter().enumerate() {
            let content = if index < MAX_CALLS_PER_ROUND {
                let outcome =
                    tools::run(&assistant.router, &ask.customer, call, proposal.is_none()).await;
                products.extend(outcome.products);
                orders.extend(outcome.orders);
                if outcome.proposal.is_some() {
                    proposal = outcome.proposal;
                }
                outcome.content
            } else {
                prompt::tool_error(
                    "BAD_USER_INPUT",
                    "too many tool calls at once: call at most 5, then the others",
                )
            };
            messages.push(ChatMessage::Tool {
                call_id: call.id.clone(),
                content,
            });
        }
    }
    if text.trim().is_empty() {
        text = "Sorry, I could not put an answer together. Please try again.".to_owned();
        if let Some(deltas) = deltas {
            let _ = deltas.send(text.clone());
        }
    }
    dedup(&mut products);
    dedup(&mut orders);
    store(
        assistant,
        ask,
        conversation_id,
        Stored {
            text,
            products,
            orders,
            proposal,
            tokens,
        },
    )
    .await
}

struct Stored {
    text: String,
    products: Vec<Uuid>,
    orders: Vec<Uuid>,
    proposal: Option<Proposal>,
    tokens: i64,
}

/// Stores the customer's message, the reply and its proposal, and what the turn spent: all
/// or nothing.
async fn store(
    assistant: &Assistant,
    ask: &Ask,
    conversation_id: Uuid,
    stored: Stored,
) -> Result<Reply, ApiError> {
    let now = Utc::now();
    let action = stored.proposal.map(|proposal| ActionRow {
        id: proposal.id,
        conversation_id,
        user_id: ask.user,
        kind: proposal.kind.as_str().to_owned(),
        summary: proposal.summary,
        request: proposal.request.to_string(),
        status: "PROPOSED".to_owned(),
        confirm_key: None,
        confirmed_at: None,
        attempt_until: None,
        order_id: None,
        error: None,
        expires_at: now
            + Duration::from_std(assistant.settings.action_ttl).unwrap_or(Duration::minutes(10)),
        created_at: now,
        updated_at: now,
    });
    let customer_message = NewMessage {
        id: Uuid::now_v7(),
        conversation_id,
        role: "CUSTOMER".to_owned(),
        text: ask.text.clone(),
        product_ids: Vec::new(),
        order_ids: Vec::new(),
        action_id: None,
        created_at: now,
    };
    let reply = MessageRow {
        id: Uuid::now_v7(),
        conversation_id,
        role: "ASSISTANT".to_owned(),
        text: stored.text,
        product_ids: stored.products,
        order_ids: stored.orders,
        action_id: action.as_ref().map(|a| a.id),
        created_at: now,
    };
    let mut conn = assistant.db.get().await?;
    let (reply, action) = conn
        .transaction(async |conn| {
            // One turn's messages stay together when two turns of it end at once.
            db::conversations::lock(conn, conversation_id).await?;
            if let Some(action) = &action {
                db::actions::insert(conn, action.clone()).await?;
            }
            db::conversations::add_messages(conn, vec![customer_message, NewMessage::from(&reply)])
                .await?;
            db::conversations::spend(conn, conversation_id, stored.tokens, now).await?;
            Ok::<_, ApiError>((reply, action))
        })
        .await?;
    if let Some(action) = &action {
        metrics::counter!("assistant_actions_total", "kind" => crate::domain::actions::ActionKind::parse(&action.kind).map_or("unknown", |k| k.as_str()), "outcome" => "proposed").increment(1);
    }
    Ok(Reply {
        message: reply,
        action,
    })
}

impl From<&MessageRow> for NewMessage {
    fn from(row: &MessageRow) -> Self {
        Self {
            id: row.id,
            conversation_id: row.conversation_id,
            role: row.role.clone(),
            text: row.text.clone(),
            product_ids: row.product_ids.clone(),
            order_ids: row.order_ids.clone(),
            action_id: row.action_id,
            created_at: row.created_at,
        }
    }
}

fn dedup(ids: &mut Vec<Uuid>) {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
}
