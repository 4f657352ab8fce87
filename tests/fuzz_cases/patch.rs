//! Fuzz body `patch`: an object and a patch document through the three PATCH
//! flavours the server applies before admission: JSON merge patch
//! (`json_patch::merge`), JSON patch (`json_patch::patch_unsafe` on a copy, as the
//! registry does) and strategic merge
//! patch (`registry::smp::apply`) with a built-in kind's schema.
//!
//! Input layout: byte 0 picks the kind (schema); the rest is the object as JSON,
//! a newline, and the patch document as JSON (everything after the first `\n`).
//! Shared by `fuzz/fuzz_targets/patch.rs` and `tests/fuzz_corpus.rs`.

use std::sync::LazyLock;

use multicluster_controlplane::api::openapi_schema;
use multicluster_controlplane::registry::smp;
use serde_json::Value;

/// The built-in kinds strategic merge patch is served for, with their schemas.
static SCHEMAS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    [
        ("", "ServiceAccount"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "Namespace"),
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ]
    .iter()
    .map(|(group, kind)| {
        openapi_schema::builtin(group, kind).unwrap_or_else(|| panic!("no schema for {kind}"))
    })
    .collect()
});

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (object, patch) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let Ok(original) = serde_json::from_slice::<Value>(object) else {
        return;
    };
    let Ok(patch) = serde_json::from_slice::<Value>(patch) else {
        return;
    };
    let schemas = &*SCHEMAS;
    let schema = &schemas[usize::from(selector) % schemas.len()];

    // application/merge-patch+json
    let mut merged = original.clone();
    json_patch::merge(&mut merged, &patch);
    if patch.is_object() {
        assert!(merged.is_object(), "merge of an object patch gave {merged}");
    }

    // application/json-patch+json: all or nothing.
    if let Ok(ops) = serde_json::from_value::<json_patch::Patch>(patch.clone()) {
        // What the server does: `patch_unsafe` on a copy that is dropped on error (the
        // crate's undoing `patch` panics when a `move` fails half-way). Must not panic.
        let mut patched = original.clone();
        let _ = json_patch::patch_unsafe(&mut patched, &ops);
    }

    // application/strategic-merge-patch+json
    match smp::apply(&original, &patch, schema) {
        Ok(result) => {
            if original.is_object() {
                assert!(result.is_object(), "strategic merge patch gave {result}");
            }
            if patch.as_object().is_some_and(|p| p.is_empty()) || patch.is_null() {
                assert_eq!(
                    result, original,
                    "an empty strategic patch changed the object"
                );
            }
        }
        Err(e) => {
            // What the server builds its Status from.
            let _ = (e.to_string(), e.status_code(), e.path());
        }
    }
}
