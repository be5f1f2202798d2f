//! How a consumer's handler takes the events of one read (or one claim of pending
//! entries): one at a time, a few at once ([`EachEvent`]), or all together ([`Batches`]).
//! Either way the consumer acknowledges the entries handled with one `XACK` per read.

use std::future::Future;

use crate::Event;

/// One entry read from the stream: its id, and its event (`None`: unreadable).
pub(super) struct Read {
    pub id: String,
    pub event: Option<Event>,
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

/// A handler of one event at a time, `concurrency` of them at once (in stream order when
/// it is 1).
pub(super) struct EachEvent<H> {
    pub handler: H,
    pub concurrency: usize,
}

impl<H, F> Handler for EachEvent<H>
where
    H: Fn(Event) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    async fn handle(&self, labels: Labels, mut reads: Vec<Read>) -> Handled {
        let mut done = Vec::with_capacity(reads.len());
        while !reads.is_empty() {
            let rest = reads.split_off(self.concurrency.min(reads.len()));
            let chunk = std::mem::replace(&mut reads, rest);
            let handled = futures::future::join_all(chunk.into_iter().map(|read| async move {
                let Some(event) = read.event else {
                    unreadable(labels, &read.id);
                    return Some(read.id);
                };
                observed(labels, &[&event]);
                let span = event_span(labels, &event.name, event.traceparent.as_deref());
                let (name, id) = (event.name.clone(), event.id);
                let handled =
                    tracing::Instrument::instrument((self.handler)(event), span).await;
                counted(labels, handled.is_ok(), 1);
                match handled {
                    Ok(()) => Some(read.id),
                    Err(error) => {
                        tracing::warn!(%error, event = %name, %id, "event handler failed; it will be retried");
                        None
                    }
                }
            }))
            .await;
            done.extend(handled.into_iter().flatten());
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
        let mut events = Vec::with_capacity(reads.len());
        for read in reads {
            match read.event {
                Some(event) => events.push((read.id, event)),
                None => {
                    unreadable(labels, &read.id);
                    done.push(read.id);
                }
            }
        }
        if events.is_empty() {
            return Handled {
                done,
                alone: Vec::new(),
            };
        }
        observed(labels, &events.iter().map(|(_, e)| e).collect::<Vec<_>>());
        // One event alone continues the trace of the request that caused it; a batch has
        // its own span (each event's trace continues in what the handler writes).
        let span = match events.as_slice() {
            [(_, event)] => event_span(labels, &event.name, event.traceparent.as_deref()),
            _ => tracing::info_span!(
                "events",
                otel.name = %format!("{} handles {} events", labels.group, events.len()),
                count = events.len(),
                stream = %labels.stream,
                group = %labels.group,
            ),
        };
        let batch = events.iter().map(|(_, event)| event.clone()).collect();
        let handled = tracing::Instrument::instrument((self.handler)(batch), span).await;
        counted(labels, handled.is_ok(), events.len() as u64);
        let mut alone = Vec::new();
        match handled {
            Ok(()) => done.extend(events.into_iter().map(|(id, _)| id)),
            Err(error) if events.len() == 1 => {
                let event = &events[0].1;
                tracing::warn!(%error, event = %event.name, id = %event.id, "event handler failed; it will be retried");
            }
            Err(error) => {
                tracing::warn!(%error, count = events.len(), "event batch failed; handling its events one at a time");
                alone.extend(events.into_iter().map(|(id, event)| Read {
                    id,
                    event: Some(event),
                }));
            }
        }
        Handled { done, alone }
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
fn observed(labels: Labels, events: &[&Event]) {
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
