//! The assistant subgraph's own settings; what every subgraph shares is
//! `service_kit::ServiceConfig` (the router's address among its peers: `ROUTER_URL`).

use std::time::Duration;

use service_kit::config::{MallEnv, SubgraphSettings, env_parse, secret_from_env};

/// Each field has an environment variable.
#[derive(Clone)]
pub struct AssistantSettings {
    /// `ASSISTANT_MODEL_URL`: base URL of an OpenAI-compatible Chat Completions API, e.g.
    /// `https://ark.cn-beijing.volces.com/api/v3` (Volcengine Ark, Doubao models),
    /// `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1` (llama.cpp's server).
    /// Unset: the sandbox model this subgraph serves itself at `/sandbox-model/v1`
    /// (scripted, not a language model; development only).
    pub model_url: Option<String>,
    /// `ASSISTANT_API_KEY` (or `ASSISTANT_API_KEY_FILE`): the endpoint's key.
    pub api_key: Option<String>,
    /// `ASSISTANT_MODEL` (default `sandbox`): the model, or on Ark an endpoint id (`ep-…`).
    pub model: String,
    /// `ASSISTANT_MODEL_TIMEOUT_SECONDS` (default 60): bound of one model call, stream
    /// included.
    pub model_timeout: Duration,
    /// `ASSISTANT_MODEL_MAX_TOKENS` (default 800): longest reply per model call.
    pub max_tokens: u32,
    /// `ASSISTANT_MESSAGES_PER_MINUTE` (default 20): messages a customer may send per
    /// minute, over all their conversations (`RATE_LIMITED` beyond).
    pub messages_per_minute: u32,
    /// `ASSISTANT_TOKEN_BUDGET` (default 60000): prompt and completion tokens one
    /// conversation may spend; beyond, the customer starts a new one (`CONFLICT`).
    pub token_budget: i64,
    /// `ASSISTANT_ACTION_TTL_SECONDS` (default 600): how long a proposal waits for the
    /// customer's confirmation before it is `EXPIRED`.
    pub action_ttl: Duration,
    /// `ASSISTANT_SANDBOX_LATENCY_MILLIS` (default 0): how long the built-in sandbox model
    /// waits before answering (the benchmark's stand-in for a real model's latency).
    pub sandbox_latency: Duration,
}

impl std::fmt::Debug for AssistantSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("AssistantSettings")
            .field("model_url", &self.model_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl AssistantSettings {
    /// The development defaults: the built-in sandbox model.
    pub fn development() -> Self {
        Self {
            model_url: None,
            api_key: None,
            model: crate::sandbox_model::SANDBOX_MODEL_NAME.to_owned(),
            model_timeout: Duration::from_secs(60),
            max_tokens: 800,
            messages_per_minute: 20,
            token_budget: 60_000,
            action_ttl: Duration::from_secs(600),
            sandbox_latency: Duration::ZERO,
        }
    }

    /// In production, refuses the sandbox model: its answers are scripted.
    pub fn check_deployable(&self, env: MallEnv) -> anyhow::Result<()> {
        if env == MallEnv::Production && self.model_url.is_none() {
            anyhow::bail!(
                "MALL_ENV=production needs ASSISTANT_MODEL_URL (an OpenAI-compatible endpoint, \
                 e.g. https://ark.cn-beijing.volces.com/api/v3 with ASSISTANT_MODEL and \
                 ASSISTANT_API_KEY): the built-in sandbox model is scripted, for development"
            );
        }
        Ok(())
    }
}

impl SubgraphSettings for AssistantSettings {
    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::development();
        Ok(Self {
            model_url: std::env::var("ASSISTANT_MODEL_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            api_key: secret_from_env("ASSISTANT_API_KEY")?,
            model: std::env::var("ASSISTANT_MODEL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(defaults.model),
            model_timeout: Duration::from_secs(env_parse(
                "ASSISTANT_MODEL_TIMEOUT_SECONDS",
                defaults.model_timeout.as_secs(),
            )?),
            max_tokens: env_parse("ASSISTANT_MODEL_MAX_TOKENS", defaults.max_tokens)?,
            messages_per_minute: env_parse(
                "ASSISTANT_MESSAGES_PER_MINUTE",
                defaults.messages_per_minute,
            )?,
            token_budget: env_parse("ASSISTANT_TOKEN_BUDGET", defaults.token_budget)?,
            action_ttl: Duration::from_secs(env_parse(
                "ASSISTANT_ACTION_TTL_SECONDS",
                defaults.action_ttl.as_secs(),
            )?),
            sandbox_latency: Duration::from_millis(env_parse(
                "ASSISTANT_SANDBOX_LATENCY_MILLIS",
                0,
            )?),
        })
    }
}
