//! OpenAPI v3 schemas of the built-in kinds, generated from the `k8s-openapi` types with the
//! same structural rewriting `kube`'s `CustomResource` derive applies (inlined, no `$ref`,
//! `nullable` instead of type unions). They feed `/openapi/v3` (so `kubectl explain`
//! works) and, compiled (`api::schema`), unknown-field detection (`fieldValidation`),
//! strategic merge patch and server-side apply.
//!
//! Generation takes milliseconds per kind, so it happens on first use, not at start-up.

use schemars::JsonSchema;
use serde_json::Value;

/// The structural schema of `T`.
pub fn structural<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null)
}

/// The schema of a built-in kind, by group and kind; `None` for kinds not built in.
pub fn builtin(group: &str, kind: &str) -> Option<Value> {
    let mut schema = generated(group, kind)?;
    super::list_semantics::annotate_builtin(group, kind, &mut schema);
    Some(schema)
}

/// The schema as `k8s-openapi` describes the type, before list semantics are added.
fn generated(group: &str, kind: &str) -> Option<Value> {
    use k8s_openapi::api::{certificates, coordination, core, events, rbac};
    Some(match (group, kind) {
        ("", "Namespace") => structural::<core::v1::Namespace>(),
        ("", "Secret") => structural::<core::v1::Secret>(),
        ("", "ConfigMap") => structural::<core::v1::ConfigMap>(),
        ("", "Node") => structural::<core::v1::Node>(),
        ("", "ServiceAccount") => structural::<core::v1::ServiceAccount>(),
        ("", "Event") => structural::<core::v1::Event>(),
        ("events.k8s.io", "Event") => structural::<events::v1::Event>(),
        ("coordination.k8s.io", "Lease") => structural::<coordination::v1::Lease>(),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            structural::<certificates::v1::CertificateSigningRequest>()
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd_schema(),
        ("authentication.k8s.io", "TokenReview") => {
            structural::<k8s_openapi::api::authentication::v1::TokenReview>()
        }
        ("authentication.k8s.io", "SelfSubjectReview") => {
            structural::<k8s_openapi::api::authentication::v1::SelfSubjectReview>()
        }
        ("authorization.k8s.io", "SubjectAccessReview") => {
            structural::<k8s_openapi::api::authorization::v1::SubjectAccessReview>()
        }
        ("authorization.k8s.io", "SelfSubjectAccessReview") => {
            structural::<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>()
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => {
            structural::<k8s_openapi::api::authorization::v1::SelfSubjectRulesReview>()
        }
        ("authorization.k8s.io", "LocalSubjectAccessReview") => {
            structural::<k8s_openapi::api::authorization::v1::LocalSubjectAccessReview>()
        }
        ("rbac.authorization.k8s.io", "Role") => structural::<rbac::v1::Role>(),
        ("rbac.authorization.k8s.io", "ClusterRole") => structural::<rbac::v1::ClusterRole>(),
        ("rbac.authorization.k8s.io", "RoleBinding") => structural::<rbac::v1::RoleBinding>(),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            structural::<rbac::v1::ClusterRoleBinding>()
        }
        _ => return None,
    })
}

/// The CRD schema. JSONSchemaProps is recursive, so it cannot be inlined: the
/// `openAPIV3Schema` node is kept open (the CRD handler checks it with the schema engine).
fn crd_schema() -> Value {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let mut schema = structural::<CustomResourceDefinition>();
    if let Some(node) = schema
        .pointer_mut("/properties/spec/properties/versions/items/properties/schema/properties")
        && let Some(map) = node.as_object_mut()
    {
        map.insert(
            "openAPIV3Schema".into(),
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node is typed (or an int-or-string / preserve-unknown island) and no `$ref`
    /// remains: what the schema engine and `kubectl explain` need.
    fn assert_structural(path: &str, v: &Value) {
        let Some(map) = v.as_object() else {
            return;
        };
        assert!(!map.contains_key("$ref"), "$ref at {path}");
        let typed = map.contains_key("type")
            || map.contains_key("x-kubernetes-int-or-string")
            || map.contains_key("x-kubernetes-preserve-unknown-fields");
        assert!(typed, "untyped node at {path}: {v}");
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                assert_structural(&format!("{path}.{k}"), p);
            }
        }
        if let Some(items) = map.get("items") {
            assert_structural(&format!("{path}[]"), items);
        }
        if let Some(extra @ Value::Object(_)) = map.get("additionalProperties") {
            assert_structural(&format!("{path}{{}}"), extra);
        }
    }

    #[test]
    fn builtin_schemas_are_structural() {
        let t = std::time::Instant::now();
        for k in crate::api::builtin::kinds() {
            if k.group.contains("open-cluster-management") {
                continue;
            }
            let schema = builtin(&k.group, &k.kind).unwrap_or_else(|| panic!("{}", k.kind));
            assert_structural(&k.kind, &schema);
        }
        eprintln!("generated in {:?}", t.elapsed());
        for k in crate::api::builtin::kinds() {
            assert!(k.structural().is_some(), "{} schema compiles", k.kind);
        }
        let cm = builtin("", "ConfigMap").expect("cm");
        assert_eq!(cm["properties"]["data"]["type"], "object");
        assert_eq!(cm["properties"]["metadata"]["type"], "object");
    }
}
