//! The join half of the agent: make sure the ManagedCluster exists, and obtain a client
//! certificate through a CertificateSigningRequest (a fresh ECDSA P-256 key made here;
//! it never leaves the agent), waiting for approval and signing. The key, request and CSR
//! helpers serve add-on registrations too (`CertSubject`, `CsrTemplate`).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, PostParams};

use super::{AgentError, api_code};
use crate::api::ocm::names::{
    CLIENT_SIGNER, CLUSTER_NAME_LABEL, IDENTITY_PREFIX, MANAGED_CLUSTERS_GROUP,
};
use crate::api::ocm::{ManagedCluster, ManagedClusterSpec};

/// The user name an agent's certificate carries.
pub fn identity(cluster: &str, agent: &str) -> String {
    format!("{IDENTITY_PREFIX}{cluster}:{agent}")
}

/// Creates the ManagedCluster when it does not exist (not accepted: the hub admin or
/// auto-approval accepts it). Rejected credentials are reported, absent permission is not
/// an error (a cluster that already joined may no longer read with bootstrap rights).
pub async fn ensure_cluster(
    hub: &kube::Client,
    cluster: &str,
    lease_seconds: u64,
    annotations: &[(String, String)],
) -> Result<(), kube::Error> {
    let api: Api<ManagedCluster> = Api::all(hub.clone());
    match api.get(cluster).await {
        Ok(_) => return Ok(()),
        Err(e) if api_code(&e) == Some(404) => {}
        Err(e) if api_code(&e) == Some(403) => return Ok(()),
        Err(e) => return Err(e),
    }
    let mut mc = ManagedCluster::new(
        cluster,
        ManagedClusterSpec {
            hub_accepts_client: false,
            lease_duration_seconds: Some(i32::try_from(lease_seconds).unwrap_or(i32::MAX)),
            ..ManagedClusterSpec::default()
        },
    );
    let annotations: BTreeMap<String, String> = annotations
        .iter()
        .filter(|(k, _)| k.starts_with("agent.open-cluster-management.io/"))
        .cloned()
        .collect();
    if !annotations.is_empty() {
        mc.metadata.annotations = Some(annotations);
    }
    match api.create(&PostParams::default(), &mc).await {
        Ok(_) => {
            tracing::info!(cluster, "created ManagedCluster; waiting to be accepted");
            Ok(())
        }
        Err(e) if matches!(api_code(&e), Some(409 | 403)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The subject of a client certificate: user, groups and organizational units.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertSubject {
    pub user: String,
    pub groups: Vec<String>,
    pub units: Vec<String>,
}

/// A fresh ECDSA P-256 key and a PEM certificate request for `subject`, with `dns_names`
/// as requested subject alternative names.
pub fn key_and_request(
    subject: &CertSubject,
    dns_names: &[String],
) -> Result<(rcgen::KeyPair, String), AgentError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let groups: Vec<&str> = subject.groups.iter().map(String::as_str).collect();
    let units: Vec<&str> = subject.units.iter().map(String::as_str).collect();
    let pem = crate::pki::certificate_request(&key, &subject.user, &groups, &units, dns_names)
        .map_err(|e| AgentError::Config(e.to_string()))?;
    Ok((key, pem))
}

/// A fresh key and the PEM certificate request for `cluster`/`agent` with OCM's subject.
pub fn new_request(cluster: &str, agent: &str) -> Result<(rcgen::KeyPair, String), AgentError> {
    let subject = CertSubject {
        user: identity(cluster, agent),
        groups: vec![
            format!("{IDENTITY_PREFIX}{cluster}"),
            MANAGED_CLUSTERS_GROUP.to_string(),
        ],
        units: Vec::new(),
    };
    key_and_request(&subject, &[])
}

/// What a CSR is created with besides its request: its name prefix, labels, signer and
/// requested lifetime.
#[derive(Debug, Clone)]
pub struct CsrTemplate {
    pub generate_name: String,
    pub labels: BTreeMap<String, String>,
    pub signer: String,
    pub expiration_seconds: Option<u64>,
}

impl CsrTemplate {
    /// The template of the agent's own CSRs: `<cluster>-`, the cluster label, the client
    /// signer.
    pub fn cluster(cluster: &str, expiration_seconds: Option<u64>) -> CsrTemplate {
        CsrTemplate {
            generate_name: format!("{cluster}-"),
            labels: [(CLUSTER_NAME_LABEL.to_string(), cluster.to_string())].into(),
            signer: CLIENT_SIGNER.to_string(),
            expiration_seconds,
        }
    }
}

/// Creates the CSR and waits (through a watch) until it is issued; returns the
/// certificate chain (PEM). A denied or failed CSR is an error naming why.
pub async fn request_certificate(
    hub: &kube::Client,
    template: &CsrTemplate,
    request_pem: &str,
) -> Result<String, AgentError> {
    let api: Api<CertificateSigningRequest> = Api::all(hub.clone());
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some(template.generate_name.clone()),
            labels: Some(template.labels.clone()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            signer_name: template.signer.clone(),
            usages: Some(
                ["digital signature", "key encipherment", "client auth"]
                    .map(String::from)
                    .to_vec(),
            ),
            request: ByteString(request_pem.as_bytes().to_vec()),
            expiration_seconds: template
                .expiration_seconds
                .map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            ..CertificateSigningRequestSpec::default()
        },
        status: None,
    };
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .map_err(AgentError::from_kube)?;
    let name = created.name_any();
    tracing::info!(
        csr = name,
        "created CertificateSigningRequest; waiting for approval"
    );
    let decided = |csr: Option<&CertificateSigningRequest>| match csr {
        None => true, // deleted: reported below
        Some(c) => !matches!(issued(c), Ok(None)),
    };
    // A broken watch (a hub replica restarting, a dropped connection) keeps waiting on
    // the same CSR: creating another would leave the approved one unused.
    let mut backoff = std::time::Duration::from_millis(500);
    let last = loop {
        let kube::runtime::wait::Error::ProbeFailed(e) =
            match kube::runtime::wait::await_condition(api.clone(), &name, decided).await {
                Ok(last) => break last,
                Err(e) => e,
            };
        // The hub answered with an error (other than an expired watch): give up on this CSR.
        match watch_error_code(&e) {
            Some(401) => return Err(AgentError::Unauthorized),
            Some(code) if code != 410 => {
                return Err(AgentError::Hub(format!("watching CSR {name}: {e}")));
            }
            _ => {
                tracing::debug!(csr = name, error = %e, "CSR watch broke; watching again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
            }
        }
    };
    let Some(csr) = last else {
        return Err(AgentError::Hub(format!(
            "CSR {name} was deleted before it was issued"
        )));
    };
    let chain = issued(&csr)?.ok_or_else(|| AgentError::Hub(format!("CSR {name} not issued")))?;
    tracing::info!(csr = name, "certificate issued");
    Ok(chain)
}

/// The HTTP code the hub answered a watch with (`None` for a broken connection).
fn watch_error_code(e: &kube::runtime::watcher::Error) -> Option<u16> {
    use kube::runtime::watcher::Error as W;
    match e {
        W::WatchError(status) => Some(status.code),
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => api_code(e),
        W::NoResourceVersion => None,
    }
}

/// The issued chain, `None` while pending, an error once denied or failed.
fn issued(csr: &CertificateSigningRequest) -> Result<Option<String>, AgentError> {
    let status = csr.status.as_ref();
    for c in status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
    {
        if c.type_ == "Denied" || c.type_ == "Failed" {
            return Err(AgentError::Refused(format!(
                "the CSR was {}: {} {}",
                c.type_.to_lowercase(),
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )));
        }
    }
    let Some(cert) = status
        .and_then(|s| s.certificate.as_ref())
        .filter(|c| !c.0.is_empty())
    else {
        return Ok(None);
    };
    String::from_utf8(cert.0.clone())
        .map(Some)
        .map_err(|e| AgentError::Hub(format!("status.certificate is not PEM: {e}")))
}
