//! Calls from one service to another: a circuit breaker per target and bounded retries with
//! jittered back-off, for every service client (`internal::InternalClient`, the cart's
//! catalog client). Each attempt has its client's timeout.
//!
//! The breaker (`failsafe`) opens after [`FAILURES_TO_OPEN`] consecutive failed calls (a
//! timeout, no connection, a 5xx): while open, calls fail at once with `UNAVAILABLE`
//! instead of waiting for a timeout each; after a jittered pause (1–2 s, growing to 10–20 s
//! while it keeps failing) it lets one call
//! through (half-open), and closes again when that succeeds. A client error (4xx, a
//! contract error) is an answer, not a failure. The state is the metric
//! `circuit_breaker_open{target}` (1 open or half-open, 0 closed) and transitions are logged.

use std::future::Future;
use std::time::Duration;

use failsafe::backoff::{self, EqualJittered};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use failsafe::{Config, Instrument, StateMachine};

use crate::ApiError;

/// Consecutive failed calls that open a breaker.
pub const FAILURES_TO_OPEN: u32 = 5;
/// Tries per call (the first and the retries).
const ATTEMPTS: u32 = 3;

/// Reports a breaker's transitions.
#[derive(Clone)]
pub struct BreakerLog {
    target: &'static str,
}

impl BreakerLog {
    fn set(&self, open: bool) {
        metrics::gauge!("circuit_breaker_open", "target" => self.target).set(if open {
            1.0
        } else {
            0.0
        });
    }
}

impl Instrument for BreakerLog {
    fn on_call_rejected(&self) {
        metrics::counter!("circuit_breaker_rejected_total", "target" => self.target).increment(1);
    }

    fn on_open(&self) {
        tracing::warn!(
            target = self.target,
            "circuit breaker open: calls fail fast"
        );
        self.set(true);
    }

    fn on_half_open(&self) {
        tracing::info!(
            target = self.target,
            "circuit breaker half-open: one call probes"
        );
        self.set(true);
    }

    fn on_closed(&self) {
        tracing::info!(target = self.target, "circuit breaker closed");
        self.set(false);
    }
}

type Machine = StateMachine<ConsecutiveFailures<EqualJittered>, BreakerLog>;

/// How one attempt went.
pub enum Attempt<T> {
    /// An answer (also a client error): the call is over, the target is healthy.
    Answer(Result<T, ApiError>),
    /// No usable answer (timeout, connection, 5xx): retried if the call is idempotent.
    Failed,
}

/// The calls to one target service (cheap to clone; clones share the breaker).
#[derive(Clone)]
pub struct Target {
    name: &'static str,
    breaker: Machine,
}

impl Target {
    /// `name` as shown to clients ("the catalog").
    pub fn new(name: &'static str) -> Self {
        let policy = failure_policy::consecutive_failures(
            FAILURES_TO_OPEN,
            // Whole seconds: the first pause is 1–2 s, doubling to 10–20 s while it keeps failing
            // (a start of 1 s would give a first pause of 0).
            backoff::equal_jittered(Duration::from_secs(2), Duration::from_secs(20)),
        );
        let log = BreakerLog { target: name };
        log.set(false);
        Self {
            name,
            breaker: Config::new().failure_policy(policy).instrument(log).build(),
        }
    }

    /// Runs `attempt` through the breaker: once when `idempotent` is false, else up to three
    /// times with jittered back-off (50–100 ms, then 200–400 ms). `UNAVAILABLE` naming the
    /// target when the breaker is open or every try failed.
    pub async fn call<T, F, Fut>(&self, idempotent: bool, attempt: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let tries = if idempotent { ATTEMPTS } else { 1 };
        let mut pause = Duration::from_millis(50);
        for tried in 1..=tries {
            if !self.breaker.is_call_permitted() {
                return Err(ApiError::Unavailable(self.name));
            }
            match attempt().await {
                Attempt::Answer(answer) => {
                    self.breaker.on_success();
                    return answer;
                }
                Attempt::Failed => self.breaker.on_error(),
            }
            if tried < tries {
                let jitter = rand::random_range(0..=pause.as_millis() as u64);
                tokio::time::sleep(pause + Duration::from_millis(jitter)).await;
                pause *= 4;
            }
        }
        Err(ApiError::Unavailable(self.name))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
        let target = Target::new("the test target");
        let calls = Arc::new(AtomicU32::new(0));
        let failing = || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                Attempt::<()>::Failed
            }
        };
        // Two idempotent calls: 3 + 2 tries, the fifth failure opens the breaker.
        assert!(target.call(true, failing).await.is_err());
        assert!(target.call(true, failing).await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        // Open: no try at all.
        assert!(matches!(
            target.call(true, failing).await,
            Err(ApiError::Unavailable("the test target"))
        ));
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        // After the pause (at most 10 s, at least 1 s), one probe; its success closes it.
        let mut waited = Duration::ZERO;
        while !target.breaker.is_call_permitted() {
            assert!(waited < Duration::from_secs(11), "never half-open");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
        assert!(
            waited >= Duration::from_millis(400),
            "half-open too early: {waited:?}"
        );
        let answer = target.call(true, || async { Attempt::Answer(Ok(7)) }).await;
        assert_eq!(answer.unwrap(), 7);
        assert!(
            target
                .call(false, || async { Attempt::Answer(Ok(8)) })
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn client_errors_are_answers_and_only_idempotent_calls_are_retried() {
        let target = Target::new("another target");
        let calls = Arc::new(AtomicU32::new(0));
        let refused = || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                Attempt::<()>::Answer(Err(ApiError::NotFound("thing".into())))
            }
        };
        for _ in 0..10 {
            assert!(matches!(
                target.call(true, refused).await,
                Err(ApiError::NotFound(_))
            ));
        }
        assert_eq!(
            calls.load(Ordering::Relaxed),
            10,
            "an answer is never retried"
        );
        calls.store(0, Ordering::Relaxed);
        let failing = || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                Attempt::<()>::Failed
            }
        };
        assert!(target.call(false, failing).await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1, "not idempotent: one try");
    }
}
