//! Kinds from CustomResourceDefinitions: one `Kind` per served version, in kube's version
//! priority (GA before beta before alpha, higher numbers first), so discovery's preferred
//! version is the one kube-apiserver would prefer. The built-in OCM kinds come through
//! here from their generated CRDs, and so will CRDs created at run time. A kind whose
//! versions differ in shape gets its conversion from `ocm::conversion` (the built-in
//! add-on kinds); every other kind's versions differ only in their label.

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use super::{Kind, PrinterColumn, ScalePaths, Scope};

/// Every served version of `crd` as a kind, preferred first.
pub fn kinds(crd: &CustomResourceDefinition) -> Vec<Kind> {
    kinds_with(crd, |version| {
        crd.spec
            .versions
            .iter()
            .find(|v| v.name == version)
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
    })
}

/// [`kinds`] of a CRD as JSON (stored, or built into the binary). Each version's schema is
/// kept as the JSON it is, the JSON the CRD's check compiled when it was written; only
/// the rest goes through the typed model. A round trip of the schemas through
/// `JSONSchemaProps` was most of a catalog build.
pub fn kinds_of_json(crd: &Value) -> Result<Vec<Kind>, serde_json::Error> {
    let mut shell = crd.clone();
    let mut schemas = Vec::new();
    for version in shell
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let name = version["name"].as_str().unwrap_or_default().to_string();
        if let Some(schema) = version
            .pointer_mut("/schema/openAPIV3Schema")
            .filter(|s| !s.is_null())
        {
            schemas.push((name, schema.take()));
        }
    }
    let typed: CustomResourceDefinition = serde_json::from_value(shell)?;
    Ok(kinds_with(&typed, |version| {
        let at = schemas.iter().position(|(name, _)| name == version)?;
        Some(schemas.swap_remove(at).1)
    }))
}

/// Every served version of `crd` as a kind, preferred first, with the schema of a version
/// (by name) from `schema_of`.
fn kinds_with(
    crd: &CustomResourceDefinition,
    mut schema_of: impl FnMut(&str) -> Option<Value>,
) -> Vec<Kind> {
    let spec = &crd.spec;
    let names = &spec.names;
    let storage = spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .unwrap_or_default();
    let mut versions: Vec<_> = spec.versions.iter().filter(|v| v.served).collect();
    versions.sort_by(|a, b| version_priority(&a.name, &b.name));
    versions
        .into_iter()
        .map(|v| {
            let schema = OnceLock::new();
            let _ = schema.set(schema_of(&v.name).map(Arc::new));
            Kind {
                group: spec.group.clone(),
                version: v.name.clone(),
                storage_version: storage.clone(),
                convert: super::ocm::conversion(&spec.group, &names.kind),
                kind: names.kind.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .unwrap_or_else(|| names.kind.to_lowercase()),
                short_names: names.short_names.clone().unwrap_or_default(),
                scope: if spec.scope == "Namespaced" {
                    Scope::Namespaced
                } else {
                    Scope::Cluster
                },
                status_subresource: v.subresources.as_ref().is_some_and(|s| s.status.is_some()),
                scale: v
                    .subresources
                    .as_ref()
                    .and_then(|s| s.scale.as_ref())
                    .map(|s| {
                        ScalePaths::new(
                            &s.spec_replicas_path,
                            &s.status_replicas_path,
                            s.label_selector_path.as_deref(),
                        )
                    }),
                printer_columns: v
                    .additional_printer_columns
                    .iter()
                    .flatten()
                    .map(|c| PrinterColumn {
                        name: c.name.clone(),
                        type_: c.type_.clone(),
                        json_path: c.json_path.clone(),
                        priority: c.priority.unwrap_or(0).max(0) as u32,
                        description: c.description.clone().unwrap_or_default(),
                    })
                    .collect(),
                custom: true,
                selectable_fields: v
                    .selectable_fields
                    .iter()
                    .flatten()
                    .map(|f| f.json_path.trim_start_matches('.').to_string())
                    .collect(),
                schema: Arc::new(schema),
                compiled: Default::default(),
            }
        })
        .collect()
}

/// Kube's version ordering: `v<major>` before `v<major>beta<minor>` before
/// `v<major>alpha<minor>`, higher numbers first; other names last, alphabetically.
pub fn version_priority(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let major: u64 = rest.get(..digits)?.parse().ok()?;
        let tail = rest.get(digits..)?;
        let (level, minor) = if tail.is_empty() {
            (2, 0)
        } else if let Some(n) = tail.strip_prefix("beta") {
            (1, n.parse().ok()?)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n.parse().ok()?)
        } else {
            return None;
        };
        Some((level, major, minor))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_kube_sorts_them() {
        let mut v = vec![
            "v1alpha1",
            "foo",
            "v1beta2",
            "v2",
            "v1",
            "v1beta1",
            "v10alpha1",
            "v1alpha2",
        ];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(
            v,
            [
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v10alpha1",
                "v1alpha2",
                "v1alpha1",
                "foo"
            ]
        );
    }

    /// The JSON path gives every built-in CRD the kinds the typed path gives: the same
    /// versions in the same order, names, scope, subresources, columns and schemas.
    #[test]
    fn kinds_of_json_are_the_typed_kinds() {
        let documents = crate::api::ocm::documents();
        assert_eq!(documents.len(), 14);
        for doc in documents.iter() {
            let typed: CustomResourceDefinition =
                serde_json::from_value(doc.clone()).expect("typed");
            let (from_json, from_typed) = (kinds_of_json(doc).expect("json"), kinds(&typed));
            assert!(!from_json.is_empty());
            assert_eq!(from_json.len(), from_typed.len());
            for (a, b) in from_json.iter().zip(&from_typed) {
                let describe = |k: &Kind| {
                    format!(
                        "{}/{} {} {:?} status={} scale={} columns={} fields={:?}",
                        k.group,
                        k.version,
                        k.plural,
                        k.scope,
                        k.status_subresource,
                        k.scale.is_some(),
                        k.printer_columns.len(),
                        k.selectable_fields
                    )
                };
                assert_eq!(describe(a), describe(b));
                let schema = |k: &Kind| k.schema.get().cloned().flatten();
                assert!(schema(a).is_some(), "{} has a schema", a.plural);
                assert_eq!(schema(a), schema(b), "{}/{}", a.plural, a.version);
            }
        }
    }

    /// A CRD that does not read as one is an error, not a panic or an empty kind.
    #[test]
    fn kinds_of_json_refuses_what_is_not_a_crd() {
        let not_a_crd = serde_json::json!({"spec": {"versions": [{"name": 3}]}});
        assert!(kinds_of_json(&not_a_crd).is_err());
    }
}
