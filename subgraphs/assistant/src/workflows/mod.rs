//! What the assistant does: a conversation turn (`turn`: the model, its tool calls through
//! the router, the reply stored in one transaction), the tools (`tools`, `proposals`), the
//! confirmation or decline of a proposal (`actions`), and the per-customer message limit
//! (`limits`).

pub mod actions;
pub mod limits;
pub mod proposals;
pub mod results;
pub mod tools;
pub mod turn;

use service_kit::{DbPool, Redis};

use crate::config::AssistantSettings;
use crate::model::ModelClient;
use crate::peers::RouterClient;

/// What every workflow of the assistant works with (one per process, shared).
#[derive(Clone)]
pub struct Assistant {
    pub db: DbPool,
    pub redis: Redis,
    pub model: ModelClient,
    pub router: RouterClient,
    pub settings: AssistantSettings,
}
