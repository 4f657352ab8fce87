//! The compiled tree as the one schema model: every marker on its node, the built-in
//! flavor, the lenient compile merging relies on.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Flavor, ListType, MapType, SchemaError, Structural, Type};

fn spec(properties: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}})
}

#[test]
fn nodes_carry_every_marker() {
    let schema = spec(json!({
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "protocol"],
            "x-kubernetes-patch-strategy": "merge,retainKeys",
            "x-kubernetes-patch-merge-key": "name",
            "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "protocol": {"type": "string", "default": "TCP"}
            }}
        },
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
            "additionalProperties": {"type": "string"}},
        "port": {"x-kubernetes-int-or-string": true},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true}
    }));
    let compiled = Structural::compile(&schema).expect("compiles");
    let spec = &compiled.root().properties["spec"];
    let ports = &spec.properties["ports"];
    assert_eq!(ports.list_type, Some(ListType::Map));
    assert_eq!(ports.list_map_keys, ["name", "protocol"]);
    assert_eq!(ports.patch_strategy, ["merge", "retainKeys"]);
    assert_eq!(ports.patch_merge_key.as_deref(), Some("name"));
    let items = ports.items.as_deref().expect("items");
    assert_eq!(items.properties["protocol"].default, Some(json!("TCP")));
    assert_eq!(spec.properties["selector"].map_type, Some(MapType::Atomic));
    assert!(spec.properties["port"].int_or_string);
    assert!(spec.properties["config"].preserve_unknown);
    assert!(spec.properties["template"].embedded);
    assert_eq!(spec.properties["port"].ty, None);
    assert_eq!(spec.ty, Some(Type::Object));
}

#[test]
fn patch_markers_are_read_not_judged() {
    // Not CRD fields: a CRD carrying odd values still compiles, as it did before they
    // were read into the model.
    let schema = spec(json!({"a": {"type": "array", "items": {"type": "string"},
        "x-kubernetes-patch-strategy": 3, "x-kubernetes-patch-merge-key": ["x"]}}));
    let compiled = Structural::compile(&schema).expect("compiles");
    let a = &compiled.root().properties["spec"].properties["a"];
    assert!(a.patch_strategy.is_empty());
    assert_eq!(a.patch_merge_key, None);
}

/// What `api::list_semantics` puts on built-in schemas: markers kube never checks there.
fn builtin_like() -> Value {
    json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "items": {"type": "string"},
                    "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}
            }},
            "secrets": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
                "items": {"type": "object", "x-kubernetes-map-type": "atomic",
                    "properties": {"name": {"type": "string"}}}
            }
        }
    })
}

#[test]
fn built_in_markers_shape_merging_only() {
    let schema = builtin_like();
    // A CRD may not key a list by an optional field, nor describe its root metadata.
    let Err(SchemaError::Invalid(errors)) = Structural::compile(&schema) else {
        panic!("a CRD with this schema is refused");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "openAPIV3Schema.properties[secrets].items.properties[name].default",
            "openAPIV3Schema.properties[metadata]"
        ]
    );
    let (builtin, problems) = Structural::compile_lenient(&schema, Flavor::BuiltIn);
    assert_eq!(problems, None);
    let root = builtin.root();
    // `metadata` sits beside the properties: merging finds it, admission does not.
    assert!(!root.properties.contains_key("metadata"));
    assert!(root.field("metadata").is_none());
    let meta = root.member("metadata").expect("metadata");
    assert_eq!(meta.properties["finalizers"].patch_strategy, ["merge"]);
    assert!(root.has_properties());

    let mut object = json!({"metadata": {"name": "a", "labels": {"x": null, "y": 1}},
        "secrets": [{"name": "s"}, {"name": "s"}]});
    let before = object.clone();
    assert!(builtin.prune(&mut object).is_empty());
    builtin.default(&mut object);
    assert_eq!(object, before, "ObjectMeta is the server's");
    assert!(builtin.validate(&object).is_empty(), "no list-type checks");

    // The same markers in a CRD (keys required) are enforced.
    let mut crd = schema.clone();
    crd["properties"]
        .as_object_mut()
        .map(|p| p.remove("metadata"));
    crd["properties"]["secrets"]["items"]["required"] = json!(["name"]);
    let crd = Structural::compile(&crd).expect("compiles");
    let errors = crd.validate(&object);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["secrets[1]"]);
}

#[test]
fn a_schema_that_breaks_the_rules_still_names_its_lists() {
    // Not structural (an untyped field), yet merging needs its list keys.
    let schema = spec(json!({
        "untyped": {},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}}}}
    }));
    assert!(Structural::compile(&schema).is_err());
    let (compiled, problems) = Structural::compile_lenient(&schema, Flavor::Custom);
    assert!(matches!(problems, Some(SchemaError::Invalid(_))));
    let ports = &compiled.root().properties["spec"].properties["ports"];
    assert_eq!(ports.list_type, Some(ListType::Map));
    assert_eq!(ports.list_map_keys, ["name"]);
}

#[test]
fn json_schemas_are_compiled_once_per_thread() {
    let a = Structural::compile_memoized(&builtin_like());
    let b = Structural::compile_memoized(&builtin_like());
    assert!(Arc::ptr_eq(&a, &b));
    let other = Structural::compile_memoized(&spec(json!({})));
    assert!(!Arc::ptr_eq(&a, &other));
}
