//! ClusterProfiles (feature gate `ClusterProfile`), as upstream's registration hub keeps
//! them since v1.2.0:
//!
//! - Lifecycle, per namespace: every non-deleting member of a set bound to the namespace
//!   by a binding whose `Bound` condition is True has a ClusterProfile named after it
//!   there (labels `x-k8s.io/cluster-manager=open-cluster-management` and
//!   `open-cluster-management.io/cluster-name`, `spec.displayName` the cluster's name,
//!   `spec.clusterManager.name` `open-cluster-management`); OCM's profiles of other
//!   clusters are deleted. Terminating namespaces are left alone.
//! - Status, per cluster: `status.version.kubernetes`, `status.properties` from the
//!   cluster claims, `ControlPlaneHealthy` from `ManagedClusterConditionAvailable` and
//!   `Joined` from `ManagedClusterJoined`; then the labels, with
//!   `multicluster.x-k8s.io/clusterset` from the cluster's cluster-set label.

use k8s_openapi::api::core::v1::Namespace;
use std::collections::BTreeSet;

use super::Ctx;
use crate::api::meta::{find_condition, is_condition_true, set_status_condition};
use crate::api::ocm::cluster_conditions::{AVAILABLE, BOUND, JOINED};
use crate::api::ocm::names::CLUSTER_NAME_LABEL;
use crate::api::ocm::profile::{
    CONTROL_PLANE_HEALTHY, ClusterProfile, ClusterProfileSpec, ClusterProfileStatus,
    JOINED as PROFILE_JOINED, LABEL_CLUSTER_MANAGER, LABEL_CLUSTER_SET, OCM_CLUSTER_MANAGER,
    ProfileClusterManager, ProfileProperty, ProfileVersion,
};
use crate::api::ocm::{CLUSTER_SET_LABEL, ManagedCluster};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::registry::Target;

/// Stores the ClusterProfile CRD (kept, like upstream, when the gate is turned off later).
pub async fn install_crd(ctx: &Ctx) -> Result<(), Status> {
    let kind = ctx
        .objects
        .kind("apiextensions.k8s.io", "customresourcedefinitions")?;
    let crd = serde_json::to_value(crate::api::ocm::profile::crd())
        .map_err(|e| Status::internal(format!("cannot encode the ClusterProfile CRD: {e}")))?;
    ctx.objects.ensure(&kind, None, crd, &["spec"]).await?;
    ctx.objects.kind_of::<ClusterProfile>().map(|_| ())
}

/// Creates and deletes OCM's ClusterProfiles in namespace `ns`.
pub async fn reconcile_namespace(ctx: &Ctx, ns: &str) -> Result<Requeue, Status> {
    match ctx.objects.get_as::<Namespace>(None, ns).await? {
        None => return Ok(None),
        Some(n) if n.metadata.deletion_timestamp.is_some() => return Ok(None),
        Some(_) => {}
    }
    let (desired, existing) = {
        let state = ctx
            .world
            .read()
            .map_err(|_| Status::internal("the placement state lock is poisoned"))?;
        let mut desired = BTreeSet::new();
        for (_, binding) in state.bindings_in(ns) {
            let conditions = binding
                .obj
                .status
                .as_ref()
                .map(|s| s.conditions.as_slice())
                .unwrap_or_default();
            if !is_condition_true(conditions, BOUND) {
                continue;
            }
            let Some(set) = state.sets.get(&binding.obj.spec.cluster_set) else {
                continue;
            };
            for id in &set.members {
                if let Some(c) = state.cluster(*id)
                    && !c.deleting
                {
                    desired.insert(state.name(*id).to_string());
                }
            }
        }
        (desired, state.managed_profiles_in(ns))
    };
    let mut failed = None;
    for cluster in desired.difference(&existing) {
        let mut profile = ClusterProfile::new(
            cluster,
            ClusterProfileSpec {
                display_name: Some(cluster.clone()),
                cluster_manager: ProfileClusterManager {
                    name: OCM_CLUSTER_MANAGER.into(),
                },
            },
        );
        profile.metadata.namespace = Some(ns.to_string());
        profile.metadata.labels = Some(
            [
                (
                    LABEL_CLUSTER_MANAGER.to_string(),
                    OCM_CLUSTER_MANAGER.to_string(),
                ),
                (CLUSTER_NAME_LABEL.to_string(), cluster.clone()),
            ]
            .into(),
        );
        match ctx.objects.create_as(&profile).await {
            Ok(stored) => ctx.apply(|state| state.change_profile(&stored, false)),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => failed = Some(e),
        }
    }
    for name in existing.difference(&desired) {
        match ctx
            .objects
            .delete_as::<ClusterProfile>(Some(ns), name)
            .await
        {
            Ok(()) => {
                let mut gone = ClusterProfile::new(name, ClusterProfileSpec::default());
                gone.metadata.namespace = Some(ns.to_string());
                ctx.apply(|state| state.change_profile(&gone, true));
            }
            Err(e) => failed = Some(e),
        }
    }
    failed.map_or(Ok(None), Err)
}

/// Copies what the profiles of `cluster` report from the ManagedCluster.
pub async fn reconcile_cluster(ctx: &Ctx, cluster: &str) -> Result<Requeue, Status> {
    let (mc, profiles) = {
        let state = ctx
            .world
            .read()
            .map_err(|_| Status::internal("the placement state lock is poisoned"))?;
        let Some(entry) = state.cluster_named(cluster) else {
            return Ok(None);
        };
        (entry.obj.clone(), state.profiles_of(cluster))
    };
    for (ns, name) in profiles {
        let Some(mut profile) = ctx
            .objects
            .get_as::<ClusterProfile>(Some(&ns), &name)
            .await?
        else {
            continue;
        };
        if profile.spec.cluster_manager.name != OCM_CLUSTER_MANAGER {
            continue;
        }
        let before = profile.status.clone();
        sync_status(
            profile
                .status
                .get_or_insert_with(ClusterProfileStatus::default),
            &mc,
        );
        if profile.status != before {
            profile = ctx.objects.update_as(&profile, Target::Status).await?;
        }
        let set = mc
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CLUSTER_SET_LABEL))
            .cloned()
            .unwrap_or_default();
        let wanted = [
            (LABEL_CLUSTER_MANAGER, OCM_CLUSTER_MANAGER.to_string()),
            (LABEL_CLUSTER_SET, set),
            (CLUSTER_NAME_LABEL, cluster.to_string()),
        ];
        let labels = profile.metadata.labels.get_or_insert_with(Default::default);
        if wanted.iter().any(|(k, v)| labels.get(*k) != Some(v)) {
            for (k, v) in wanted {
                labels.insert(k.to_string(), v);
            }
            profile = ctx.objects.update_as(&profile, Target::Main).await?;
        }
        let stored = profile;
        ctx.apply(|state| state.change_profile(&stored, false));
    }
    Ok(None)
}

fn sync_status(status: &mut ClusterProfileStatus, cluster: &ManagedCluster) {
    let source = cluster.status.clone().unwrap_or_default();
    status.version = Some(ProfileVersion {
        kubernetes: source.version.and_then(|v| v.kubernetes),
    });
    status.properties = source
        .cluster_claims
        .iter()
        .map(|c| ProfileProperty {
            name: c.name.clone().unwrap_or_default(),
            value: c.value.clone().unwrap_or_default(),
            last_observed_time: None,
        })
        .collect();
    for (from, to) in [(AVAILABLE, CONTROL_PLANE_HEALTHY), (JOINED, PROFILE_JOINED)] {
        if let Some(c) = find_condition(&source.conditions, from) {
            set_status_condition(
                &mut status.conditions,
                to,
                &c.status,
                &c.reason,
                &c.message,
                None,
            );
        }
    }
}
