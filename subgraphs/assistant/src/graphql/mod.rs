//! The assistant subgraph's GraphQL schema: `assistantConversation`, `sendAssistantMessage`
//! (the whole reply), `assistantReply` (the reply streamed), and the confirmation or
//! decline of a proposed action. Signed-in customers only; a conversation and its actions
//! are visible to the customer who started it only (`NOT_FOUND` for anyone else).

pub mod subscription;
pub mod types;

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::CallerExt as _;
use service_kit::ApiError;
use uuid::Uuid;

use crate::domain::prompt::check_text;
use crate::peers::Customer;
use crate::workflows::turn::{self, Ask};
use crate::workflows::{Assistant, actions};
use types::{AssistantAction, AssistantConversation, AssistantMessage};

pub use subscription::Subscription;

/// A message to the assistant.
#[derive(InputObject)]
pub struct AssistantMessageInput {
    /// Omit to start a new conversation.
    pub conversation_id: Option<ID>,
    pub text: String,
}

/// Parses an id argument (`BAD_USER_INPUT` naming `field` when it is not one).
pub fn parse_id(field: &str, id: &ID) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_input(field, "not a valid id"))
}

/// The customer's message, checked, with who sends it.
pub fn ask(ctx: &Context<'_>, input: AssistantMessageInput) -> Result<Ask, ApiError> {
    let user = ctx.caller().user_id()?;
    let customer = ctx.data_opt::<Customer>().cloned().ok_or_else(|| {
        ApiError::Unauthenticated("sign in first: this needs an access token".into())
    })?;
    let conversation = input
        .conversation_id
        .as_ref()
        .map(|id| parse_id("input.conversationId", id))
        .transpose()?;
    let text = check_text(&input.text)
        .map_err(|reason| ApiError::bad_input("input.text", reason))?
        .to_owned();
    Ok(Ask {
        user,
        customer,
        conversation,
        text,
    })
}

/// Root queries of the assistant subgraph.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// One of the caller's conversations with the shopping assistant.
    async fn assistant_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<AssistantConversation>> {
        let user = ctx.caller().user_id()?;
        let id = parse_id("id", &id)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = crate::db::conversations::find_owned(&mut conn, id, user)
            .await?
            .ok_or_else(|| ApiError::NotFound("conversation".into()))?;
        Ok(Some(AssistantConversation(row)))
    }
}

/// Root mutations of the assistant subgraph.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Sends the customer's message and returns the assistant's whole reply
    /// (`assistantReply` streams it).
    async fn send_assistant_message(
        &self,
        ctx: &Context<'_>,
        input: AssistantMessageInput,
    ) -> Result<AssistantMessage> {
        let assistant = ctx.data_unchecked::<Assistant>();
        let ask = ask(ctx, input)?;
        let conversation = turn::conversation_for(assistant, ask.user, ask.conversation).await?;
        let reply = turn::reply(assistant, &ask, conversation, None).await?;
        Ok(AssistantMessage {
            row: reply.message,
            action: reply.action,
        })
    }

    /// Carries out an action the assistant proposed. Only the customer can, once.
    async fn confirm_assistant_action(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: String,
    ) -> Result<AssistantAction> {
        let user = ctx.caller().user_id()?;
        let id = parse_id("id", &id)?;
        let key = service_kit::validate::idempotency_key("idempotencyKey", &idempotency_key)?;
        let customer = ctx.data_opt::<Customer>().cloned().ok_or_else(|| {
            ApiError::Unauthenticated("sign in first: this needs an access token".into())
        })?;
        let assistant = ctx.data_unchecked::<Assistant>();
        Ok(AssistantAction(
            actions::confirm(assistant, user, &customer, id, &key).await?,
        ))
    }

    /// Declines an action the assistant proposed.
    async fn decline_assistant_action(&self, ctx: &Context<'_>, id: ID) -> Result<AssistantAction> {
        let user = ctx.caller().user_id()?;
        let id = parse_id("id", &id)?;
        let assistant = ctx.data_unchecked::<Assistant>();
        Ok(AssistantAction(
            actions::decline(assistant, user, id).await?,
        ))
    }
}
