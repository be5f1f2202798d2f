//! Logging: `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for production; and the
//! W3C trace context of each request, which the events it causes carry on.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
