//! Commands an administrator runs against a running hub, through its API with the admin
//! kubeconfig: `token create|list|delete` (bootstrap tokens for joining clusters) and
//! `accept` (approve a cluster's pending CSRs and set `hubAcceptsClient`, as
//! `clusteradm accept` does).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::api::ocm::ManagedCluster;
use crate::api::ocm::names::{BOOTSTRAP_GROUP, CLUSTER_NAME_LABEL};
use crate::hub::tokens::{self, TOKEN_NAMESPACE, TOKEN_TYPE};

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot use the kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("{}", crate::agent::work::apply::describe_ref(.0))]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
}

/// A client from a kubeconfig file.
pub async fn connect(kubeconfig: &Path) -> Result<kube::Client, AdminError> {
    let err = |message: String| AdminError::Kubeconfig {
        path: kubeconfig.display().to_string(),
        message,
    };
    let file = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| err(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| err(e.to_string()))
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

/// What `token create` made.
pub struct CreatedToken {
    pub token: String,
    pub expiration: Option<String>,
}

/// Creates a bootstrap token valid for `ttl` (forever with `None`): `token` when given
/// (`[a-z0-9]{6}.[a-z0-9]{16}`), else a random one.
pub async fn create_token(
    hub: &kube::Client,
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
    let body: Secret = serde_json::from_value(tokens::secret(
        &id,
        &secret,
        expiration.as_deref(),
        description,
    ))
    .map_err(|e| AdminError::Invalid(e.to_string()))?;
    secrets(hub).create(&PostParams::default(), &body).await?;
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

/// The bootstrap-token Secrets' namespace.
fn secrets(hub: &kube::Client) -> Api<Secret> {
    Api::namespaced(hub.clone(), TOKEN_NAMESPACE)
}

/// The bootstrap tokens on the hub.
pub async fn list_tokens(hub: &kube::Client) -> Result<Vec<TokenRow>, AdminError> {
    let list = secrets(hub)
        .list(&ListParams::default().fields(&format!("type={TOKEN_TYPE}")))
        .await?;
    let field = |s: &Secret, k: &str| -> String {
        s.data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .unwrap_or_default()
    };
    Ok(list
        .items
        .iter()
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
pub async fn delete_token(hub: &kube::Client, id: &str) -> Result<(), AdminError> {
    let id = id.split('.').next().unwrap_or(id);
    let name = format!("bootstrap-token-{id}");
    match secrets(hub).delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(AdminError::Invalid(format!(
            "bootstrap token {id:?} not found"
        ))),
        Err(e) => Err(e.into()),
    }
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
    /// Whether some bootstrap CSR of the cluster is approved (now or before).
    pub csr_approved: bool,
}

/// Approves the cluster's pending CSRs made by bootstrap identities and sets
/// `hubAcceptsClient: true`.
pub async fn accept(hub: &kube::Client, cluster: &str) -> Result<Accepted, AdminError> {
    let mut outcome = Accepted::default();
    let csrs: Api<CertificateSigningRequest> = Api::all(hub.clone());
    let list = csrs
        .list(&ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={cluster}")))
        .await?;
    let bootstrap: Vec<&CertificateSigningRequest> = list
        .items
        .iter()
        .filter(|csr| {
            let user = csr.spec.username.as_deref().unwrap_or("");
            let in_group = csr
                .spec
                .groups
                .iter()
                .flatten()
                .any(|g| g == BOOTSTRAP_GROUP);
            user.starts_with("system:bootstrap:") && in_group
        })
        .collect();
    let has = |csr: &CertificateSigningRequest, types: &[&str]| {
        csr.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| types.contains(&c.type_.as_str())))
    };
    outcome.csr_approved = bootstrap.iter().any(|csr| has(csr, &["Approved"]));
    let pending: Vec<&CertificateSigningRequest> = bootstrap
        .into_iter()
        .filter(|csr| !has(csr, &["Approved", "Denied"]))
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
        let name = csr.name_any();
        let mut approved =
            serde_json::to_value(csr).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let now = crate::api::meta::now_rfc3339();
        let condition = json!({"type": "Approved", "status": "True", "reason": "MulticlusterControlplaneApprove",
            "message": "Approved by multicluster-controlplane accept", "lastUpdateTime": now, "lastTransitionTime": now});
        crate::hub::csr::append_condition(&mut approved, condition);
        let approved: CertificateSigningRequest =
            serde_json::from_value(approved).map_err(|e| AdminError::Invalid(e.to_string()))?;
        csrs.patch_approval(&name, &PatchParams::default(), &Patch::Merge(&approved))
            .await?;
        outcome.approved_csrs.push(name);
        outcome.csr_approved = true;
    }
    let clusters: Api<ManagedCluster> = Api::all(hub.clone());
    match clusters.get_opt(cluster).await? {
        Some(mc) => {
            if !mc.spec.hub_accepts_client {
                clusters
                    .patch(
                        cluster,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"hubAcceptsClient": true}})),
                    )
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
fn requested_identity(csr: &CertificateSigningRequest) -> String {
    String::from_utf8(csr.spec.request.0.clone())
        .ok()
        .and_then(|pem| crate::hub::csr::request_subject(&pem).ok())
        .map_or_else(|| "?".to_string(), |s| s.common_name)
}
