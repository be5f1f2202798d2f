//! Who is calling: anonymous, or a user in a live session with the permission entries of
//! their roles. Every resolver and guard asks the [`Caller`] in the request data.

use std::sync::Arc;

use async_graphql::Context;
use service_kit::ApiError;
use uuid::Uuid;

use crate::policy::{OwnedRecord, Policy, Principal};

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Role names, as currently assigned.
    pub roles: Vec<String>,
    /// Permission entries of those roles, as currently defined.
    pub permissions: Vec<String>,
}

/// The caller of one request.
#[derive(Clone)]
pub struct Caller {
    identity: Option<Arc<Identity>>,
    client_ip: Option<String>,
    policy: Policy,
}

impl Caller {
    pub(crate) fn new(
        identity: Option<Identity>,
        client_ip: Option<String>,
        policy: Policy,
    ) -> Self {
        Self {
            identity: identity.map(Arc::new),
            client_ip,
            policy,
        }
    }

    /// A signed-in caller whose identity was checked before ([`crate::sessions`]).
    pub(crate) fn checked(
        identity: Arc<Identity>,
        client_ip: Option<String>,
        policy: Policy,
    ) -> Self {
        Self {
            identity: Some(identity),
            client_ip,
            policy,
        }
    }

    /// The signed-in user, shared.
    pub(crate) fn identity_arc(&self) -> Option<Arc<Identity>> {
        self.identity.clone()
    }

    /// The signed-in user, if any.
    pub fn identity_opt(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// The signed-in user, or `UNAUTHENTICATED`.
    pub fn identity(&self) -> Result<&Identity, ApiError> {
        self.identity_opt().ok_or_else(|| {
            ApiError::Unauthenticated("sign in first: this needs an access token".into())
        })
    }

    /// The signed-in user's id, or `UNAUTHENTICATED`.
    pub fn user_id(&self) -> Result<Uuid, ApiError> {
        self.identity().map(|identity| identity.user_id)
    }

    /// The client's address as the router saw it.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    fn actor(identity: &Identity) -> Principal {
        Principal {
            user_id: identity.user_id.to_string(),
            permissions: identity.permissions.clone(),
        }
    }

    /// Whether the caller holds `permission` (evaluated by the oso policy).
    pub fn may(&self, permission: &str) -> bool {
        self.identity_opt()
            .is_some_and(|identity| self.policy.may_perform(&Self::actor(identity), permission))
    }

    /// The signed-in user if they hold `permission`; `UNAUTHENTICATED` or `FORBIDDEN`.
    pub fn require(&self, permission: &str) -> Result<&Identity, ApiError> {
        let identity = self.identity()?;
        if self.policy.may_perform(&Self::actor(identity), permission) {
            Ok(identity)
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the permission {permission}"
            )))
        }
    }

    /// Whether the caller may read a record of `owner`: they are the owner, or hold
    /// `permission`.
    pub fn may_read_owned(&self, owner: Uuid, permission: &str) -> bool {
        self.identity_opt().is_some_and(|identity| {
            self.policy.may_read(
                &Self::actor(identity),
                OwnedRecord {
                    owner_id: owner.to_string(),
                    permission: permission.to_owned(),
                },
            )
        })
    }

    /// `Ok` when [`Self::may_read_owned`]; `UNAUTHENTICATED` or `FORBIDDEN` otherwise.
    pub fn require_owner_or(&self, owner: Uuid, permission: &str) -> Result<(), ApiError> {
        self.identity()?;
        if self.may_read_owned(owner, permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only its owner or a holder of {permission} may see this"
            )))
        }
    }
}

/// `ctx.caller()` in resolvers.
pub trait CallerExt {
    /// The request's caller (anonymous when the subgraph was built without access data,
    /// which only happens in schema-level tests).
    fn caller(&self) -> &Caller;
}

impl CallerExt for Context<'_> {
    fn caller(&self) -> &Caller {
        self.data::<Caller>()
            .expect("every subgraph request carries a Caller (auth::Access::request_data)")
    }
}
