//! The hub controllers of OCM registration: start-up objects, CSR approval and signing,
//! the ManagedCluster controller (acceptance, RBAC, lease health, taints, cleanup),
//! bootstrap-token expiry, and the admission rules of the OCM kinds; placement (the
//! scheduler, the cluster-set controllers and cluster profiles); ManifestWorkReplicaSets
//! and the rollout strategies they follow; the add-on manager (`addon`).

pub mod addon;
pub mod admission;
pub mod bootstrap;
pub mod cluster;
pub mod controller;
pub mod csr;
pub mod election;
pub mod objects;
pub mod placement;
pub mod replicaset;
pub mod rollout;
pub mod tokens;
pub mod workgc;

use std::sync::Arc;
use std::time::Duration;

use crate::api::status::Status;
use crate::auth::authz::Authorizer;
use crate::config::Config;
use crate::pki::Pki;
use crate::registry::Registry;

/// The registry's mutating admission for the OCM kinds, per the configuration (this also
/// sets the ManifestWork size limit validation uses).
pub fn mutator(config: &Config) -> Arc<crate::registry::MutateFn> {
    admission::set_max_manifest_work_bytes(config.controllers.max_manifest_work_bytes);
    let default_set = config.controllers.feature_gates.default_cluster_set;
    Arc::new(move |kind, object, old| admission::mutate(kind, object, old, default_set))
}

/// The hub's validating admission (ManagedCluster, ManagedClusterSetBinding and
/// ManifestWork rules, with permission checks through `authz`), for
/// `Registry::with_validator`.
pub fn validator(authz: Authorizer) -> Arc<crate::registry::ValidateFn> {
    Arc::new(move |kind, new, old, user| {
        if admission::validates(kind) {
            admission::validate(&authz, user, kind, new, old)
        } else {
            Ok(())
        }
    })
}

/// Creates the start-up objects and starts every hub controller.
pub async fn start(
    registry: &Registry,
    authorizer: &Authorizer,
    pki: &Arc<Pki>,
    config: &Config,
) -> Result<(), Status> {
    let objects = objects::Objects::new(registry.clone());
    let gates = &config.controllers.feature_gates;
    bootstrap::ensure(
        &objects,
        &pki.server_url,
        &pki.ca.cert_pem,
        gates.default_cluster_set,
    )
    .await?;
    bootstrap::start(&objects, pki.ca.cert_pem.clone(), gates.default_cluster_set).await?;
    tokens::start_cleaner(&objects).await?;
    csr::CsrController {
        objects: objects.clone(),
        pki: pki.clone(),
        authorizer: authorizer.clone(),
        max_expiration: Duration::from_secs(config.controllers.max_cert_expiration_seconds),
        auto_approve_users: if gates.managed_cluster_auto_approval {
            config.controllers.auto_approval_bootstrap_users.clone()
        } else {
            Vec::new()
        },
    }
    .start()
    .await?;
    placement::start(&objects, gates.cluster_profile).await?;
    if gates.manifest_work_replica_set {
        replicaset::start(&objects).await?;
    }
    if gates.clean_up_completed_manifest_work {
        workgc::start(&objects).await?;
    }
    if gates.addon_management {
        addon::start(&objects).await?;
    }
    cluster::ClusterController::new(objects)?.start(4).await
}
