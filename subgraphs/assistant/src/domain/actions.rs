//! The life of a proposed action: `PROPOSED` until the customer confirms it (then `DONE` or
//! `FAILED` with the API's error code), declines it (`DECLINED`), or lets it expire
//! (`EXPIRED`, shown once its time has passed unconfirmed: no sweeper needs to run for an
//! expired proposal to be refused).

use async_graphql::Enum;
use chrono::{DateTime, Duration, Utc};

use crate::db::ActionRow;

/// What an action does once confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(name = "AssistantActionKind")]
pub enum ActionKind {
    AddToCart,
    PlaceOrder,
    CancelOrder,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddToCart => "ADD_TO_CART",
            Self::PlaceOrder => "PLACE_ORDER",
            Self::CancelOrder => "CANCEL_ORDER",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "ADD_TO_CART" => Some(Self::AddToCart),
            "PLACE_ORDER" => Some(Self::PlaceOrder),
            "CANCEL_ORDER" => Some(Self::CancelOrder),
            _ => None,
        }
    }
}

/// Where an action stands, as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(name = "AssistantActionStatus")]
pub enum ActionStatus {
    Proposed,
    Done,
    Declined,
    Failed,
    Expired,
}

/// The status of `action` at `now`: a proposal nobody confirmed is `EXPIRED` once its time
/// has passed; a confirmed one stays `PROPOSED` until its outcome is recorded.
pub fn status_at(action: &ActionRow, now: DateTime<Utc>) -> Option<ActionStatus> {
    Some(match action.status.as_str() {
        "PROPOSED" if action.confirm_key.is_none() && action.expires_at <= now => {
            ActionStatus::Expired
        }
        "PROPOSED" => ActionStatus::Proposed,
        "DONE" => ActionStatus::Done,
        "DECLINED" => ActionStatus::Declined,
        "FAILED" => ActionStatus::Failed,
        _ => return None,
    })
}

/// How long one attempt of a confirmation may run its operation (the router call is bounded
/// well below it); another confirmation with the same key meanwhile waits for its outcome.
pub const ATTEMPT: Duration = Duration::seconds(30);

/// How long after its expiry a confirmed action whose outcome is unknown may still be run
/// again with its key (a checkout abandoned meanwhile would otherwise be placed days later).
pub const RERUN_GRACE: Duration = Duration::minutes(10);

/// What a confirmation with `key` does to an action that could not be claimed for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The same key confirmed it before and its outcome is recorded: answer with it.
    Answered,
    /// The same key's attempt is running now: wait for its outcome.
    InProgress,
    /// The same key's attempt is over without an outcome (it died, or the outcome was
    /// unknown): run the operation again; it is idempotent.
    RunAgain,
    /// Confirmed with another key, declined, expired, or its outcome unknown for too long:
    /// refused with this reason.
    Refused(&'static str),
}

/// See [`Confirmation`].
pub fn confirmation(action: &ActionRow, key: &str, now: DateTime<Utc>) -> Confirmation {
    match (action.confirm_key.as_deref(), status_at(action, now)) {
        (Some(k), Some(ActionStatus::Proposed)) if k == key => {
            if action.attempt_until.is_some_and(|until| until > now) {
                Confirmation::InProgress
            } else if action.expires_at + RERUN_GRACE > now {
                Confirmation::RunAgain
            } else {
                Confirmation::Refused(
                    "this confirmation did not finish in time and can no longer run: see your orders and cart",
                )
            }
        }
        (Some(k), Some(ActionStatus::Done | ActionStatus::Failed)) if k == key => {
            Confirmation::Answered
        }
        (Some(_), _) => Confirmation::Refused("this action was already confirmed"),
        (None, Some(ActionStatus::Declined)) => Confirmation::Refused("this action was declined"),
        (None, Some(ActionStatus::Expired)) => Confirmation::Refused(
            "this proposal has expired: ask the assistant again for current prices",
        ),
        _ => Confirmation::Refused("this action cannot be confirmed"),
    }
}

/// Whether an operation's error is its final answer (the action is `FAILED` with it) rather
/// than an unknown outcome (the action stays confirmed, to be confirmed again with the same
/// key). A checkout still running for the action's key (an earlier attempt) is unknown; an
/// expired or refused token, a rate limit or an outage says nothing about the operation.
pub fn is_final(kind: ActionKind, code: &str, message: &str) -> bool {
    match code {
        // "Still in progress", "keeps changing; try again": a state that passes, not a refusal.
        "CONFLICT" => {
            !(kind == ActionKind::PlaceOrder && message.contains("still in progress")
                || message.contains("try again")
                || message.contains("retry"))
        }
        "BAD_USER_INPUT" | "NOT_FOUND" | "FORBIDDEN" | "INSUFFICIENT_STOCK" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn action(status: &str, key: Option<&str>, expires_in: i64) -> ActionRow {
        let now = Utc::now();
        ActionRow {
            id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            user_id: Uuid::nil(),
            kind: "PLACE_ORDER".into(),
            summary: String::new(),
            request: "{}".into(),
            status: status.into(),
            confirm_key: key.map(str::to_owned),
            confirmed_at: None,
            attempt_until: None,
            order_id: None,
            error: None,
            expires_at: now + Duration::seconds(expires_in),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn an_unconfirmed_proposal_expires_but_a_confirmed_one_waits_for_its_outcome() {
        let now = Utc::now();
        assert_eq!(
            status_at(&action("PROPOSED", None, 60), now),
            Some(ActionStatus::Proposed)
        );
        assert_eq!(
            status_at(&action("PROPOSED", None, -1), now),
            Some(ActionStatus::Expired)
        );
        assert_eq!(
            status_at(&action("PROPOSED", Some("k"), -1), now),
            Some(ActionStatus::Proposed)
        );
        assert_eq!(
            status_at(&action("DONE", Some("k"), -1), now),
            Some(ActionStatus::Done)
        );
    }

    #[test]
    fn only_the_same_key_gets_the_outcome_or_runs_again() {
        let now = Utc::now();
        assert_eq!(
            confirmation(&action("DONE", Some("k"), 60), "k", now),
            Confirmation::Answered
        );
        assert_eq!(
            confirmation(&action("PROPOSED", Some("k"), -5), "k", now),
            Confirmation::RunAgain
        );
        let mut running = action("PROPOSED", Some("k"), 60);
        running.attempt_until = Some(now + Duration::seconds(5));
        assert_eq!(confirmation(&running, "k", now), Confirmation::InProgress);
        // Unknown for too long: not run again.
        assert!(matches!(
            confirmation(&action("PROPOSED", Some("k"), -3600), "k", now),
            Confirmation::Refused(_)
        ));
        assert!(matches!(
            confirmation(&action("DONE", Some("k"), 60), "other", now),
            Confirmation::Refused(_)
        ));
        assert!(matches!(
            confirmation(&action("DECLINED", None, 60), "k", now),
            Confirmation::Refused(_)
        ));
        assert!(matches!(
            confirmation(&action("PROPOSED", None, -1), "k", now),
            Confirmation::Refused(_)
        ));
    }

    #[test]
    fn only_business_refusals_are_final_outcomes() {
        assert!(is_final(ActionKind::PlaceOrder, "INSUFFICIENT_STOCK", ""));
        assert!(is_final(
            ActionKind::CancelOrder,
            "CONFLICT",
            "already cancelled"
        ));
        assert!(!is_final(
            ActionKind::PlaceOrder,
            "CONFLICT",
            "a checkout with this idempotency key is still in progress; retry in a moment"
        ));
        for code in [
            "UNAVAILABLE",
            "UNAUTHENTICATED",
            "RATE_LIMITED",
            "INTERNAL_SERVER_ERROR",
        ] {
            assert!(!is_final(ActionKind::AddToCart, code, ""), "{code}");
        }
    }
}
