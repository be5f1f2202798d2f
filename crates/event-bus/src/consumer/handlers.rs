//! How a consumer's handler takes the events of one read (or one claim of pending
//! entries): one at a time, in stream order ([`EachEvent`]), or all together
//! ([`Batches`]). Either way the consumer acknowledges the entries handled with one `XACK`
//! per read.

use std::future::Future;

use crate::Event;

/// One entry read from the stream: its id, and its `event` field (JSON).
pub(super) struct Read {
    pub id: String,
    pub json: Option<String>,
}

impl Read {
    /// Its event (`None`: unreadable).
    fn event(&self) -> Option<Event> {
        serde_json::from_str(self.json.as_deref()?).ok()
    }
}

/// The stream and group, for logs and metrics.
#[derive(Clone, Copy)]
pub(super) struct Labels {
    pub stream: &'static str,
    pub group: &'static str,
}

/// What became of the entries of one read.
pub(super) struct Handled {
    /// The ids of the entries done (handled, or unreadable: retrying cannot make them
    /// readable), which the consumer acknowledges.
    pub done: Vec<String>,
    /// Entries of a batch that failed, to be handled again one at a time (each
    /// acknowledged as soon as it is done, so that a slow retry of the others leaves none
    /// already handled waiting for other replicas to claim it).
    pub alone: Vec<Read>,
}

/// What a consumer does with the entries of one read.
pub(super) trait Handler: Send + Sync + 'static {
    /// Handles `reads`.
    fn handle(&self, labels: Labels, reads: Vec<Read>) -> impl Future<Output = Handled> + Send;
}

/// A handler of one event at a time, in stream order.
pub(super) struct EachEvent<H> {
    pub handler: H,
}

impl<H, F> Handler for EachEvent<H>
where
    H: Fn(Event) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    async fn handle(&self, labels: Labels, reads: Vec<Read>) -> Handled {
        let mut done = Vec::with_capacity(reads.len());
        for read in reads {
            let Some(event) = read.event() else {
                unreadable(labels, &read.id);
                done.push(read.id);
                continue;
            };
            observed(labels, [&event]);
            let one = One::of(&event);
            if one.handled(labels, (self.handler)(event)).await {
                done.push(read.id);
            }
        }
        Handled {
            done,
            alone: Vec::new(),
        }
    }
}

/// A handler of all the events of a read at once (in stream order), for consumers that
/// save by doing their work once per read (one transaction, one call to a peer). It must
/// be idempotent per event like any other. A batch whose handling fails is handled again
/// one event at a time (by the consumer, [`Handled::alone`]), so that one event that
/// always fails holds back only itself.
pub(super) struct Batches<H> {
    pub handler: H,
}

impl<H, F> Handler for Batches<H>
where
    H: Fn(Vec<Event>) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    async fn handle(&self, labels: Labels, reads: Vec<Read>) -> Handled {
        let mut done = Vec::with_capacity(reads.len());
        let (mut kept, mut events) = (Vec::with_capacity(reads.len()), Vec::new());
        for read in reads {
            match read.event() {
                Some(event) => {
                    events.push(event);
                    kept.push(read);
                }
                None => {
                    unreadable(labels, &read.id);
                    done.push(read.id);
                }
            }
        }
        observed(labels, &events);
        let handled = match events.len() {
            0 => true,
            // One event alone continues the trace of the request that caused it.
            1 => {
                One::of(&events[0])
                    .handled(labels, (self.handler)(events))
                    .await
            }
            count => {
                let span = tracing::info_span!(
                    "events",
                    otel.name = %format!("{} handles {count} events", labels.group),
                    count,
                    stream = %labels.stream,
                    group = %labels.group,
                );
                let handled = tracing::Instrument::instrument((self.handler)(events), span).await;
                counted(labels, handled.is_ok(), count as u64);
                match handled {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, count, "event batch failed; handling its events one at a time");
                        return Handled { done, alone: kept };
                    }
                }
            }
        };
        if handled {
            done.extend(kept.into_iter().map(|read| read.id));
        }
        Handled {
            done,
            alone: Vec::new(),
        }
    }
}

/// What logs and traces name of one event.
struct One {
    name: String,
    id: uuid::Uuid,
    traceparent: Option<String>,
}

impl One {
    fn of(event: &Event) -> Self {
        Self {
            name: event.name.clone(),
            id: event.id,
            traceparent: event.traceparent.clone(),
        }
    }

    /// Runs its `handling` in a span that continues the trace of the request that caused
    /// it, counted and logged; whether it succeeded.
    async fn handled(
        self,
        labels: Labels,
        handling: impl Future<Output = anyhow::Result<()>>,
    ) -> bool {
        let span = event_span(labels, &self.name, self.traceparent.as_deref());
        let handled = tracing::Instrument::instrument(handling, span).await;
        counted(labels, handled.is_ok(), 1);
        if let Err(error) = &handled {
            tracing::warn!(%error, event = %self.name, id = %self.id, "event handler failed; it will be retried");
        }
        handled.is_ok()
    }
}

/// The span of one event's handling: it continues the trace of the request that caused
/// the event.
fn event_span(labels: Labels, name: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        otel.name = %format!("{} handles {name}", labels.group),
        event = %name,
        stream = %labels.stream,
        group = %labels.group,
    );
    service_kit::telemetry::continue_trace(&span, traceparent);
    span
}

/// How long the events waited after their commit (`event_consumer_delay_seconds`).
fn observed<'a>(labels: Labels, events: impl IntoIterator<Item = &'a Event>) {
    let now = chrono::Utc::now();
    for event in events {
        let delay = (now - event.occurred_at).num_milliseconds().max(0);
        metrics::histogram!("event_consumer_delay_seconds", "stream" => labels.stream, "group" => labels.group)
            .record(delay as f64 / 1000.0);
    }
}

/// `events_consumed_total` by result.
fn counted(labels: Labels, ok: bool, count: u64) {
    let result = if ok { "ok" } else { "retry" };
    metrics::counter!("events_consumed_total", "stream" => labels.stream, "group" => labels.group, "result" => result)
        .increment(count);
}

fn unreadable(labels: Labels, id: &str) {
    tracing::error!(
        id,
        stream = labels.stream,
        group = labels.group,
        "unreadable event dropped"
    );
}
