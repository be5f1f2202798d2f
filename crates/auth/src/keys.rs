//! The keys that sign and verify access tokens, and the JWKS that publishes their public
//! halves (for the router and for other replicas).

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use service_kit::config::AuthSettings;

/// The development key in this repository (see `dev-keys/README.md`).
pub const DEV_SIGNING_KEY_PEM: &str = include_str!("../dev-keys/ed25519-dev.pem");

/// The signing key pair and up to one more verification key, each with its key id.
pub struct TokenKeys {
    key_id: String,
    signing: EncodingKey,
    /// `(kid, key)`: the signing key's public half first, then the second key's.
    verifying: Vec<(String, DecodingKey)>,
    jwks: JwkSet,
}

impl TokenKeys {
    /// The configured keys, or the development key (with a warning; refused in production).
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let pem = match &settings.signing_key_pem {
            Some(pem) => pem.as_str(),
            None if settings.production => anyhow::bail!(
                "MALL_ENV=production needs AUTH_SIGNING_KEY or AUTH_SIGNING_KEY_FILE (an \
                 Ed25519 private key in PEM; docs/deploying.md)"
            ),
            None => {
                tracing::warn!(
                    "AUTH_SIGNING_KEY is not set: signing tokens with the public development key"
                );
                DEV_SIGNING_KEY_PEM
            }
        };
        let dev_key = |pem: &str| pem.trim() == DEV_SIGNING_KEY_PEM.trim();
        if settings.production
            && (dev_key(pem)
                || settings
                    .second_key
                    .as_ref()
                    .is_some_and(|(k, _)| dev_key(k)))
        {
            anyhow::bail!(
                "MALL_ENV=production refuses the public development signing key of this repository"
            );
        }
        let mut keys = Self::from_pem(pem, &settings.key_id)?;
        if let Some((pem, kid)) = &settings.second_key {
            if *kid == settings.key_id {
                anyhow::bail!("AUTH_SECOND_KEY_ID must differ from AUTH_KEY_ID ({kid:?})");
            }
            let (jwk, key) = public_half(&signing_key(pem)?, kid)?;
            keys.jwks.keys.push(jwk);
            keys.verifying.push((kid.clone(), key));
        }
        Ok(keys)
    }

    /// Keys from an Ed25519 private key in PEM (PKCS#8).
    pub fn from_pem(pem: &str, key_id: &str) -> anyhow::Result<Self> {
        let signing = signing_key(pem)?;
        let (jwk, verifying) = public_half(&signing, key_id)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            signing,
            verifying: vec![(key_id.to_owned(), verifying)],
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

    /// The verification key for `kid`, if it is one of ours.
    pub(crate) fn verifying(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying
            .iter()
            .find(|(id, _)| id == kid)
            .map(|(_, key)| key)
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

fn invalid(e: jsonwebtoken::errors::Error) -> anyhow::Error {
    anyhow::anyhow!("the access token signing key is not an Ed25519 PEM key: {e}")
}

fn signing_key(pem: &str) -> anyhow::Result<EncodingKey> {
    EncodingKey::from_ed_pem(pem.as_bytes()).map_err(invalid)
}

/// The JWK and verification key of `signing`'s public half, named `kid`.
fn public_half(signing: &EncodingKey, kid: &str) -> anyhow::Result<(Jwk, DecodingKey)> {
    let mut jwk = Jwk::from_encoding_key(signing, Algorithm::EdDSA).map_err(invalid)?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
    let verifying = DecodingKey::from_jwk(&jwk).map_err(invalid)?;
    Ok((jwk, verifying))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND_PEM: &str = include_str!("../dev-keys/ed25519-second.pem");

    fn settings(second: bool, production: bool) -> AuthSettings {
        AuthSettings {
            production,
            second_key: second.then(|| (SECOND_PEM.to_owned(), "k2".to_owned())),
            key_id: "k1".to_owned(),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn a_rotation_verifies_both_keys_signs_with_the_current_one_and_publishes_both() {
        let user = uuid::Uuid::new_v4();
        let session = uuid::Uuid::new_v4();
        let ttl = std::time::Duration::from_secs(60);
        let old = TokenKeys::from_pem(SECOND_PEM, "k2").unwrap();
        let old_token = crate::tokens::issue(&old, user, session, ttl);
        let rotated = TokenKeys::from_settings(&settings(true, false)).unwrap();
        assert_eq!(rotated.key_id(), "k1");
        let new_token = crate::tokens::issue(&rotated, user, session, ttl);
        for token in [&old_token, &new_token] {
            assert_eq!(crate::tokens::verify(&rotated, token).unwrap().sub, user);
        }
        let kids: Vec<_> = rotated
            .jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, ["k1", "k2"]);
        let without_second = TokenKeys::from_settings(&settings(false, false)).unwrap();
        assert!(crate::tokens::verify(&without_second, &old_token).is_err());
    }

    #[test]
    fn production_refuses_the_development_key_and_a_missing_key() {
        let missing = TokenKeys::from_settings(&settings(false, true))
            .err()
            .unwrap();
        assert!(
            missing.to_string().contains("AUTH_SIGNING_KEY"),
            "{missing}"
        );
        let dev = AuthSettings {
            signing_key_pem: Some(DEV_SIGNING_KEY_PEM.to_owned()),
            ..settings(false, true)
        };
        let refused = TokenKeys::from_settings(&dev).err().unwrap();
        assert!(refused.to_string().contains("development"), "{refused}");
        let own = AuthSettings {
            signing_key_pem: Some(SECOND_PEM.to_owned()),
            key_id: "prod-1".to_owned(),
            ..settings(false, true)
        };
        assert!(TokenKeys::from_settings(&own).is_ok());
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
