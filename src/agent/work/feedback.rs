//! Status feedback: values read from an applied object's status with `JSONPaths` rules
//! or the `WellKnownStatus` set of Deployments, Jobs and Pods.

use serde_json::{Value, json};

use crate::api::jsonpath::JsonPath;

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
    rules: &[Value],
    group: &str,
    kind: &str,
    object: &Value,
) -> (Vec<Value>, Option<String>) {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    let version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
        .unwrap_or_default();
    for rule in rules {
        let paths: Vec<(String, String, Option<String>)> =
            match rule.get("type").and_then(Value::as_str) {
                Some("WellKnownStatus") => well_known(group, kind)
                    .iter()
                    .map(|(n, p)| (n.to_string(), p.to_string(), None))
                    .collect(),
                Some("JSONPaths") => rule
                    .get("jsonPaths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let text =
                            |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (
                            text("name"),
                            text("path"),
                            Some(text("version")).filter(|v| !v.is_empty()),
                        )
                    })
                    .collect(),
                other => {
                    errors.push(format!("unknown feedback rule type {other:?}"));
                    continue;
                }
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
            let Some(value) = found.first() else {
                continue; // a missing field is no value, not an error
            };
            let field = match value {
                Value::Number(n) if n.is_i64() => json!({"type": "Integer", "integer": n}),
                Value::String(s) => json!({"type": "String", "string": s}),
                Value::Bool(b) => json!({"type": "Boolean", "boolean": b}),
                other => {
                    errors.push(format!(
                        "{name}: the value at {path} is not a scalar: {other}"
                    ));
                    continue;
                }
            };
            values.push(json!({"name": name, "fieldValue": field}));
        }
    }
    (values, (!errors.is_empty()).then(|| errors.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_and_json_paths() {
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "status": {"readyReplicas": 2, "replicas": 3}});
        let (values, err) = evaluate(
            &[json!({"type": "WellKnownStatus"})],
            "apps",
            "Deployment",
            &deploy,
        );
        assert!(err.is_none());
        assert_eq!(
            values[0],
            json!({"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 2}})
        );
        assert_eq!(values.len(), 2, "absent fields give no value");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "x"}, "status": {"ok": true, "m": {"k": 1}}});
        let rules = [json!({"type": "JSONPaths", "jsonPaths": [
            {"name": "a", "path": ".data.a"}, {"name": "ok", "path": ".status.ok"},
            {"name": "m", "path": ".status.m"}, {"name": "v", "path": ".data.a", "version": "v2"}]})];
        let (values, err) = evaluate(&rules, "", "ConfigMap", &cm);
        assert_eq!(values.len(), 2);
        assert_eq!(
            values[1]["fieldValue"],
            json!({"type": "Boolean", "boolean": true})
        );
        let err = err.expect("errors");
        assert!(
            err.contains("not a scalar") && err.contains("version v1"),
            "{err}"
        );
    }
}
