//! The CustomResourceDefinitions the agent needs on its managed cluster: AppliedManifestWork
//! (the work half's record of what it applied) and ClusterClaim (the claims it reports).
//!
//! A real Kubernetes cluster has neither, so the agent installs them when it starts (as
//! upstream's klusterlet operator does for its agents), upgrades them when its own
//! definitions differ, and waits until the API server reports them `Established`. The
//! definitions are the ones the hub serves (`api::ocm`), applied with server-side apply
//! under the field manager [`FIELD_MANAGER`].
//!
//! Permissions this needs on the managed cluster: `get`, `create` and `patch` on
//! `customresourcedefinitions.apiextensions.k8s.io` (the two names above). Without them
//! the agent goes on when an administrator installed the CRDs already, and otherwise
//! retries with a warning.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

/// The CRDs installed on the managed cluster, by name.
pub const MANAGED_CRDS: [&str; 2] = [
    "appliedmanifestworks.work.open-cluster-management.io",
    "clusterclaims.cluster.open-cluster-management.io",
];

/// The field manager of the agent's CRD writes.
pub const FIELD_MANAGER: &str = "multicluster-controlplane-agent";

/// How long one attempt waits for a CRD to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the CRDs could not be installed (the caller retries).
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("applying CRD {name}: {source}")]
    Apply { name: String, source: kube::Error },
    #[error("CRD {name} is not Established after {timeout:?}")]
    NotEstablished { name: String, timeout: Duration },
    #[error("reading CRD {name}: {source}")]
    Read { name: String, source: kube::Error },
}

/// The hub's definition of one managed-side CRD.
fn definition(name: &str) -> Option<CustomResourceDefinition> {
    let mut crd: CustomResourceDefinition = crate::api::ocm::documents()
        .iter()
        .find(|c| {
            c.pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                == Some(name)
        })
        .and_then(|c| serde::Deserialize::deserialize(c).ok())?;
    crd.status = None;
    crd.metadata.labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_string(),
            FIELD_MANAGER.to_string(),
        )]
        .into(),
    );
    Some(crd)
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Installs or upgrades every managed-side CRD and waits until each is Established. A CRD
/// the agent may not write but that is already Established is used as it is.
pub async fn ensure(client: &kube::Client) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for name in MANAGED_CRDS {
        let Some(crd) = definition(name) else {
            continue; // a unit test proves every name has a definition
        };
        match api.patch(name, &params, &Patch::Apply(&crd)).await {
            Ok(applied) if established(&applied) => continue,
            Ok(_) => {}
            Err(source) => {
                let existing = api.get_opt(name).await.ok().flatten();
                if existing.as_ref().is_some_and(established) {
                    tracing::warn!(crd = name, error = %source,
                        "cannot update the CRD on the managed cluster; using the installed one");
                    continue;
                }
                return Err(CrdError::Apply {
                    name: name.to_string(),
                    source,
                });
            }
        }
        wait_established(&api, name).await?;
        tracing::info!(crd = name, "CRD installed on the managed cluster");
    }
    Ok(())
}

/// Waits (through a watch) until the CRD named `name` reports `Established`.
async fn wait_established(api: &Api<CustomResourceDefinition>, name: &str) -> Result<(), CrdError> {
    let cond = kube::runtime::wait::await_condition(
        api.clone(),
        name,
        kube::runtime::wait::conditions::is_crd_established(),
    );
    match tokio::time::timeout(ESTABLISH_TIMEOUT, cond).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(CrdError::Read {
            name: name.to_string(),
            source: kube::Error::Service(Box::new(e)),
        }),
        Err(_) => Err(CrdError::NotEstablished {
            name: name.to_string(),
            timeout: ESTABLISH_TIMEOUT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_managed_crd_has_a_cluster_scoped_definition() {
        for name in MANAGED_CRDS {
            let crd = definition(name).unwrap_or_else(|| panic!("no definition for {name}"));
            assert_eq!(crd.spec.scope, "Cluster", "{name}");
            assert!(crd.status.is_none(), "{name}: status is the server's");
            assert!(
                crd.spec.versions.iter().any(|v| v.served && v.storage),
                "{name}"
            );
        }
    }
}
