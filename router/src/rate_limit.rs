//! The `mall_rate_limit` router plugin: three levels of rate limits, configured in one file
//! (`router-config/rate-limits.yaml`), checked after parsing and before planning.
//!
//! 1. Per operation name, per router instance: in-memory token buckets (`governor`).
//! 2. Per client address, across router replicas: GCRA state in Redis.
//! 3. Per user for expensive root fields (checkout, payments, flash-sale purchases, sign-in
//!    …), across replicas, also in Redis; anonymous callers by address.
//!
//! Levels 2 and 3 are checked and counted by a Lua script (`rate_limit/gcra.lua`), the
//! address first and then the caller's per-user limits, one call each over keys of one hash
//! tag (Redis Cluster): a request the address refuses is not counted per user. Over a
//! limit the answer is HTTP 429, `RATE_LIMITED`, `extensions.retryAfterSeconds` and
//! `extensions.limit` (the level). Redis failing: fail open, except for the root fields
//! listed in `fail_closed` (UNAVAILABLE). Subscriptions are not limited here (a single
//! response cannot reach an SSE client in hive-router 0.2.19; see `access.rs`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use hive_router::PlanExecutionOutput;
use hive_router::async_trait;
use hive_router::executor::execution::client_request_details::JwtRequestDetails;
use hive_router::executor::hooks::on_graphql_analysis::{
    OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult,
};
use hive_router::executor::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugin_trait::RouterPlugin;
use hive_router::query_planner::ast::selection_item::SelectionItem;
use redis_connect::{Connection, Timeouts, Topology};
use serde::Deserialize;

use crate::access::CLIENT_IP_HEADER;

static GCRA: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("rate_limit/gcra.lua")));

/// A rate: `per_second` sustained (fractions allowed), `burst` at once.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    fn check(&self, what: &str) -> Result<(), String> {
        if !(self.per_second > 0.0 && self.per_second.is_finite()) || self.burst == 0 {
            return Err(format!(
                "{what}: per_second must be above 0 and burst at least 1"
            ));
        }
        Ok(())
    }

    /// Milliseconds between two requests at the sustained rate.
    fn interval_ms(&self) -> f64 {
        1000.0 / self.per_second
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(Duration::from_secs_f64(1.0 / self.per_second))
            .expect("a positive period")
            .allow_burst(burst)
    }
}

/// Level 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerOperation {
    pub default: Rate,
    #[serde(default)]
    pub operations: HashMap<String, Rate>,
}

/// The rate-limit file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    pub per_operation: PerOperation,
    pub per_address: Rate,
    #[serde(default)]
    pub per_user: HashMap<String, Rate>,
    #[serde(default)]
    pub fail_closed: Vec<String>,
}

impl RateLimits {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("rate limits: cannot read {}: {e}", path.display()))?;
        let limits: Self = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("rate limits: {}: {e}", path.display()))?;
        limits
            .per_operation
            .default
            .check("per_operation.default")?;
        for (name, rate) in &limits.per_operation.operations {
            rate.check(&format!("per_operation.operations.{name}"))?;
        }
        limits.per_address.check("per_address")?;
        for (field, rate) in &limits.per_user {
            rate.check(&format!("per_user.{field}"))?;
        }
        Ok(limits)
    }
}

/// `plugins.mall_rate_limit.config` in the router configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallRateLimitConfig {
    /// The rate-limit file, relative to the router configuration file.
    limits: PathBuf,
    /// Redis (`REDIS_URL`), shared with the subgraphs.
    redis_url: String,
    /// Key prefix (`REDIS_PREFIX`), shared with the subgraphs.
    redis_prefix: String,
}

/// Fail fast: a silent Redis must not hold requests up for long. (A 300 ms answer limit
/// refused registrations in a 900-request storm on a busy 2-core machine, with Redis up: 1 s.)
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_millis(300),
    response: Duration::from_secs(1),
    retries: 1,
};

/// See the module documentation.
pub struct MallRateLimit {
    limits: RateLimits,
    default_operations: DefaultKeyedRateLimiter<String>,
    named_operations: HashMap<String, DefaultDirectRateLimiter>,
    redis: Topology,
    /// Opened on first use; replaced when it stops answering (`Connection::is_stuck`).
    connection: std::sync::RwLock<Option<Connection>>,
    opening: tokio::sync::Mutex<()>,
    prefix: String,
}

/// Which limit refused a request, and for how long.
struct Refusal {
    level: &'static str,
    retry_after: Duration,
}

impl MallRateLimit {
    /// Level 1: the operation's bucket on this instance.
    fn per_operation(&self, name: &str) -> Result<(), Refusal> {
        // The limiter's own clock: `DefaultClock::default()` makes a new quanta clock, which
        // reads CPUID and calibrates; once per request it was ~10 % of the router's CPU
        // (`PROFILE=10 cargo bench --bench read_path`).
        let decided = match self.named_operations.get(name) {
            Some(limiter) => limiter
                .check()
                .map_err(|n| n.wait_time_from(limiter.clock().now())),
            None => self
                .default_operations
                .check_key(&name.to_owned())
                .map_err(|n| n.wait_time_from(self.default_operations.clock().now())),
        };
        decided.map_err(|retry_after| Refusal {
            level: "per_operation",
            retry_after,
        })
    }

    /// The kept connection, unless it stopped answering.
    fn kept(&self) -> Option<Connection> {
        let kept = self
            .connection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.as_ref().filter(|conn| !conn.is_stuck()).cloned()
    }

    async fn connection(&self) -> redis::RedisResult<Connection> {
        if let Some(conn) = self.kept() {
            return Ok(conn);
        }
        // One request at a time opens it (a cluster connection is a handshake with every
        // node); the others wait and take what it opened.
        let _opening = self.opening.lock().await;
        if let Some(conn) = self.kept() {
            return Ok(conn);
        }
        let conn = self.redis.shared(TIMEOUTS).await?;
        *self
            .connection
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    /// Levels 2 and 3: the client's address first, then the caller's per-user limits of the
    /// request's fields (counted only if the address allowed it; an address is charged for a
    /// request its per-user limit then refuses). Each is one script call over keys of one
    /// hash tag (the address's; the caller's), so they work on Redis Cluster.
    async fn shared(
        &self,
        address: &str,
        user: Option<&str>,
        fields: &[&str],
    ) -> redis::RedisResult<Result<(), Refusal>> {
        let mut conn = self.connection().await?;
        let mut per_address = GCRA.prepare_invoke();
        per_address
            .key(format!("{}rate:address:{{{address}}}", self.prefix))
            .arg(self.limits.per_address.interval_ms())
            .arg(self.limits.per_address.burst);
        let (refused, wait_ms): (usize, u64) = per_address.invoke_async(&mut conn).await?;
        if refused != 0 {
            return Ok(Err(Refusal {
                level: "per_address",
                retry_after: Duration::from_millis(wait_ms),
            }));
        }
        let caller = user.map_or_else(|| format!("address:{address}"), |u| format!("user:{u}"));
        let mut per_user = GCRA.prepare_invoke();
        let mut limited = false;
        for field in fields {
            if let Some(rate) = self.limits.per_user.get(*field) {
                limited = true;
                per_user
                    .key(format!("{}rate:{{{caller}}}:{field}", self.prefix))
                    .arg(rate.interval_ms())
                    .arg(rate.burst);
            }
        }
        if !limited {
            return Ok(Ok(()));
        }
        let (refused, wait_ms): (usize, u64) = per_user.invoke_async(&mut conn).await?;
        Ok(match refused {
            0 => Ok(()),
            _ => Err(Refusal {
                level: "per_user",
                retry_after: Duration::from_millis(wait_ms),
            }),
        })
    }
}

/// The answer to a refused request.
fn refused(refusal: &Refusal) -> PlanExecutionOutput {
    let seconds = refusal.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!("too many requests ({}): retry in {seconds} s", refusal.level.replace('_', " ")),
            "extensions": { "code": "RATE_LIMITED", "retryAfterSeconds": seconds, "limit": refusal.level },
        }],
    });
    PlanExecutionOutput {
        body: body.to_string().into_bytes(),
        error_count: 1,
        status_code: hive_router::http::StatusCode::TOO_MANY_REQUESTS,
    }
}

fn limiter_unavailable() -> PlanExecutionOutput {
    PlanExecutionOutput {
        body: br#"{"data":null,"errors":[{"message":"the rate limiter is unavailable, try again later","extensions":{"code":"UNAVAILABLE"}}]}"#.to_vec(),
        error_count: 1,
        status_code: hive_router::http::StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The token's subject (the user id), if the request carries an accepted token.
fn user_of(jwt: &JwtRequestDetails) -> Option<String> {
    match jwt {
        JwtRequestDetails::Authenticated { claims, .. } => {
            use sonic_rs::JsonValueTrait as _;
            claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        }
        JwtRequestDetails::Unauthenticated => None,
    }
}

#[async_trait]
impl RouterPlugin for MallRateLimit {
    fn plugin_name() -> &'static str {
        "mall_rate_limit"
    }

    type Config = MallRateLimitConfig;

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let base = std::env::var_os(crate::CONFIG_ENV)
            .map(PathBuf::from)
            .and_then(|file| file.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let limits = RateLimits::load(&base.join(&config.limits))?;
        let named_operations = limits
            .per_operation
            .operations
            .iter()
            .map(|(name, rate)| (name.clone(), governor::RateLimiter::direct(rate.quota())))
            .collect();
        let default_operations = governor::RateLimiter::keyed(limits.per_operation.default.quota());
        let redis = Topology::parse(&config.redis_url, TIMEOUTS)
            .map_err(|e| format!("mall_rate_limit: redis_url: {e}"))?;
        Ok(Some(Self {
            limits,
            default_operations,
            named_operations,
            redis,
            connection: std::sync::RwLock::default(),
            opening: tokio::sync::Mutex::default(),
            prefix: config.redis_prefix,
        }))
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        let details = Arc::clone(&payload.client_request_details);
        if details.operation.kind == "subscription" {
            return OnGraphqlAnalysisHookResult::Proceed;
        }
        let name = details.operation.name.unwrap_or("(anonymous)");
        if let Err(refusal) = self.per_operation(name) {
            return OnGraphqlAnalysisHookResult::EndWithResponse(refused(&refusal));
        }
        let mut fields: Vec<&str> = payload
            .filtered_operation_for_plan
            .selection_set
            .items
            .iter()
            .filter_map(|item| match item {
                SelectionItem::Field(field) => Some(field.name.as_str()),
                _ => None,
            })
            .collect();
        // Aliases of one field count once.
        fields.sort_unstable();
        fields.dedup();
        let address = details
            .headers
            .get(CLIENT_IP_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_owned();
        let user = user_of(&details.jwt);
        match self.shared(&address, user.as_deref(), &fields).await {
            Ok(Ok(())) => OnGraphqlAnalysisHookResult::Proceed,
            Ok(Err(refusal)) => OnGraphqlAnalysisHookResult::EndWithResponse(refused(&refusal)),
            Err(error) => {
                let closed = fields
                    .iter()
                    .any(|field| self.limits.fail_closed.iter().any(|f| f == field));
                eprintln!(
                    "rate limiter: Redis failed ({error}); {}",
                    if closed {
                        "refusing (fail closed)"
                    } else {
                        "letting the request through (fail open)"
                    }
                );
                if closed {
                    OnGraphqlAnalysisHookResult::EndWithResponse(limiter_unavailable())
                } else {
                    OnGraphqlAnalysisHookResult::Proceed
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_file_loads_and_bad_rates_are_refused() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../router-config/rate-limits.yaml");
        let limits = RateLimits::load(&file).expect("router-config/rate-limits.yaml");
        assert!(limits.per_user.contains_key("checkout"));
        assert!(limits.fail_closed.iter().any(|f| f == "login"));
        let dir = std::env::temp_dir().join(format!("rate-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for bad in [
            "per_operation: { default: { per_second: 0, burst: 1 } }\nper_address: { per_second: 1, burst: 1 }",
            "per_operation: { default: { per_second: 1, burst: 1 } }\nper_address: { per_second: 1, burst: 0 }",
            "per_operation: { default: { per_second: 1, burst: 1 } }\nper_address: { per_second: 1, burst: 1 }\nper_usr: {}",
        ] {
            let path = dir.join("bad.yaml");
            std::fs::write(&path, bad).unwrap();
            assert!(RateLimits::load(&path).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_operation_bucket_holds_its_burst_then_says_how_long_to_wait() {
        let rate = Rate {
            per_second: 1.0,
            burst: 3,
        };
        let limiter = governor::RateLimiter::direct(rate.quota());
        assert!((0..3).all(|_| limiter.check().is_ok()));
        assert!(limiter.check().is_err());
    }
}
