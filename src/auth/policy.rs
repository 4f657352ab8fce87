//! The default RBAC policy kube-apiserver bootstraps, limited to what OCM clients and
//! ordinary users of this hub rely on.
//!
//! Rule sets are kube's (`bootstrappolicy/policy.go`, as rendered in its
//! `testdata/cluster-roles.yaml`: lists sorted, as a real cluster stores them). The
//! `system:aggregate-to-{admin,edit,view}` roles are kept whole, including kinds this hub
//! does not serve (pods, deployments, ...): rules on absent resources are inert, and
//! keeping them makes `kubectl auth can-i --list` and escalation checks behave as on a
//! real cluster. Left out entirely: the node, controller, kubelet, CSR-approver and other
//! component roles (no such components run against this hub), and OCM's own
//! `open-cluster-management:*` roles (created by the registration code).
//!
//! Every object carries kube's label `kubernetes.io/bootstrapping: rbac-defaults` and
//! annotation `rbac.authorization.kubernetes.io/autoupdate: "true"`. The aggregated
//! roles (`admin`, `edit`, `view`) start with empty `rules`; the aggregation in
//! [`super::rbac::RbacIndex`] fills them in.

use serde_json::{Map, Value, json};

use super::rbac::RbacIndex;

/// kube's `Read` verbs.
const READ: &[&str] = &["get", "list", "watch"];
/// kube's `Write` verbs, sorted.
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
/// kube's `ReadWrite` verbs, sorted.
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

fn metadata(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    for (k, v) in extra_labels {
        labels.insert((*k).into(), (*v).into());
    }
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "rules": rules,
    })
}

fn aggregated_cluster_role(name: &str, labels: &[(&str, &str)], selector_label: &str) -> Value {
    let mut role = cluster_role(name, labels, Vec::new());
    if let Some(obj) = role.as_object_mut() {
        obj.insert(
            "aggregationRule".into(),
            json!({"clusterRoleSelectors": [{"matchLabels": {selector_label: "true"}}]}),
        );
    }
    role
}

fn cluster_role_binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name, &[]),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The bootstrap ClusterRoles: `cluster-admin`, `admin`, `edit`, `view`,
/// `system:aggregate-to-{admin,edit,view}`, `system:discovery`, `system:basic-user`,
/// `system:public-info-viewer`, `system:monitoring`.
pub fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        aggregated_cluster_role("admin", &[], AGGREGATE_TO_ADMIN),
        aggregated_cluster_role("edit", &[(AGGREGATE_TO_ADMIN, "true")], AGGREGATE_TO_EDIT),
        aggregated_cluster_role("view", &[(AGGREGATE_TO_EDIT, "true")], AGGREGATE_TO_VIEW),
        cluster_role(
            "system:aggregate-to-admin",
            &[(AGGREGATE_TO_ADMIN, "true")],
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                ),
                rule(
                    READ_WRITE,
                    &["rbac.authorization.k8s.io"],
                    &["rolebindings", "roles"],
                ),
            ],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(AGGREGATE_TO_EDIT, "true")],
            aggregate_to_edit_rules(),
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(AGGREGATE_TO_VIEW, "true")],
            aggregate_to_view_rules(),
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:monitoring",
            &[],
            vec![url_rule(
                &["get"],
                &[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
            )],
        ),
    ]
}

fn aggregate_to_edit_rules() -> Vec<Value> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
        ),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(
            WRITE,
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(
            WRITE,
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
        ),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
        ),
        rule(READ_WRITE, &["coordination.k8s.io"], &["leases"]),
        // As kube 1.37's bootstrap policy: events.k8s.io Events and DRA claims.
        rule(WRITE, &["events.k8s.io"], &["events"]),
        rule(
            WRITE,
            &["resource.k8s.io"],
            &["resourceclaims", "resourceclaimtemplates"],
        ),
    ]
}

fn aggregate_to_view_rules() -> Vec<Value> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
        ),
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
        rule(
            READ,
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
        rule(READ, &["events.k8s.io"], &["events"]),
        rule(
            READ,
            &["resource.k8s.io"],
            &[
                "resourceclaims",
                "resourceclaims/status",
                "resourceclaimtemplates",
            ],
        ),
    ]
}

/// The bootstrap ClusterRoleBindings: `cluster-admin` (group `system:masters`),
/// `system:basic-user` and `system:discovery` (group `system:authenticated`),
/// `system:public-info-viewer` (groups `system:authenticated` and
/// `system:unauthenticated`), `system:monitoring` (group `system:monitoring`).
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        cluster_role_binding("cluster-admin", "cluster-admin", &["system:masters"]),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        cluster_role_binding(
            "system:monitoring",
            "system:monitoring",
            &["system:monitoring"],
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

/// Every bootstrap object with its kind, ClusterRoles first (the order to create them).
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = cluster_roles()
        .into_iter()
        .map(|r| ("ClusterRole", r))
        .collect();
    out.extend(
        cluster_role_bindings()
            .into_iter()
            .map(|b| ("ClusterRoleBinding", b)),
    );
    out
}

/// Loads the bootstrap policy into an index (tests and a server's first start).
pub fn load_into(index: &mut RbacIndex) {
    for (kind, obj) in bootstrap_objects() {
        index.upsert(kind, &obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rbac::{Attributes, PolicyRule, UserInfo};

    #[test]
    fn every_object_is_labelled_and_annotated() {
        for (kind, obj) in bootstrap_objects() {
            assert_eq!(obj["kind"], kind);
            assert_eq!(
                obj["metadata"]["labels"]["kubernetes.io/bootstrapping"],
                "rbac-defaults"
            );
            assert_eq!(
                obj["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
                "true"
            );
        }
    }

    #[test]
    fn every_rule_parses_and_verbs_are_sorted() {
        for role in cluster_roles() {
            let raw = role["rules"].as_array().cloned().unwrap_or_default();
            let parsed = PolicyRule::list_from_value_strict(Some(&role["rules"])).unwrap();
            assert_eq!(raw.len(), parsed.len());
            for r in parsed {
                let mut sorted = r.verbs.clone();
                sorted.sort();
                assert_eq!(sorted, r.verbs, "{}", role["metadata"]["name"]);
                let mut res = r.resources.clone();
                res.sort();
                assert_eq!(res, r.resources, "{}", role["metadata"]["name"]);
            }
        }
    }

    #[test]
    fn bindings_reference_existing_roles() {
        let names: Vec<String> = cluster_roles()
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        for b in cluster_role_bindings() {
            assert!(names.contains(&b["roleRef"]["name"].as_str().unwrap().to_string()));
        }
    }

    #[test]
    fn aggregation_fills_admin_edit_view() {
        let mut idx = RbacIndex::new();
        load_into(&mut idx);
        let view = idx.aggregated_rules("view");
        let edit = idx.aggregated_rules("edit");
        let admin = idx.aggregated_rules("admin");
        assert_eq!(view.len(), 12);
        // edit = aggregate-to-edit + view (view's rules are distinct from edit's).
        assert_eq!(edit.len(), 15 + 12);
        assert_eq!(admin.len(), 2 + 27);
        let updates = idx.pending_aggregation_updates();
        let names: Vec<&str> = updates.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["admin", "edit", "view"]);
    }

    #[test]
    fn anonymous_and_authenticated_see_health_but_not_discovery() {
        let mut idx = RbacIndex::new();
        load_into(&mut idx);
        let anon = UserInfo::new("system:anonymous", &["system:unauthenticated"]);
        assert!(idx.allows(&Attributes::non_resource(&anon, "get", "/healthz")));
        assert!(idx.allows(&Attributes::non_resource(&anon, "get", "/version")));
        assert!(!idx.allows(&Attributes::non_resource(&anon, "get", "/apis")));
        let bob = UserInfo::new("bob", &["system:authenticated"]);
        assert!(idx.allows(&Attributes::non_resource(&bob, "get", "/apis/apps/v1")));
        assert!(idx.allows(&Attributes::non_resource(&bob, "get", "/openapi/v3")));
        assert!(!idx.allows(&Attributes::non_resource(&bob, "get", "/metrics")));
        let mon = UserInfo::new("prom", &["system:monitoring"]);
        assert!(idx.allows(&Attributes::non_resource(&mon, "get", "/metrics")));
        assert!(idx.allows(&Attributes::non_resource(&mon, "get", "/readyz/etcd")));
    }
}
