//! The order subgraph's own settings; what every subgraph shares (event and sweep timings
//! included) is `service_kit::ServiceConfig`.

use std::time::Duration;

use service_kit::config::{SubgraphSettings, env_parse};

/// Timings of checkout and order expiry. Each field has an environment variable.
#[derive(Clone, Debug)]
pub struct OrderSettings {
    /// `ORDER_PAYMENT_TTL_SECONDS`: how long an order waits for payment (default 900).
    pub payment_ttl: Duration,
    /// `CHECKOUT_ABANDON_AFTER_SECONDS`: a checkout that reserved stock but did not create
    /// its order within this time (the process died) is abandoned and its stock released
    /// (default 30).
    pub abandon_after: Duration,
    /// `ORDER_EXPIRY_GRACE_SECONDS`: how long past its `expiresAt` an unpaid order waits
    /// before it expires (default 180), so that a payment approved at the gateway in time,
    /// whose webhook or event comes late, still pays it. No new payment starts in it.
    pub expiry_grace: Duration,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            payment_ttl: Duration::from_secs(900),
            abandon_after: Duration::from_secs(30),
            expiry_grace: Duration::from_secs(180),
        }
    }
}

impl SubgraphSettings for OrderSettings {
    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        let seconds = |name: &str, default: Duration| {
            env_parse(name, default.as_secs()).map(Duration::from_secs)
        };
        Ok(Self {
            payment_ttl: seconds("ORDER_PAYMENT_TTL_SECONDS", defaults.payment_ttl)?,
            abandon_after: seconds("CHECKOUT_ABANDON_AFTER_SECONDS", defaults.abandon_after)?,
            expiry_grace: seconds("ORDER_EXPIRY_GRACE_SECONDS", defaults.expiry_grace)?,
        })
    }
}
