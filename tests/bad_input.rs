//! The bad-input list: every malformed or invalid request gets the Status kube-apiserver
//! gives (code, reason, and the field at fault), and nothing is written. The hub runs
//! without its controllers, so "nothing changed" is exact.

mod common;

use common::{Hub, client};
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    code: u16,
    reason: &'static str,
    /// A cause field the Status must name, or a fragment its message must contain.
    expect: Expect,
}

enum Expect {
    Field(&'static str),
    Message(&'static str),
    Nothing,
}

#[allow(clippy::too_many_arguments)] // a table row constructor
fn case(
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    code: u16,
    reason: &'static str,
    expect: Expect,
) -> Case {
    Case {
        what,
        method,
        path,
        content_type,
        body: body.into(),
        code,
        reason,
        expect,
    }
}

const CM: &str = "/api/v1/namespaces/default/configmaps";
const MC: &str = "/apis/cluster.open-cluster-management.io/v1/managedclusters";
const JSON: &str = "application/json";

fn cases() -> Vec<Case> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge =
        json!({"metadata": {"name": "huge"}, "data": {"k": "x".repeat(3 * 1024 * 1024 + 1)}});
    use Expect::*;
    vec![
        case(
            "malformed JSON",
            "POST",
            CM,
            JSON,
            "{not json",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "truncated JSON",
            "POST",
            CM,
            JSON,
            r#"{"metadata": {"name": "a""#,
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "nesting beyond any limit",
            "POST",
            CM,
            JSON,
            deep,
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "not an object",
            "POST",
            CM,
            JSON,
            "[1, 2]",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "not UTF-8",
            "POST",
            CM,
            JSON,
            vec![b'{', 0xff, 0xfe, b'}'],
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "malformed YAML",
            "POST",
            CM,
            "application/yaml",
            "metadata: [name: a\n  - x",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "garbage protobuf",
            "POST",
            CM,
            "application/vnd.kubernetes.protobuf",
            vec![0x6b, 0x38, 0x73, 0x00, 0x0a, 0xff, 0xff],
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "unsupported media type",
            "POST",
            CM,
            "text/plain",
            "name=a",
            415,
            "UnsupportedMediaType",
            Nothing,
        ),
        case(
            "unknown patch type",
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/x-patch",
            "{}",
            415,
            "UnsupportedMediaType",
            Nothing,
        ),
        case(
            "wrong kind",
            "POST",
            CM,
            JSON,
            r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}"#,
            400,
            "BadRequest",
            Message("Secret"),
        ),
        case(
            "wrong apiVersion",
            "POST",
            CM,
            JSON,
            r#"{"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "a"}}"#,
            400,
            "BadRequest",
            Message("v2"),
        ),
        case(
            "metadata not an object",
            "POST",
            CM,
            JSON,
            r#"{"metadata": "a"}"#,
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "no name",
            "POST",
            CM,
            JSON,
            r#"{"metadata": {}}"#,
            422,
            "Invalid",
            Field("metadata.name"),
        ),
        case(
            "invalid name",
            "POST",
            CM,
            JSON,
            r#"{"metadata": {"name": "Bad_Name"}}"#,
            422,
            "Invalid",
            Field("metadata.name"),
        ),
        case(
            "name too long",
            "POST",
            CM,
            JSON,
            format!(r#"{{"metadata": {{"name": "{}"}}}}"#, "a".repeat(254)),
            422,
            "Invalid",
            Field("metadata.name"),
        ),
        case(
            "namespace name with a dot",
            "POST",
            "/api/v1/namespaces",
            JSON,
            r#"{"metadata": {"name": "a.b"}}"#,
            422,
            "Invalid",
            Field("metadata.name"),
        ),
        case(
            "namespace mismatch",
            "POST",
            CM,
            JSON,
            r#"{"metadata": {"name": "a", "namespace": "other"}}"#,
            400,
            "BadRequest",
            Message("namespace"),
        ),
        case(
            "missing namespace",
            "POST",
            "/api/v1/namespaces/nosuch/configmaps",
            JSON,
            r#"{"metadata": {"name": "a"}}"#,
            404,
            "NotFound",
            Message("nosuch"),
        ),
        case(
            "invalid label selector",
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "invalid field selector",
            "GET",
            "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "unsupported field selector",
            "GET",
            "/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3Dy",
            "",
            "",
            400,
            "BadRequest",
            Message("is not a known field selector"),
        ),
        case(
            "invalid limit",
            "GET",
            "/api/v1/namespaces/default/configmaps?limit=x",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "invalid continue token",
            "GET",
            "/api/v1/namespaces/default/configmaps?limit=1&continue=zzz",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "oversize body",
            "POST",
            CM,
            JSON,
            huge.to_string(),
            413,
            "RequestEntityTooLarge",
            Nothing,
        ),
        case(
            "unknown resource",
            "GET",
            "/api/v1/nosuchthings",
            "",
            "",
            404,
            "NotFound",
            Nothing,
        ),
        case(
            "unknown subresource",
            "GET",
            "/api/v1/namespaces/default/configmaps/a/status",
            "",
            "",
            404,
            "NotFound",
            Nothing,
        ),
        case(
            "custom resource update without resourceVersion",
            "PUT",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            JSON,
            r#"{"metadata": {"name": "existing"}, "spec": {"hubAcceptsClient": false}}"#,
            422,
            "Invalid",
            Field("metadata.resourceVersion"),
        ),
        case(
            "URL and body names differ",
            "PUT",
            "/api/v1/namespaces/default/configmaps/a",
            JSON,
            r#"{"metadata": {"name": "b"}}"#,
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "invalid JSON patch",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/json-patch+json",
            r#"[{"op": "frobnicate"}]"#,
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "JSON patch test failure",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/json-patch+json",
            r#"[{"op": "test", "path": "/spec/hubAcceptsClient", "value": false}]"#,
            422,
            "Invalid",
            Nothing,
        ),
        case(
            "bad resourceVersion precondition",
            "PUT",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            JSON,
            r#"{"metadata": {"name": "existing", "resourceVersion": "abc"}, "spec": {"hubAcceptsClient": false}}"#,
            422,
            "Invalid",
            Field("metadata.resourceVersion"),
        ),
        case(
            "invalid URL encoding",
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=%ZZ",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
        case(
            "unknown field, strict",
            "POST",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            JSON,
            r#"{"metadata": {"name": "a"}, "dat": {"k": "v"}}"#,
            400,
            "BadRequest",
            Message("strict decoding error: unknown field \"dat\""),
        ),
        case(
            "unknown spec field of a custom resource, strict",
            "POST",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters?fieldValidation=Strict",
            JSON,
            r#"{"metadata": {"name": "c2"}, "spec": {"hubAcceptsClient": true, "colour": "red"}}"#,
            400,
            "BadRequest",
            Message("unknown field \"spec.colour\""),
        ),
        case(
            "unknown field in a strict patch",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing?fieldValidation=Strict",
            "application/merge-patch+json",
            r#"{"spec": {"colour": "red"}}"#,
            422,
            "Invalid",
            Field("patch"),
        ),
        case(
            "unsupported fieldValidation",
            "POST",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Loud",
            JSON,
            r#"{"metadata": {"name": "a"}}"#,
            422,
            "Invalid",
            Message("fieldValidation"),
        ),
        case(
            "wrong type in a built-in kind",
            "POST",
            CM,
            JSON,
            r#"{"metadata": {"name": "a"}, "data": {"k": 1}}"#,
            400,
            "BadRequest",
            // Go's decoder's words, as kube-apiserver answers (tests/conformance).
            Message("Go struct field ConfigMap.data of type string"),
        ),
        case(
            "enum violation",
            "POST",
            MC,
            JSON,
            r#"{"metadata": {"name": "c3"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes", "timeAdded": null}]}}"#,
            422,
            "Invalid",
            Field("spec.taints[0].effect"),
        ),
        case(
            "wrong type in a custom resource",
            "POST",
            MC,
            JSON,
            r#"{"metadata": {"name": "c4"}, "spec": {"leaseDurationSeconds": "long"}}"#,
            422,
            "Invalid",
            Field("spec.leaseDurationSeconds"),
        ),
        case(
            "embedded manifest without kind",
            "POST",
            "/apis/work.open-cluster-management.io/v1/namespaces/default/manifestworks",
            JSON,
            r#"{"metadata": {"name": "w"}, "spec": {"workload": {"manifests": [{"apiVersion": "v1", "metadata": {"name": "x"}}]}}}"#,
            422,
            "Invalid",
            Field("spec.workload.manifests[0].kind"),
        ),
        case(
            "invalid update of a custom resource",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/merge-patch+json",
            r#"{"spec": {"leaseDurationSeconds": "long"}}"#,
            422,
            "Invalid",
            Field("spec.leaseDurationSeconds"),
        ),
        case(
            "resourceVersion ahead of the store",
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersion=999999",
            "",
            "",
            504,
            "Timeout",
            Message("Too large resource version"),
        ),
        case(
            "watch from a resourceVersion ahead of the store",
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=999999",
            "",
            "",
            504,
            "Timeout",
            Message("Too large resource version"),
        ),
        case(
            "resourceVersionMatch without resourceVersion",
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersionMatch=NotOlderThan",
            "",
            "",
            422,
            "Invalid",
            Field("resourceVersionMatch"),
        ),
        case(
            "Exact match of resourceVersion 0",
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersion=0&resourceVersionMatch=Exact",
            "",
            "",
            422,
            "Invalid",
            Field("resourceVersionMatch"),
        ),
        case(
            "unsupported resourceVersionMatch",
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersion=1&resourceVersionMatch=Newest",
            "",
            "",
            422,
            "Invalid",
            Field("resourceVersionMatch"),
        ),
        case(
            "resourceVersionMatch on a watch",
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&resourceVersionMatch=Exact",
            "",
            "",
            422,
            "Invalid",
            Field("resourceVersionMatch"),
        ),
        case(
            "resourceVersion with continue",
            "GET",
            "/api/v1/namespaces/default/configmaps?limit=1&resourceVersion=5&continue=abc",
            "",
            "",
            400,
            "BadRequest",
            Message("not allowed when using continue"),
        ),
        case(
            "merge patch that is not an object",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/merge-patch+json",
            r#""x""#,
            422,
            "Invalid",
            Nothing,
        ),
        case(
            "JSON patch replacing the whole object",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "", "value": "x"}]"#,
            422,
            "Invalid",
            Nothing,
        ),
        case(
            "JSON patch replacing metadata with a number",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "/metadata", "value": 1}]"#,
            422,
            "Invalid",
            Nothing,
        ),
        case(
            "JSON patch move that fails half-way",
            "PATCH",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/existing",
            "application/json-patch+json",
            r#"[{"op": "add", "path": "/spec/managedClusterClientConfigs", "value": [{"url": "https://a"}, {"url": "https://b"}]}, {"op": "move", "from": "/spec/managedClusterClientConfigs/0", "path": "/spec/managedClusterClientConfigs/1"}, {"op": "move", "from": "/spec/managedClusterClientConfigs/0", "path": "/nope/1"}]"#,
            422,
            "Invalid",
            Nothing,
        ),
        case(
            "invalid resourceVersion on list",
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersion=abc",
            "",
            "",
            400,
            "BadRequest",
            Nothing,
        ),
    ]
}

#[test]
fn bad_input_gets_kube_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let http = client(dir.path(), true);
    let existing = http
        .post(hub.url(MC))
        .json(&json!({"metadata": {"name": "existing"}, "spec": {"hubAcceptsClient": true}}))
        .send()
        .expect("create");
    assert_eq!(existing.status(), 201);
    let before: Value = http
        .get(hub.url(MC))
        .send()
        .expect("get")
        .json()
        .expect("json");

    for c in cases() {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let mut request = http.request(method, hub.url(c.path));
        if !c.content_type.is_empty() {
            request = request.header("Content-Type", c.content_type).body(c.body);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{}: {e}", c.what));
        let code = response.status().as_u16();
        let text = response.text().expect("body");
        let status: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a Status ({e}): {text}", c.what));
        assert_eq!(
            (
                code,
                status["kind"].as_str(),
                status["reason"].as_str(),
                status["code"].as_u64()
            ),
            (c.code, Some("Status"), Some(c.reason), Some(c.code as u64)),
            "{}: {text}",
            c.what
        );
        match c.expect {
            Expect::Field(field) => {
                let causes = status["details"]["causes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    causes.iter().any(|cause| cause["field"] == field),
                    "{}: no cause at {field}: {text}",
                    c.what
                );
            }
            Expect::Message(fragment) => assert!(
                status["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(fragment)),
                "{}: message lacks {fragment:?}: {text}",
                c.what
            ),
            Expect::Nothing => {}
        }
    }

    // Unknown fields are dropped with a warning by default, silently with Ignore.
    let r = http
        .post(hub.url(CM))
        .json(&json!({"metadata": {"name": "warned"}, "dat": {"k": "v"}}))
        .send()
        .expect("warn");
    assert_eq!(r.status(), 201);
    let warning = r
        .headers()
        .get("warning")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(warning.as_deref(), Some(r#"299 - "unknown field \"dat\"""#));
    let stored: Value = r.json().expect("json");
    assert!(stored.get("dat").is_none(), "{stored}");
    let r = http
        .post(hub.url("/api/v1/namespaces/default/configmaps?fieldValidation=Ignore"))
        .json(&json!({"metadata": {"name": "ignored"}, "dat": {"k": "v"}}))
        .send()
        .expect("ignore");
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("warning").is_none());
    for name in ["warned", "ignored"] {
        http.delete(hub.url(&format!("{CM}/{name}")))
            .send()
            .expect("delete");
    }

    // Nothing was written: no ConfigMaps or Namespaces appeared, the cluster is unchanged.
    let cms: Value = http
        .get(hub.url(CM))
        .send()
        .expect("list")
        .json()
        .expect("json");
    assert_eq!(cms["items"].as_array().map(Vec::len), Some(0), "{cms}");
    let ns: Value = http
        .get(hub.url("/api/v1/namespaces/a.b"))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(ns["reason"], "NotFound");
    let after: Value = http
        .get(hub.url(MC))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(before["items"], after["items"]);
    assert_eq!(
        http.get(hub.url("/readyz"))
            .send()
            .expect("readyz")
            .status(),
        200
    );
}
