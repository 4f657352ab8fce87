//! Status feedback: values read from an applied object's status with `JSONPaths` rules
//! or the `WellKnownStatus` set of Deployments, Jobs and Pods. A map, a list or several
//! matches are reported as `JsonRaw` (compact JSON, at most 1,024 bytes), what upstream's
//! agent does behind its `RawFeedbackJsonString` gate.

use serde_json::Value;

use crate::api::jsonpath::JsonPath;
use crate::api::ocm::{FeedbackRule, FeedbackType, FeedbackValue, FieldValue, ValueType};

/// The longest `JsonRaw` value (upstream's `--max-json-raw-length` default and the CRD's
/// limit).
const MAX_JSON_RAW: usize = 1024;

/// The well-known `(name, path)` pairs of a kind.
fn well_known(group: &str, kind: &str) -> &'static [(&'static str, &'static str)] {
    match (group, kind) {
        ("apps", "Deployment") => &[
            ("ReadyReplicas", ".status.readyReplicas"),
            ("Replicas", ".status.replicas"),
            ("AvailableReplicas", ".status.availableReplicas"),
        ],
        ("batch", "Job") => &[
            (
                "JobComplete",
                ".status.conditions[?(@.type==\"Complete\")].status",
            ),
            ("JobSucceeded", ".status.succeeded"),
        ],
        ("", "Pod") => &[
            (
                "PodReady",
                ".status.conditions[?(@.type==\"Ready\")].status",
            ),
            ("PodPhase", ".status.phase"),
        ],
        _ => &[],
    }
}

/// Evaluates `rules` (a manifestConfig's `feedbackRules`) on `object`. Returns the values
/// and, when some rule could not be evaluated, why.
pub fn evaluate(
    rules: &[FeedbackRule],
    group: &str,
    kind: &str,
    object: &Value,
) -> (Vec<FeedbackValue>, Option<String>) {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    let version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
        .unwrap_or_default();
    for rule in rules {
        let paths: Vec<(String, String, Option<String>)> = match rule.type_ {
            FeedbackType::WellKnownStatus => well_known(group, kind)
                .iter()
                .map(|(n, p)| (n.to_string(), p.to_string(), None))
                .collect(),
            FeedbackType::JsonPaths => rule
                .json_paths
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.path.clone(),
                        p.version.clone().filter(|v| !v.is_empty()),
                    )
                })
                .collect(),
        };
        for (name, path, want_version) in paths {
            if let Some(v) = want_version
                && v != version
            {
                errors.push(format!(
                    "{name}: the object is at version {version}, not {v}"
                ));
                continue;
            }
            let parsed = match JsonPath::parse(&path) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(format!("{name}: invalid path {path:?}: {e}"));
                    continue;
                }
            };
            let found = parsed.find(object);
            let several = Value::Array(found.iter().map(|v| (*v).clone()).collect());
            let value = match found.as_slice() {
                [] => continue, // a missing field is no value, not an error
                [one] => *one,
                // Several matches are reported together, as raw JSON.
                _ => &several,
            };
            let field = match value {
                Value::Number(n) if n.is_i64() => FieldValue {
                    type_: ValueType::Integer,
                    integer: n.as_i64(),
                    ..FieldValue::default()
                },
                Value::String(s) => FieldValue {
                    type_: ValueType::String,
                    string: Some(s.clone()),
                    ..FieldValue::default()
                },
                Value::Bool(b) => FieldValue {
                    type_: ValueType::Boolean,
                    boolean: Some(*b),
                    ..FieldValue::default()
                },
                Value::Array(_) | Value::Object(_) => {
                    let raw = value.to_string();
                    if raw.len() > MAX_JSON_RAW {
                        errors.push(format!(
                            "{name}: the value at {path} is {} bytes of JSON, more than {MAX_JSON_RAW}",
                            raw.len()
                        ));
                        continue;
                    }
                    FieldValue {
                        type_: ValueType::JsonRaw,
                        json_raw: Some(raw),
                        ..FieldValue::default()
                    }
                }
                other => {
                    errors.push(format!(
                        "{name}: the value at {path} is not a scalar: {other}"
                    ));
                    continue;
                }
            };
            values.push(FeedbackValue { name, value: field });
        }
    }
    (values, (!errors.is_empty()).then(|| errors.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Vec<FeedbackRule> {
        serde_json::from_value(v).expect("rules")
    }

    #[test]
    fn well_known_and_json_paths() {
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "status": {"readyReplicas": 2, "replicas": 3}});
        let (values, err) = evaluate(
            &rules(json!([{"type": "WellKnownStatus"}])),
            "apps",
            "Deployment",
            &deploy,
        );
        assert!(err.is_none());
        assert_eq!(
            serde_json::to_value(&values[0]).expect("json"),
            json!({"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 2}})
        );
        assert_eq!(values.len(), 2, "absent fields give no value");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "x"},
            "status": {"ok": true, "m": {"k": 1}, "f": 1.5, "l": [{"n": 1}, {"n": 2}]}});
        let paths = rules(json!([{"type": "JSONPaths", "jsonPaths": [
            {"name": "a", "path": ".data.a"}, {"name": "ok", "path": ".status.ok"},
            {"name": "m", "path": ".status.m"}, {"name": "f", "path": ".status.f"},
            {"name": "n", "path": ".status.l[*].n"},
            {"name": "v", "path": ".data.a", "version": "v2"}]}]));
        let (values, err) = evaluate(&paths, "", "ConfigMap", &cm);
        assert_eq!(values.len(), 4);
        assert_eq!(
            serde_json::to_value(&values[2].value).expect("json"),
            json!({"type": "JsonRaw", "jsonRaw": "{\"k\":1}"})
        );
        assert_eq!(
            serde_json::to_value(&values[3].value).expect("json"),
            json!({"type": "JsonRaw", "jsonRaw": "[1,2]"})
        );
        assert_eq!(
            serde_json::to_value(&values[1].value).expect("json"),
            json!({"type": "Boolean", "boolean": true})
        );
        let err = err.expect("errors");
        assert!(
            err.contains("not a scalar") && err.contains("version v1"),
            "{err}"
        );
    }
}
