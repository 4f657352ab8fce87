//! How kube-apiserver words a built-in kind's body field of the wrong JSON type: Go's
//! `encoding/json` type error, naming the innermost Go struct, the path of JSON field
//! names from the top and the Go type it could not fill ("json: cannot unmarshal number
//! into Go struct field ConfigMap.data of type string"). The Go types come from the
//! `k8s-openapi` schemas with their definitions kept by name (`io.k8s.api.core.v1.
//! ConfigMap` is `v1.ConfigMap`). Only the words are emulated: types that decode
//! themselves in Go (times, quantities, int-or-string, raw JSON) are not judged here.

use serde_json::{Map, Value};

/// Go's message for the first field of `body` (in key order) whose JSON type the Go type
/// of `T` cannot take; `None` when every field fits (or only self-decoding types do not).
pub fn type_error<T: schemars::JsonSchema>(body: &Value) -> Option<String> {
    let generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let root = serde_json::to_value(generator.into_root_schema_for::<T>()).ok()?;
    let defs = root.pointer("/components/schemas")?.as_object()?;
    let mut walk = Walk {
        defs,
        fields: Vec::new(),
    };
    walk.check(&root, body, &T::schema_name())
}

struct Walk<'a> {
    defs: &'a Map<String, Value>,
    /// The JSON field names from the top down to the value being checked.
    fields: Vec<String>,
}

/// Definitions whose Go types decode themselves (`UnmarshalJSON`), with words of their own.
fn self_decoding(name: &str) -> bool {
    matches!(
        name.rsplit('.').next().unwrap_or(""),
        "Time"
            | "MicroTime"
            | "Quantity"
            | "IntOrString"
            | "RawExtension"
            | "FieldsV1"
            | "JSON"
            | "JSONSchemaPropsOrArray"
            | "JSONSchemaPropsOrBool"
            | "JSONSchemaPropsOrStringArray"
    )
}

/// `io.k8s.api.core.v1.ConfigMap` → (`v1.ConfigMap`, `ConfigMap`).
fn go_name(definition: &str) -> (String, String) {
    let mut parts = definition.rsplit('.');
    let name = parts.next().unwrap_or(definition).to_string();
    match parts.next() {
        Some(package) => (format!("{package}.{name}"), name),
        None => (name.clone(), name),
    }
}

/// The definition a schema names: `$ref`, or the one `allOf` entry OpenAPI 3 wraps a
/// described `$ref` in.
fn reference(schema: &Value) -> Option<&str> {
    let one = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|all| all.len() == 1)
        .map(|all| &all[0]);
    one.unwrap_or(schema)
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

/// The Go type a schema describes, as `reflect.Type.String()` prints it.
fn go_type(schema: &Value) -> String {
    if let Some(name) = reference(schema) {
        return go_name(name).0;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") if schema.get("format").and_then(Value::as_str) == Some("byte") => {
            "[]uint8".into()
        }
        Some("string") => "string".into(),
        Some("boolean") => "bool".into(),
        Some("number") => "float64".into(),
        Some("integer") => match schema.get("format").and_then(Value::as_str) {
            Some("int32") => "int32".into(),
            _ => "int64".into(),
        },
        Some("array") => format!("[]{}", go_type(schema.get("items").unwrap_or(&Value::Null))),
        Some("object")
            if schema
                .get("additionalProperties")
                .is_some_and(Value::is_object) =>
        {
            format!("map[string]{}", go_type(&schema["additionalProperties"]))
        }
        _ => "interface {}".into(),
    }
}

/// Go's name of a JSON value's kind in a type error.
fn json_kind(value: &Value) -> String {
    match value {
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Array(_) => "array".into(),
        _ => "object".into(),
    }
}

impl Walk<'_> {
    fn error(&self, value: String, structure: &str, schema: &Value) -> Option<String> {
        Some(format!(
            "json: cannot unmarshal {value} into Go struct field {structure}.{} of type {}",
            self.fields.join("."),
            go_type(schema)
        ))
    }

    /// The first type error at `value` (of `schema`), inside Go struct `structure`.
    fn check(&mut self, schema: &Value, value: &Value, structure: &str) -> Option<String> {
        if value.is_null() {
            return None; // null leaves any Go value alone
        }
        let (schema, structure) = match reference(schema) {
            Some(name) if self_decoding(name) => return None,
            Some(name) => {
                let resolved = self.defs.get(name)?;
                if resolved.get("properties").is_some() {
                    if !value.is_object() {
                        return self.error(json_kind(value), structure, schema);
                    }
                    let own = go_name(name).1;
                    return self.fields_of(resolved, value, &own);
                }
                (resolved, structure.to_string())
            }
            None if schema.get("properties").is_some() => {
                // The root: a struct named by the caller.
                let (_, own) = go_name(structure);
                if !value.is_object() {
                    return None;
                }
                return self.fields_of(schema, value, &own);
            }
            None => (schema, structure.to_string()),
        };
        let kind = schema.get("type").and_then(Value::as_str);
        match (kind, value) {
            (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => None,
            (Some("number"), Value::Number(_)) => None,
            (Some("integer"), Value::Number(n)) => {
                let fits = match schema.get("format").and_then(Value::as_str) {
                    Some("int32") => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                    _ => n.as_i64().is_some(),
                };
                if fits {
                    None
                } else {
                    self.error(format!("number {n}"), &structure, schema)
                }
            }
            (Some("array"), Value::Array(items)) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Null);
                items
                    .iter()
                    .find_map(|item| self.check(item_schema, item, &structure))
            }
            (Some("object"), Value::Object(map))
                if schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object) =>
            {
                let values = &schema["additionalProperties"];
                map.values()
                    .find_map(|item| self.check(values, item, &structure))
            }
            (Some("string" | "boolean" | "number" | "integer" | "array"), _) => {
                self.error(json_kind(value), &structure, schema)
            }
            (Some("object"), v) if !v.is_object() => {
                self.error(json_kind(value), &structure, schema)
            }
            _ => None,
        }
    }

    /// The fields of a struct value, in key order; unknown fields are not Go's business.
    fn fields_of(&mut self, schema: &Value, value: &Value, structure: &str) -> Option<String> {
        let properties = schema.get("properties")?.as_object()?;
        for (field, item) in value.as_object()? {
            let Some(field_schema) = properties.get(field) else {
                continue;
            };
            self.fields.push(field.clone());
            let found = self.check(field_schema, item, structure);
            self.fields.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use serde_json::json;

    use super::*;

    #[test]
    fn go_words_for_wrong_types() {
        assert_eq!(
            type_error::<ConfigMap>(&json!({"data": {"a": 1}})).as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
            )
        );
        assert_eq!(
            type_error::<ConfigMap>(&json!({"metadata": {"labels": "x"}})).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field ObjectMeta.metadata.labels of type map[string]string"
            )
        );
        assert_eq!(
            type_error::<ConfigMap>(&json!({"metadata": "cm"})).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta"
            )
        );
        assert_eq!(
            type_error::<ClusterRole>(&json!({"rules": [{"verbs": "get"}]})).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field PolicyRule.rules.verbs of type []string"
            )
        );
        assert_eq!(
            type_error::<ConfigMap>(&json!({"immutable": "yes", "binaryData": {"a": 1}}))
                .as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ConfigMap.binaryData of type []uint8"
            )
        );
        assert_eq!(
            type_error::<ConfigMap>(
                &json!({"data": {"a": "b"}, "metadata": {"creationTimestamp": 5}})
            ),
            None
        );
    }
}
