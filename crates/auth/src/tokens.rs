//! Access tokens: short-lived EdDSA JWTs that name the user and the session. They carry no
//! permissions, so that role changes apply on the next request.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::TokenKeys;

/// `iss` and `aud` of every access token.
pub const ISSUER: &str = "douyin-mall";

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    /// The session (login) the token belongs to; revoking it kills the token.
    pub sid: Uuid,
    /// Unique token id.
    pub jti: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token was refused. The message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRejected(pub &'static str);

/// Signs an access token for `user` in `session`, valid for `ttl`.
pub fn issue(keys: &TokenKeys, user: Uuid, session: Uuid, ttl: Duration) -> String {
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        sub: user,
        sid: session,
        jti: Uuid::new_v4(),
        iss: ISSUER.to_owned(),
        aud: ISSUER.to_owned(),
        iat: now,
        nbf: now,
        exp: now + ttl.as_secs() as i64,
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.key_id().to_owned());
    jsonwebtoken::encode(&header, &claims, keys.signing()).expect("an Ed25519 key always signs")
}

/// Checks signature, algorithm, key id, issuer, audience and time window.
pub fn verify(keys: &TokenKeys, token: &str) -> Result<AccessClaims, TokenRejected> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenRejected("malformed access token"))?;
    // Only EdDSA: a token that names another algorithm (`none`, HS256 with the public key
    // as secret, ...) is refused before any key is used.
    if header.alg != Algorithm::EdDSA {
        return Err(TokenRejected("access token uses an unsupported algorithm"));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.verifying(kid))
        .ok_or(TokenRejected("access token is signed by an unknown key"))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = 5;
    jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            TokenRejected(match e.kind() {
                ErrorKind::ExpiredSignature => "access token has expired",
                ErrorKind::ImmatureSignature => "access token is not valid yet",
                ErrorKind::InvalidSignature => "access token signature is invalid",
                _ => "invalid access token",
            })
        })
}
