//! Schema building blocks shared by the OCM kinds, and the pass that turns the output of
//! `#[derive(CustomResource)]` into the CRD the hub serves.
//!
//! The derive leaves a few things that differ from the upstream CRDs: every `Option` gets
//! `nullable: true`, the root has no `apiVersion`/`kind`/`metadata`, `listKind` is unset and
//! a `title` is added. [`finalize`] fixes those. The `schema_with` helpers below describe
//! k8s-openapi types whose own schemas lack the validation upstream carries (conditions,
//! label selectors, quantities, embedded manifests).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresources, JSONSchemaProps,
};
use schemars::{Schema, SchemaGenerator, json_schema, transform::Transform};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

/// A qualified name (optional DNS prefix, `/`, name), as used for condition types and taint keys.
pub(crate) const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";

/// A DNS-1123 label, as used for namespace names.
pub(crate) const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A DNS-1123 subdomain.
pub(crate) const DNS_SUBDOMAIN: &str =
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$";

/// The resource.Quantity grammar.
const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// The namespace agents install into unless told otherwise.
pub const DEFAULT_ADDON_INSTALL_NAMESPACE: &str = "open-cluster-management-agent-addon";

fn condition_item() -> Value {
    json!({
        "type": "object",
        "description": "One aspect of the current state of the object (metav1.Condition).",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time",
                "description": "When the status last changed."},
            "message": {"type": "string", "maxLength": 32768,
                "description": "Human readable details about the transition."},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                "description": "The metadata.generation the condition was computed from."},
            "reason": {"type": "string", "minLength": 1, "maxLength": 1024,
                "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                "description": "CamelCase machine readable cause of the last transition."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"],
                "description": "True, False or Unknown."},
            "type": {"type": "string", "maxLength": 316, "pattern": QUALIFIED_NAME,
                "description": "The kind of condition, in CamelCase or domain/CamelCase."}
        }
    })
}

fn to_schema(value: Value) -> Schema {
    Schema::try_from(value).unwrap_or_default()
}

/// `[]metav1.Condition` as a list map keyed by `type`.
pub(crate) fn conditions(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "array",
        "items": condition_item(),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"]
    }))
}

/// `[]metav1.Condition` without list markers (ManagedClusterSet and its binding).
pub(crate) fn conditions_plain(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"type": "array", "items": condition_item()}))
}

fn requirement_item() -> Value {
    json!({
        "type": "object",
        "description": "A key, an operator and values.",
        "required": ["key", "operator"],
        "properties": {
            "key": {"type": "string", "description": "The label or claim key."},
            "operator": {"type": "string", "description": "In, NotIn, Exists or DoesNotExist."},
            "values": {"type": "array", "items": {"type": "string"},
                "x-kubernetes-list-type": "atomic",
                "description": "Values for In and NotIn; empty for Exists and DoesNotExist."}
        }
    })
}

/// `metav1.LabelSelector` with the atomic list/map markers upstream carries.
pub(crate) fn label_selector(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "object",
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "matchExpressions": {"type": "array", "items": requirement_item(),
                "x-kubernetes-list-type": "atomic",
                "description": "Requirements that are ANDed."},
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "Labels that must all match."}
        }
    }))
}

/// `[]metav1.LabelSelectorRequirement` for cluster claim selectors (no list marker on the list).
pub(crate) fn claim_requirements(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"type": "array", "items": requirement_item()}))
}

/// `map[string]resource.Quantity`.
pub(crate) fn quantity_map(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "object",
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY,
            "x-kubernetes-int-or-string": true
        }
    }))
}

/// `corev1.ResourceRequirements`.
pub(crate) fn resource_requirements(generator: &mut SchemaGenerator) -> Schema {
    let quantities = quantity_map(generator).to_value();
    to_schema(json!({
        "type": "object",
        "properties": {
            "claims": {
                "type": "array",
                "description": "Dynamic resource claims the container uses.",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "description": "Name of a pod resource claim."},
                        "request": {"type": "string", "description": "Request within the claim."}
                    }
                },
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"]
            },
            "limits": quantities.clone(),
            "requests": quantities
        }
    }))
}

/// `[]corev1.Toleration`.
pub(crate) fn core_tolerations(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "effect": {"type": "string", "description": "Taint effect to match; empty matches all."},
                "key": {"type": "string", "description": "Taint key; empty with Exists matches all."},
                "operator": {"type": "string", "description": "Exists or Equal (default)."},
                "tolerationSeconds": {"type": "integer", "format": "int64",
                    "description": "How long a NoExecute taint is tolerated."},
                "value": {"type": "string", "description": "Taint value to match."}
            }
        }
    }))
}

/// `rbacv1.RoleRef`.
pub(crate) fn role_ref(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "object",
        "required": ["apiGroup", "kind", "name"],
        "properties": {
            "apiGroup": {"type": "string", "description": "API group of the role."},
            "kind": {"type": "string", "description": "Role or ClusterRole."},
            "name": {"type": "string", "description": "Name of the role."}
        },
        "x-kubernetes-map-type": "atomic"
    }))
}

/// `intstr.IntOrString`.
pub(crate) fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true
    }))
}

/// A Go `int`: an integer without a format.
pub(crate) fn plain_integer(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer"})
}

/// `[]byte`, base64 in JSON.
pub(crate) fn bytes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "byte"})
}

/// A whole Kubernetes object carried inside another one (`runtime.RawExtension`).
pub(crate) fn embedded_resource(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Deserialize `null` as the type's default; Go emits `null` for nil slices that have no
/// `omitempty`.
pub(crate) fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Container transform adding fields to `required`. schemars drops a field from `required`
/// when it has a serde default; upstream has a few fields that are both defaulted and required.
pub(crate) struct Require(pub &'static [&'static str]);

impl Transform for Require {
    fn transform(&mut self, schema: &mut Schema) {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        if let Value::Array(required) = obj
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            for name in self.0 {
                if !required.iter().any(|r| r == name) {
                    required.push(json!(name));
                }
            }
            required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
}

/// Container transform removing the `default` schemars derives from a serde default, for
/// fields that Go always serializes but upstream gives no schema default.
pub(crate) struct NoDefault(pub &'static [&'static str]);

impl Transform for NoDefault {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for name in self.0 {
                if let Some(Value::Object(prop)) = props.get_mut(*name) {
                    prop.remove("default");
                }
            }
        }
    }
}

/// What [`finalize`] needs to know beyond the derive's output.
#[derive(Default)]
pub(crate) struct Tweaks {
    /// Keep `spec` in the root's `required` list (upstream marks it required).
    pub spec_required: bool,
    /// Paths (`spec.taints[].timeAdded`) of the only nodes that stay `nullable`.
    pub nullable: &'static [&'static str],
    /// Emit `subresources: {}` (upstream does for AddOnTemplate) instead of leaving it out.
    pub empty_subresources: bool,
    /// Last per-kind edit of the root schema (e.g. a default for `spec` itself).
    pub patch: Option<fn(&mut Value)>,
}

/// Turn the derive's CRD into the one upstream ships (see the module docs).
pub(crate) fn finalize(
    mut crd: CustomResourceDefinition,
    tweaks: &Tweaks,
) -> CustomResourceDefinition {
    let kind = crd.spec.names.kind.clone();
    crd.spec.names.list_kind = Some(format!("{kind}List"));
    crd.spec.preserve_unknown_fields = Some(false);
    for version in &mut crd.spec.versions {
        if tweaks.empty_subresources && version.subresources.is_none() {
            version.subresources = Some(CustomResourceSubresources::default());
        }
        let Some(validation) = version.schema.as_mut() else {
            continue;
        };
        let Some(props) = validation.open_api_v3_schema.take() else {
            continue;
        };
        let Ok(mut root) = serde_json::to_value(&props) else {
            validation.open_api_v3_schema = Some(props);
            continue;
        };
        normalize(&mut root);
        for path in tweaks.nullable {
            if let Some(Value::Object(node)) = node_at(&mut root, path) {
                node.insert("nullable".into(), Value::Bool(true));
            }
        }
        if let Value::Object(obj) = &mut root {
            obj.remove("title");
            obj.insert("type".into(), json!("object"));
            let props = obj
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(props) = props {
                props.insert(
                    "apiVersion".into(),
                    json!({"type": "string",
                    "description": "The versioned schema of this representation of an object."}),
                );
                props.insert(
                    "kind".into(),
                    json!({"type": "string",
                    "description": "The REST resource this object represents."}),
                );
                props.insert("metadata".into(), json!({"type": "object"}));
            }
            if !tweaks.spec_required {
                let empty = match obj.get_mut("required") {
                    Some(Value::Array(req)) => {
                        req.retain(|r| r != "spec");
                        req.is_empty()
                    }
                    _ => false,
                };
                if empty {
                    obj.remove("required");
                }
            }
        }
        if let Some(patch) = tweaks.patch {
            patch(&mut root);
        }
        validation.open_api_v3_schema =
            Some(serde_json::from_value::<JSONSchemaProps>(root).unwrap_or(props));
    }
    crd
}

/// Undo what the derive adds for `Option` fields (`nullable`, `null` in enums) and give
/// int-or-string nodes back the typed `anyOf` branches the rewriter empties.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            obj.remove("nullable");
            if let Some(Value::Array(values)) = obj.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                obj.insert(
                    "anyOf".into(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            for (key, child) in obj.iter_mut() {
                // `default`, `enum` and `example` hold data, not schemas.
                if key != "default" && key != "enum" && key != "example" {
                    normalize(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// The schema node at a dotted path; `[]` steps into array items.
fn node_at<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut node = root;
    for segment in path.split('.') {
        let (name, items) = match segment.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        node = node.get_mut("properties")?.get_mut(name)?;
        if items {
            node = node.get_mut("items")?;
        }
    }
    Some(node)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers for the per-kind tests.

    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    /// The finalized CRD of `kind`, as JSON.
    pub fn crd(kind: &str) -> Value {
        let crds = super::super::crds();
        let found = crds.iter().find(|c| c.spec.names.kind == kind);
        serde_json::to_value(found.expect("kind has a CRD")).expect("CRD serializes")
    }

    /// The schema of the only version.
    pub fn root(crd: &Value) -> &Value {
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    }

    /// A schema node by dotted path; `[]` steps into array items.
    pub fn node<'a>(crd: &'a Value, path: &str) -> &'a Value {
        let mut node = root(crd);
        for segment in path.split('.') {
            let (name, items) = match segment.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (segment, false),
            };
            node = &node["properties"][name];
            assert!(!node.is_null(), "no schema node {segment} in {path}");
            if items {
                node = &node["items"];
            }
        }
        node
    }

    /// `(name, type, jsonPath)` of every printer column.
    pub fn columns(crd: &Value) -> Vec<(String, String, String)> {
        let cols = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        cols.iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("name"), s("type"), s("jsonPath"))
            })
            .collect()
    }

    /// Whether the only version has the status subresource.
    pub fn has_status_subresource(crd: &Value) -> bool {
        !crd["spec"]["versions"][0]["subresources"]["status"].is_null()
    }

    /// Deserialize `value` as `T`, serialize it back and require the same JSON.
    pub fn round_trip<T: Serialize + DeserializeOwned>(value: Value) -> T {
        let typed: T = serde_json::from_value(value.clone()).expect("sample deserializes");
        let back = serde_json::to_value(&typed).expect("sample serializes");
        assert_eq!(back, value, "round trip changed the object");
        typed
    }
}
