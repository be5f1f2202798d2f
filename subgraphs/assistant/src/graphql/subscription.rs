//! `assistantReply`: the reply to a message, streamed as the model writes it (text deltas in
//! order, at most one event per 50 ms, the whole stored message last), after a first event
//! that only names the conversation. The turn runs in a task of its own, so a client
//! that goes away mid-reply still finds the reply in the conversation.

use std::time::{Duration, Instant};

use async_graphql::{Context, Result, Subscription as GraphQLSubscription};
use futures::{Stream, StreamExt as _};
use tokio::sync::mpsc;

use super::types::{AssistantMessage, AssistantReplyEvent};
use super::{AssistantMessageInput, ask};
use crate::workflows::Assistant;
use crate::workflows::turn;

/// The shortest time between two text events of one reply.
const PACE: Duration = Duration::from_millis(50);

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
        let stream = futures::stream::unfold(
            Some((received, done, None::<Instant>)),
            move |state| async move {
                let (mut received, done, last_sent) = state?;
                match received.recv().await {
                    Some(mut delta) => {
                        // At most one event per PACE: what arrives meanwhile goes out with
                        // it, so a model writing faster than the client reads makes fewer,
                        // larger events (and never fills the router's per-subscription buffer).
                        let send_at = last_sent.map_or_else(Instant::now, |sent| sent + PACE);
                        let pause = tokio::time::sleep_until(send_at.into());
                        tokio::pin!(pause);
                        loop {
                            tokio::select! {
                                more = received.recv() => match more {
                                    Some(more) => delta.push_str(&more),
                                    None => break,
                                },
                                () = &mut pause => {
                                    while let Ok(more) = received.try_recv() {
                                        delta.push_str(&more);
                                    }
                                    break;
                                }
                            }
                        }
                        Some((
                            Ok(AssistantReplyEvent {
                                conversation_id,
                                delta: Some(delta),
                                message: None,
                            }),
                            Some((received, done, Some(Instant::now()))),
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
            },
        );
        // First, at once, the conversation the reply belongs to (a new one exists from now
        // on: the client may read it or send to it while this reply is written).
        let announce = AssistantReplyEvent {
            conversation_id,
            delta: None,
            message: None,
        };
        Ok(futures::stream::once(async move { Ok(announce) }).chain(stream))
    }
}
