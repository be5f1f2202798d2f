//! `assistantReply`: the reply to a message, streamed as the model writes it (text deltas in
//! order, the whole stored message last). The turn runs in a task of its own, so a client
//! that goes away mid-reply still finds the reply in the conversation.

use async_graphql::{Context, Result, Subscription as GraphQLSubscription};
use futures::Stream;
use tokio::sync::mpsc;

use super::types::{AssistantMessage, AssistantReplyEvent};
use super::{AssistantMessageInput, ask};
use crate::workflows::Assistant;
use crate::workflows::turn;

/// Root subscriptions of the assistant subgraph.
#[derive(Default)]
pub struct Subscription;

#[GraphQLSubscription]
impl Subscription {
    /// Sends the customer's message; the reply streams back: `delta`s, then `message`.
    async fn assistant_reply(
        &self,
        ctx: &Context<'_>,
        input: AssistantMessageInput,
    ) -> Result<impl Stream<Item = Result<AssistantReplyEvent>> + use<>> {
        let assistant = ctx.data_unchecked::<Assistant>().clone();
        let ask = ask(ctx, input)?;
        let conversation = turn::conversation_for(&assistant, ask.user, ask.conversation).await?;
        let conversation_id = conversation.0;
        let (deltas, received) = mpsc::unbounded_channel::<String>();
        let done = tokio::spawn(async move {
            let reply = turn::reply(&assistant, &ask, conversation, Some(&deltas)).await;
            drop(deltas);
            reply
        });
        let stream = futures::stream::unfold(Some((received, done)), move |state| async move {
            let (mut received, done) = state?;
            match received.recv().await {
                Some(mut delta) => {
                    // Pieces already waiting go out as one event: fewer, larger events
                    // when the model writes faster than the client reads.
                    while let Ok(more) = received.try_recv() {
                        delta.push_str(&more);
                    }
                    Some((
                        Ok(AssistantReplyEvent {
                            conversation_id,
                            delta: Some(delta),
                            message: None,
                        }),
                        Some((received, done)),
                    ))
                }
                // The turn has ended: its stored reply, or its error, last.
                None => {
                    let last = match done.await {
                        Ok(Ok(reply)) => Ok(AssistantReplyEvent {
                            conversation_id,
                            delta: None,
                            message: Some(AssistantMessage {
                                row: reply.message,
                                action: reply.action,
                            }),
                        }),
                        Ok(Err(error)) => Err(error.into()),
                        Err(_) => Err(service_kit::ApiError::Internal.into()),
                    };
                    Some((last, None))
                }
            }
        });
        Ok(stream)
    }
}
