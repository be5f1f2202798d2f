//! What a tool call gives back: the message for the model, the products and orders the
//! reply refers to, and a proposal.

use serde_json::Value;
use uuid::Uuid;

use crate::domain::actions::ActionKind;
use crate::domain::prompt::tool_error;
use crate::peers::OperationError;

/// What one tool call gave.
#[derive(Default)]
pub struct ToolOutcome {
    /// The tool message for the model.
    pub content: String,
    pub products: Vec<Uuid>,
    pub orders: Vec<Uuid>,
    pub proposal: Option<Proposal>,
}

impl ToolOutcome {
    pub fn error(error: &OperationError) -> Self {
        Self {
            content: tool_error(&error.code, &error.message),
            ..Self::default()
        }
    }
}

/// An id the API returned.
pub fn parse_id(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|id| Uuid::parse_str(id).ok())
}

/// A proposal ready to be recorded with the reply.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// The action's id, given now so that the model can be told it.
    pub id: Uuid,
    pub kind: ActionKind,
    /// What will happen, in words.
    pub summary: String,
    /// The operation's variables (see `workflows::actions`).
    pub request: Value,
}
