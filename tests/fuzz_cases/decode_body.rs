//! Fuzz body `decode_body`: a JSON or YAML request body parsed as the server
//! parses it (into `serde_json::Value`), then the schema steps of a write of a
//! ConfigMap (built-in: prune, type check), of a ManagedCluster and of a
//! ManifestWork (custom resources: prune, default, validate, ratcheted update).
//! Shared by `fuzz/fuzz_targets/decode_body.rs` and `tests/fuzz_corpus.rs`.

use std::sync::{Arc, LazyLock};

use multicluster_controlplane::api::Catalog;
use multicluster_controlplane::api::schema::{FieldValidation, Structural};
use serde_json::{Value, json};

struct Schemas {
    /// ObjectMeta, as admission prunes `metadata` (built from ConfigMap's schema).
    object_meta: Option<Structural>,
    config_map: Arc<Structural>,
    managed_cluster: Arc<Structural>,
    manifest_work: Arc<Structural>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let catalog = Catalog::builtin();
    let kind = |group: &str, plural: &str| {
        catalog
            .find_resource(group, plural)
            .unwrap_or_else(|| panic!("no kind {plural}.{group}"))
    };
    let config_map = kind("", "configmaps");
    let object_meta = config_map
        .openapi_schema()
        .and_then(|s| s.pointer("/properties/metadata").cloned())
        .map(|mut meta| {
            if let Some(fields) =
                meta.pointer_mut("/properties/managedFields/items/properties/fieldsV1")
            {
                *fields = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            }
            meta
        })
        .and_then(|meta| Structural::compile(&meta).ok());
    Schemas {
        object_meta,
        config_map: config_map.structural().expect("ConfigMap schema compiles"),
        managed_cluster: kind("cluster.open-cluster-management.io", "managedclusters")
            .structural()
            .expect("ManagedCluster schema compiles"),
        manifest_work: kind("work.open-cluster-management.io", "manifestworks")
            .structural()
            .expect("ManifestWork schema compiles"),
    }
});

pub fn run(data: &[u8]) {
    if let Ok(object) = serde_json::from_slice::<Value>(data) {
        admit_all(&object);
    }
    if let Ok(object) = multicluster_controlplane::api::yaml::from_slice(data) {
        admit_all(&object);
    }
}

fn admit_all(body: &Value) {
    let s = &*SCHEMAS;
    // Built-in kind: metadata and object pruned, then type-checked.
    let mut object = body.clone();
    prune_meta(s, &mut object);
    prune_stable(&s.config_map, &mut object);
    let _ = s.config_map.validate(&object);

    for schema in [&s.managed_cluster, &s.manifest_work] {
        // Custom resource: prune, default, validate (what admission runs, step by step).
        let mut object = body.clone();
        prune_meta(s, &mut object);
        prune_stable(schema, &mut object);
        schema.default(&mut object);
        let defaulted = object.clone();
        schema.default(&mut object);
        assert_eq!(object, defaulted, "defaulting is not idempotent");
        let errors = schema.validate(&object);
        // The same through `admit`, and as an update of itself and of the body.
        for policy in [
            FieldValidation::Ignore,
            FieldValidation::Warn,
            FieldValidation::Strict,
        ] {
            let mut created = body.clone();
            prune_meta(s, &mut created);
            let admitted = schema.admit(&mut created, policy);
            if policy != FieldValidation::Strict {
                assert_eq!(
                    admitted.is_ok(),
                    errors.is_empty(),
                    "admit and prune/default/validate disagree: {errors:?}"
                );
            }
            let mut updated = created.clone();
            let _ = schema.admit_update(&mut updated, &object, policy);
            let _ = schema.validate_update(&object, body);
        }
    }
}

fn prune_meta(s: &Schemas, object: &mut Value) {
    if let (Some(meta), Some(metadata)) = (&s.object_meta, object.get_mut("metadata")) {
        let _ = meta.prune(metadata);
    }
}

/// Prunes, and checks that pruning a pruned object changes nothing.
fn prune_stable(schema: &Structural, object: &mut Value) {
    let _ = schema.prune(object);
    let pruned = object.clone();
    let again = schema.prune(object);
    assert!(again.is_empty(), "second prune dropped {again:?}");
    assert_eq!(*object, pruned, "pruning is not idempotent");
}
