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
    // Nodes are stored only: nothing here runs pods. Agents read them for capacity.
    kind(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        &["no"],
        Cluster,
        true,
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
    // Review APIs: create-only, never stored.
    kind(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        "tokenreview",
        &[],
        Cluster,
        false,
        &[],
        false,
    ),
    kind(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview",
        &[],
        Cluster,
        false,
        &[],
        false,
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        "subjectaccessreview",
        &[],
        Cluster,
        false,
        &[],
        false,
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        &[],
        Cluster,
        false,
        &[],
        false,
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        &[],
        Cluster,
        false,
        &[],
        false,
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        &[],
        Namespaced,
        false,
        &[],
        false,
    ),
    kind(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        &["crd", "crds"],
        Cluster,
        true,
        &[col("Created At", "date", ".metadata.creationTimestamp")],
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
];

/// Every built-in kind: the Kubernetes kinds of the table above, then the OCM kinds from
/// their generated CRDs (a hub also stores those CRDs, and serves them from there).
pub fn kinds() -> Vec<Kind> {
    let mut kinds = kubernetes_kinds();
    for crd in super::ocm::documents().iter() {
        // The built-in documents are the generated CRDs (a unit test parses them all).
        kinds.extend(super::crd::kinds_of_json(crd).unwrap_or_default());
    }
    kinds
}

/// The Kubernetes kinds alone.
pub fn kubernetes_kinds() -> Vec<Kind> {
    TABLE
        .iter()
        .map(|s| Kind {
            group: s.group.into(),
            version: s.version.into(),
            storage_version: s.version.into(),
            convert: None,
            kind: s.kind.into(),
            plural: s.plural.into(),
            singular: s.singular.into(),
            short_names: s.short_names.iter().map(|n| n.to_string()).collect(),
            scope: s.scope,
            status_subresource: s.status_subresource,
            scale: None,
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
            selectable_fields: Vec::new(),
            schema: Default::default(),
            compiled: Default::default(),
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
        let ocm: Vec<_> = kinds()
            .into_iter()
            .filter(|k| k.group.ends_with("open-cluster-management.io"))
            .collect();
        // Fourteen kinds; three add-on kinds are served at two versions, v1beta1 first.
        assert_eq!(ocm.len(), 17);
        let mut names: Vec<_> = ocm.iter().map(|k| k.kind.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), 14);
        let mca: Vec<_> = ocm
            .iter()
            .filter(|k| k.kind == "ManagedClusterAddOn")
            .map(|k| (k.version.as_str(), k.storage_version.as_str()))
            .collect();
        assert_eq!(mca, [("v1beta1", "v1alpha1"), ("v1alpha1", "v1alpha1")]);
    }
}
