//! The public operation list: root fields callable without an access token
//! (`router-config/public-operations.yaml`, or the file named by `PUBLIC_OPERATIONS_FILE`).
//! The router refuses other root fields to anonymous callers before planning, and every
//! subgraph refuses them again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The list in this repository, used when the file is not configured and not on disk (a
/// binary installed without the source tree).
const BUILT_IN: &str = include_str!("../../../router-config/public-operations.yaml");

/// Root fields that need no token, per operation type.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicOperations {
    #[serde(default)]
    query: HashSet<String>,
    #[serde(default)]
    mutation: HashSet<String>,
    #[serde(default)]
    subscription: HashSet<String>,
}

impl PublicOperations {
    /// The configured file, else the repository's file, else the built-in copy of it.
    pub fn load(configured: Option<&Path>) -> anyhow::Result<Self> {
        match configured {
            Some(path) => Self::from_file(path),
            None => {
                let path = default_path();
                if path.exists() {
                    Self::from_file(&path)
                } else {
                    Self::parse(BUILT_IN)
                }
            }
        }
    }

    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the public operation list {} (PUBLIC_OPERATIONS_FILE)",
                path.display()
            )
        })?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the YAML list.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        serde_yaml_ng::from_str(text).context(
            "the public operation list must be a map of query/mutation/subscription to lists of root field names",
        )
    }

    /// Whether the root field `field` of the operation type named `root_type`
    /// (`Query`, `Mutation`, `Subscription`) may be called without a token.
    pub fn allows(&self, root_type: &str, field: &str) -> bool {
        if field.starts_with("__") || field == "_entities" || field == "_service" {
            return true;
        }
        let fields = match root_type {
            "Query" => &self.query,
            "Mutation" => &self.mutation,
            "Subscription" => &self.subscription,
            _ => return true,
        };
        fields.contains(field)
    }
}

/// `router-config/public-operations.yaml` in this repository.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../router-config/public-operations.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_list_opens_browsing_and_sign_in_only() {
        let list = PublicOperations::load(None).unwrap();
        assert!(list.allows("Query", "products"));
        assert!(list.allows("Mutation", "login"));
        assert!(list.allows("Query", "__schema"));
        assert!(list.allows("Query", "_entities"));
        assert!(!list.allows("Query", "me"));
        assert!(!list.allows("Mutation", "banUser"));
        assert!(!list.allows("Subscription", "orderUpdated"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(PublicOperations::parse("queries: [me]").is_err());
    }
}
