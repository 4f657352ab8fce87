//! Fuzz body `apply`: server-side apply (`registry::ssa::apply`) of a
//! configuration onto a live object, and `registry::ssa::track_update` of an
//! ordinary write, with the ManagedCluster CRD schema (status subresource,
//! list-map taints, atomic lists) and the ConfigMap schema.
//!
//! Input layout: byte 0 holds flags (bit 0: force; bit 1: ConfigMap instead of
//! ManagedCluster; bit 2: the `status` subresource; bits 3-4: the manager,
//! `kubectl`, `m1`, `m2` or `before-first-apply`; bit 5: no live object, a
//! create). The rest is the live object as JSON, a newline, and the applied
//! configuration as YAML (JSON is YAML), as the server parses an
//! `application/apply-patch+yaml` body. Shared by `fuzz/fuzz_targets/apply.rs`
//! and `tests/fuzz_corpus.rs`.

use std::sync::LazyLock;

use multicluster_controlplane::api::Catalog;
use multicluster_controlplane::registry::ssa::{self, ApplyError, Manager, TypeInfo};
use serde_json::Value;

struct Target {
    api_version: String,
    kind: String,
    schema: Value,
    status_subresource: bool,
}

static TARGETS: LazyLock<[Target; 2]> = LazyLock::new(|| {
    let catalog = Catalog::builtin();
    let target = |group: &str, plural: &str| {
        let kind = catalog
            .find_resource(group, plural)
            .unwrap_or_else(|| panic!("no kind {plural}.{group}"));
        Target {
            api_version: kind.api_version(),
            kind: kind.kind.clone(),
            schema: (*kind.openapi_schema().expect("a schema")).clone(),
            status_subresource: kind.status_subresource,
        }
    };
    [
        target("cluster.open-cluster-management.io", "managedclusters"),
        target("", "configmaps"),
    ]
});

const NOW: &str = "2026-01-01T00:00:00Z";
const LATER: &str = "2026-01-01T00:00:01Z";

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (live, applied) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b""[..], rest),
    };
    let live: Option<Value> = if flags & 0x20 != 0 {
        None
    } else {
        match serde_json::from_slice(live) {
            Ok(v) => Some(v),
            Err(_) => return,
        }
    };
    let Ok(applied) = multicluster_controlplane::api::yaml::from_slice(applied) else {
        return;
    };
    let force = flags & 1 != 0;
    let target = &TARGETS[usize::from(flags >> 1 & 1)];
    let ty = TypeInfo {
        api_version: &target.api_version,
        kind: &target.kind,
        schema: &target.schema,
        status_subresource: target.status_subresource,
    };
    let manager = Manager {
        name: ["kubectl", "m1", "m2", "before-first-apply"][usize::from(flags >> 3 & 3)],
        subresource: if flags & 4 != 0 { "status" } else { "" },
    };

    match ssa::apply(live.as_ref(), &applied, &ty, &manager, force, NOW) {
        Ok(object) => {
            check_identity(&object, &ty, live.as_ref(), &applied);
            // Applying the same configuration again changes nothing and conflicts
            // with nobody: the manager owns every field it applied.
            match ssa::apply(Some(&object), &applied, &ty, &manager, false, LATER) {
                Ok(again) => {
                    assert_eq!(
                        without_times(&again),
                        without_times(&object),
                        "re-applying changed the object"
                    );
                    assert_eq!(again, object, "re-applying moved a managedFields time");
                }
                Err(ApplyError::Conflicts(c)) => panic!("re-applying conflicts: {c:?}"),
                Err(e) => panic!("re-applying failed: {e}"),
            }
        }
        Err(e) => {
            let _ = e.conflict_message();
            if let ApplyError::Conflicts(conflicts) = &e {
                assert!(!force, "a forced apply reported conflicts");
                assert!(!conflicts.is_empty(), "an empty conflict list");
                for c in conflicts {
                    let _ = c.cause_message();
                }
            }
        }
    }

    // An ordinary write (update or merge patch) of the live object by `manager`.
    let mut new = live.clone().unwrap_or(Value::Null);
    json_patch::merge(&mut new, &applied);
    let before = without_managed_fields(&new);
    let result = ssa::track_update(live.as_ref(), &mut new, &ty, &manager, NOW);
    // Only for objects the server could store: a scalar `metadata` is replaced by one
    // holding managedFields (admission rejects such objects anyway).
    if before.get("metadata").is_none_or(Value::is_object) {
        assert_eq!(
            without_managed_fields(&new),
            before,
            "track_update changed more than metadata.managedFields"
        );
    }
    if result.is_err() && new.get("metadata").is_some_and(Value::is_object) {
        assert_eq!(
            new.pointer("/metadata/managedFields"),
            live.as_ref()
                .and_then(|l| l.pointer("/metadata/managedFields")),
            "a failed track_update did not restore the old managedFields"
        );
    }
}

/// An applied object is the endpoint's kind and keeps its name.
fn check_identity(object: &Value, ty: &TypeInfo, live: Option<&Value>, applied: &Value) {
    assert!(object.is_object(), "apply returned a non-object: {object}");
    assert_eq!(
        object.get("apiVersion").and_then(Value::as_str),
        Some(ty.api_version),
        "apply lost apiVersion: {object}"
    );
    assert_eq!(
        object.get("kind").and_then(Value::as_str),
        Some(ty.kind),
        "apply lost kind: {object}"
    );
    let name = |v: &Value| v.pointer("/metadata/name").cloned();
    // The applied name wins; without one (and with mergeable metadata) the live one stays.
    let expected = match applied.get("metadata") {
        Some(Value::Object(meta)) if meta.contains_key("name") => name(applied),
        Some(Value::Object(_)) | None => live.and_then(name).filter(Value::is_string),
        Some(_) => return,
    };
    if let Some(expected) = expected {
        assert_eq!(
            name(object).as_ref(),
            Some(&expected),
            "apply lost metadata.name: {object}"
        );
    }
}

/// `object` without the `time` of its managedFields entries.
fn without_times(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(Value::Array(entries)) = copy.pointer_mut("/metadata/managedFields") {
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            entry.remove("time");
        }
    }
    copy
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if meta.is_empty() {
            copy.as_object_mut().map(|o| o.remove("metadata"));
        }
    }
    copy
}
