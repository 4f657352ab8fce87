//! Authentication, in kube-apiserver's order, on one port: a client certificate signed by
//! the hub CA, then a bearer token (a bootstrap token, else a service-account token), else
//! anonymous. Credentials that are presented but invalid are a 401, never a fallback to
//! anonymous. Decisions are logged at debug level with the user; tokens never are.

use std::sync::Arc;

use axum::http::HeaderMap;
use serde_json::Value;

use super::token::TokenSigner;
use super::user::CertStatus;
use crate::api::user::UserInfo;
use crate::registry::Registry;

/// Why a request is not authenticated (the client sees only `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    #[error("invalid client certificate: {0}")]
    Certificate(String),
    #[error("invalid bearer token: {0}")]
    Token(&'static str),
}

/// The authenticators, sharing the registry (bootstrap Secrets, ServiceAccounts), and the
/// hosting cluster when authentication is delegated to it.
#[derive(Clone)]
pub struct Authenticator {
    registry: Registry,
    signer: Arc<TokenSigner>,
    delegate: Option<Arc<super::delegate::Delegate>>,
}

const BOOTSTRAP_TYPE: &str = "bootstrap.kubernetes.io/token";

impl Authenticator {
    pub fn new(registry: Registry, signer: Arc<TokenSigner>) -> Authenticator {
        Authenticator {
            registry,
            signer,
            delegate: None,
        }
    }

    /// Tokens the hub did not issue are reviewed by the hosting cluster.
    pub fn with_delegate(mut self, delegate: Arc<super::delegate::Delegate>) -> Authenticator {
        self.delegate = Some(delegate);
        self
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Who is making a request.
    pub async fn authenticate(
        &self,
        cert: &CertStatus,
        headers: &HeaderMap,
    ) -> Result<UserInfo, AuthnError> {
        match cert {
            CertStatus::Valid(user) => return Ok(user.clone().authenticated()),
            CertStatus::Invalid(reason) => return Err(AuthnError::Certificate(reason.clone())),
            CertStatus::None => {}
        }
        let Some(token) = bearer(headers)? else {
            return Ok(UserInfo::anonymous());
        };
        let user = match split_bootstrap(token) {
            Some((id, secret)) => self.bootstrap(id, secret).await?,
            None => match (self.service_account(token).await, &self.delegate) {
                (Ok(user), _) => user,
                (Err(_), Some(delegate)) => match delegate.review(token).await {
                    Ok(Some(user)) => user,
                    Ok(None) => return Err(AuthnError::Token("rejected by the hosting cluster")),
                    Err(e) => {
                        tracing::warn!(error = %e, "delegated token review failed");
                        return Err(AuthnError::Token("the hosting cluster could not review it"));
                    }
                },
                (Err(e), None) => return Err(e),
            },
        };
        Ok(user.authenticated())
    }

    /// A bootstrap token `<id>.<secret>` backed by `kube-system/bootstrap-token-<id>`.
    async fn bootstrap(&self, id: &str, secret: &str) -> Result<UserInfo, AuthnError> {
        let Some(kind) = self.registry.catalog().find_resource("", "secrets") else {
            return Err(AuthnError::Token("no secrets"));
        };
        let stored = self
            .registry
            .get(&kind, Some("kube-system"), &format!("bootstrap-token-{id}"))
            .await
            .map_err(|_| AuthnError::Token("unknown bootstrap token"))?;
        check_bootstrap_secret(&stored, id, secret, now())
    }

    /// A service-account JWT this server signed, whose account still exists with the
    /// same uid.
    async fn service_account(&self, token: &str) -> Result<UserInfo, AuthnError> {
        let claims = self
            .signer
            .verify(token, now())
            .map_err(|e| AuthnError::Token(token_reason(&e)))?;
        let account = &claims.kubernetes;
        let Some(kind) = self.registry.catalog().find_resource("", "serviceaccounts") else {
            return Err(AuthnError::Token("no service accounts"));
        };
        let stored = self
            .registry
            .get(
                &kind,
                Some(&account.namespace),
                &account.serviceaccount.name,
            )
            .await
            .map_err(|_| AuthnError::Token("the service account no longer exists"))?;
        let uid = stored.pointer("/metadata/uid").and_then(Value::as_str);
        if uid != Some(account.serviceaccount.uid.as_str())
            || stored.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Err(AuthnError::Token(
                "the service account was replaced or is being deleted",
            ));
        }
        let ns = &account.namespace;
        let mut user = UserInfo {
            name: format!("system:serviceaccount:{ns}:{}", account.serviceaccount.name),
            uid: account.serviceaccount.uid.clone(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ],
            ..UserInfo::default()
        };
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={}", claims.jti)],
        );
        Ok(user)
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn token_reason(e: &super::token::TokenError) -> &'static str {
    use super::token::TokenError::*;
    match e {
        Expired => "expired",
        NotYetValid => "not valid yet",
        Signature => "bad signature",
        Issuer => "wrong issuer",
        Audience => "wrong audience",
        Malformed | Key { .. } => "malformed",
    }
}

/// The bearer token of `Authorization`, if any; a malformed header is an error.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthnError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthnError::Token("not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthnError::Token("no scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::Token("not a bearer token"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthnError::Token("empty"));
    }
    Ok(Some(token))
}

/// `<6 [a-z0-9]>.<16 [a-z0-9]>`, the bootstrap token shape.
fn split_bootstrap(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// kube's bootstrap-token rules over the stored Secret.
pub fn check_bootstrap_secret(
    secret: &Value,
    id: &str,
    token_secret: &str,
    now: i64,
) -> Result<UserInfo, AuthnError> {
    use base64::Engine;
    let field = |name: &str| -> Option<String> {
        let encoded = secret.pointer(&format!("/data/{name}"))?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        String::from_utf8(bytes).ok()
    };
    if secret.get("type").and_then(Value::as_str) != Some(BOOTSTRAP_TYPE)
        || secret.pointer("/metadata/deletionTimestamp").is_some()
    {
        return Err(AuthnError::Token("not a usable bootstrap token secret"));
    }
    let stored_secret = field("token-secret").unwrap_or_default();
    let same = field("token-id").as_deref() == Some(id)
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            stored_secret.as_bytes(),
            token_secret.as_bytes(),
        ));
    if !same {
        return Err(AuthnError::Token("bootstrap token mismatch"));
    }
    if field("usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err(AuthnError::Token("bootstrap token not for authentication"));
    }
    if let Some(expiration) = field("expiration") {
        let expires = time::OffsetDateTime::parse(
            &expiration,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| AuthnError::Token("bootstrap token expiration unreadable"))?;
        if expires.unix_timestamp() <= now {
            return Err(AuthnError::Token("bootstrap token expired"));
        }
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    if let Some(extra) = field("auth-extra-groups") {
        for group in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if !valid_bootstrap_group(group) {
                return Err(AuthnError::Token(
                    "bootstrap token has an invalid extra group",
                ));
            }
            groups.push(group.to_string());
        }
    }
    Ok(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
        ..UserInfo::default()
    })
}

/// `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
fn valid_bootstrap_group(group: &str) -> bool {
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !rest.is_empty()
        && rest.len() <= 256
        && rest.bytes().all(|b| allowed(b) || b == b':' || b == b'-')
        && rest.bytes().last().is_some_and(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(expiration: &str, extra: &str) -> Value {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({"type": BOOTSTRAP_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": {
            "token-id": e("abcdef"), "token-secret": e("0123456789abcdef"),
            "usage-bootstrap-authentication": e("true"), "expiration": e(expiration),
            "auth-extra-groups": e(extra)}})
    }

    #[test]
    fn bootstrap_tokens() {
        let now = 1_800_000_000; // 2027-01-15
        let ok = secret(
            "2030-01-01T00:00:00Z",
            "system:bootstrappers:managedcluster",
        );
        let user = check_bootstrap_secret(&ok, "abcdef", "0123456789abcdef", now).expect("valid");
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            [
                "system:bootstrappers",
                "system:bootstrappers:managedcluster"
            ]
        );
        assert!(check_bootstrap_secret(&ok, "abcdef", "0123456789abcdee", now).is_err());
        let expired = secret("2020-01-01T00:00:00Z", "");
        assert!(check_bootstrap_secret(&expired, "abcdef", "0123456789abcdef", now).is_err());
        let bad_group = secret("2030-01-01T00:00:00Z", "system:masters");
        assert!(check_bootstrap_secret(&bad_group, "abcdef", "0123456789abcdef", now).is_err());
        let mut wrong_type = ok.clone();
        wrong_type["type"] = json!("Opaque");
        assert!(check_bootstrap_secret(&wrong_type, "abcdef", "0123456789abcdef", now).is_err());
        assert_eq!(
            split_bootstrap("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert_eq!(split_bootstrap("ABCDEF.0123456789abcdef"), None);
        assert_eq!(split_bootstrap("eyJhbGciOi.x.y"), None);
    }
}
