//! The ManagedCluster controller: what the hub does for each cluster.
//!
//! - Every live cluster carries the cleanup finalizer.
//! - Accepted (`hubAcceptsClient: true`): the cluster namespace, the per-cluster
//!   ClusterRole/ClusterRoleBinding and registration/work RoleBindings (OCM's names and
//!   rules), the shared registration and work ClusterRoles, the `managed-cluster-lease`,
//!   and `HubAcceptedManagedCluster=True`.
//! - Lease health: `ManagedClusterConditionAvailable=Unknown` once the lease is older than
//!   5 × `leaseDurationSeconds`; `ManagedClusterConditionClockSynced` on each renewal;
//!   the `unreachable`/`unavailable` taints follow the Available condition.
//! - Denied after being accepted: the RoleBindings go, the ClusterRole is reduced to
//!   reading the cluster's own ManagedCluster, `HubAcceptedManagedCluster=False`.
//! - Deleted: its ManifestWorks and add-ons are deleted (and waited for), then its RBAC and
//!   its namespace, then the finalizer is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::controller::{self, Queue, Requeue};
use super::objects::Objects;
use crate::api::Kind;
use crate::api::meta::{find_condition, now_micro, set_status_condition};
use crate::api::ocm::cluster_conditions::{AVAILABLE, CLOCK_SYNCED, DELETING, HUB_ACCEPTED};
use crate::api::ocm::names::{CLUSTER_FINALIZER, CLUSTER_NAME_LABEL, LEASE_NAME, WORK_FINALIZER};
use crate::api::ocm::{
    DEFAULT_LEASE_SECONDS, ManagedCluster, TAINT_UNAVAILABLE, TAINT_UNREACHABLE, Taint, TaintEffect,
};
use crate::api::status::Status;
use crate::registry::{Filter, Target};

const REGISTRATION_ROLE: &str = "open-cluster-management:managedcluster:registration";
const WORK_ROLE: &str = "open-cluster-management:managedcluster:work";
const LEASE_GRACE_TIMES: u64 = 5;
const RBAC: &str = "rbac.authorization.k8s.io";

/// The name of the per-cluster ClusterRole and ClusterRoleBinding.
pub fn cluster_role_name(cluster: &str) -> String {
    format!("open-cluster-management:managedcluster:{cluster}")
}

fn subjects(cluster: &str) -> Value {
    json!([
        {"apiGroup": RBAC, "kind": "Group", "name": format!("system:open-cluster-management:{cluster}")},
        {"apiGroup": RBAC, "kind": "Group", "name": format!("open-cluster-management:{cluster}")},
    ])
}

/// The per-cluster ClusterRole: full (accepted) or reduced to reading its own cluster.
fn cluster_role(cluster: &str, accepted: bool) -> Value {
    let mut rules = vec![
        json!({"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"],
        "resourceNames": [cluster], "verbs": ["get", "list", "watch"]}),
    ];
    if accepted {
        rules = vec![
            json!({"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list", "watch"]}),
            json!({"apiGroups": ["register.open-cluster-management.io"], "resources": ["managedclusters/clientcertificates"], "verbs": ["renew"]}),
            json!({"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"], "resourceNames": [cluster], "verbs": ["get", "list", "update", "watch"]}),
            json!({"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters/status"], "resourceNames": [cluster], "verbs": ["patch", "update"]}),
        ];
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": cluster_role_name(cluster), "labels": {CLUSTER_NAME_LABEL: cluster}},
        "rules": rules})
}

fn shared_roles() -> [Value; 2] {
    [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": REGISTRATION_ROLE, "labels": {CLUSTER_NAME_LABEL: ""}},
        "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": ["addon.open-cluster-management.io"], "resources": ["managedclusteraddons"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["addon.open-cluster-management.io"], "resources": ["managedclusteraddons/status"], "verbs": ["patch", "update"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": WORK_ROLE, "labels": {CLUSTER_NAME_LABEL: ""}},
        "rules": [
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks"], "verbs": ["get", "list", "watch", "update", "patch"]},
            {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks/status"], "verbs": ["patch", "update"]},
        ]}),
    ]
}

fn role_binding(cluster: &str, suffix: &str, role: &str, finalizer: Option<&str>) -> Value {
    let mut rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": format!("{}:{suffix}", cluster_role_name(cluster)), "namespace": cluster,
            "labels": {CLUSTER_NAME_LABEL: cluster}},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects(cluster)});
    if let Some(f) = finalizer {
        rb["metadata"]["finalizers"] = json!([f]);
    }
    rb
}

/// Kinds the controller touches, resolved once.
struct Kinds {
    clusters: Arc<Kind>,
    namespaces: Arc<Kind>,
    leases: Arc<Kind>,
    cluster_roles: Arc<Kind>,
    cluster_bindings: Arc<Kind>,
    bindings: Arc<Kind>,
    works: Option<Arc<Kind>>,
    addons: Option<Arc<Kind>>,
}

/// The controller.
pub struct ClusterController {
    objects: Objects,
    kinds: Kinds,
    /// The last lease renewal seen per cluster (clock-sync checks run on changes only).
    renewals: Mutex<HashMap<String, String>>,
    /// Clusters whose namespace, RBAC and lease were made, by ManagedCluster generation:
    /// a lease renewal does not redo them.
    granted: Mutex<HashMap<String, i64>>,
    /// Each cluster's Available status, for the `ocm_managed_clusters` gauge.
    available: Mutex<HashMap<String, String>>,
}

impl ClusterController {
    pub fn new(objects: Objects) -> Result<ClusterController, Status> {
        let kinds = Kinds {
            clusters: objects.kind("cluster.open-cluster-management.io", "managedclusters")?,
            namespaces: objects.kind("", "namespaces")?,
            leases: objects.kind("coordination.k8s.io", "leases")?,
            cluster_roles: objects.kind(RBAC, "clusterroles")?,
            cluster_bindings: objects.kind(RBAC, "clusterrolebindings")?,
            bindings: objects.kind(RBAC, "rolebindings")?,
            works: objects
                .kind("work.open-cluster-management.io", "manifestworks")
                .ok(),
            addons: objects
                .kind("addon.open-cluster-management.io", "managedclusteraddons")
                .ok(),
        };
        // Every state shows, at zero until a cluster has it.
        for state in ["True", "False", "Unknown"] {
            let _ = crate::metrics::get()
                .clusters
                .get_or_create(&crate::metrics::ClusterLabels {
                    available: state.into(),
                });
        }
        Ok(ClusterController {
            objects,
            kinds,
            renewals: Mutex::default(),
            granted: Mutex::default(),
            available: Mutex::default(),
        })
    }

    /// Starts the controller: ManagedClusters and their leases feed it.
    pub async fn start(self, workers: usize) -> Result<(), Status> {
        let queue = Queue::default();
        let registry = self.objects.registry.clone();
        let (clusters, leases) = (self.kinds.clusters.clone(), self.kinds.leases.clone());
        let this = Arc::new(self);
        controller::run(
            "managedcluster",
            queue.clone(),
            workers,
            Arc::new(move |name: String| {
                let this = this.clone();
                Box::pin(async move { this.reconcile(&name).await })
            }),
        );
        controller::feed(
            &registry,
            clusters,
            None,
            Filter::default(),
            queue.clone(),
            controller::by_name(),
        );
        let only_cluster_leases = Filter {
            fields: crate::registry::selector::FieldSelector::parse_for(
                &format!("metadata.name={LEASE_NAME}"),
                &leases,
            )
            .map_err(Status::bad_request)?,
            ..Filter::default()
        };
        controller::feed(
            &registry,
            leases,
            None,
            only_cluster_leases,
            queue,
            controller::by_namespace(),
        );
        Ok(())
    }

    async fn reconcile(&self, name: &str) -> Result<Requeue, Status> {
        let outcome = self.reconcile_cluster(name).await;
        self.count_available(name).await;
        outcome
    }

    /// Keeps `ocm_managed_clusters{available=...}` current: this cluster's Available
    /// status as stored now (none once it is gone), then the counts.
    async fn count_available(&self, name: &str) {
        let Ok(cluster) = self.objects.get_as::<ManagedCluster>(None, name).await else {
            return;
        };
        let status = cluster.map(|c| {
            c.status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, AVAILABLE))
                .map_or_else(|| "Unknown".to_string(), |c| c.status.clone())
        });
        let Ok(mut all) = self.available.lock() else {
            return;
        };
        let before = match &status {
            Some(s) => all.insert(name.to_string(), s.clone()),
            None => all.remove(name),
        };
        if before == status {
            return;
        }
        // Counted as they change: a recount would visit every cluster on every reconcile.
        let gauges = &crate::metrics::get().clusters;
        let gauge = |state: &str| {
            gauges
                .get_or_create(&crate::metrics::ClusterLabels {
                    available: state.into(),
                })
                .clone()
        };
        let counted = |s: &Option<String>| {
            s.as_deref()
                .filter(|s| ["True", "False", "Unknown"].contains(s))
                .map(gauge)
        };
        if let Some(g) = counted(&before) {
            g.dec();
        }
        if let Some(g) = counted(&status) {
            g.inc();
        }
    }

    async fn reconcile_cluster(&self, name: &str) -> Result<Requeue, Status> {
        let Some(mut cluster) = self.objects.get_as::<ManagedCluster>(None, name).await? else {
            self.forget(name);
            return Ok(None);
        };
        if cluster.metadata.deletion_timestamp.is_some() {
            self.forget(name);
            return self.clean_up(cluster, name).await;
        }
        if !cluster.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
            cluster.finalizers_mut().push(CLUSTER_FINALIZER.to_string());
            cluster = self.objects.update_as(&cluster, Target::Main).await?;
        }
        let before = cluster.clone();
        let status_of = |c: &ManagedCluster, t: &str| -> Option<String> {
            c.status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, t))
                .map(|c| c.status.clone())
        };
        if !cluster.spec.hub_accepts_client {
            if status_of(&cluster, HUB_ACCEPTED).as_deref() == Some("True") {
                self.forget(name);
                self.revoke(name).await?;
                set_condition(
                    &mut cluster,
                    HUB_ACCEPTED,
                    "False",
                    "HubClusterAdminDenied",
                    "Denied by hub cluster admin",
                );
            }
            // A denied cluster stops renewing: its lease still ages it to Unknown.
            let requeue = match status_of(&cluster, HUB_ACCEPTED) {
                Some(_) => self.lease_health(&mut cluster, name).await?,
                None => None,
            };
            if cluster != before {
                cluster = self.objects.update_as(&cluster, Target::Status).await?;
            }
            if requeue.is_some() {
                self.taints(cluster).await?;
            }
            return Ok(requeue);
        }
        let mut requeue = None;
        let generation = cluster.metadata.generation.unwrap_or(0);
        let done = self
            .granted
            .lock()
            .is_ok_and(|g| g.get(name) == Some(&generation));
        let granted = match done {
            true => Ok(()),
            false => self.grant(&cluster, name).await,
        };
        match granted {
            Ok(()) => {
                if let Ok(mut g) = self.granted.lock() {
                    g.insert(name.to_string(), generation);
                }
                set_condition(
                    &mut cluster,
                    HUB_ACCEPTED,
                    "True",
                    "HubClusterAdminAccepted",
                    "Accepted by hub cluster admin",
                );
                requeue = self.lease_health(&mut cluster, name).await?;
            }
            Err(e) => {
                set_condition(&mut cluster, HUB_ACCEPTED, "False", "Error", &e.message);
                requeue = requeue.or(Some(Duration::from_secs(5)));
            }
        }
        if cluster != before {
            cluster = self.objects.update_as(&cluster, Target::Status).await?;
        }
        self.taints(cluster).await?;
        Ok(requeue)
    }

    fn forget(&self, name: &str) {
        if let Ok(mut r) = self.renewals.lock() {
            r.remove(name);
        }
        if let Ok(mut g) = self.granted.lock() {
            g.remove(name);
        }
    }

    /// Namespace, RBAC and lease of an accepted cluster.
    async fn grant(&self, cluster: &ManagedCluster, name: &str) -> Result<(), Status> {
        let k = &self.kinds;
        let ns = self
            .objects
            .ensure(
                &k.namespaces,
                None,
                json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {CLUSTER_NAME_LABEL: name}}}),
                &[],
            )
            .await?;
        if ns.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(Status::new(
                axum::http::StatusCode::CONFLICT,
                "Conflict",
                format!("namespace {name} is terminating; the cluster is accepted once it is gone"),
            ));
        }
        for role in shared_roles() {
            self.objects
                .ensure(&k.cluster_roles, None, role, &["rules"])
                .await?;
        }
        self.objects
            .ensure(&k.cluster_roles, None, cluster_role(name, true), &["rules"])
            .await?;
        self.objects
            .ensure(&k.cluster_bindings, None, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": cluster_role_name(name), "labels": {CLUSTER_NAME_LABEL: name}},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": cluster_role_name(name)},
                "subjects": subjects(name)}), &["subjects", "roleRef"])
            .await?;
        self.objects
            .ensure(
                &k.bindings,
                Some(name),
                role_binding(name, "registration", REGISTRATION_ROLE, None),
                &["subjects", "roleRef"],
            )
            .await?;
        self.objects
            .ensure(
                &k.bindings,
                Some(name),
                role_binding(name, "work", WORK_ROLE, Some(WORK_FINALIZER)),
                &["subjects", "roleRef"],
            )
            .await?;
        if self
            .objects
            .get(&k.leases, Some(name), LEASE_NAME)
            .await?
            .is_none()
        {
            let seconds = lease_period(cluster);
            let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": name, "labels": {CLUSTER_NAME_LABEL: name}},
                "spec": {"holderIdentity": LEASE_NAME, "leaseDurationSeconds": seconds, "renewTime": now_micro()}});
            match self
                .objects
                .registry
                .create(&k.leases, Some(name), lease)
                .await
            {
                Ok(_) => {}
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Availability from the lease age, clock sync from each new renewal. Returns when to
    /// look again.
    async fn lease_health(
        &self,
        cluster: &mut ManagedCluster,
        name: &str,
    ) -> Result<Requeue, Status> {
        let Some(lease) = self.objects.get_as::<Lease>(Some(name), LEASE_NAME).await? else {
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc();
        let renew = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref());
        let renew_text = renew.map(|t| t.0.to_string()).unwrap_or_default();
        let renewed = renew.map_or(now, |t| to_offset(t.0));
        let period = lease_period(cluster);
        let grace = time::Duration::seconds((period * LEASE_GRACE_TIMES) as i64);
        let deadline = renewed + grace;
        if now >= deadline {
            let available = cluster
                .status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, AVAILABLE))
                .map(|c| c.status.as_str());
            if available != Some("Unknown") {
                tracing::info!(
                    cluster = name,
                    "lease not renewed in time; cluster availability unknown"
                );
            }
            set_condition(
                cluster,
                AVAILABLE,
                "Unknown",
                "ManagedClusterLeaseUpdateStopped",
                "Registration agent stopped updating its lease.",
            );
        }
        // A renewal seen change (not the first value seen: that may be the hub's own).
        let renewed_now = self
            .renewals
            .lock()
            .map(|mut r| {
                r.insert(name.to_string(), renew_text.clone())
                    .is_some_and(|previous| previous != renew_text)
            })
            .unwrap_or(false);
        if renewed_now {
            let skew = (now - renewed).abs();
            if skew <= time::Duration::seconds(period.max(DEFAULT_LEASE_SECONDS) as i64) {
                set_condition(
                    cluster,
                    CLOCK_SYNCED,
                    "True",
                    "ManagedClusterClockSynced",
                    "The clock of the managed cluster is synced with the hub.",
                );
            } else {
                set_condition(
                    cluster,
                    CLOCK_SYNCED,
                    "False",
                    "ManagedClusterClockOutOfSync",
                    "The clock of hub and agent is out of sync. This may cause the Unknown status and affect agent functionalities.",
                );
            }
        }
        let left = deadline - now;
        Ok(Some(if left > time::Duration::ZERO {
            left.unsigned_abs() + Duration::from_millis(100)
        } else {
            grace.unsigned_abs()
        }))
    }

    /// The unreachable/unavailable taints follow the Available condition.
    async fn taints(&self, mut cluster: ManagedCluster) -> Result<(), Status> {
        let available = cluster
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, AVAILABLE))
            .map(|c| c.status.clone());
        let (want, drop) = match available.as_deref() {
            Some("True") => (None, [TAINT_UNREACHABLE, TAINT_UNAVAILABLE]),
            Some("False") => (Some(TAINT_UNAVAILABLE), [TAINT_UNREACHABLE; 2]),
            _ => (Some(TAINT_UNREACHABLE), [TAINT_UNAVAILABLE; 2]),
        };
        let before = cluster.spec.taints.clone();
        let taints = &mut cluster.spec.taints;
        taints.retain(|t| !drop.contains(&t.key.as_str()));
        if let Some(w) = want
            && !taints.iter().any(|t| t.key == w)
        {
            taints.push(Taint {
                key: w.to_string(),
                effect: TaintEffect::NoSelect,
                ..Taint::default()
            });
        }
        if cluster.spec.taints == before {
            return Ok(());
        }
        self.objects
            .update_as(&cluster, Target::Main)
            .await
            .map(|_| ())
    }

    /// Access of a denied cluster: the RoleBindings go; the ClusterRole only reads the
    /// cluster's own ManagedCluster.
    async fn revoke(&self, name: &str) -> Result<(), Status> {
        let k = &self.kinds;
        if self
            .objects
            .get(&k.cluster_roles, None, &cluster_role_name(name))
            .await?
            .is_some()
        {
            self.objects
                .ensure(
                    &k.cluster_roles,
                    None,
                    cluster_role(name, false),
                    &["rules"],
                )
                .await?;
        }
        self.delete_bindings(name).await?;
        tracing::info!(cluster = name, "cluster denied; access revoked");
        Ok(())
    }

    /// The registration and work RoleBindings (the latter's finalizer removed first).
    async fn delete_bindings(&self, name: &str) -> Result<(), Status> {
        let k = &self.kinds;
        let registration = format!("{}:registration", cluster_role_name(name));
        self.objects
            .delete(&k.bindings, Some(name), &registration)
            .await?;
        let rb_name = format!("{}:work", cluster_role_name(name));
        if let Some(mut rb) = self.objects.get(&k.bindings, Some(name), &rb_name).await? {
            if rb
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
            {
                rb["metadata"]["finalizers"] = json!([]);
                self.objects
                    .update(&k.bindings, Some(name), rb, Target::Main)
                    .await?;
            }
            self.objects
                .delete(&k.bindings, Some(name), &rb_name)
                .await?;
        }
        Ok(())
    }

    /// A deleted cluster: its works and add-ons, then RBAC and namespace, then the finalizer.
    async fn clean_up(&self, mut cluster: ManagedCluster, name: &str) -> Result<Requeue, Status> {
        let k = &self.kinds;
        if !cluster.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
            return Ok(None);
        }
        let mut remaining = 0;
        for kind in [&k.addons, &k.works].into_iter().flatten() {
            for item in self.objects.list(kind, Some(name)).await? {
                remaining += 1;
                if item.pointer("/metadata/deletionTimestamp").is_none()
                    && let Some(n) = item.pointer("/metadata/name").and_then(Value::as_str)
                {
                    self.objects.delete(kind, Some(name), n).await?;
                }
            }
        }
        if remaining > 0 {
            let changed = set_condition(
                &mut cluster,
                DELETING,
                "False",
                "ResourceRemaining",
                &format!(
                    "There are still {remaining} ManifestWorks and add-ons being deleted in namespace {name}"
                ),
            );
            if changed {
                self.objects.update_as(&cluster, Target::Status).await?;
            }
            return Ok(Some(Duration::from_secs(1)));
        }
        self.delete_bindings(name).await?;
        self.objects
            .delete(&k.cluster_bindings, None, &cluster_role_name(name))
            .await?;
        self.objects
            .delete(&k.cluster_roles, None, &cluster_role_name(name))
            .await?;
        if let Some(ns) = self.objects.get(&k.namespaces, None, name).await?
            && ns
                .pointer(&format!(
                    "/metadata/labels/{}",
                    CLUSTER_NAME_LABEL.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                == Some(name)
        {
            self.objects.delete(&k.namespaces, None, name).await?;
        }
        let others = self.objects.list(&k.clusters, None).await?.len();
        if others <= 1 {
            for role in [REGISTRATION_ROLE, WORK_ROLE] {
                self.objects.delete(&k.cluster_roles, None, role).await?;
            }
        }
        cluster.finalizers_mut().retain(|f| f != CLUSTER_FINALIZER);
        self.objects.update_as(&cluster, Target::Main).await?;
        tracing::info!(
            cluster = name,
            "cluster removed; its namespace and access are cleaned up"
        );
        Ok(None)
    }
}

/// Sets a ManagedCluster condition (OCM's carry no observedGeneration: a stale one makes
/// `kubectl wait --for=condition` ignore them). Returns whether it changed.
fn set_condition(
    cluster: &mut ManagedCluster,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> bool {
    set_status_condition(
        &mut cluster.status.get_or_insert_default().conditions,
        type_,
        status,
        reason,
        message,
        None,
    )
}

/// The lease period of a cluster, in seconds.
fn lease_period(cluster: &ManagedCluster) -> u64 {
    cluster
        .spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_LEASE_SECONDS)
}

/// A `jiff` timestamp (what `k8s-openapi` times hold) as a `time` date.
fn to_offset(t: k8s_openapi::jiff::Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
