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

/// Something computed from a built-in kind's `k8s-openapi` type.
trait ForType {
    type Out;
    fn run<T: JsonSchema>(self) -> Self::Out;
}

/// Runs `job` with the `k8s-openapi` type of a built-in kind; `None` for other kinds.
fn for_type<J: ForType>(group: &str, kind: &str, job: J) -> Option<J::Out> {
    use k8s_openapi::api::{authentication, authorization, certificates, coordination, core};
    use k8s_openapi::api::{events, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    Some(match (group, kind) {
        ("", "Namespace") => job.run::<core::v1::Namespace>(),
        ("", "Secret") => job.run::<core::v1::Secret>(),
        ("", "ConfigMap") => job.run::<core::v1::ConfigMap>(),
        ("", "Node") => job.run::<core::v1::Node>(),
        ("", "ServiceAccount") => job.run::<core::v1::ServiceAccount>(),
        ("", "Event") => job.run::<core::v1::Event>(),
        ("events.k8s.io", "Event") => job.run::<events::v1::Event>(),
        ("coordination.k8s.io", "Lease") => job.run::<coordination::v1::Lease>(),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            job.run::<certificates::v1::CertificateSigningRequest>()
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            job.run::<apiextensions::CustomResourceDefinition>()
        }
        ("authentication.k8s.io", "TokenReview") => job.run::<authentication::v1::TokenReview>(),
        ("authentication.k8s.io", "SelfSubjectReview") => {
            job.run::<authentication::v1::SelfSubjectReview>()
        }
        ("authorization.k8s.io", "SubjectAccessReview") => {
            job.run::<authorization::v1::SubjectAccessReview>()
        }
        ("authorization.k8s.io", "SelfSubjectAccessReview") => {
            job.run::<authorization::v1::SelfSubjectAccessReview>()
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => {
            job.run::<authorization::v1::SelfSubjectRulesReview>()
        }
        ("authorization.k8s.io", "LocalSubjectAccessReview") => {
            job.run::<authorization::v1::LocalSubjectAccessReview>()
        }
        ("rbac.authorization.k8s.io", "Role") => job.run::<rbac::v1::Role>(),
        ("rbac.authorization.k8s.io", "ClusterRole") => job.run::<rbac::v1::ClusterRole>(),
        ("rbac.authorization.k8s.io", "RoleBinding") => job.run::<rbac::v1::RoleBinding>(),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            job.run::<rbac::v1::ClusterRoleBinding>()
        }
        _ => return None,
    })
}

/// The schema as `k8s-openapi` describes the type, before list semantics are added.
fn generated(group: &str, kind: &str) -> Option<Value> {
    struct Schema;
    impl ForType for Schema {
        type Out = Value;
        fn run<T: JsonSchema>(self) -> Value {
            structural::<T>()
        }
    }
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition") {
        return Some(crd_schema());
    }
    for_type(group, kind, Schema)
}

/// Go's decoding error for a built-in kind's body with a field of the wrong JSON type
/// (see [`super::gotype`]).
pub fn go_type_error(group: &str, kind: &str, body: &Value) -> Option<String> {
    struct TypeError<'a>(&'a Value);
    impl ForType for TypeError<'_> {
        type Out = Option<String>;
        fn run<T: JsonSchema>(self) -> Option<String> {
            super::gotype::type_error::<T>(self.0)
        }
    }
    for_type(group, kind, TypeError(body)).flatten()
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
