//! The add-on manager (feature gate `AddonManagement`, OCM v1.2/v1.3 semantics with the
//! v1alpha1 API): what upstream splits over the add-on manager's controllers and the
//! add-on framework's, in three reconcilers.
//!
//! - `manager`: one reconcile per ClusterManagementAddOn: ManagedClusterAddOns from the
//!   `Placements` install strategy, owner references, each cluster's desired configs
//!   (`config`) rolled out under the placement's strategy, `Configured`, and the CMA's
//!   `defaultconfigReferences` and `installProgressions`.
//! - `managed`: one reconcile per ManagedClusterAddOn: template add-ons (`template`:
//!   rendering, the deploy work, pre-delete hooks, registrations, hub RBAC, health from
//!   work feedback), then `Progressing` and `lastAppliedConfig` from the add-on's works.
//! - `health`: one reconcile per ManagedCluster: every add-on `Unknown` when its cluster is,
//!   the cluster's `feature.open-cluster-management.io/addon-<name>` labels, and its
//!   add-on annotations copied to add-ons installed by placements.
//!
//! Template add-ons' CSRs are approved, and their custom signers' certificates signed, by
//! `hub::csr` (`addon_approves`, `addon_signer`).

pub mod config;
pub mod health;
pub mod managed;
pub mod manager;
pub mod template;

use std::sync::Arc;

use serde_json::Value;

use super::controller::{self, Queue};
use super::objects::Objects;
use crate::api::ocm::{
    ADDON_NAME_LABEL, AddOnDeploymentConfig, AddOnTemplate, ClusterManagementAddOn, ManagedCluster,
    ManagedClusterAddOn, ManifestWork,
};
use crate::api::status::Status;
use crate::registry::Filter;

/// The label on works of hosted add-ons naming the managed cluster they are for.
pub const ADDON_NAMESPACE_LABEL: &str = "open-cluster-management.io/addon-namespace";
/// The CMA annotation saying who manages the add-on's lifecycle.
pub const LIFECYCLE_ANNOTATION: &str = "addon.open-cluster-management.io/lifecycle";
/// The work annotation with the spec hashes of the configs a work was rendered from.
pub const CONFIG_SPEC_HASH_ANNOTATION: &str = "open-cluster-management.io/config-spec-hash";
/// Where template add-ons find their hub kubeconfig on the managed cluster.
pub const HUB_KUBECONFIG_PATH: &str = "/managed/hub-kubeconfig/kubeconfig";

/// Whether the add-on manager handles this add-on: no lifecycle annotation, or
/// `addon-manager` (`self` means the add-on's own manager does).
pub fn managed_by_addon_manager(cma: &ClusterManagementAddOn) -> bool {
    cma.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LIFECYCLE_ANNOTATION))
        .is_none_or(|v| v == "addon-manager")
}

/// Starts the three reconcilers and their feeds.
pub async fn start(objects: &Objects) -> Result<(), Status> {
    let registry = objects.registry.clone();
    let cmas = objects.kind_of::<ClusterManagementAddOn>()?;
    let mcas = objects.kind_of::<ManagedClusterAddOn>()?;
    let works = objects.kind_of::<ManifestWork>()?;
    let clusters = objects.kind_of::<ManagedCluster>()?;
    let configs = [
        objects.kind_of::<AddOnDeploymentConfig>()?,
        objects.kind_of::<AddOnTemplate>()?,
    ];
    let placements = objects.kind("cluster.open-cluster-management.io", "placements")?;
    let decisions = objects.kind("cluster.open-cluster-management.io", "placementdecisions")?;

    // Per ClusterManagementAddOn. Placements, decisions and configs are few next to
    // clusters: any change of one requeues every CMA, whose reconcile reads current state.
    let cma_queue = Queue::default();
    let manager = Arc::new(manager::Manager::new(objects.clone())?);
    controller::run(
        "addon-manager",
        cma_queue.clone(),
        2,
        Arc::new(move |key: String| {
            let this = manager.clone();
            Box::pin(async move { this.reconcile(&key).await })
        }),
    );
    controller::feed(
        &registry,
        cmas.clone(),
        None,
        Filter::default(),
        cma_queue.clone(),
        controller::by_name(),
    );
    // Add-ons change by the thousand while they roll out; their CMA's reconcile reads all
    // of them, so their changes reach it at most once per `COALESCE`.
    controller::feed(
        &registry,
        mcas.clone(),
        None,
        Filter::default(),
        cma_queue.clone(),
        coalesced(cma_queue.clone(), |o| Some(name_of(o)?.to_string())),
    );
    let every_cma = all_cmas(objects.clone(), cma_queue.clone());
    for kind in [placements, decisions].into_iter().chain(configs.clone()) {
        controller::feed(
            &registry,
            kind,
            None,
            Filter::default(),
            cma_queue.clone(),
            every_cma.clone(),
        );
    }

    // Per ManagedClusterAddOn: the add-on, its works (by label), its CMA and configs.
    let mca_queue = Queue::default();
    let reconciler = Arc::new(managed::AddonController::new(
        objects.clone(),
        mca_queue.clone(),
    )?);
    controller::run(
        "addon",
        mca_queue.clone(),
        16,
        Arc::new(move |key: String| {
            let this = reconciler.clone();
            Box::pin(async move { this.reconcile(&key).await })
        }),
    );
    controller::feed(
        &registry,
        mcas.clone(),
        None,
        Filter::default(),
        mca_queue.clone(),
        Arc::new(|o: &Value| namespaced_key(o).into_iter().collect()),
    );
    controller::feed(
        &registry,
        works,
        None,
        Filter::default(),
        mca_queue.clone(),
        Arc::new(|o: &Value| {
            let (Some(ns), Some(addon)) = (namespace_of(o), label(o, ADDON_NAME_LABEL)) else {
                return Vec::new();
            };
            vec![format!("{ns}/{addon}")]
        }),
    );
    let every_mca = all_mcas();
    for kind in configs.into_iter().chain([cmas]) {
        controller::feed(
            &registry,
            kind,
            None,
            Filter::default(),
            mca_queue.clone(),
            every_mca.clone(),
        );
    }
    // A cluster's changes (its labels change with its add-ons' health) reach its add-ons
    // coalesced.
    controller::feed(
        &registry,
        clusters.clone(),
        None,
        Filter::default(),
        mca_queue.clone(),
        coalesced(mca_queue.clone(), |o| Some(format!("{}/*", name_of(o)?))),
    );

    // Per cluster: health and feature labels.
    let cluster_queue = Queue::default();
    let health = Arc::new(health::HealthController::new(objects.clone())?);
    controller::run(
        "addon-health",
        cluster_queue.clone(),
        2,
        Arc::new(move |key: String| {
            let this = health.clone();
            Box::pin(async move { this.reconcile(&key).await })
        }),
    );
    controller::feed(
        &registry,
        clusters,
        None,
        Filter::default(),
        cluster_queue.clone(),
        controller::by_name(),
    );
    controller::feed(
        &registry,
        mcas,
        None,
        Filter::default(),
        cluster_queue.clone(),
        coalesced(cluster_queue, |o| Some(namespace_of(o)?.to_string())),
    );
    Ok(())
}

/// How long changes are gathered before the object they affect is reconciled.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(500);

/// The key `key_of` gives a changed object, added to `queue` `COALESCE` after the first
/// change since the last time it was added: reconciles that read many objects (a CMA's
/// add-ons, a cluster's) run once for a burst of changes.
fn coalesced(queue: Queue, key_of: fn(&Value) -> Option<String>) -> controller::KeysOf {
    let pending = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    Arc::new(move |o: &Value| {
        let Some(key) = key_of(o) else {
            return Vec::new();
        };
        let fresh = pending
            .lock()
            .map(|mut p| p.insert(key.clone()))
            .unwrap_or(true);
        if fresh {
            let (queue, pending) = (queue.clone(), pending.clone());
            tokio::spawn(async move {
                tokio::time::sleep(COALESCE).await;
                if let Ok(mut p) = pending.lock() {
                    p.remove(&key);
                }
                queue.add(key);
            });
        }
        Vec::new()
    })
}

fn name_of(o: &Value) -> Option<&str> {
    o.pointer("/metadata/name").and_then(Value::as_str)
}

/// Keys of every ClusterManagementAddOn, added to `queue` from a background task (the
/// feed's callback must not wait). One listing at a time: changes that arrive while one
/// runs (a placement's decisions are written by the thousand) make it run once more, not
/// once each.
fn all_cmas(objects: Objects, queue: Queue) -> controller::KeysOf {
    // (a listing runs, another is wanted after it)
    let state = Arc::new(std::sync::Mutex::new((false, false)));
    Arc::new(move |_o: &Value| {
        {
            let mut s = state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.0 {
                s.1 = true;
                return Vec::new();
            }
            s.0 = true;
        }
        let (objects, queue, state) = (objects.clone(), queue.clone(), state.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(cmas) = objects.list_as::<ClusterManagementAddOn>(None).await {
                    for cma in cmas {
                        if let Some(name) = cma.metadata.name {
                            queue.add(name);
                        }
                    }
                }
                let mut s = state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !s.1 {
                    s.0 = false;
                    break;
                }
                s.1 = false;
            }
        });
        Vec::new()
    })
}

/// Keys of the ManagedClusterAddOns a change of a config or CMA may affect, as patterns
/// the add-on controller expands: `*/<cma>` or (configs) `*/*`.
fn all_mcas() -> controller::KeysOf {
    Arc::new(move |o: &Value| {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        match kind {
            "ClusterManagementAddOn" => vec![format!("*/{name}")],
            _ => vec!["*/*".to_string()],
        }
    })
}

/// `namespace/name` of a namespaced object.
pub fn namespaced_key(o: &Value) -> Option<String> {
    Some(format!(
        "{}/{}",
        namespace_of(o)?,
        o.pointer("/metadata/name")?.as_str()?
    ))
}

fn namespace_of(o: &Value) -> Option<&str> {
    o.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// Label `key` of an object.
pub fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}
