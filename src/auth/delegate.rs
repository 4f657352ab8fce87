//! Authentication delegated to the cluster hosting the hub (the Go project's
//! `--delegating-authentication`): bearer tokens the hub does not know are checked with a
//! TokenReview on the hosting cluster, and client certificates signed by the hosting
//! cluster's client CA (`kube-system/extension-apiserver-authentication`, key
//! `client-ca-file`) are accepted by the TLS layer next to the hub's own CA. Only who a
//! user is comes from the hosting cluster: what they may do is the hub's RBAC.
//!
//! TokenReview answers (accepted or not) are cached for a short time in a bounded map
//! keyed by the token's SHA-256, so a busy client costs one review per period and no
//! token is kept in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use sha2::Digest;

use crate::api::user::UserInfo;

/// Why the hosting cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DelegateError {
    #[error("hosting cluster configuration: {0}")]
    Config(String),
    #[error(
        "reading the hosting cluster's client CA (kube-system/extension-apiserver-authentication): {0}"
    )]
    ClientCa(String),
    #[error("TokenReview on the hosting cluster failed: {0}")]
    Review(String),
}

/// The hosting cluster, as an authenticator.
pub struct Delegate {
    client: kube::Client,
    ttl: Duration,
    capacity: usize,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    answers: HashMap<[u8; 32], (Option<UserInfo>, Instant)>,
    /// Insertion order, for evicting the oldest answer when full.
    order: VecDeque<[u8; 32]>,
}

impl Delegate {
    /// Connects to the hosting cluster (`kubeconfig`, or in-cluster / `KUBECONFIG` when
    /// empty).
    pub async fn connect(
        kubeconfig: &str,
        ttl: Duration,
        capacity: usize,
    ) -> Result<Delegate, DelegateError> {
        let config = if kubeconfig.is_empty() {
            kube::Config::infer()
                .await
                .map_err(|e| DelegateError::Config(e.to_string()))?
        } else {
            let file = kube::config::Kubeconfig::read_from(kubeconfig)
                .map_err(|e| DelegateError::Config(format!("{kubeconfig}: {e}")))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| DelegateError::Config(format!("{kubeconfig}: {e}")))?
        };
        let client =
            kube::Client::try_from(config).map_err(|e| DelegateError::Config(e.to_string()))?;
        Ok(Delegate {
            client,
            ttl,
            capacity: capacity.max(1),
            cache: Mutex::default(),
        })
    }

    /// The hosting cluster's client CA bundle (PEM).
    pub async fn client_ca(&self) -> Result<String, DelegateError> {
        let cm = Api::<ConfigMap>::namespaced(self.client.clone(), "kube-system")
            .get("extension-apiserver-authentication")
            .await
            .map_err(|e| DelegateError::ClientCa(e.to_string()))?;
        cm.data
            .and_then(|d| d.get("client-ca-file").cloned())
            .filter(|pem| !pem.trim().is_empty())
            .ok_or_else(|| DelegateError::ClientCa("no client-ca-file".into()))
    }

    /// The user a token belongs to according to the hosting cluster; `None` when it
    /// rejects the token.
    pub async fn review(&self, token: &str) -> Result<Option<UserInfo>, DelegateError> {
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cached(&key) {
            return Ok(answer);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| DelegateError::Review(e.to_string()))?;
        let user = answer
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user)
            .and_then(|u| {
                Some(UserInfo {
                    name: u.username.filter(|n| !n.is_empty())?,
                    uid: u.uid.unwrap_or_default(),
                    groups: u.groups.unwrap_or_default(),
                    extra: u.extra.unwrap_or_default().into_iter().collect(),
                })
            });
        self.remember(key, user.clone());
        Ok(user)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Option<UserInfo>> {
        let cache = self.cache.lock().ok()?;
        let (answer, at) = cache.answers.get(key)?;
        (at.elapsed() < self.ttl).then(|| answer.clone())
    }

    fn remember(&self, key: [u8; 32], answer: Option<UserInfo>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache
            .answers
            .insert(key, (answer, Instant::now()))
            .is_none()
        {
            cache.order.push_back(key);
        }
        while cache.answers.len() > self.capacity {
            match cache.order.pop_front() {
                Some(oldest) => {
                    cache.answers.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delegate(capacity: usize, ttl: Duration) -> Delegate {
        let config = kube::Config::new("https://127.0.0.1:1".parse().expect("uri"));
        Delegate {
            client: kube::Client::try_from(config).expect("client"),
            ttl,
            capacity,
            cache: Mutex::default(),
        }
    }

    #[tokio::test]
    async fn answers_are_cached_bounded_and_expire() {
        let d = delegate(2, Duration::from_secs(60));
        let user = |n: &str| {
            Some(UserInfo {
                name: n.into(),
                ..UserInfo::default()
            })
        };
        d.remember([1; 32], user("a"));
        d.remember([2; 32], None);
        assert_eq!(d.cached(&[1; 32]), Some(user("a")));
        assert_eq!(d.cached(&[2; 32]), Some(None), "rejections are cached too");
        d.remember([3; 32], user("c"));
        assert_eq!(d.cached(&[1; 32]), None, "the oldest answer made room");
        assert_eq!(d.cache.lock().expect("lock").answers.len(), 2);
        let expired = delegate(2, Duration::ZERO);
        expired.remember([1; 32], user("a"));
        assert_eq!(expired.cached(&[1; 32]), None);
    }
}
