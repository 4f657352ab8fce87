//! Service-account tokens: JWTs (ES256) signed with a P-256 key kept in the data
//! directory (`cert/sa.key`, created on first start), issued through the
//! `serviceaccounts/<name>/token` subresource and bound to the account's uid. The
//! authenticator checks signature, issuer, audience, lifetime, and that the account
//! still exists with that uid, so deleting it revokes its tokens.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};

/// The issuer (`iss`), which is also the API audience tokens default to.
pub const ISSUER: &str = "https://kubernetes.default.svc";

/// Shortest lifetime a TokenRequest may ask for, as kube-apiserver.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Lifetime when a TokenRequest names none.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("service-account signing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("not a JWT")]
    Malformed,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not this server")]
    Issuer,
    #[error("token audiences do not include this server")]
    Audience,
}

/// The `kubernetes.io` private claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KubeClaims {
    pub namespace: String,
    pub serviceaccount: AccountRef,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountRef {
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubeClaims,
}

/// Signs and verifies service-account tokens.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish()
    }
}

impl TokenSigner {
    /// Loads `<cert_dir>/sa.key` (PKCS#8 PEM), creating it (0600) when missing.
    pub fn load_or_create(cert_dir: &Path) -> Result<TokenSigner, TokenError> {
        Self::open(&cert_dir.join("sa.key"), true)
    }

    /// Loads a key given by the user (replicas of one hub share it); never creates it.
    pub fn load(path: &Path) -> Result<TokenSigner, TokenError> {
        Self::open(path, false)
    }

    fn open(path: &Path, create: bool) -> Result<TokenSigner, TokenError> {
        let key_error = |reason: String| TokenError::Key {
            path: path.display().to_string(),
            reason,
        };
        let pem = match std::fs::read_to_string(path) {
            Ok(pem) => pem,
            Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate().map_err(|e| key_error(e.to_string()))?;
                let pem = key.serialize_pem();
                crate::pki::files::write_private(path, pem.as_bytes())
                    .map_err(|e| key_error(e.to_string()))?;
                pem
            }
            Err(e) => return Err(key_error(e.to_string())),
        };
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| key_error(e.to_string()))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|e| key_error(e.to_string()))?;
        use sha2::Digest;
        let kid = B64.encode(sha2::Sha256::digest(key.public_key().as_ref()));
        Ok(TokenSigner { key, kid, rng })
    }

    /// A token for `namespace/name` (uid `uid`) valid for `seconds` from `now`.
    pub fn issue(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        now: i64,
        seconds: i64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: format!("system:serviceaccount:{namespace}:{name}"),
            aud: if audiences.is_empty() {
                vec![ISSUER.into()]
            } else {
                audiences
            },
            exp: now + seconds,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubeClaims {
                namespace: namespace.into(),
                serviceaccount: AccountRef {
                    name: name.into(),
                    uid: uid.into(),
                },
            },
        };
        let header = serde_json::json!({"alg": "ES256", "kid": self.kid});
        let body = serde_json::to_vec(&claims).map_err(|_| TokenError::Malformed)?;
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string().as_bytes()),
            B64.encode(body)
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Signature)?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }

    /// The claims of a token this server signed, if it is current and meant for it.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Malformed)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::Signature);
        }
        let signature = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let signed = &token[..header_len(token)];
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        )
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Issuer);
        }
        if !claims.aud.iter().any(|a| a == ISSUER) {
            return Err(TokenError::Audience);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        // A minute of leeway for clock skew, as kube's validator allows.
        if now + 60 < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// Length of `<header>.<payload>` in a compact JWT.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_tamper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = TokenSigner::load_or_create(dir.path()).expect("signer");
        let token = signer
            .issue("ns", "robot", "u-1", vec![], 1_000, 3600)
            .expect("issue");
        let claims = signer.verify(&token, 1_001).expect("valid");
        assert_eq!(claims.sub, "system:serviceaccount:ns:robot");
        assert_eq!(claims.kubernetes.serviceaccount.uid, "u-1");
        assert!(matches!(
            signer.verify(&token, 4_600),
            Err(TokenError::Expired)
        ));
        // The same key is reused after a restart.
        let again = TokenSigner::load_or_create(dir.path()).expect("reload");
        assert!(again.verify(&token, 1_001).is_ok());
        // Another server's key does not verify it.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = TokenSigner::load_or_create(other_dir.path()).expect("other");
        assert!(matches!(
            other.verify(&token, 1_001),
            Err(TokenError::Signature)
        ));
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = B64.encode(
            serde_json::to_vec(&Claims {
                sub: "system:serviceaccount:kube-system:admin".into(),
                ..claims
            })
            .expect("json"),
        );
        parts[1] = &forged_claims;
        assert!(signer.verify(&parts.join("."), 1_001).is_err());
        assert!(matches!(
            signer.verify("a.b", 0),
            Err(TokenError::Malformed)
        ));
        assert!(signer.verify("", 0).is_err());
        let foreign_aud = signer
            .issue("ns", "robot", "u-1", vec!["vault".into()], 1_000, 3600)
            .expect("issue");
        assert!(matches!(
            signer.verify(&foreign_aud, 1_001),
            Err(TokenError::Audience)
        ));
    }
}
