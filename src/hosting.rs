//! What the hub does with the cluster it runs in (the "hosting cluster"), each switched on
//! by configuration:
//!
//! - **Delegated authentication** (`apiserver.delegatingAuthentication`): the hosting
//!   cluster's tokens and client certificates are accepted ([`auth::delegate`]); the user
//!   `kube:admin` is bound to `cluster-admin`, as the Go project does.
//! - **Self-management** (`controllers.selfManagement`): the hosting cluster becomes a
//!   managed cluster of the hub. The hub creates its namespace and ManagedCluster (labelled
//!   [`SELF_MANAGEMENT_LABEL`], its client config pointing at the hosting cluster), mints a
//!   bootstrap token whose CSRs it approves itself, and runs the agent in this process, so
//!   ManifestWorks for that cluster are applied to the hosting cluster.
//! - **The admin kubeconfig as a Secret**: in a pod (`POD_NAMESPACE` set, in-cluster
//!   configuration or `KUBECONFIG`), `multicluster-controlplane-kubeconfig` (the external address)
//!   and `multicluster-controlplane-svc-kubeconfig` (the in-cluster Service) in that
//!   namespace, as the Go project publishes them.
//!
//! [`auth::delegate`]: crate::auth::delegate

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::status::Status;
use crate::auth::delegate::{Delegate, DelegateError};
use crate::config::Config;
use crate::registry::Registry;

/// Label of the self-managed ManagedCluster (the Go project's).
pub const SELF_MANAGEMENT_LABEL: &str =
    "multicluster-controlplane.open-cluster-management.io/selfmanagement";

/// How many times the hosting cluster is tried at start-up before the hub gives up.
const CONNECT_ATTEMPTS: u32 = 10;

/// Why the hosting cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    #[error(transparent)]
    Delegate(#[from] DelegateError),
    #[error("self-management: {0}")]
    SelfManagement(String),
}

/// Delegated authentication, when configured: the authenticator for tokens and the hosting
/// cluster's client CA (PEM) for the TLS layer. Retries for a while (the hosting cluster's
/// API may start with the hub's pod).
pub async fn delegate(config: &Config) -> Result<Option<(Arc<Delegate>, String)>, HostingError> {
    let d = &config.apiserver.delegating_authentication;
    if !d.enabled {
        return Ok(None);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let connected = async {
            let delegate = Delegate::connect(
                &d.kubeconfig,
                Duration::from_secs(d.cache_ttl_seconds),
                usize::try_from(d.cache_size).unwrap_or(usize::MAX),
            )
            .await?;
            let ca = delegate.client_ca().await?;
            Ok::<_, DelegateError>((Arc::new(delegate), ca))
        }
        .await;
        match connected {
            Ok(found) => {
                tracing::info!("authentication is delegated to the hosting cluster");
                return Ok(Some(found));
            }
            Err(e) if attempt >= CONNECT_ATTEMPTS => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "hosting cluster not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The start-up objects delegated authentication needs: `kube:admin` is a cluster admin.
pub async fn ensure_delegation_objects(registry: &Registry, config: &Config) -> Result<(), Status> {
    if !config.apiserver.delegating_authentication.enabled {
        return Ok(());
    }
    let Some(kind) = registry
        .catalog()
        .find_resource("rbac.authorization.k8s.io", "clusterrolebindings")
    else {
        return Ok(());
    };
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kube-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube:admin"}]});
    match registry.create(&kind, None, binding).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Self-management, prepared before the hub's controllers start: a bootstrap token for
/// the in-process agent, whose user the CSR controller then approves automatically (the
/// returned config says so; the administrator's auto-approval list is unchanged, and
/// ignored as before when the gate is off).
pub struct SelfManaged {
    pub token: String,
}

/// Mints the self-managed agent's bootstrap token and adjusts `config` so its CSRs are
/// approved. `None` when self-management is off.
pub async fn prepare_self_management(
    registry: &Registry,
    config: &mut Config,
) -> Result<Option<SelfManaged>, HostingError> {
    if !config.controllers.enabled || !config.controllers.self_management.enabled {
        return Ok(None);
    }
    let (id, secret) = crate::hub::tokens::generate();
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(24);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let expiration = expires.format(&format).unwrap_or_default();
    let body = crate::hub::tokens::secret(
        &id,
        &secret,
        Some(&expiration),
        "the hub's own agent (self-management)",
    );
    let kind = registry
        .catalog()
        .find_resource("", "secrets")
        .ok_or_else(|| HostingError::SelfManagement("Secrets are not served".into()))?;
    registry
        .create(&kind, Some("kube-system"), body)
        .await
        .map_err(|e| HostingError::SelfManagement(format!("bootstrap token: {}", e.message)))?;
    let user = format!("system:bootstrap:{id}");
    let c = &mut config.controllers;
    if !c.feature_gates.managed_cluster_auto_approval {
        c.auto_approval_bootstrap_users.clear();
        c.feature_gates.managed_cluster_auto_approval = true;
    }
    c.auto_approval_bootstrap_users.push(user);
    Ok(Some(SelfManaged {
        token: format!("{id}.{secret}"),
    }))
}

/// A client of the hosting cluster (`kubeconfig`, or in-cluster / `KUBECONFIG` when empty),
/// with the configuration it came from.
async fn hosting_client(kubeconfig: &str) -> Result<(kube::Client, kube::Config), String> {
    let config = if kubeconfig.is_empty() {
        kube::Config::infer().await.map_err(|e| e.to_string())?
    } else {
        let file = kube::config::Kubeconfig::read_from(kubeconfig)
            .map_err(|e| format!("{kubeconfig}: {e}"))?;
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("{kubeconfig}: {e}"))?
    };
    let client = kube::Client::try_from(config.clone()).map_err(|e| e.to_string())?;
    Ok((client, config))
}

/// Creates the self-managed cluster's ManagedCluster (accepted, labelled, its client
/// config the hosting cluster's address and CA) and runs its agent in this process.
pub async fn start_self_management(
    registry: &Registry,
    config: &Config,
    self_managed: SelfManaged,
    hub_url: &str,
    hub_ca_file: &Path,
) -> Result<(), HostingError> {
    let sm = &config.controllers.self_management;
    let (_, hosting) = hosting_client(&sm.kubeconfig)
        .await
        .map_err(HostingError::SelfManagement)?;
    let ca_bundle: String = hosting
        .root_cert
        .iter()
        .flatten()
        .map(|der| crate::pki::pem_encode("CERTIFICATE", der))
        .collect();
    let name = &sm.cluster_name;
    let mut client_config = json!({"url": hosting.cluster_url.to_string()});
    if !ca_bundle.is_empty() {
        client_config["caBundle"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca_bundle));
    }
    let cluster = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": name, "labels": {SELF_MANAGEMENT_LABEL: ""}},
        "spec": {"hubAcceptsClient": true, "managedClusterClientConfigs": [client_config]}});
    let kind = registry
        .catalog()
        .find_resource("cluster.open-cluster-management.io", "managedclusters")
        .ok_or_else(|| HostingError::SelfManagement("ManagedClusters are not served".into()))?;
    match registry.create(&kind, None, cluster).await {
        Ok(_) => tracing::info!(cluster = %name, "self-managed cluster registered"),
        Err(e) if e.reason == "AlreadyExists" => {}
        Err(e) => return Err(HostingError::SelfManagement(e.message)),
    }
    let options = crate::agent::AgentOptions {
        cluster_name: name.clone(),
        bootstrap: crate::agent::Bootstrap::Url {
            server: hub_url.to_string(),
            token: self_managed.token,
            ca_file: Some(hub_ca_file.to_path_buf()),
            ca_hash: None,
        },
        managed_kubeconfig: (!sm.kubeconfig.is_empty()).then(|| sm.kubeconfig.clone().into()),
        hub_kubeconfig_dir: config.data_directory.join("self-management/hub-kubeconfig"),
        lease_duration_seconds: config.agent.lease_duration_seconds,
        status_sync_seconds: config.agent.status_sync_seconds,
        client_cert_expiration_seconds: None,
        rotate_fraction: 0.8,
        eviction_grace: Duration::from_secs(3600),
        metrics_address: None,
    };
    tokio::spawn(async move {
        if let Err(e) = crate::agent::run(options).await {
            tracing::error!(error = %e, "the self-management agent stopped");
        }
    });
    Ok(())
}

/// In a pod: the admin kubeconfig published as Secrets in the pod's namespace (see the
/// module documentation). Failures are logged: the hub works without them.
pub async fn publish_kubeconfigs(pki: &crate::pki::Pki) {
    let Ok(namespace) = std::env::var("POD_NAMESPACE") else {
        return;
    };
    // In a pod the in-cluster configuration; `KUBECONFIG` when set (a hub run beside the
    // cluster, and the tests).
    let client = match kube::Config::infer().await.map(kube::Client::try_from) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot publish the admin kubeconfig");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "POD_NAMESPACE is set but no cluster configuration is found; the admin kubeconfig is not published");
            return;
        }
    };
    let admin = match pki.ensure_admin() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the admin certificate");
            return;
        }
    };
    let secrets: Api<Secret> = Api::namespaced(client, &namespace);
    // A name the serving certificate carries (`pki::service_names`).
    let service = format!("https://{}", crate::pki::service_name(&namespace));
    for (name, server) in [
        (
            "multicluster-controlplane-kubeconfig",
            pki.server_url.as_str(),
        ),
        ("multicluster-controlplane-svc-kubeconfig", service.as_str()),
    ] {
        let kubeconfig = crate::pki::kubeconfig(server, &pki.ca.cert_pem, &admin);
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"kubeconfig": kubeconfig}});
        let params = PatchParams::apply("multicluster-controlplane").force();
        match secrets.patch(name, &params, &Patch::Apply(&secret)).await {
            Ok(_) => tracing::info!(secret = name, namespace, "published the admin kubeconfig"),
            Err(e) => {
                tracing::warn!(secret = name, error = %e, "cannot publish the admin kubeconfig")
            }
        }
    }
}
