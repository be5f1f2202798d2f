//! async-graphql guards backed by the access policy. On a nullable field a denial gives
//! `null` for that field plus a `FORBIDDEN` error with its path; the rest of the response
//! is intact.

use async_graphql::{Context, Guard, Result};
use uuid::Uuid;

use crate::CallerExt as _;

/// The field needs `permission`.
pub struct RequirePermission(pub &'static str);

impl Guard for RequirePermission {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        ctx.caller().require(self.0)?;
        Ok(())
    }
}

/// The field is readable by the record's owner, or with `permission`.
pub struct OwnerOr {
    owner: Uuid,
    permission: &'static str,
    granted: bool,
}

impl OwnerOr {
    pub fn new(owner: Uuid, permission: &'static str) -> Self {
        Self {
            owner,
            permission,
            granted: false,
        }
    }

    /// Also allows when `granted` (the resolver already knows the caller is the owner, e.g.
    /// the user `login` just signed in).
    pub fn or_if(self, granted: bool) -> Self {
        Self { granted, ..self }
    }
}

impl Guard for OwnerOr {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if self.granted {
            return Ok(());
        }
        ctx.caller().require_owner_or(self.owner, self.permission)?;
        Ok(())
    }
}

/// The field is readable by the record's owner only.
pub struct OwnerOnly {
    owner: Uuid,
    granted: bool,
}

impl OwnerOnly {
    pub fn new(owner: Uuid) -> Self {
        Self {
            owner,
            granted: false,
        }
    }

    /// Also allows when `granted` (see [`OwnerOr::or_if`]).
    pub fn or_if(self, granted: bool) -> Self {
        Self { granted, ..self }
    }
}

impl Guard for OwnerOnly {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if self.granted {
            return Ok(());
        }
        let caller = ctx.caller();
        if caller.user_id()? == self.owner {
            Ok(())
        } else {
            Err(service_kit::ApiError::Forbidden("only its owner may see this".into()).into())
        }
    }
}
