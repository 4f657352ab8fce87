//! One compiled schema per kind, read by every write path: strategic merge patch,
//! server-side apply and admission honour the same list and map markers, for a CRD (its
//! `x-kubernetes-*` extensions) and for built-in kinds (kube's markers from
//! `api::list_semantics`, ObjectMeta's included).

use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::{Patch, Registry, Target, WriteOptions, smp};
use crate::api::{Catalog, Kind};
use crate::storage::rocks::{RocksOptions, RocksStore};

struct Env {
    registry: Registry,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(&dir.path().join("db"), &RocksOptions::default()).expect("open");
    let registry = Registry::new(store as Arc<dyn crate::storage::Store>);
    registry
        .create(
            &builtin("", "namespaces"),
            None,
            json!({"metadata": {"name": "default"}}),
        )
        .await
        .expect("namespace");
    Env {
        registry,
        _dir: dir,
    }
}

fn builtin(group: &str, plural: &str) -> Kind {
    let kind = Catalog::builtin().find_resource(group, plural);
    (*kind.expect("built-in kind")).clone()
}

/// A CRD using every list and map marker: a list keyed by `name`, a set, an atomic list
/// (the default), an atomic map and a granular one.
fn widget() -> Kind {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string"}, "port": {"type": "integer"}
                        }}
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "selector": {
                        "type": "object",
                        "x-kubernetes-map-type": "atomic",
                        "additionalProperties": {"type": "string"}
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }}}
            }}}]
        }
    }))
    .expect("a CRD");
    crate::api::crd::kinds(&crd).remove(0)
}

fn apply(config: Value, force: bool) -> Patch {
    Patch::Apply { config, force }
}

fn manager(name: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(name.to_string()),
        ..WriteOptions::default()
    }
}

fn managed_fields(object: &Value, manager: &str) -> String {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == manager)
        .map(|e| e["fieldsV1"].to_string())
        .unwrap_or_default()
}

#[test]
fn a_kind_compiles_its_schema_once_for_every_reader() {
    for kind in [widget(), builtin("", "serviceaccounts")] {
        let merging = kind.merge_schema();
        let admitting = kind.structural().expect("the schema compiles");
        assert!(Arc::ptr_eq(&merging, &admitting), "{}", kind.kind);
        assert!(Arc::ptr_eq(&merging, &kind.merge_schema()), "{}", kind.kind);
        // Clones of a kind (catalog rebuilds) share the compiled schema too.
        assert!(Arc::ptr_eq(&merging, &kind.clone().merge_schema()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_markers_shape_apply_patch_and_validation() {
    let e = env().await;
    let kind = widget();
    let ns = Some("default");
    let widget = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let alpha = json!({"ports": [{"name": "http", "port": 80}], "tags": ["a"], "args": ["x"],
        "selector": {"app": "a"}, "labels": {"one": "1"}});
    let target = Target::Main;
    e.registry
        .patch_with(
            &kind,
            ns,
            "w",
            &apply(widget(alpha), false),
            target,
            &manager("alpha"),
        )
        .await
        .expect("alpha applies");
    let beta =
        json!({"ports": [{"name": "grpc", "port": 90}], "tags": ["b"], "labels": {"two": "2"}});
    let w = e
        .registry
        .patch_with(
            &kind,
            ns,
            "w",
            &apply(widget(beta), false),
            target,
            &manager("beta"),
        )
        .await
        .expect("beta applies beside alpha")
        .object;
    // Keyed list and set merge item by item; the granular map key by key.
    assert_eq!(
        w["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "grpc", "port": 90}])
    );
    assert_eq!(w["spec"]["tags"], json!(["a", "b"]));
    assert_eq!(w["spec"]["labels"], json!({"one": "1", "two": "2"}));
    let owned = managed_fields(&w, "beta");
    assert!(owned.contains(r#"k:{\"name\":\"grpc\"}"#), "{owned}");
    assert!(owned.contains(r#"v:\"b\""#), "{owned}");
    // The atomic list and map are owned whole: changing either is a conflict.
    for (field, value) in [("args", json!(["y"])), ("selector", json!({"other": "b"}))] {
        let config = widget(json!({ field: value }));
        let status = e
            .registry
            .patch_with(
                &kind,
                ns,
                "w",
                &apply(config, false),
                target,
                &manager("beta"),
            )
            .await
            .expect_err("a conflict");
        assert_eq!(status.code, 409, "{}", status.message);
        assert!(
            status.message.contains(&format!(".spec.{field}")),
            "{}",
            status.message
        );
    }
    // Strategic merge patch (not served for custom resources, but the engine reads the
    // same compiled schema): the single list-map key orders the list.
    let patched = smp::apply_typed(
        &w,
        &json!({"spec": {"$setElementOrder/ports": [{"name": "grpc"}, {"name": "http"}],
            "ports": [{"name": "grpc", "port": 91}, {"name": "http", "port": 80}]}}),
        &kind.merge_schema(),
    )
    .expect("patches");
    assert_eq!(
        patched["spec"]["ports"],
        json!([{"name": "grpc", "port": 91}, {"name": "http", "port": 80}])
    );
    // Validation holds the object to the list types.
    let duplicate =
        json!({"spec": {"ports": [{"name": "http"}, {"name": "http"}], "tags": ["a", "a"]}});
    let status = e
        .registry
        .patch(&kind, ns, "w", &Patch::Merge(duplicate), target)
        .await
        .expect_err("duplicates");
    assert_eq!(status.code, 422, "{}", status.message);
    let causes: Vec<_> = status.details.map(|d| d.causes).unwrap_or_default();
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.ports[1]", "spec.tags[1]"], "{causes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_markers_shape_patch_and_apply() {
    let e = env().await;
    let kind = builtin("", "serviceaccounts");
    let ns = Some("default");
    let owner =
        |uid: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": uid, "uid": uid});
    e.registry
        .create(
            &kind,
            ns,
            json!({"metadata": {"name": "sa", "finalizers": ["example.com/a"], "ownerReferences": [owner("u1")]},
                "secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "p"}]}),
        )
        .await
        .expect("create");
    // Strategic merge patch: ObjectMeta's lists and `secrets` merge, `imagePullSecrets`
    // (atomic) is replaced.
    let patch = json!({"metadata": {"finalizers": ["example.com/b"], "ownerReferences": [owner("u2")]},
        "secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "q"}]});
    let sa = e
        .registry
        .patch(&kind, ns, "sa", &Patch::Strategic(patch), Target::Main)
        .await
        .expect("patch");
    assert_eq!(
        sa["metadata"]["finalizers"],
        json!(["example.com/b", "example.com/a"])
    );
    assert_eq!(
        sa["metadata"]["ownerReferences"],
        json!([owner("u2"), owner("u1")])
    );
    assert_eq!(sa["secrets"], json!([{"name": "b"}, {"name": "a"}]));
    assert_eq!(sa["imagePullSecrets"], json!([{"name": "q"}]));
    // `$patch: delete` by merge key, in ObjectMeta and in the kind's own list.
    let delete = json!({"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"}]},
        "secrets": [{"name": "b", "$patch": "delete"}]});
    let sa = e
        .registry
        .patch(&kind, ns, "sa", &Patch::Strategic(delete), Target::Main)
        .await
        .expect("patch");
    assert_eq!(sa["metadata"]["ownerReferences"], json!([owner("u2")]));
    assert_eq!(sa["secrets"], json!([{"name": "a"}]));
    // Server-side apply merges `secrets` by the same key.
    let config = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
        "secrets": [{"name": "c"}]});
    let sa = e
        .registry
        .patch_with(
            &kind,
            ns,
            "sa",
            &apply(config, false),
            Target::Main,
            &manager("m"),
        )
        .await
        .expect("apply")
        .object;
    assert_eq!(sa["secrets"], json!([{"name": "a"}, {"name": "c"}]));
    let owned = managed_fields(&sa, "m");
    assert!(owned.contains(r#"k:{\"name\":\"c\"}"#), "{owned}");
    // Built-in kinds are not held to the list types: duplicate keys are stored as kube
    // stores them.
    let duplicate = json!({"secrets": [{"name": "d"}, {"name": "d"}]});
    e.registry
        .patch(&kind, ns, "sa", &Patch::Merge(duplicate), Target::Main)
        .await
        .expect("no list-type validation for built-in kinds");
}
