//! The kinds every hub serves: the core kinds OCM needs and every OCM kind, with their
//! names, scopes, short names and printer columns as upstream declares them.

use super::kind::{Kind, PrinterColumn, Scope};

/// A row of the static table below; `kinds()` turns rows into owned `Kind`s.
struct Spec {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    scope: Scope,
    status_subresource: bool,
    printer_columns: &'static [Col],
    custom: bool,
}

struct Col {
    name: &'static str,
    type_: &'static str,
    json_path: &'static str,
}

const AGE: Col = Col {
    name: "Age",
    type_: "date",
    json_path: ".metadata.creationTimestamp",
};

const fn col(name: &'static str, type_: &'static str, json_path: &'static str) -> Col {
    Col {
        name,
        type_,
        json_path,
    }
}

#[allow(clippy::too_many_arguments)]
const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    scope: Scope,
    status_subresource: bool,
    printer_columns: &'static [Col],
    custom: bool,
) -> Spec {
    Spec {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        scope,
        status_subresource,
        printer_columns,
        custom,
    }
}

use Scope::{Cluster, Namespaced};

const CLUSTER: &str = "cluster.open-cluster-management.io";
const WORK: &str = "work.open-cluster-management.io";
const ADDON: &str = "addon.open-cluster-management.io";

/// Every built-in kind.
static TABLE: &[Spec] = &[
    // core/v1
    kind(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        &["ns"],
        Cluster,
        true,
        &[col("Status", "string", ".status.phase"), AGE],
        false,
    ),
    kind(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        &[],
        Namespaced,
        false,
        &[col("Type", "string", ".type"), AGE],
        false,
    ),
    kind(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        &["cm"],
        Namespaced,
        false,
        &[AGE],
        false,
    ),
    kind(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
        Namespaced,
        false,
        &[AGE],
        false,
    ),
    kind(
        "",
        "v1",
        "Event",
        "events",
        "event",
        &["ev"],
        Namespaced,
        false,
        &[],
        false,
    ),
    kind(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        &["ev"],
        Namespaced,
        false,
        &[],
        false,
    ),
    kind(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        &[],
        Namespaced,
        false,
        &[col("Holder", "string", ".spec.holderIdentity"), AGE],
        false,
    ),
    kind(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        &["csr"],
        Cluster,
        true,
        &[
            AGE,
            col("SignerName", "string", ".spec.signerName"),
            col("Requestor", "string", ".spec.username"),
        ],
        false,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        &[],
        Namespaced,
        false,
        &[AGE],
        false,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        &[],
        Cluster,
        false,
        &[AGE],
        false,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        &[],
        Namespaced,
        false,
        &[col("Role", "string", ".roleRef.name"), AGE],
        false,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        &[],
        Cluster,
        false,
        &[col("Role", "string", ".roleRef.name"), AGE],
        false,
    ),
    // cluster.open-cluster-management.io
    kind(
        CLUSTER,
        "v1",
        "ManagedCluster",
        "managedclusters",
        "managedcluster",
        &["mcl", "mcls"],
        Cluster,
        true,
        &[
            col("Hub Accepted", "boolean", ".spec.hubAcceptsClient"),
            col(
                "Managed Cluster URLs",
                "string",
                ".spec.managedClusterClientConfigs[*].url",
            ),
            col(
                "Joined",
                "string",
                ".status.conditions[?(@.type==\"ManagedClusterJoined\")].status",
            ),
            col(
                "Available",
                "string",
                ".status.conditions[?(@.type==\"ManagedClusterConditionAvailable\")].status",
            ),
            AGE,
        ],
        true,
    ),
    kind(
        CLUSTER,
        "v1beta2",
        "ManagedClusterSet",
        "managedclustersets",
        "managedclusterset",
        &["mclset", "mclsets"],
        Cluster,
        true,
        &[
            col(
                "Empty",
                "string",
                ".status.conditions[?(@.type==\"ClusterSetEmpty\")].status",
            ),
            AGE,
        ],
        true,
    ),
    kind(
        CLUSTER,
        "v1beta2",
        "ManagedClusterSetBinding",
        "managedclustersetbindings",
        "managedclustersetbinding",
        &["mclsetbinding", "mclsetbindings"],
        Namespaced,
        true,
        &[],
        true,
    ),
    kind(
        CLUSTER,
        "v1beta1",
        "Placement",
        "placements",
        "placement",
        &[],
        Namespaced,
        true,
        &[
            col(
                "Succeeded",
                "string",
                ".status.conditions[?(@.type==\"PlacementSatisfied\")].status",
            ),
            col(
                "Reason",
                "string",
                ".status.conditions[?(@.type==\"PlacementSatisfied\")].reason",
            ),
            col(
                "SelectedClusters",
                "integer",
                ".status.numberOfSelectedClusters",
            ),
        ],
        true,
    ),
    kind(
        CLUSTER,
        "v1beta1",
        "PlacementDecision",
        "placementdecisions",
        "placementdecision",
        &[],
        Namespaced,
        true,
        &[],
        true,
    ),
    kind(
        CLUSTER,
        "v1alpha1",
        "AddOnPlacementScore",
        "addonplacementscores",
        "addonplacementscore",
        &[],
        Namespaced,
        true,
        &[],
        true,
    ),
    kind(
        CLUSTER,
        "v1alpha1",
        "ClusterClaim",
        "clusterclaims",
        "clusterclaim",
        &[],
        Cluster,
        false,
        &[],
        true,
    ),
    // work.open-cluster-management.io
    kind(
        WORK,
        "v1",
        "ManifestWork",
        "manifestworks",
        "manifestwork",
        &[],
        Namespaced,
        true,
        &[],
        true,
    ),
    kind(
        WORK,
        "v1",
        "AppliedManifestWork",
        "appliedmanifestworks",
        "appliedmanifestwork",
        &[],
        Cluster,
        true,
        &[],
        true,
    ),
    kind(
        WORK,
        "v1alpha1",
        "ManifestWorkReplicaSet",
        "manifestworkreplicasets",
        "manifestworkreplicaset",
        &["mwrs"],
        Namespaced,
        true,
        &[
            col(
                "Placement",
                "string",
                ".status.conditions[?(@.type==\"PlacementVerified\")].reason",
            ),
            col(
                "Found",
                "string",
                ".status.conditions[?(@.type==\"PlacementVerified\")].status",
            ),
            col(
                "ManifestWorks",
                "string",
                ".status.conditions[?(@.type==\"ManifestworkApplied\")].reason",
            ),
            col(
                "Applied",
                "string",
                ".status.conditions[?(@.type==\"ManifestworkApplied\")].status",
            ),
        ],
        true,
    ),
    // addon.open-cluster-management.io
    kind(
        ADDON,
        "v1alpha1",
        "ClusterManagementAddOn",
        "clustermanagementaddons",
        "clustermanagementaddon",
        &["cma", "cmas"],
        Cluster,
        true,
        &[
            col("DISPLAY NAME", "string", ".spec.addOnMeta.displayName"),
            col("CRD NAME", "string", ".spec.addOnConfiguration.crdName"),
        ],
        true,
    ),
    kind(
        ADDON,
        "v1alpha1",
        "ManagedClusterAddOn",
        "managedclusteraddons",
        "managedclusteraddon",
        &["mca", "mcas"],
        Namespaced,
        true,
        &[
            col(
                "Available",
                "string",
                ".status.conditions[?(@.type==\"Available\")].status",
            ),
            col(
                "Degraded",
                "string",
                ".status.conditions[?(@.type==\"Degraded\")].status",
            ),
            col(
                "Progressing",
                "string",
                ".status.conditions[?(@.type==\"Progressing\")].status",
            ),
        ],
        true,
    ),
    kind(
        ADDON,
        "v1alpha1",
        "AddOnDeploymentConfig",
        "addondeploymentconfigs",
        "addondeploymentconfig",
        &[],
        Namespaced,
        false,
        &[],
        true,
    ),
    kind(
        ADDON,
        "v1alpha1",
        "AddOnTemplate",
        "addontemplates",
        "addontemplate",
        &[],
        Cluster,
        false,
        &[col("ADDON NAME", "string", ".spec.addonName")],
        true,
    ),
];

/// Every built-in kind, as owned descriptors.
pub fn kinds() -> Vec<Kind> {
    TABLE
        .iter()
        .map(|s| Kind {
            group: s.group.into(),
            version: s.version.into(),
            storage_version: s.version.into(),
            kind: s.kind.into(),
            plural: s.plural.into(),
            singular: s.singular.into(),
            short_names: s.short_names.iter().map(|n| n.to_string()).collect(),
            scope: s.scope,
            status_subresource: s.status_subresource,
            printer_columns: s
                .printer_columns
                .iter()
                .map(|c| PrinterColumn {
                    name: c.name.into(),
                    type_: c.type_.into(),
                    json_path: c.json_path.into(),
                    priority: 0,
                    description: String::new(),
                })
                .collect(),
            custom: s.custom,
            schema: Default::default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_unique_and_names_consistent() {
        let mut seen = std::collections::HashSet::new();
        for k in TABLE {
            assert!(
                seen.insert((k.group, k.plural)),
                "duplicate {}/{}",
                k.group,
                k.plural
            );
            assert_eq!(k.plural, format!("{}s", k.singular), "{}", k.kind);
            assert_eq!(k.singular, k.kind.to_lowercase());
        }
        assert_eq!(
            TABLE
                .iter()
                .filter(|k| k.group.ends_with("open-cluster-management.io"))
                .count(),
            14
        );
    }
}
