//! What the agent reports about its managed cluster, and its heartbeat: the
//! ManagedCluster status (`ManagedClusterJoined`, `ManagedClusterConditionAvailable` from
//! the managed API server's `/livez`, Kubernetes version, capacity and allocatable summed
//! over nodes, ClusterClaims) and the `managed-cluster-lease` renewal.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};

use super::api_code;
use super::quantity;
use crate::api::meta::set_status_condition;
use crate::api::ocm::cluster_conditions::{AVAILABLE, HUB_ACCEPTED, JOINED};
use crate::api::ocm::names::LEASE_NAME;
use crate::api::ocm::{ClusterClaim, ManagedCluster, ManagedClusterClaim, ManagedClusterVersion};

const SPOKE_ONLY: &str = "open-cluster-management.io/spoke-only";
const MAX_CUSTOM_CLAIMS: usize = 20;

/// Renews the cluster's lease on the hub.
pub async fn renew_lease(hub: &kube::Client, cluster: &str) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(hub.clone(), cluster);
    let mut lease = api.get(LEASE_NAME).await?;
    lease.spec.get_or_insert_default().renew_time =
        Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
    api.replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

/// Health, version and resources of the managed cluster, as a ManagedCluster status.
pub struct Observed {
    pub available: (String, String, String),
    pub version: Option<String>,
    pub capacity: BTreeMap<String, Quantity>,
    pub allocatable: BTreeMap<String, Quantity>,
    pub claims: Vec<ManagedClusterClaim>,
}

/// `GET path` as text (health endpoints), keeping the HTTP code in the error.
async fn text(client: &kube::Client, path: &str) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await
}

/// Looks at the managed cluster.
pub async fn observe(managed: &kube::Client) -> Observed {
    let mut health = text(managed, "/livez").await;
    if let Err(e) = &health
        && matches!(api_code(e), Some(404 | 403))
    {
        health = text(managed, "/healthz").await;
    }
    let mut observed = Observed {
        available: match &health {
            Ok(_) => (
                "True".into(),
                "ManagedClusterAvailable".into(),
                "Managed cluster is available".into(),
            ),
            Err(e) => (
                "False".into(),
                "ManagedClusterKubeAPIServerUnavailable".into(),
                format!("The kube-apiserver is not ok: {e}"),
            ),
        },
        version: None,
        capacity: BTreeMap::new(),
        allocatable: BTreeMap::new(),
        claims: Vec::new(),
    };
    if health.is_err() {
        return observed;
    }
    observed.version = managed
        .apiserver_version()
        .await
        .ok()
        .map(|v| v.git_version);
    if let Ok(nodes) = Api::<Node>::all(managed.clone())
        .list(&ListParams::default())
        .await
    {
        let unschedulable = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
        let status = |n: &Node| n.status.clone().unwrap_or_default();
        observed.capacity = sum(nodes.items.iter().filter_map(|n| status(n).capacity));
        observed.allocatable = sum(nodes
            .items
            .iter()
            .filter(|n| !unschedulable(n))
            .filter_map(|n| status(n).allocatable));
    }
    if let Ok(list) = Api::<ClusterClaim>::all(managed.clone())
        .list(&ListParams::default())
        .await
    {
        let mut claims: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|c| !c.labels().contains_key(SPOKE_ONLY))
            .map(|c| (c.name_any(), c.spec.value.clone().unwrap_or_default()))
            .collect();
        claims.sort();
        // Reserved claims (`*.open-cluster-management.io`) first, then at most 20 custom ones.
        let (reserved, custom): (Vec<_>, Vec<_>) = claims
            .into_iter()
            .partition(|(n, _)| n.ends_with(".open-cluster-management.io"));
        observed.claims = reserved
            .into_iter()
            .chain(custom.into_iter().take(MAX_CUSTOM_CLAIMS))
            .map(|(name, value)| ManagedClusterClaim {
                name: Some(name),
                value: Some(value),
            })
            .collect();
    }
    observed
}

/// Resource lists summed by name (quantities that do not parse are left out).
fn sum(lists: impl Iterator<Item = BTreeMap<String, Quantity>>) -> BTreeMap<String, Quantity> {
    let mut totals: BTreeMap<String, quantity::Quantity> = BTreeMap::new();
    for list in lists {
        for (name, value) in list {
            if let Some(q) = quantity::parse(&value.0) {
                let entry = totals.entry(name).or_insert(quantity::Quantity {
                    milli: 0,
                    binary: false,
                });
                *entry = quantity::add(*entry, q);
            }
        }
    }
    totals
        .into_iter()
        .map(|(k, q)| (k, Quantity(quantity::format(q))))
        .collect()
}

/// Writes the observed state into the cluster's status when it changed. Returns the
/// ManagedCluster as the hub now has it; nothing is reported before the hub accepted it.
pub async fn report(
    hub: &kube::Client,
    cluster: &str,
    observed: &Observed,
) -> Result<ManagedCluster, kube::Error> {
    let api: Api<ManagedCluster> = Api::all(hub.clone());
    let current = api.get(cluster).await?;
    let accepted = current
        .status
        .as_ref()
        .is_some_and(|s| crate::api::meta::is_condition_true(&s.conditions, HUB_ACCEPTED));
    if !accepted {
        return Ok(current);
    }
    let mut next = current.clone();
    let status = next.status.get_or_insert_default();
    set_status_condition(
        &mut status.conditions,
        JOINED,
        "True",
        "ManagedClusterJoined",
        "Managed cluster joined",
        None,
    );
    let (available, reason, message) = &observed.available;
    set_status_condition(
        &mut status.conditions,
        AVAILABLE,
        available,
        reason,
        message,
        None,
    );
    if let Some(v) = &observed.version {
        status.version = Some(ManagedClusterVersion {
            kubernetes: Some(v.clone()),
        });
    }
    if available == "True" {
        // Keep resource names other reporters added; ours are replaced.
        status.capacity.extend(observed.capacity.clone());
        status.allocatable.extend(observed.allocatable.clone());
        status.cluster_claims = observed.claims.clone();
    }
    if next == current {
        return Ok(current);
    }
    api.replace_status(cluster, &PostParams::default(), &next)
        .await
}
