//! Subscriptions that stay authorized: a GraphQL subscription is authenticated once, when
//! it opens, but may stay open for hours. [`watch`] checks the caller's session, ban and
//! permissions again before every delivery, when an access notice names the caller's
//! session or user (sign-out, ban: the subscription ends at once), and every
//! [`RECHECK_EVERY`] (a session that simply expired). A caller no longer allowed gets one
//! error (`UNAUTHENTICATED`, or the refusal of `allowed`) and the stream ends.
//!
//! Every subscription logs when it opens and ends, with its user and field, and the feed
//! counts those open ([`LiveFeed::open`]).

use std::sync::Arc;
use std::time::Duration;

use event_bus::{Event, Live, LiveFeed};
use futures::Stream;
use service_kit::ApiError;
use tokio::sync::broadcast::error::RecvError;

use crate::records::{AccessNotice, SESSIONS_ENDED, USER_ACCESS_CHANGED};
use crate::{Access, Caller, Identity};

/// How often an idle subscription checks that its session is still live.
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// Decides whether the caller, as they are now, may see a change.
pub type AccessCheck<T> = Box<dyn Fn(&T, &Caller) -> Result<(), ApiError> + Send + Sync>;

/// What a subscription delivers and to whom.
pub struct Watch<T> {
    /// The field, for logs (`orderUpdated`).
    pub field: &'static str,
    /// Whether a change is one this subscription asked for (cheap, no I/O).
    pub relevant: Box<dyn Fn(&T) -> bool + Send + Sync>,
    /// Whether the caller, as they are now, may see it; the error ends the subscription.
    pub allowed: AccessCheck<T>,
}

/// The relevant changes of `feed` as `caller` may see them, until their access ends.
/// Anonymous callers are refused (`UNAUTHENTICATED`).
pub async fn watch<T: Send + Sync + 'static>(
    access: Arc<Access>,
    caller: &Caller,
    feed: &Arc<LiveFeed<T>>,
    watch: Watch<T>,
) -> Result<impl Stream<Item = Result<Arc<T>, ApiError>> + use<T>, ApiError> {
    let identity = caller.identity()?.clone();
    let subscription = feed.subscribe().await?;
    tracing::info!(
        subscription = watch.field,
        user = %identity.user_id,
        open = feed.open(),
        "subscription opened"
    );
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.reset();
    let state = State {
        access,
        identity,
        client_ip: caller.client_ip().map(str::to_owned),
        subscription,
        watch,
        recheck,
        ended: None,
    };
    Ok(futures::stream::unfold(state, State::next))
}

struct State<T> {
    access: Arc<Access>,
    identity: Identity,
    client_ip: Option<String>,
    subscription: event_bus::live::Subscription<T>,
    watch: Watch<T>,
    recheck: tokio::time::Interval,
    /// Why the stream ended, once it has.
    ended: Option<&'static str>,
}

impl<T> State<T> {
    async fn next(mut self) -> Option<(Result<Arc<T>, ApiError>, Self)> {
        if self.ended.is_some() {
            return None;
        }
        loop {
            let received = tokio::select! {
                received = self.subscription.events.recv() => received,
                _ = self.recheck.tick() => {
                    if let Err(error) = self.check().await {
                        return self.end(error, "access ended");
                    }
                    continue;
                }
            };
            match received {
                Ok(Live::Change(change)) => {
                    if !(self.watch.relevant)(&change) {
                        continue;
                    }
                    let allowed = match self.check().await {
                        Ok(caller) => (self.watch.allowed)(&change, &caller),
                        Err(error) => Err(error),
                    };
                    return match allowed {
                        Ok(()) => Some((Ok(change), self)),
                        Err(error) => self.end(error, "access ended"),
                    };
                }
                Ok(Live::Access(notice)) => {
                    if concerns(&notice, &self.identity)
                        && let Err(error) = self.check().await
                    {
                        return self.end(error, "access ended");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        subscription = self.watch.field,
                        missed,
                        "subscriber fell behind"
                    );
                    return self.end(
                        ApiError::Unavailable(
                            "this subscription (it fell behind: subscribe again)",
                        ),
                        "fell behind",
                    );
                }
                Err(RecvError::Closed) => {
                    return self.end(ApiError::Unavailable("the live feed"), "feed closed");
                }
            }
        }
    }

    /// The caller as they are now, or why they may no longer watch.
    async fn check(&self) -> Result<Caller, ApiError> {
        self.access
            .reauthenticate(&self.identity, self.client_ip.clone())
            .await
    }

    fn end(
        mut self,
        error: ApiError,
        why: &'static str,
    ) -> Option<(Result<Arc<T>, ApiError>, Self)> {
        self.ended = Some(why);
        Some((Err(error), self))
    }
}

impl<T> Drop for State<T> {
    fn drop(&mut self) {
        // `unfold` drops its state when the stream ends or the client goes away.
        tracing::info!(
            subscription = self.watch.field,
            user = %self.identity.user_id,
            reason = self.ended.unwrap_or("completed by the client"),
            "subscription ended"
        );
    }
}

/// Whether an access notice names this caller's session or user.
fn concerns(event: &Event, identity: &Identity) -> bool {
    if event.name != SESSIONS_ENDED && event.name != USER_ACCESS_CHANGED {
        return false;
    }
    let Ok(notice) = serde_json::from_value::<AccessNotice>(event.payload.clone()) else {
        return false;
    };
    notice.user == Some(identity.user_id) || notice.sessions.contains(&identity.session_id)
}
