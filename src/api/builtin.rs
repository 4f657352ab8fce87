//! The kinds every hub serves: the core kinds OCM needs and every OCM kind, with their
//! names, scopes, short names and printer columns as upstream declares them.

use super::kind::{Kind, PrinterColumn, Scope};

const AGE: PrinterColumn = PrinterColumn {
    name: "Age",
    type_: "date",
    json_path: ".metadata.creationTimestamp",
    priority: 0,
};

const fn col(name: &'static str, type_: &'static str, json_path: &'static str) -> PrinterColumn {
    PrinterColumn {
        name,
        type_,
        json_path,
        priority: 0,
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
    printer_columns: &'static [PrinterColumn],
    custom: bool,
) -> Kind {
    Kind {
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
pub static KINDS: &[Kind] = &[
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

/// The kind served as `group`/`plural` (core group: `""`).
pub fn find(group: &str, plural: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.plural == plural)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_unique_and_names_consistent() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
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
            KINDS
                .iter()
                .filter(|k| k.group.ends_with("open-cluster-management.io"))
                .count(),
            14
        );
    }
}
