//! The Open Cluster Management API kinds as Rust types, shared by the hub and the agent,
//! and the CustomResourceDefinitions (with structural OpenAPI v3 schemas) generated from them.
//!
//! The schemas follow the latest upstream `open-cluster-management-io/api` CRDs: field names,
//! required fields, enums, patterns, limits, defaults, list types and printer columns. One
//! module per API group and version; [`crds`] returns all fourteen CRDs. [`profile`] is SIG
//! Multicluster's ClusterProfile, whose CRD the hub installs only with its feature gate.
//!
//! Three add-on kinds are served as v1alpha1 and v1beta1 (stored as v1alpha1): their CRDs
//! list both versions, and [`conversion`] gives the registry the function converting
//! objects between them.

pub mod addon;
pub mod addon_conversion;
pub mod addon_v1beta1;
pub mod cluster;
pub mod names;
pub mod profile;
mod schema;
pub mod work;

pub use addon::*;
pub use cluster::*;
pub use schema::DEFAULT_ADDON_INSTALL_NAMESPACE;
pub use work::*;

use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde_json::Value;

/// The CRDs of every OCM kind the hub serves (seven cluster, three work and four add-on
/// kinds) as JSON documents: what the hub stores and builds its catalog from, and what
/// the agent installs on managed clusters.
///
/// Read from `crds.json`, which holds what [`generate`] makes from the Rust types (the test
/// `embedded_crds_are_the_generated_ones` keeps the two equal). Generating them costs about
/// 100 million instructions (schemars and kube's structural rewrite), half of a warm
/// start's; parsing the file a small fraction of that, and parsing it as JSON rather than
/// as typed CRDs (every schema node a large `JSONSchemaProps`) a fraction again. A start
/// whose stored CRDs are current does not parse them at all ([`stored_are_current`]); the
/// server [`release`]s them once they are stored: the catalog serves the stored CRDs.
/// Later callers parse again.
pub fn documents() -> Arc<Vec<Value>> {
    let mut parsed = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    parsed
        .get_or_insert_with(|| {
            Arc::new(serde_json::from_str(EMBEDDED).unwrap_or_else(|e| {
                // Only a build whose crds.json does not parse gets here (the test
                // `embedded_crds_are_the_generated_ones` fails first); generating gives the
                // same CRDs, slower.
                tracing::error!(error = %e, "src/api/ocm/crds.json does not parse; generating the CRDs");
                generate()
                    .iter()
                    .filter_map(|crd| serde_json::to_value(crd).ok())
                    .collect()
            }))
        })
        .clone()
}

/// The CRDs of [`documents`] as typed objects.
pub fn crds() -> Vec<CustomResourceDefinition> {
    documents()
        .iter()
        .filter_map(|doc| CustomResourceDefinition::deserialize(doc).ok())
        .collect()
}

/// The parsed documents between the first [`documents`] and [`release`].
static PARSED: Mutex<Option<Arc<Vec<Value>>>> = Mutex::new(None);

/// Drops the parsed documents (callers holding them keep theirs).
pub fn release() {
    *PARSED.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// The CRDs as generated from the Rust types and their schema tweaks.
fn generate() -> Vec<CustomResourceDefinition> {
    let mut all = cluster::crds();
    all.extend(work::crds());
    all.extend(addon::crds());
    all
}

/// [`generate`]'s output, pretty-printed, as built into the binary.
const EMBEDDED: &str = include_str!("crds.json");

/// The conversion between the served versions of an OCM kind whose versions differ in
/// more than their label (looked up by group and kind when a CRD becomes kinds).
pub fn conversion(group: &str, kind: &str) -> Option<crate::api::Convert> {
    match group {
        addon::ADDON_GROUP => addon_conversion::converter(kind),
        _ => None,
    }
}

/// SHA-256 of each built-in CRD's `spec` as compact JSON (keys sorted, as `serde_json`
/// writes a `Value`), one `name digest` line per CRD of [`documents`]. Kept equal to
/// `crds.json` by the test `embedded_crds_digests_are_the_specs`.
const DIGESTS: &str = include_str!("crds.sha256");

/// Whether every built-in CRD is among `stored` (CRD objects) with the spec this version
/// embeds: then a start has nothing to write and need not parse [`documents`] (about a
/// tenth of a warm start's instructions, and their garbage). Hashing the stored specs
/// costs less than that parse where the CPU has SHA instructions (BENCHMARKS.md).
pub fn stored_are_current(stored: &[Value]) -> bool {
    let mut checked = 0;
    let mut buffer = Vec::new();
    for line in DIGESTS.lines().filter(|l| !l.is_empty()) {
        let Some((name, digest)) = line.split_once(' ') else {
            return false;
        };
        let current = stored.iter().any(|item| {
            item.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                && spec_digest(&item["spec"], &mut buffer).as_deref() == Some(digest)
        });
        if !current {
            return false;
        }
        checked += 1;
    }
    checked > 0
}

/// The digest of `spec` as [`DIGESTS`] has it; `buffer` is reused between calls (one
/// hash of the whole text costs a fraction of hashing each token as it is written).
fn spec_digest(spec: &Value, buffer: &mut Vec<u8>) -> Option<String> {
    use sha2::Digest;
    buffer.clear();
    serde_json::to_writer(&mut *buffer, spec).ok()?;
    Some(format!("{:x}", sha2::Sha256::digest(&buffer[..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// With `MCP_BLESS` set, writes `text` to `src/api/ocm/<file>` and says so (nothing
    /// left to check); else checks that the copy built into the binary is `text`.
    fn blessed(file: &str, text: &str, embedded: &str) -> bool {
        if std::env::var_os("MCP_BLESS").is_some() {
            let path = format!("{}/src/api/ocm/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {path}: {e}"));
            return true;
        }
        assert!(
            text == embedded,
            "src/api/ocm/{file} differs from the CRDs the types generate: run \
             `MCP_BLESS=1 cargo test --lib embedded_crds` and commit the file"
        );
        false
    }

    /// `MCP_BLESS=1 cargo test --lib embedded_crds` rewrites `crds.json` after a change to
    /// the OCM types or their schema tweaks.
    #[test]
    fn embedded_crds_are_the_generated_ones() {
        let generated = generate();
        let text = serde_json::to_string_pretty(&generated).expect("CRDs encode") + "\n";
        if blessed("crds.json", &text, EMBEDDED) {
            return;
        }
        let parsed: Vec<CustomResourceDefinition> =
            serde_json::from_str(EMBEDDED).expect("crds.json parses");
        assert_eq!(parsed, generated);
        assert_eq!(crds().as_slice(), generated.as_slice());
    }

    /// `MCP_BLESS=1 cargo test --lib embedded_crds` rewrites `crds.sha256` as well.
    #[test]
    fn embedded_crds_digests_are_the_specs() {
        let generated: Vec<Value> = generate()
            .iter()
            .map(|crd| serde_json::to_value(crd).expect("CRD encodes"))
            .collect();
        let text: String = generated
            .iter()
            .map(|doc| {
                let name = doc["metadata"]["name"].as_str().expect("named");
                let digest = spec_digest(&doc["spec"], &mut Vec::new()).expect("digest");
                format!("{name} {digest}\n")
            })
            .collect();
        if blessed("crds.sha256", &text, DIGESTS) {
            return;
        }
        assert_eq!(DIGESTS.lines().count(), documents().len());
        assert!(stored_are_current(&documents()));
        // One missing, one edited, or none stored: not current.
        assert!(!stored_are_current(&generated[1..]));
        let mut edited = generated.clone();
        edited[3]["spec"]["versions"][0]["served"] = Value::Bool(false);
        assert!(!stored_are_current(&edited));
        assert!(!stored_are_current(&[]));
    }

    #[test]
    fn fourteen_distinct_kinds() {
        let crds = crds();
        let mut names: Vec<_> = crds
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 14);
        let two_versions = [
            "clustermanagementaddons.addon.open-cluster-management.io",
            "managedclusteraddons.addon.open-cluster-management.io",
            "addondeploymentconfigs.addon.open-cluster-management.io",
        ];
        for crd in crds.iter() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let versions: Vec<_> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
            if two_versions.contains(&name.as_str()) {
                assert_eq!(versions, ["v1alpha1", "v1beta1"], "{name}");
            } else {
                assert_eq!(versions.len(), 1, "{name}");
            }
            assert!(crd.spec.versions.iter().all(|v| v.served), "{name}");
            let storage: Vec<_> = crd.spec.versions.iter().filter(|v| v.storage).collect();
            assert_eq!(storage.len(), 1, "{name}");
            assert_eq!(storage[0].name, *versions.first().unwrap_or(&""), "{name}");
            assert_eq!(
                crd.spec.names.list_kind.as_deref(),
                Some(format!("{}List", crd.spec.names.kind).as_str())
            );
            assert_eq!(crd.spec.preserve_unknown_fields, Some(false));
            assert!(crd.spec.group.ends_with(".open-cluster-management.io"));
        }
    }

    /// Structural-schema rules kube-apiserver enforces, plus what upstream never uses.
    fn check_structural(path: &str, node: &Value, problems: &mut Vec<String>) {
        let Some(obj) = node.as_object() else {
            problems.push(format!("{path}: not an object"));
            return;
        };
        let flag = |k: &str| obj.get(k) == Some(&Value::Bool(true));
        let int_or_string = flag("x-kubernetes-int-or-string");
        if obj.get("type").is_none()
            && !int_or_string
            && !flag("x-kubernetes-preserve-unknown-fields")
        {
            problems.push(format!("{path}: no type"));
        }
        for banned in [
            "$ref",
            "allOf",
            "oneOf",
            "not",
            "title",
            "$schema",
            "definitions",
            "uniqueItems",
        ] {
            if obj.contains_key(banned) {
                problems.push(format!("{path}: has {banned}"));
            }
        }
        if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
            problems.push(format!("{path}: additionalProperties false"));
        }
        if obj.contains_key("additionalProperties") && obj.contains_key("properties") {
            problems.push(format!("{path}: both properties and additionalProperties"));
        }
        if obj.contains_key("nullable") && !path.ends_with(".timeAdded") {
            problems.push(format!("{path}: nullable"));
        }
        if let Some(Value::Array(values)) = obj.get("enum")
            && values.iter().any(Value::is_null)
        {
            problems.push(format!("{path}: null in enum"));
        }
        if let Some(any_of) = obj.get("anyOf") {
            let expected = serde_json::json!([{"type": "integer"}, {"type": "string"}]);
            if !int_or_string || any_of != &expected {
                problems.push(format!("{path}: anyOf outside int-or-string"));
            }
        }
        if obj.get("type") == Some(&Value::String("array".into())) && obj.get("items").is_none() {
            problems.push(format!("{path}: array without items"));
        }
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (name, child) in props {
                check_structural(&format!("{path}.{name}"), child, problems);
            }
        }
        if let Some(items) = obj.get("items") {
            check_structural(&format!("{path}[]"), items, problems);
        }
        if let Some(additional) = obj.get("additionalProperties").filter(|a| a.is_object()) {
            check_structural(&format!("{path}{{}}"), additional, problems);
        }
    }

    #[test]
    fn every_schema_is_structural() {
        let mut problems = Vec::new();
        for (crd, version) in crds()
            .iter()
            .flat_map(|c| (0..c.spec.versions.len()).map(move |i| (c, i)))
        {
            let kind = format!(
                "{}/{}",
                crd.spec.names.kind, crd.spec.versions[version].name
            );
            let value = serde_json::to_value(crd).expect("CRD serializes");
            let root = &value["spec"]["versions"][version]["schema"]["openAPIV3Schema"];
            assert_eq!(root["type"], "object", "{kind}");
            assert_eq!(
                root["properties"]["metadata"],
                serde_json::json!({"type": "object"}),
                "{kind}"
            );
            assert_eq!(root["properties"]["apiVersion"]["type"], "string", "{kind}");
            assert_eq!(root["properties"]["kind"]["type"], "string", "{kind}");
            check_structural(&kind, root, &mut problems);
            // The CRD survives a JSON round trip through the k8s-openapi type.
            let again: CustomResourceDefinition =
                serde_json::from_value(value.clone()).expect("CRD deserializes");
            assert_eq!(serde_json::to_value(&again).expect("CRD serializes"), value);
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn preserve_unknown_fields_only_on_embedded_manifests() {
        fn walk(path: &str, node: &Value, found: &mut Vec<String>) {
            if let Some(obj) = node.as_object() {
                if obj.contains_key("x-kubernetes-preserve-unknown-fields") {
                    found.push(path.to_string());
                    assert_eq!(
                        obj.get("type"),
                        Some(&Value::String("object".into())),
                        "{path}"
                    );
                    assert_eq!(
                        obj.get("x-kubernetes-embedded-resource"),
                        Some(&Value::Bool(true)),
                        "{path}"
                    );
                }
                for (key, child) in obj {
                    if key != "default" && key != "enum" {
                        walk(&format!("{path}.{key}"), child, found);
                    }
                }
            }
        }
        let mut found = Vec::new();
        for crd in crds().iter() {
            let value = serde_json::to_value(crd).expect("CRD serializes");
            walk(
                &crd.spec.names.kind,
                &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                &mut found,
            );
        }
        found.sort();
        assert_eq!(
            found,
            [
                "AddOnTemplate.properties.spec.properties.agentSpec.properties.workload.properties.manifests.items",
                "ManifestWork.properties.spec.properties.workload.properties.manifests.items",
                "ManifestWorkReplicaSet.properties.spec.properties.manifestWorkTemplate.properties.workload.properties.manifests.items",
            ]
        );
    }
}
