//! CEL validation rules (`x-kubernetes-validations`) of a CRD created at run time: kube's
//! 422 `Invalid` responses for objects that break a rule, success for valid ones and for
//! unchanged immutable fields, and a 422 for a CRD whose rule does not compile.

mod common;

use common::{Hub, client};
use serde_json::{Value, json};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const SCALERS: &str = "/apis/example.com/v1/namespaces/default/scalers";

fn crd(name: &str, plural: &str, kind: &str, spec_schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": spec_schema}
                }}
            }]
        }
    })
}

fn scaler_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "minReplicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "zone": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "zone is immutable"}
            ]},
            "mode": {"type": "string"}
        },
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas",
             "message": "minReplicas must be less than or equal to maxReplicas"},
            {"rule": "!has(self.mode) || self.mode in ['fast', 'slow']",
             "messageExpression": "'mode ' + self.mode + ' is not supported'",
             "reason": "FieldValueForbidden", "fieldPath": ".mode"}
        ]
    })
}

fn scaler(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Scaler", "metadata": {"name": name}, "spec": spec})
}

/// Asserts a 422 `Invalid` Status and returns its causes as (field, message, reason).
fn invalid(resp: reqwest::blocking::Response) -> Vec<(String, String, String)> {
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().expect("status json");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["reason"], "Invalid", "{body}");
    assert_eq!(body["code"], 422, "{body}");
    body["details"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("field"), s("message"), s("reason"))
        })
        .collect()
}

#[test]
fn cel_rules_of_a_runtime_crd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let http = client(dir.path(), true);

    let r = http
        .post(hub.url(CRDS))
        .json(&crd(
            "scalers.example.com",
            "scalers",
            "Scaler",
            scaler_schema(),
        ))
        .send()
        .expect("post crd");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());

    // Valid objects are created.
    let r = http
        .post(hub.url(SCALERS))
        .json(&scaler(
            "ok",
            json!({"minReplicas": 1, "maxReplicas": 3, "zone": "a", "mode": "fast"}),
        ))
        .send()
        .expect("post");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());

    // A broken rule: kube's 422 with the field, message and reason.
    let r = http
        .post(hub.url(SCALERS))
        .json(&scaler(
            "bad",
            json!({"minReplicas": 5, "maxReplicas": 3, "mode": "turbo"}),
        ))
        .send()
        .expect("post");
    let causes = invalid(r);
    assert_eq!(
        causes,
        vec![
            (
                "spec".to_string(),
                "Invalid value: minReplicas must be less than or equal to maxReplicas".to_string(),
                "FieldValueInvalid".to_string()
            ),
            (
                "spec.mode".to_string(),
                "Forbidden: mode turbo is not supported".to_string(),
                "FieldValueForbidden".to_string()
            ),
        ]
    );

    // Updates: the immutable field may stay, may not change.
    let url = hub.url(&format!("{SCALERS}/ok"));
    let current: Value = http.get(&url).send().expect("get").json().expect("json");
    let mut same = current.clone();
    same["spec"]["maxReplicas"] = json!(4);
    let r = http.put(&url).json(&same).send().expect("put");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let updated: Value = r.json().expect("json");
    let mut moved = updated.clone();
    moved["spec"]["zone"] = json!("b");
    let causes = invalid(http.put(&url).json(&moved).send().expect("put"));
    assert_eq!(
        causes,
        vec![(
            "spec.zone".to_string(),
            "Invalid value: \"b\": zone is immutable".to_string(),
            "FieldValueInvalid".to_string()
        )]
    );
    let r = http
        .patch(&url)
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"spec":{"zone":"c"}}"#)
        .send()
        .expect("patch");
    let causes = invalid(r);
    assert_eq!(causes[0].0, "spec.zone");
    assert_eq!(causes[0].1, "Invalid value: \"c\": zone is immutable");

    // A type error blocks the rules, as kube's hasBlockingErr does.
    let r = http
        .post(hub.url(SCALERS))
        .json(&scaler(
            "typed",
            json!({"minReplicas": "many", "maxReplicas": 3}),
        ))
        .send()
        .expect("post");
    let causes = invalid(r);
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert_eq!(causes[0].0, "spec.minReplicas");
    assert_eq!(causes[0].2, "FieldValueTypeInvalid");
    assert_eq!(causes[1].0, "<nil>");
    assert!(
        causes[1]
            .1
            .contains("some validation rules were not checked because the object was invalid"),
        "{causes:?}"
    );

    // A CRD whose rule does not compile is refused.
    let broken = crd(
        "brokens.example.com",
        "brokens",
        "Broken",
        json!({"type": "object",
               "properties": {"a": {"type": "integer"}},
               "x-kubernetes-validations": [{"rule": "self.a >"}]}),
    );
    let r = http
        .post(hub.url(CRDS))
        .json(&broken)
        .send()
        .expect("post crd");
    let causes = invalid(r);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].0, "spec.versions[0].schema.openAPIV3Schema");
    assert!(
        causes[0].1.contains(
            "openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {\"Rule\":\"self.a \\u003e\""
        ) && causes[0].1.contains("compilation failed: ERROR: <input>:1:"),
        "{causes:?}"
    );
    let r = http
        .get(hub.url(&format!("{CRDS}/brokens.example.com")))
        .send()
        .expect("get");
    assert_eq!(r.status(), 404);
}
