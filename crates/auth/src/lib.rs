//! Identity and access for every subgraph.
//!
//! - Access tokens are EdDSA JWTs naming a user and a session ([`tokens`]); the router
//!   checks them against the JWKS, and every subgraph checks them again here.
//! - One Redis round trip ([`records`]) tells whether the session is live (an allow-list
//!   written at sign-in), whether the user is banned, and the user's current roles and
//!   their permission entries. Each process holds what it read in memory ([`sessions`]),
//!   kept exact by the `access` stream's notices: revocations, bans and role changes
//!   refuse the next request after their notice, in every subgraph, without a new login.
//! - Permissions are decided by the oso policy in `policy/access.polar` ([`policy`]), used
//!   through [`Caller`] and the field [`guards`].
//! - Root fields not on the public list ([`PublicOperations`]) need a token.

pub mod caller;
pub mod guards;
pub mod keys;
pub mod live;
pub mod permissions;
pub mod policy;
pub mod records;
pub mod sessions;
pub mod tokens;

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{Data, ErrorExtensions as _, PathSegment, ServerError, ServerResult, Value};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chrono::Utc;
use futures::FutureExt as _;
use service_kit::config::AuthSettings;
use service_kit::http::RequestData;
use service_kit::{ApiError, Redis};
use sessions::SessionCache;
use tokens::AccessClaims;

pub use caller::{Caller, CallerExt, Identity};
pub use guards::{OwnerOnly, OwnerOr, RequirePermission};
pub use keys::TokenKeys;
pub use policy::Policy;
pub use public_operations::PublicOperations;

/// The header in which the router tells subgraphs the client's address (it overwrites
/// whatever the client sent under that name).
pub const CLIENT_IP_HEADER: &str = "x-mall-client-ip";

/// Authenticates requests and holds what access decisions need. One per subgraph process.
pub struct Access {
    keys: TokenKeys,
    redis: Redis,
    policy: Policy,
    public: Arc<PublicOperations>,
    settings: AuthSettings,
    /// Tokens whose signature this process checked, with their claims: the Ed25519 check
    /// is most of what authenticating a request costs, and a client sends the same token
    /// until it expires. Expiry is checked again on every use, and the session on every
    /// request (Redis), as for a token seen for the first time.
    verified: std::sync::Mutex<std::collections::HashMap<String, AccessClaims>>,
    /// Sessions checked in Redis, held until a notice names them ([`sessions`]).
    sessions: Arc<SessionCache>,
}

/// Checked tokens remembered at most (the memory is cleared when full: ~6 MB).
const VERIFIED_TOKENS: usize = 10_000;

impl Access {
    /// Loads keys, policy and the public operation list; inside a Tokio runtime, starts
    /// following the `access` stream for the session cache.
    pub fn new(settings: &AuthSettings, redis: Redis) -> anyhow::Result<Arc<Self>> {
        let sessions = SessionCache::new(settings.session_cache);
        if tokio::runtime::Handle::try_current().is_ok() {
            sessions.follow(redis.clone());
        }
        Ok(Arc::new(Self {
            keys: TokenKeys::from_settings(settings)?,
            redis,
            policy: Policy::load()?,
            public: Arc::new(PublicOperations::load(
                settings.public_operations_file.as_deref(),
            )?),
            settings: settings.clone(),
            verified: Default::default(),
            sessions,
        }))
    }

    /// The claims of `token`: remembered if its signature was checked before and it has not
    /// expired, else checked now (and remembered when valid).
    fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let now = Utc::now().timestamp();
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|verified| verified.get(token).cloned());
        if let Some(claims) = remembered.filter(|claims| claims.exp > now) {
            return Ok(claims);
        }
        let claims = tokens::verify(&self.keys, token)
            .map_err(|rejected| ApiError::Unauthenticated(rejected.0.into()))?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The sessions this process holds as checked (the writer of a change forgets its own
    /// copy at once, before the notice comes back).
    pub fn sessions(&self) -> &SessionCache {
        &self.sessions
    }

    /// An anonymous caller (for internal use and tests).
    pub fn anonymous(&self) -> Caller {
        Caller::new(None, None, self.policy.clone())
    }

    /// The caller of a request with these headers. No `Authorization` header: anonymous.
    /// A token that is malformed, badly signed, expired, not yet valid, of a revoked
    /// session or of a banned user: `UNAUTHENTICATED`.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let client_ip = headers
            .get(CLIENT_IP_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(Caller::new(None, client_ip, self.policy.clone()));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "the Authorization header must be `Bearer <access token>`".into(),
                )
            })?;
        let claims = self.verify(token)?;
        if let Some(identity) = self.sessions.get(claims.sid, claims.sub) {
            return Ok(Caller::checked(identity, client_ip, self.policy.clone()));
        }
        let ticket = self.sessions.ticket();
        let (caller, state) = self
            .caller_in_session(claims.sub, claims.sid, client_ip)
            .await?;
        // Permissions read without the roles' record (Redis lost it) are not kept.
        if let (Some(identity), true) = (caller.identity_arc(), state.roles_found) {
            self.sessions.keep(ticket, identity, state.session_ttl);
        }
        Ok(caller)
    }

    /// The caller `identity` is now: its session still live, its user not banned, with
    /// the roles and permissions they hold now. For long-lived work started with a checked
    /// token (a subscription), which must stop when the session ends: always read from
    /// Redis (a subscription may be told of a notice before this process's copy is).
    pub async fn reauthenticate(
        &self,
        identity: &Identity,
        client_ip: Option<String>,
    ) -> Result<Caller, ApiError> {
        self.caller_in_session(identity.user_id, identity.session_id, client_ip)
            .await
            .map(|(caller, _)| caller)
    }

    /// The caller from Redis, with what else the read found (what is left of the session,
    /// whether the roles' record was there).
    async fn caller_in_session(
        &self,
        user_id: uuid::Uuid,
        session_id: uuid::Uuid,
        client_ip: Option<String>,
    ) -> Result<(Caller, records::SessionFound), ApiError> {
        let state = records::load(&self.redis, user_id, session_id).await?;
        if !state.live {
            return Err(ApiError::Unauthenticated(
                "this session has been signed out or has expired: sign in again".into(),
            ));
        }
        let user = state.user.ok_or_else(|| {
            ApiError::Unauthenticated(
                "this session is no longer valid: refresh the token or sign in again".into(),
            )
        })?;
        if let Some(ban) = user.ban.as_ref().filter(|ban| ban.in_force(Utc::now())) {
            return Err(ApiError::Unauthenticated(ban.message()));
        }
        let permissions = user
            .roles
            .iter()
            .filter_map(|role| state.roles.get(role))
            .flatten()
            .cloned()
            .collect();
        let identity = Identity {
            user_id,
            session_id,
            roles: user.roles,
            permissions,
        };
        Ok((
            Caller::new(Some(identity), client_ip, self.policy.clone()),
            records::SessionFound {
                session_ttl: state.session_ttl,
                roles_found: state.roles_found,
            },
        ))
    }

    /// The per-request hook of [`service_kit::http::subgraph_router`]: authenticates the
    /// caller, then lets `fill` add the subgraph's own data (its DataLoaders).
    pub fn request_data(
        self: &Arc<Self>,
        fill: impl Fn(&mut Data) + Send + Sync + 'static,
    ) -> RequestData {
        let access = self.clone();
        let fill = Arc::new(fill);
        Arc::new(move |headers: HeaderMap| {
            let access = access.clone();
            let fill = fill.clone();
            async move {
                let caller = access.authenticate(&headers).await?;
                let mut data = Data::default();
                data.insert(caller);
                fill(&mut data);
                Ok(data)
            }
            .boxed()
        })
    }

    /// Schema extension that refuses root fields off the public list to anonymous callers.
    pub fn root_field_guard(&self) -> PublicRootFields {
        PublicRootFields(self.public.clone())
    }
}

/// See [`Access::root_field_guard`].
pub struct PublicRootFields(Arc<PublicOperations>);

impl ExtensionFactory for PublicRootFields {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PublicRootFieldsExtension(self.0.clone()))
    }
}

struct PublicRootFieldsExtension(Arc<PublicOperations>);

#[async_trait::async_trait]
impl Extension for PublicRootFieldsExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let is_root = info.path_node.parent.is_none();
        if is_root && !self.0.allows(info.parent_type, info.name) {
            let anonymous = ctx
                .data_opt::<Caller>()
                .is_none_or(|caller| caller.identity_opt().is_none());
            if anonymous {
                let error = ApiError::Unauthenticated(format!(
                    "sign in first: `{}` needs an access token",
                    info.name
                ));
                let extended = async_graphql::Error::from(error).extend();
                return Err(ServerError {
                    message: extended.message,
                    source: None,
                    locations: vec![info.field.name.pos],
                    path: vec![PathSegment::Field(
                        info.alias.unwrap_or(info.name).to_owned(),
                    )],
                    extensions: extended.extensions,
                });
            }
        }
        next.run(ctx, info).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_a_forged_one_is_never_remembered() {
        let settings = AuthSettings::default();
        let redis = Redis::connect_lazy("redis://127.0.0.1:1", "test:", 1).unwrap();
        let access = Access::new(&settings, redis).unwrap();
        let (user, session) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let token = tokens::issue(access.keys(), user, session, Duration::from_secs(60));
        assert_eq!(access.verify(&token).unwrap().sub, user);
        assert!(access.verified.lock().unwrap().contains_key(&token));
        // What is remembered is used only before its expiry: a remembered entry for a
        // string that is no token at all is accepted while unexpired (proof the signature
        // check was skipped), and checked afresh (and refused) once expired.
        let mut claims = access.verify(&token).unwrap();
        access
            .verified
            .lock()
            .unwrap()
            .insert("remembered".into(), claims.clone());
        assert!(access.verify("remembered").is_ok());
        claims.exp = Utc::now().timestamp() - 1;
        access
            .verified
            .lock()
            .unwrap()
            .insert("remembered".into(), claims);
        assert!(
            access.verify("remembered").is_err(),
            "an expired entry was used"
        );
        // A token with a tampered signature is refused, every time, and never remembered.
        // (A character in the middle of the signature: every bit of it counts.)
        let middle = token.rfind('.').unwrap() + 20;
        let mut forged = token.clone();
        let swapped = if &token[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        forged.replace_range(middle..=middle, swapped);
        for _ in 0..2 {
            assert!(access.verify(&forged).is_err());
        }
        assert!(!access.verified.lock().unwrap().contains_key(&forged));
    }
}
