//! Logging and tracing. Logs: `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for
//! production. Traces: OpenTelemetry over OTLP/HTTP, off by default, on when the standard
//! variables ask for it (`OTEL_TRACES_EXPORTER=otlp`, or an `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_TRACES_SAMPLER_ARG` the sampled share, default
//! 1; `OTEL_SERVICE_NAME`; `OTEL_SDK_DISABLED=true` wins). The spans of the `tracing` crate
//! (a GraphQL request, an internal call, an SQL statement, an event handled) become
//! OpenTelemetry spans, children of the caller's W3C `traceparent`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where and how much to export (see the module's documentation).
#[derive(Clone, Debug)]
pub struct OtlpSettings {
    /// The collector's traces URL (OTLP/HTTP, protobuf), e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    /// Share of traces sampled (0 to 1) where no caller decided; a caller's decision is kept.
    pub sampling: f64,
    pub service_name: String,
}

impl OtlpSettings {
    /// From the standard `OTEL_*` variables; `None` when traces are not asked for. The
    /// service is `OTEL_SERVICE_NAME`, else `douyin-mall`.
    pub fn from_env() -> Option<Self> {
        Self::from_env_for("douyin-mall")
    }

    /// As [`from_env`](Self::from_env), naming the service `service` unless
    /// `OTEL_SERVICE_NAME` does (a subgraph running alone is named after itself).
    pub fn from_env_for(service: &str) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let exporter = var("OTEL_TRACES_EXPORTER");
        if exporter.as_deref().is_some_and(|e| e != "otlp") {
            return None;
        }
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        if exporter.is_none() && endpoint.is_none() {
            return None;
        }
        Some(Self {
            endpoint: endpoint.unwrap_or_else(|| "http://127.0.0.1:4318/v1/traces".to_owned()),
            sampling: var("OTEL_TRACES_SAMPLER_ARG")
                .and_then(|v| v.parse().ok())
                .filter(|v: &f64| (0.0..=1.0).contains(v))
                .unwrap_or(1.0),
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned()),
        })
    }
}

static TRACING: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported (spans that cost something, like one per SQL statement, are
/// only made then).
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// Installs the global subscriber once (logs, and traces when the environment asks for
/// them); later calls (tests) are ignored.
pub fn init() {
    init_with(OtlpSettings::from_env());
}

/// As [`init`], with the trace export given explicitly (tests).
pub fn init_with(otlp: Option<OtlpSettings>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let otel = otlp.and_then(|settings| match tracer_provider(&settings) {
        Ok(provider) => {
            let tracer = provider.tracer("douyin-mall");
            let _ = PROVIDER.set(provider);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
        Err(error) => {
            eprintln!("warning: traces are not exported: {error}");
            None
        }
    });
    let enabled = otel.is_some();
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok()
        && enabled
    {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        TRACING.store(true, Ordering::Relaxed);
    }
}

use tracing_subscriber::Layer as _;

fn tracer_provider(settings: &OtlpSettings) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    // Made on a thread of its own: a blocking client must not be built (or dropped) inside
    // an async runtime, and tests call this from one.
    let client = std::thread::spawn(|| {
        reqwest_blocking::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("building the OTLP client panicked"))??;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(&settings.endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sampling,
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build())
}

/// Exports the spans still buffered (on shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut axum::http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(key.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the trace context in `headers` (a `traceparent`), when traces
/// are exported.
pub fn continue_trace_from_headers(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if tracing_enabled() {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` a child of `traceparent` (a W3C value stored with an event), when traces are
/// exported.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let (true, Some(value)) = (tracing_enabled(), traceparent) {
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            headers.insert("traceparent", value);
        }
        continue_trace_from_headers(span, &headers);
    }
}

/// The `traceparent` of the current span, for an outgoing call (nothing when traces are not
/// exported).
pub fn current_trace_headers() -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    if tracing_enabled() {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut headers));
    }
    headers
}

/// Whether the current span is sampled (exported): spans that cost something to describe,
/// such as an SQL statement's text, are made only then.
pub fn current_span_sampled() -> bool {
    tracing_enabled()
        && tracing::Span::current()
            .context()
            .span()
            .span_context()
            .is_sampled()
}

/// The W3C `traceparent` of `span`, when traces are exported and it has a valid context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if !tracing_enabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// The W3C trace context of the current GraphQL request (its `traceparent` header, or a new
/// root when it came without), in every request's data (`service_kit::http`).
#[derive(Clone, Debug)]
pub struct TraceParent(pub String);

impl TraceParent {
    /// From a `traceparent` header value; a missing or malformed one starts a new trace.
    pub fn from_header(header: Option<&str>) -> Self {
        match header {
            Some(value) if is_traceparent(value) => Self(value.to_owned()),
            _ => {
                let trace: u128 = rand::random();
                let span: u64 = rand::random();
                Self(format!("00-{trace:032x}-{span:016x}-01"))
            }
        }
    }
}

fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 4
        && [2, 32, 16, 2]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_is_kept_or_made() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(TraceParent::from_header(Some(given)).0, given);
        for bad in [None, Some("garbage"), Some("00-xyz-00f067aa0ba902b7-01")] {
            let made = TraceParent::from_header(bad).0;
            assert!(is_traceparent(&made), "{made}");
        }
    }
}
