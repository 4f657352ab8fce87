//! Commands an administrator runs against a running hub, through its API with the admin
//! kubeconfig: `token create|list|delete` (bootstrap tokens for joining clusters) and
//! `accept` (approve a cluster's pending CSRs and set `hubAcceptsClient`, as
//! `clusteradm accept` does).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent::rest::{Rest, RestError, query};
use crate::api::ocm::names::{BOOTSTRAP_GROUP, CLUSTER_NAME_LABEL};
use crate::hub::tokens::{self, TOKEN_TYPE};

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot use the kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("{0}")]
    Api(#[from] RestError),
    #[error("{0}")]
    Invalid(String),
}

/// A client from a kubeconfig file.
pub async fn connect(kubeconfig: &Path) -> Result<Rest, AdminError> {
    let err = |message: String| AdminError::Kubeconfig {
        path: kubeconfig.display().to_string(),
        message,
    };
    let file = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| err(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?;
    Ok(Rest::new(
        kube::Client::try_from(config).map_err(|e| err(e.to_string()))?,
    ))
}

/// Parses a duration like `24h`, `90m`, `3600s`, `1h30m` or `0` (never expires).
pub fn parse_ttl(text: &str) -> Result<Option<Duration>, String> {
    if text == "0" || text.is_empty() {
        return Ok(None);
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("invalid duration {text:?}: units are s, m, h, d")),
        };
    }
    if !number.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: a unit (s, m, h, d) is missing"
        ));
    }
    Ok(Some(Duration::from_secs(total)))
}

const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";

/// What `token create` made.
pub struct CreatedToken {
    pub token: String,
    pub expiration: Option<String>,
}

/// Creates a bootstrap token valid for `ttl` (forever with `None`): `token` when given
/// (`[a-z0-9]{6}.[a-z0-9]{16}`), else a random one.
pub async fn create_token(
    hub: &Rest,
    token: Option<&str>,
    ttl: Option<Duration>,
    description: &str,
) -> Result<CreatedToken, AdminError> {
    let (id, secret) = match token {
        Some(t) => tokens::parse(t).ok_or_else(|| {
            AdminError::Invalid(format!(
                "token {t:?} does not have the form [a-z0-9]{{6}}.[a-z0-9]{{16}}"
            ))
        })?,
        None => tokens::generate(),
    };
    let expiration = ttl.map(|t| {
        let at = time::OffsetDateTime::now_utc() + t;
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        at.format(&format).unwrap_or_default()
    });
    let body = tokens::secret(&id, &secret, expiration.as_deref(), description);
    hub.post(SECRETS, &body).await?;
    Ok(CreatedToken {
        token: format!("{id}.{secret}"),
        expiration,
    })
}

/// One row of `token list`.
pub struct TokenRow {
    pub id: String,
    pub expires: String,
    pub groups: String,
    pub description: String,
}

/// The bootstrap tokens on the hub.
pub async fn list_tokens(hub: &Rest) -> Result<Vec<TokenRow>, AdminError> {
    use base64::Engine;
    let list = hub
        .get(&format!(
            "{SECRETS}?fieldSelector={}",
            query(&format!("type={TOKEN_TYPE}"))
        ))
        .await?;
    let field = |s: &Value, k: &str| -> String {
        s.pointer(&format!("/data/{k}"))
            .and_then(Value::as_str)
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    };
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| TokenRow {
            id: field(s, "token-id"),
            expires: Some(field(s, "expiration"))
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "<never>".into()),
            groups: field(s, "auth-extra-groups"),
            description: field(s, "description"),
        })
        .collect())
}

/// Deletes a bootstrap token by id (or `<id>.<secret>`).
pub async fn delete_token(hub: &Rest, id: &str) -> Result<(), AdminError> {
    let id = id.split('.').next().unwrap_or(id);
    let path = format!("{SECRETS}/bootstrap-token-{id}");
    if hub.get_opt(&path).await?.is_none() {
        return Err(AdminError::Invalid(format!(
            "bootstrap token {id:?} not found"
        )));
    }
    hub.delete(&path).await?;
    Ok(())
}

/// The join commands `token create` prints.
pub fn join_commands(server: &str, token: &str, ca_hash: &str) -> (String, String) {
    (
        format!(
            "multicluster-controlplane agent --cluster-name <cluster-name> --hub-url {server} \\\n    --token {token} --hub-ca-hash {ca_hash} \\\n    --hub-kubeconfig-dir <dir> [--managed-kubeconfig <file>]"
        ),
        format!(
            "clusteradm join --singleton --hub-token {token} --hub-apiserver {server} --cluster-name <cluster-name>"
        ),
    )
}

/// What `accept` did for one cluster.
#[derive(Debug, Default)]
pub struct Accepted {
    pub approved_csrs: Vec<String>,
    pub accepted: bool,
}

/// Approves the cluster's pending CSRs made by bootstrap identities and sets
/// `hubAcceptsClient: true`.
pub async fn accept(hub: &Rest, cluster: &str) -> Result<Accepted, AdminError> {
    let mut outcome = Accepted::default();
    let csrs = hub
        .get(&format!(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?labelSelector={}",
            query(&format!("{CLUSTER_NAME_LABEL}={cluster}"))
        ))
        .await?;
    let pending: Vec<&Value> = csrs
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|csr| {
            let user = csr
                .pointer("/spec/username")
                .and_then(Value::as_str)
                .unwrap_or("");
            let groups: Vec<&str> = csr
                .pointer("/spec/groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let decided = csr
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        matches!(
                            c.get("type").and_then(Value::as_str),
                            Some("Approved" | "Denied")
                        )
                    })
                });
            !decided && user.starts_with("system:bootstrap:") && groups.contains(&BOOTSTRAP_GROUP)
        })
        .collect();
    // Two agents asking to be the same cluster: one of them is not who it claims to be.
    let mut identities: Vec<String> = pending.iter().map(|csr| requested_identity(csr)).collect();
    identities.sort();
    identities.dedup();
    if identities.len() > 1 {
        return Err(AdminError::Invalid(format!(
            "several agents ask to join as cluster {cluster:?} ({}); deny or delete the CSRs you do not expect, then accept again",
            identities.join(", ")
        )));
    }
    for csr in pending {
        let name = csr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut approved = csr.clone();
        let now = crate::api::meta::now_rfc3339();
        let condition = json!({"type": "Approved", "status": "True", "reason": "MulticlusterControlplaneApprove",
            "message": "Approved by multicluster-controlplane accept", "lastUpdateTime": now, "lastTransitionTime": now});
        crate::hub::csr::append_condition(&mut approved, condition);
        hub.put(
            &format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval"),
            &approved,
        )
        .await?;
        outcome.approved_csrs.push(name.to_string());
    }
    let path = format!("/apis/cluster.open-cluster-management.io/v1/managedclusters/{cluster}");
    match hub.get_opt(&path).await? {
        Some(mc) => {
            if mc
                .pointer("/spec/hubAcceptsClient")
                .and_then(Value::as_bool)
                != Some(true)
            {
                hub.merge_patch(&path, &json!({"spec": {"hubAcceptsClient": true}}))
                    .await?;
            }
            outcome.accepted = true;
        }
        None if outcome.approved_csrs.is_empty() => {
            return Err(AdminError::Invalid(format!(
                "managed cluster {cluster:?} not found and no CSR is pending for it; has its agent started?"
            )));
        }
        None => {}
    }
    Ok(outcome)
}

/// The common name a CSR asks for (`?` when it cannot be read).
fn requested_identity(csr: &Value) -> String {
    use base64::Engine;
    csr.pointer("/spec/request")
        .and_then(Value::as_str)
        .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pem| crate::hub::csr::request_subject(&pem).ok())
        .map_or_else(|| "?".to_string(), |s| s.common_name)
}
