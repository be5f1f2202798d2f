//! The access policy (`policy/access.polar`) loaded into oso.

use std::sync::Arc;

use oso::{Oso, PolarClass};

use crate::permissions;

/// A signed-in caller as the policy sees it (`Actor` is a name Polar reserves).
#[derive(Clone, PolarClass)]
pub struct Principal {
    #[polar(attribute)]
    pub user_id: String,
    #[polar(attribute)]
    pub permissions: Vec<String>,
}

/// A record owned by a user, readable by the owner or with `permission`.
#[derive(Clone, PolarClass)]
pub struct OwnedRecord {
    #[polar(attribute)]
    pub owner_id: String,
    #[polar(attribute)]
    pub permission: String,
}

/// The loaded policy; cheap to clone.
#[derive(Clone)]
pub struct Policy {
    oso: Arc<Oso>,
}

impl Policy {
    /// Loads `access.polar`.
    pub fn load() -> anyhow::Result<Self> {
        let mut oso = Oso::new();
        oso.register_class(
            Principal::get_polar_class_builder()
                .add_method(
                    "grants",
                    |_: &Principal, entry: String, permission: String| {
                        permissions::grants(&entry, &permission)
                    },
                )
                .build(),
        )?;
        oso.register_class(OwnedRecord::get_polar_class())?;
        oso.load_str(include_str!("../policy/access.polar"))?;
        Ok(Self { oso: Arc::new(oso) })
    }

    /// Whether `actor` may perform an operation that needs `permission`.
    pub fn may_perform(&self, actor: &Principal, permission: &str) -> bool {
        self.ask(actor, "perform", permission.to_owned())
    }

    /// Whether `actor` may read `record`.
    pub fn may_read(&self, actor: &Principal, record: OwnedRecord) -> bool {
        self.ask(actor, "read", record)
    }

    fn ask(&self, actor: &Principal, action: &str, resource: impl oso::ToPolar) -> bool {
        match self
            .oso
            .is_allowed(actor.clone(), action.to_owned(), resource)
        {
            Ok(allowed) => allowed,
            Err(error) => {
                // A policy error denies: failing closed is the only safe answer.
                tracing::error!(%error, "access policy evaluation failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(permissions: &[&str]) -> Principal {
        Principal {
            user_id: "u1".into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn permissions_come_from_entries() {
        let policy = Policy::load().unwrap();
        assert!(policy.may_perform(&actor(&["*"]), "users:ban"));
        assert!(policy.may_perform(
            &actor(&["users:read", "catalog:*"]),
            "catalog:product:write"
        ));
        assert!(policy.may_perform(&actor(&["re:^users:(read|ban)$"]), "users:ban"));
        assert!(!policy.may_perform(&actor(&["re:^users:(read|ban)$"]), "roles:write"));
        assert!(!policy.may_perform(&actor(&[]), "users:read"));
    }

    #[test]
    fn owners_and_permission_holders_read_records() {
        let policy = Policy::load().unwrap();
        let record = || OwnedRecord {
            owner_id: "u1".into(),
            permission: "users:read".into(),
        };
        assert!(policy.may_read(&actor(&[]), record()));
        let stranger = Principal {
            user_id: "u2".into(),
            permissions: vec![],
        };
        assert!(!policy.may_read(&stranger, record()));
        let admin = Principal {
            user_id: "u3".into(),
            permissions: vec!["users:*".into()],
        };
        assert!(policy.may_read(&admin, record()));
    }
}
