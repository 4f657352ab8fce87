//! The join half of the agent: make sure the ManagedCluster exists, and obtain a client
//! certificate through a CertificateSigningRequest (a fresh ECDSA P-256 key made here;
//! it never leaves the agent), waiting for approval and signing.

use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use serde_json::{Value, json};

use super::AgentError;
use super::rest::{Rest, RestError, query};
use crate::api::ocm::names::{
    CLIENT_SIGNER, CLUSTER_NAME_LABEL, IDENTITY_PREFIX, MANAGED_CLUSTERS_GROUP,
};

pub const CLUSTERS: &str = "/apis/cluster.open-cluster-management.io/v1/managedclusters";
const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// The user name an agent's certificate carries.
pub fn identity(cluster: &str, agent: &str) -> String {
    format!("{IDENTITY_PREFIX}{cluster}:{agent}")
}

/// Creates the ManagedCluster when it does not exist (not accepted: the hub admin or
/// auto-approval accepts it). Rejected credentials are reported, absent permission is not
/// an error (a cluster that already joined may no longer read with bootstrap rights).
pub async fn ensure_cluster(
    hub: &Rest,
    cluster: &str,
    lease_seconds: u64,
    annotations: &[(String, String)],
) -> Result<(), RestError> {
    match hub.get(&format!("{CLUSTERS}/{cluster}")).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is(404) => {}
        Err(e) if e.is(403) => return Ok(()),
        Err(e) => return Err(e),
    }
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .filter(|(k, _)| k.starts_with("agent.open-cluster-management.io/"))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut body = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": cluster},
        "spec": {"hubAcceptsClient": false, "leaseDurationSeconds": lease_seconds}});
    if !annotations.is_empty() {
        body["metadata"]["annotations"] = Value::Object(annotations);
    }
    match hub.post(CLUSTERS, &body).await {
        Ok(_) => {
            tracing::info!(cluster, "created ManagedCluster; waiting to be accepted");
            Ok(())
        }
        Err(e) if e.is(409) || e.is(403) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A fresh key and the PEM certificate request for `cluster`/`agent` with OCM's subject.
pub fn new_request(cluster: &str, agent: &str) -> Result<(rcgen::KeyPair, String), AgentError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    let group = format!("{IDENTITY_PREFIX}{cluster}");
    params.distinguished_name =
        crate::pki::subject(&identity(cluster, agent), &[&group, MANAGED_CLUSTERS_GROUP]);
    let pem = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| AgentError::Config(e.to_string()))?;
    Ok((key, pem))
}

/// Creates the CSR and waits until it is issued; returns the certificate chain (PEM).
/// A denied or failed CSR is an error naming why.
pub async fn request_certificate(
    hub: &Rest,
    cluster: &str,
    request_pem: &str,
    expiration_seconds: Option<u64>,
) -> Result<String, AgentError> {
    let mut spec = json!({"signerName": CLIENT_SIGNER,
        "usages": ["digital signature", "key encipherment", "client auth"],
        "request": base64::engine::general_purpose::STANDARD.encode(request_pem)});
    if let Some(s) = expiration_seconds {
        spec["expirationSeconds"] = json!(s);
    }
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": format!("{cluster}-"), "labels": {CLUSTER_NAME_LABEL: cluster}},
        "spec": spec});
    let created = hub.post(CSRS, &csr).await.map_err(AgentError::from_rest)?;
    let name = created
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    tracing::info!(
        csr = name,
        "created CertificateSigningRequest; waiting for approval"
    );
    let mut object = created;
    loop {
        if let Some(outcome) = issued(&object)? {
            tracing::info!(csr = name, "certificate issued");
            return Ok(outcome);
        }
        let rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("0")
            .to_string();
        let path = format!(
            "{CSRS}?watch=1&fieldSelector={}&resourceVersion={rv}&timeoutSeconds=60&allowWatchBookmarks=true",
            query(&format!("metadata.name={name}"))
        );
        match hub.watch(&path).await {
            Ok(events) => {
                let mut events = Box::pin(events);
                while let Some(event) = events.next().await {
                    match event {
                        Ok((kind, o)) if kind == "ADDED" || kind == "MODIFIED" => {
                            object = o;
                            if let Some(outcome) = issued(&object)? {
                                tracing::info!(csr = name, "certificate issued");
                                return Ok(outcome);
                            }
                        }
                        Ok((kind, _)) if kind == "DELETED" => {
                            return Err(AgentError::Hub(format!(
                                "CSR {name} was deleted before it was issued"
                            )));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "CSR watch ended");
                            break;
                        }
                    }
                }
            }
            Err(e) if e.is(401) => return Err(AgentError::Unauthorized),
            Err(e) => {
                tracing::debug!(error = %e, "CSR watch failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        // Re-read: the watch may have ended between events.
        match hub.get(&format!("{CSRS}/{name}")).await {
            Ok(o) => object = o,
            Err(e) if e.is(404) => {
                return Err(AgentError::Hub(format!(
                    "CSR {name} was deleted before it was issued"
                )));
            }
            Err(e) if e.is(401) => return Err(AgentError::Unauthorized),
            Err(e) => tracing::debug!(error = %e, "reading CSR"),
        }
    }
}

/// The issued chain, `None` while pending, an error once denied or failed.
fn issued(csr: &Value) -> Result<Option<String>, AgentError> {
    let conditions = csr
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        let t = c.get("type").and_then(Value::as_str).unwrap_or("");
        if t == "Denied" || t == "Failed" {
            let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
            let message = c.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(AgentError::Hub(format!(
                "the CSR was {}: {reason} {message}",
                t.to_lowercase()
            )));
        }
    }
    let Some(cert) = csr
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cert)
        .map_err(|e| AgentError::Hub(format!("status.certificate is not base64: {e}")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| AgentError::Hub(format!("status.certificate is not PEM: {e}")))
}
