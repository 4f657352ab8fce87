//! The cluster-set controllers, as upstream's registration hub runs them:
//!
//! - ManagedClusterSet status: `ClusterSetEmpty` is `True` (`NoClusterMatched`, "No
//!   ManagedCluster selected") or `False` (`ClustersSelected`, "<n> ManagedClusters
//!   selected"), counting every member (ExclusiveClusterSetLabel: the clusters labelled
//!   with the set; LabelSelector: those its selector matches; `global`'s empty selector:
//!   all of them). That is what `kubectl get managedclustersets` shows as EMPTY.
//! - ManagedClusterSetBinding status: `Bound` is `True` (`ClusterSetBound`) when the set
//!   it names exists, `False` (`ClusterSetNotFound`) otherwise.

use super::Ctx;
use crate::api::meta::set_status_condition;
use crate::api::ocm::cluster_conditions::{BOUND, CLUSTER_SET_EMPTY};
use crate::api::ocm::{
    ManagedClusterSet, ManagedClusterSetBinding, ManagedClusterSetBindingStatus,
    ManagedClusterSetStatus,
};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::registry::Target;

/// Keeps a set's `ClusterSetEmpty` condition.
pub async fn reconcile_set(ctx: &Ctx, name: &str) -> Result<Requeue, Status> {
    let objects = &ctx.objects;
    let count = {
        let state = ctx
            .world
            .read()
            .map_err(|_| Status::internal("the placement state lock is poisoned"))?;
        let Some(set) = state.sets.get(name) else {
            return Ok(None);
        };
        if set.obj.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        if let Err(e) = &set.selector {
            tracing::warn!(set = name, error = %e, "the cluster set's selector is invalid");
            return Ok(None);
        }
        set.members.len()
    };
    let Some(mut set) = objects.get_as::<ManagedClusterSet>(None, name).await? else {
        return Ok(None);
    };
    let (status, reason, message) = match count {
        0 => (
            "True",
            "NoClusterMatched",
            "No ManagedCluster selected".to_string(),
        ),
        n => (
            "False",
            "ClustersSelected",
            format!("{n} ManagedClusters selected"),
        ),
    };
    let conditions = &mut set
        .status
        .get_or_insert_with(ManagedClusterSetStatus::default)
        .conditions;
    if set_status_condition(
        conditions,
        CLUSTER_SET_EMPTY,
        status,
        reason,
        &message,
        None,
    ) {
        let stored = objects.update_as(&set, Target::Status).await?;
        ctx.apply(|state| state.upsert_set(stored));
    }
    Ok(None)
}

/// Keeps a binding's `Bound` condition; `key` is `<namespace>/<name>`.
pub async fn reconcile_binding(ctx: &Ctx, key: &str) -> Result<Requeue, Status> {
    let objects = &ctx.objects;
    let Some((ns, name)) = key.split_once('/') else {
        return Ok(None);
    };
    let Some(mut binding) = objects
        .get_as::<ManagedClusterSetBinding>(Some(ns), name)
        .await?
    else {
        return Ok(None);
    };
    let exists = ctx
        .world
        .read()
        .map_err(|_| Status::internal("the placement state lock is poisoned"))?
        .sets
        .contains_key(&binding.spec.cluster_set);
    let (status, reason) = match exists {
        true => ("True", "ClusterSetBound"),
        false => ("False", "ClusterSetNotFound"),
    };
    let conditions = &mut binding
        .status
        .get_or_insert_with(ManagedClusterSetBindingStatus::default)
        .conditions;
    if set_status_condition(conditions, BOUND, status, reason, "", None) {
        let stored = objects.update_as(&binding, Target::Status).await?;
        ctx.apply(|state| state.upsert_binding(stored));
    }
    Ok(None)
}
