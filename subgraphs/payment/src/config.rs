//! The payment subgraph's own settings; what every subgraph shares is
//! `service_kit::ServiceConfig`.

use std::time::Duration;

use service_kit::config::{MallEnv, SubgraphSettings, env_parse, secret_from_env};

/// The development value of `PAYMENT_WEBHOOK_SECRET` (public: never deploy with it).
pub const DEV_PAYMENT_WEBHOOK_SECRET: &str = "mall-sandbox-webhook-secret";

/// Each field has an environment variable.
#[derive(Clone, Debug)]
pub struct PaymentSettings {
    /// `PAYMENT_TTL_SECONDS` (default 900): how long a payment may stay open at the gateway.
    pub ttl: Duration,
    /// `PAYMENT_WEBHOOK_GRACE_SECONDS` (default 120): how long past its expiry an open
    /// payment waits for the gateway's webhook before it expires (the gateway refuses
    /// decisions after the expiry; a decision made in time may be delivered later). Keep it
    /// below `ORDER_EXPIRY_GRACE_SECONDS`.
    pub webhook_grace: Duration,
    /// `PAYMENT_WEBHOOK_SECRET` (or `_FILE`): the key of the HMAC-SHA256 signature the
    /// payment gateway puts on webhook calls. Unset: a public development value.
    pub webhook_secret: String,
    /// `PAYMENT_GATEWAY_URL`: the sandbox gateway's address as a customer's browser reaches
    /// it (pages at `{it}/sandbox/pay/{reference}`). Unset: the payment subgraph's own
    /// address.
    pub gateway_url: Option<String>,
    /// `PAYMENT_SANDBOX_GATEWAY` (default `true` in development, `false` in production):
    /// whether the payment subgraph serves the sandbox gateway's pages, whose approve button
    /// marks a payment paid without money. Production takes payments from a real gateway
    /// through the signed webhook only.
    pub sandbox_gateway: bool,
}

impl PaymentSettings {
    /// The development defaults.
    pub fn development() -> Self {
        Self {
            ttl: Duration::from_secs(900),
            webhook_grace: Duration::from_secs(120),
            webhook_secret: DEV_PAYMENT_WEBHOOK_SECRET.to_owned(),
            gateway_url: None,
            sandbox_gateway: true,
        }
    }

    /// In production, refuses the public webhook secret and the sandbox gateway.
    pub fn check_deployable(&self, env: MallEnv) -> anyhow::Result<()> {
        if env != MallEnv::Production {
            return Ok(());
        }
        if self.webhook_secret == DEV_PAYMENT_WEBHOOK_SECRET || self.webhook_secret.len() < 32 {
            anyhow::bail!(
                "MALL_ENV=production needs PAYMENT_WEBHOOK_SECRET (or PAYMENT_WEBHOOK_SECRET_FILE): \
                 a secret of at least 32 characters, not the development value"
            );
        }
        if self.sandbox_gateway {
            anyhow::bail!(
                "MALL_ENV=production refuses PAYMENT_SANDBOX_GATEWAY=true: its approve button \
                 marks payments paid without money"
            );
        }
        Ok(())
    }
}

impl SubgraphSettings for PaymentSettings {
    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::development();
        let production = env_parse("MALL_ENV", MallEnv::Development)? == MallEnv::Production;
        Ok(Self {
            ttl: Duration::from_secs(env_parse("PAYMENT_TTL_SECONDS", defaults.ttl.as_secs())?),
            webhook_grace: Duration::from_secs(env_parse(
                "PAYMENT_WEBHOOK_GRACE_SECONDS",
                defaults.webhook_grace.as_secs(),
            )?),
            webhook_secret: secret_from_env("PAYMENT_WEBHOOK_SECRET")?
                .unwrap_or(defaults.webhook_secret),
            gateway_url: std::env::var("PAYMENT_GATEWAY_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            sandbox_gateway: env_parse("PAYMENT_SANDBOX_GATEWAY", !production)?,
        })
    }
}
