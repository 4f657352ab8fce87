//! What the agent reports about its managed cluster, and its heartbeat: the
//! ManagedCluster status (`ManagedClusterJoined`, `ManagedClusterConditionAvailable` from
//! the managed API server's `/livez`, Kubernetes version, capacity and allocatable summed
//! over nodes, ClusterClaims) and the `managed-cluster-lease` renewal.

use serde_json::{Value, json};

use super::quantity;
use super::register::CLUSTERS;
use super::rest::{Rest, RestError};
use crate::api::meta::{condition_status, now_micro, set_condition};
use crate::api::ocm::cluster_conditions::{AVAILABLE, HUB_ACCEPTED, JOINED};
use crate::api::ocm::names::LEASE_NAME;

const SPOKE_ONLY: &str = "open-cluster-management.io/spoke-only";
const MAX_CUSTOM_CLAIMS: usize = 20;

/// Renews the cluster's lease on the hub.
pub async fn renew_lease(hub: &Rest, cluster: &str) -> Result<(), RestError> {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/{cluster}/leases/{LEASE_NAME}");
    let mut lease = hub.get(&path).await?;
    lease["spec"]["renewTime"] = json!(now_micro());
    hub.put(&path, &lease).await.map(|_| ())
}

/// Health, version and resources of the managed cluster, as a ManagedCluster status.
pub struct Observed {
    pub available: (String, String, String),
    pub version: Option<String>,
    pub capacity: serde_json::Map<String, Value>,
    pub allocatable: serde_json::Map<String, Value>,
    pub claims: Vec<Value>,
}

/// Looks at the managed cluster.
pub async fn observe(managed: &Rest) -> Observed {
    let mut health = managed.text("/livez").await;
    if let Err(e) = &health
        && (e.is(404) || e.is(403))
    {
        health = managed.text("/healthz").await;
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
        capacity: Default::default(),
        allocatable: Default::default(),
        claims: Vec::new(),
    };
    if health.is_err() {
        return observed;
    }
    observed.version = managed
        .client
        .apiserver_version()
        .await
        .ok()
        .map(|v| v.git_version);
    if let Ok(nodes) = managed.get("/api/v1/nodes").await {
        let items = nodes
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let unschedulable =
            |n: &Value| n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
        observed.capacity = sum(items.iter().map(|n| n.pointer("/status/capacity")));
        observed.allocatable = sum(items
            .iter()
            .filter(|n| !unschedulable(n))
            .map(|n| n.pointer("/status/allocatable")));
    }
    if let Ok(Some(list)) = managed
        .get_opt("/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims")
        .await
    {
        let mut claims: Vec<(String, String)> = list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| {
                c.pointer(&format!(
                    "/metadata/labels/{}",
                    SPOKE_ONLY.replace('/', "~1")
                ))
                .is_none()
            })
            .filter_map(|c| {
                Some((
                    c.pointer("/metadata/name")?.as_str()?.to_string(),
                    c.pointer("/spec/value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ))
            })
            .collect();
        claims.sort();
        // Reserved claims (`*.open-cluster-management.io`) first, then at most 20 custom ones.
        let (reserved, custom): (Vec<_>, Vec<_>) = claims
            .into_iter()
            .partition(|(n, _)| n.ends_with(".open-cluster-management.io"));
        observed.claims = reserved
            .into_iter()
            .chain(custom.into_iter().take(MAX_CUSTOM_CLAIMS))
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
    }
    observed
}

fn sum<'a>(lists: impl Iterator<Item = Option<&'a Value>>) -> serde_json::Map<String, Value> {
    let mut totals: std::collections::BTreeMap<String, quantity::Quantity> = Default::default();
    for list in lists.flatten().filter_map(Value::as_object) {
        for (name, value) in list {
            if let Some(q) = value.as_str().and_then(quantity::parse) {
                let entry = totals.entry(name.clone()).or_insert(quantity::Quantity {
                    milli: 0,
                    binary: false,
                });
                *entry = quantity::add(*entry, q);
            }
        }
    }
    totals
        .into_iter()
        .map(|(k, q)| (k, json!(quantity::format(q))))
        .collect()
}

/// Writes the observed state into the cluster's status when it changed. Returns the
/// ManagedCluster as the hub now has it; nothing is reported before the hub accepted it.
pub async fn report(hub: &Rest, cluster: &str, observed: &Observed) -> Result<Value, RestError> {
    let path = format!("{CLUSTERS}/{cluster}");
    let current = hub.get(&path).await?;
    if condition_status(&current, HUB_ACCEPTED) != Some("True") {
        return Ok(current);
    }
    let mut next = current.clone();
    set_condition(
        &mut next,
        JOINED,
        "True",
        "ManagedClusterJoined",
        "Managed cluster joined",
    );
    let (status, reason, message) = &observed.available;
    set_condition(&mut next, AVAILABLE, status, reason, message);
    if let Some(v) = &observed.version {
        next["status"]["version"] = json!({"kubernetes": v});
    }
    if status == "True" {
        // Keep resource names other reporters added; ours are replaced.
        for (field, values) in [
            ("capacity", &observed.capacity),
            ("allocatable", &observed.allocatable),
        ] {
            if !next["status"].get(field).is_some_and(Value::is_object) {
                next["status"][field] = json!({});
            }
            for (k, v) in values {
                next["status"][field][k] = v.clone();
            }
        }
        next["status"]["clusterClaims"] = Value::Array(observed.claims.clone());
    }
    if next == current {
        return Ok(current);
    }
    hub.put(&format!("{path}/status"), &next).await
}
