//! The keys that sign and verify access tokens, and the JWKS that publishes their public
//! halves (for the router and for other replicas).

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use service_kit::config::AuthSettings;

/// The development key in this repository (see `dev-keys/README.md`).
pub const DEV_SIGNING_KEY_PEM: &str = include_str!("../dev-keys/ed25519-dev.pem");

/// An Ed25519 key pair with its key id.
pub struct TokenKeys {
    key_id: String,
    signing: EncodingKey,
    verifying: DecodingKey,
    jwks: JwkSet,
}

impl TokenKeys {
    /// The configured key, or the development key (with a warning).
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let pem = match &settings.signing_key_pem {
            Some(pem) => pem.as_str(),
            None => {
                tracing::warn!(
                    "AUTH_SIGNING_KEY is not set: signing tokens with the public development key"
                );
                DEV_SIGNING_KEY_PEM
            }
        };
        Self::from_pem(pem, &settings.key_id)
    }

    /// Keys from an Ed25519 private key in PEM (PKCS#8).
    pub fn from_pem(pem: &str, key_id: &str) -> anyhow::Result<Self> {
        let invalid = |e: jsonwebtoken::errors::Error| {
            anyhow::anyhow!("the access token signing key is not an Ed25519 PEM key: {e}")
        };
        let signing = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(invalid)?;
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::EdDSA).map_err(invalid)?;
        jwk.common.key_id = Some(key_id.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        let verifying = DecodingKey::from_jwk(&jwk).map_err(invalid)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            signing,
            verifying,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// The `kid` written into tokens.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn signing(&self) -> &EncodingKey {
        &self.signing
    }

    /// The verification key for `kid`, if it is ours.
    pub(crate) fn verifying(&self, kid: &str) -> Option<&DecodingKey> {
        (kid == self.key_id).then_some(&self.verifying)
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routers_development_jwks_is_the_public_half_of_the_development_key() {
        let keys =
            TokenKeys::from_pem(DEV_SIGNING_KEY_PEM, service_kit::config::DEFAULT_KEY_ID).unwrap();
        let published = serde_json::to_value(keys.jwks()).unwrap();
        let file = include_str!("../../../router-config/jwks.json");
        let checked_in: serde_json::Value = serde_json::from_str(file).unwrap();
        assert_eq!(
            published, checked_in,
            "router-config/jwks.json must match what the user subgraph publishes"
        );
    }

    #[test]
    fn tokens_verify_with_their_key_only() {
        let keys = TokenKeys::from_pem(DEV_SIGNING_KEY_PEM, "k1").unwrap();
        let user = uuid::Uuid::new_v4();
        let session = uuid::Uuid::new_v4();
        let token = crate::tokens::issue(&keys, user, session, std::time::Duration::from_secs(60));
        let claims = crate::tokens::verify(&keys, &token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
        let rotated = TokenKeys::from_pem(DEV_SIGNING_KEY_PEM, "k2").unwrap();
        assert!(
            crate::tokens::verify(&rotated, &token).is_err(),
            "unknown kid"
        );
    }
}
