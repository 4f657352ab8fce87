//! List and map semantics of the built-in kinds, as OpenAPI extensions on their
//! generated schemas.
//!
//! The `k8s-openapi` types carry no merge metadata, so the schemas generated from them
//! lack what kube publishes from the Go markers: `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key` (from `patchStrategy`/`patchMergeKey`, which drive
//! strategic merge patch), `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`
//! (`+listType`, `+listMapKey`) and `x-kubernetes-map-type` (`+mapType`,
//! `+structType`). [`annotate_builtin`] adds them from the table below, which holds the
//! markers of `k8s.io/api` (`core/v1`, `events/v1`, `coordination/v1`,
//! `certificates/v1`, `rbac/v1`) and of apimachinery's `ObjectMeta`, for the kinds this
//! server serves. `/openapi/v3` publishes them; patches and apply read them from the
//! kind's compiled schema (`api::schema`, `Flavor::BuiltIn`).
//!
//! Paths are dotted property names from the kind's root; `name[]` steps into a list's
//! `items`, `name{}` into a map's `additionalProperties`. Paths missing from a schema are
//! skipped silently.

use serde_json::Value;

const STRATEGY: &str = "x-kubernetes-patch-strategy";
const MERGE_KEY: &str = "x-kubernetes-patch-merge-key";
const LIST_TYPE: &str = "x-kubernetes-list-type";
const LIST_MAP_KEYS: &str = "x-kubernetes-list-map-keys";
const MAP_TYPE: &str = "x-kubernetes-map-type";

/// One extension value.
#[derive(Debug, Clone, Copy)]
enum Ext {
    Str(&'static str, &'static str),
    Keys(&'static str, &'static [&'static str]),
}

use Ext::{Keys, Str};

/// A list merged by key: strategic merge by `key`, and `listType=map` keyed by it.
macro_rules! merge_map_list {
    ($key:literal) => {
        &[
            Str(STRATEGY, "merge"),
            Str(MERGE_KEY, $key),
            Str(LIST_TYPE, "map"),
            Keys(LIST_MAP_KEYS, &[$key]),
        ]
    };
}

const ATOMIC_LIST: &[Ext] = &[Str(LIST_TYPE, "atomic")];
const ATOMIC_STRUCT: &[Ext] = &[Str(MAP_TYPE, "atomic")];

/// Applies to every kind: `metadata` is `ObjectMeta`.
const OBJECT_META: &[(&str, &[Ext])] = &[
    ("metadata.ownerReferences", merge_map_list!("uid")),
    ("metadata.ownerReferences[]", ATOMIC_STRUCT),
    (
        "metadata.finalizers",
        &[Str(STRATEGY, "merge"), Str(LIST_TYPE, "set")],
    ),
    ("metadata.managedFields", ATOMIC_LIST),
];

const RBAC: &str = "rbac.authorization.k8s.io";

/// `(group, kind, path, extensions)`.
const TABLE: &[(&str, &str, &str, &[Ext])] = &[
    // core/v1
    ("", "Namespace", "spec.finalizers", ATOMIC_LIST),
    (
        "",
        "Namespace",
        "status.conditions",
        merge_map_list!("type"),
    ),
    ("", "ServiceAccount", "secrets", merge_map_list!("name")),
    ("", "ServiceAccount", "secrets[]", ATOMIC_STRUCT),
    ("", "ServiceAccount", "imagePullSecrets", ATOMIC_LIST),
    ("", "ServiceAccount", "imagePullSecrets[]", ATOMIC_STRUCT),
    ("", "Event", "involvedObject", ATOMIC_STRUCT),
    ("", "Event", "related", ATOMIC_STRUCT),
    // events.k8s.io/v1
    ("events.k8s.io", "Event", "regarding", ATOMIC_STRUCT),
    ("events.k8s.io", "Event", "related", ATOMIC_STRUCT),
    // certificates.k8s.io/v1: conditions are keyed by type but have no patch strategy,
    // so strategic merge patch replaces them whole (as kube does).
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "spec.usages",
        ATOMIC_LIST,
    ),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "spec.groups",
        ATOMIC_LIST,
    ),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "status.conditions",
        &[Str(LIST_TYPE, "map"), Keys(LIST_MAP_KEYS, &["type"])],
    ),
    // rbac.authorization.k8s.io/v1
    (RBAC, "Role", "rules", ATOMIC_LIST),
    (RBAC, "ClusterRole", "rules", ATOMIC_LIST),
    (
        RBAC,
        "ClusterRole",
        "aggregationRule.clusterRoleSelectors",
        ATOMIC_LIST,
    ),
    (
        RBAC,
        "ClusterRole",
        "aggregationRule.clusterRoleSelectors[]",
        ATOMIC_STRUCT,
    ),
    (
        RBAC,
        "ClusterRole",
        "aggregationRule.clusterRoleSelectors[].matchExpressions",
        ATOMIC_LIST,
    ),
    (
        RBAC,
        "ClusterRole",
        "aggregationRule.clusterRoleSelectors[].matchExpressions[].values",
        ATOMIC_LIST,
    ),
    (RBAC, "RoleBinding", "subjects", ATOMIC_LIST),
    (RBAC, "RoleBinding", "subjects[]", ATOMIC_STRUCT),
    (RBAC, "RoleBinding", "roleRef", ATOMIC_STRUCT),
    (RBAC, "ClusterRoleBinding", "subjects", ATOMIC_LIST),
    (RBAC, "ClusterRoleBinding", "subjects[]", ATOMIC_STRUCT),
    (RBAC, "ClusterRoleBinding", "roleRef", ATOMIC_STRUCT),
];

/// `PolicyRule`'s lists, all atomic, under each kind's `rules[]`.
const POLICY_RULE_LISTS: &[&str] = &[
    "verbs",
    "apiGroups",
    "resources",
    "resourceNames",
    "nonResourceURLs",
];

/// Adds kube's list/map extensions to the generated schema of the built-in kind
/// `group`/`kind` (core group is `""`), in place. Every kind gets the `ObjectMeta`
/// ones; unknown kinds get only those.
pub fn annotate_builtin(group: &str, kind: &str, schema: &mut Value) {
    for (path, exts) in OBJECT_META {
        annotate(schema, path, exts);
    }
    for (g, k, path, exts) in TABLE {
        if *g == group && *k == kind {
            annotate(schema, path, exts);
        }
    }
    if group == RBAC && (kind == "Role" || kind == "ClusterRole") {
        for list in POLICY_RULE_LISTS {
            annotate(schema, &format!("rules[].{list}"), ATOMIC_LIST);
        }
    }
}

/// Inserts `exts` at the node `path` names, if the schema has it.
fn annotate(schema: &mut Value, path: &str, exts: &[Ext]) {
    let Some(node) = walk(schema, path) else {
        return;
    };
    let Value::Object(node) = node else {
        return;
    };
    for ext in exts {
        let (name, value) = match ext {
            Str(name, v) => (*name, Value::String((*v).to_string())),
            Keys(name, keys) => (
                *name,
                Value::Array(
                    keys.iter()
                        .map(|k| Value::String((*k).to_string()))
                        .collect(),
                ),
            ),
        };
        node.insert(name.to_string(), value);
    }
}

/// The schema node at `path` (see the module docs for the syntax).
fn walk<'s>(schema: &'s mut Value, path: &str) -> Option<&'s mut Value> {
    let mut node = schema;
    for segment in path.split('.') {
        let (name, steps) = split_steps(segment);
        node = node.get_mut("properties")?.get_mut(name)?;
        for step in steps.chars() {
            node = match step {
                '[' => node.get_mut("items")?,
                '{' => node.get_mut("additionalProperties")?,
                _ => continue,
            };
            if !node.is_object() {
                return None;
            }
        }
    }
    Some(node)
}

/// `"rules[]"` → `("rules", "[]")`.
fn split_steps(segment: &str) -> (&str, &str) {
    match segment.find(['[', '{']) {
        Some(i) => (&segment[..i], &segment[i..]),
        None => (segment, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::openapi_schema::builtin;
    use serde_json::json;

    fn annotated(group: &str, kind: &str) -> Value {
        let mut schema = builtin(group, kind).expect("built-in kind");
        annotate_builtin(group, kind, &mut schema);
        schema
    }

    fn node<'a>(schema: &'a Value, path: &str) -> &'a Value {
        let mut copy = schema.clone();
        let found = walk(&mut copy, path).is_some();
        assert!(found, "{path} exists in the schema");
        let mut n = schema;
        for segment in path.split('.') {
            let (name, steps) = split_steps(segment);
            n = &n["properties"][name];
            for step in steps.chars() {
                match step {
                    '[' => n = &n["items"],
                    '{' => n = &n["additionalProperties"],
                    _ => {}
                }
            }
        }
        n
    }

    const ALL_KINDS: &[(&str, &str)] = &[
        ("", "Namespace"),
        ("", "Secret"),
        ("", "ConfigMap"),
        ("", "ServiceAccount"),
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        (RBAC, "Role"),
        (RBAC, "ClusterRole"),
        (RBAC, "RoleBinding"),
        (RBAC, "ClusterRoleBinding"),
    ];

    #[test]
    fn every_table_path_exists_in_the_generated_schemas() {
        for (group, kind) in ALL_KINDS {
            let schema = builtin(group, kind).expect("built-in kind");
            let mut paths: Vec<String> = OBJECT_META.iter().map(|(p, _)| p.to_string()).collect();
            paths.extend(
                TABLE
                    .iter()
                    .filter(|(g, k, _, _)| g == group && k == kind)
                    .map(|(_, _, p, _)| p.to_string()),
            );
            for path in paths {
                let mut copy = schema.clone();
                assert!(walk(&mut copy, &path).is_some(), "{kind}: {path}");
            }
        }
    }

    #[test]
    fn object_meta_of_every_kind() {
        for (group, kind) in ALL_KINDS {
            let s = annotated(group, kind);
            let owners = node(&s, "metadata.ownerReferences");
            assert_eq!(owners[MERGE_KEY], "uid", "{kind}");
            assert_eq!(owners[STRATEGY], "merge");
            assert_eq!(owners[LIST_TYPE], "map");
            assert_eq!(owners[LIST_MAP_KEYS], json!(["uid"]));
            assert_eq!(node(&s, "metadata.ownerReferences[]")[MAP_TYPE], "atomic");
            let finalizers = node(&s, "metadata.finalizers");
            assert_eq!(finalizers[STRATEGY], "merge");
            assert_eq!(finalizers[LIST_TYPE], "set");
            assert!(finalizers.get(MERGE_KEY).is_none());
            assert_eq!(node(&s, "metadata.managedFields")[LIST_TYPE], "atomic");
            // maps stay granular: no marker
            assert!(node(&s, "metadata.labels").get(MAP_TYPE).is_none());
        }
    }

    #[test]
    fn kind_specific_nodes() {
        let sa = annotated("", "ServiceAccount");
        assert_eq!(node(&sa, "secrets")[MERGE_KEY], "name");
        assert_eq!(node(&sa, "secrets")[STRATEGY], "merge");
        assert_eq!(node(&sa, "secrets[]")[MAP_TYPE], "atomic");
        assert_eq!(node(&sa, "imagePullSecrets")[LIST_TYPE], "atomic");
        assert!(node(&sa, "imagePullSecrets").get(STRATEGY).is_none());

        let ns = annotated("", "Namespace");
        assert_eq!(node(&ns, "status.conditions")[MERGE_KEY], "type");
        assert_eq!(node(&ns, "spec.finalizers")[LIST_TYPE], "atomic");

        let csr = annotated("certificates.k8s.io", "CertificateSigningRequest");
        let conditions = node(&csr, "status.conditions");
        assert_eq!(conditions[LIST_TYPE], "map");
        assert_eq!(conditions[LIST_MAP_KEYS], json!(["type"]));
        assert!(conditions.get(STRATEGY).is_none(), "kube replaces them");
        assert_eq!(node(&csr, "spec.usages")[LIST_TYPE], "atomic");

        let role = annotated(RBAC, "Role");
        assert_eq!(node(&role, "rules")[LIST_TYPE], "atomic");
        assert_eq!(node(&role, "rules[].verbs")[LIST_TYPE], "atomic");
        let cr = annotated(RBAC, "ClusterRole");
        assert_eq!(node(&cr, "rules[].nonResourceURLs")[LIST_TYPE], "atomic");
        assert_eq!(
            node(
                &cr,
                "aggregationRule.clusterRoleSelectors[].matchExpressions[].values"
            )[LIST_TYPE],
            "atomic"
        );
        let rb = annotated(RBAC, "ClusterRoleBinding");
        assert_eq!(node(&rb, "subjects")[LIST_TYPE], "atomic");
        assert_eq!(node(&rb, "roleRef")[MAP_TYPE], "atomic");

        let ev = annotated("", "Event");
        assert_eq!(node(&ev, "involvedObject")[MAP_TYPE], "atomic");
        let ev2 = annotated("events.k8s.io", "Event");
        assert_eq!(node(&ev2, "regarding")[MAP_TYPE], "atomic");
    }

    #[test]
    fn missing_paths_are_skipped() {
        let mut s = json!({"type": "object", "properties": {"spec": {"type": "string"}}});
        annotate_builtin("", "Namespace", &mut s);
        annotate_builtin("nope", "Nothing", &mut s);
        assert_eq!(
            s,
            json!({"type": "object", "properties": {"spec": {"type": "string"}}})
        );
        let mut not_object = json!(true);
        annotate_builtin(RBAC, "Role", &mut not_object);
        assert_eq!(not_object, json!(true));
    }
}
