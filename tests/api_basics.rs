//! The first slice of the Kubernetes API: discovery, and create/get/list/update/delete of
//! built-in and OCM kinds through the generic registry, with real kubectl and raw HTTP.

mod common;

use common::{Hub, client, kubectl_run};
use serde_json::{Value, json};

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_discovers_and_manages_ocm_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let namespaces = stdout(&kubectl_run(&hub, &["get", "namespaces", "-o", "name"]));
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(
            namespaces.contains(&format!("namespace/{ns}")),
            "{namespaces}"
        );
    }
    let resources = stdout(&kubectl_run(
        &hub,
        &[
            "api-resources",
            "--api-group",
            "cluster.open-cluster-management.io",
            "-o",
            "name",
        ],
    ));
    assert!(
        resources.contains("managedclusters.cluster.open-cluster-management.io"),
        "{resources}"
    );
    let manifest = dir.path().join("mc.yaml");
    std::fs::write(&manifest, "apiVersion: cluster.open-cluster-management.io/v1\nkind: ManagedCluster\nmetadata:\n  name: cluster1\nspec:\n  hubAcceptsClient: true\n").expect("write");
    // OpenAPI arrives with the next API-server slice; until then kubectl cannot validate.
    stdout(&kubectl_run(
        &hub,
        &[
            "create",
            "-f",
            manifest.to_str().expect("utf8"),
            "--validate=false",
        ],
    ));
    let got: Value = serde_json::from_str(&stdout(&kubectl_run(
        &hub,
        &["get", "mcl", "cluster1", "-o", "json"],
    )))
    .expect("json");
    assert_eq!(got["spec"]["hubAcceptsClient"], true);
    assert_eq!(got["metadata"]["generation"], 1);
    assert!(
        got["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    stdout(&kubectl_run(
        &hub,
        &["delete", "managedcluster", "cluster1"],
    ));
    let out = kubectl_run(&hub, &["get", "managedcluster", "cluster1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rest_semantics_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let http = client(dir.path(), true);
    let base = hub.url("/api/v1/namespaces/default/configmaps");
    let created = http
        .post(&base)
        .json(&json!({"metadata": {"name": "c"}, "data": {"k": "v"}}))
        .send()
        .expect("post");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().expect("json");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();

    // A stale resourceVersion conflicts with kube's reason and wording.
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["k"] = json!("w");
    let r = http
        .put(format!("{base}/c"))
        .json(&stale)
        .send()
        .expect("put");
    assert_eq!(r.status(), 409);
    let s: Value = r.json().expect("status");
    assert_eq!(
        (s["reason"].as_str(), s["details"]["kind"].as_str()),
        (Some("Conflict"), Some("configmaps"))
    );

    let mut fresh = created.clone();
    fresh["data"]["k"] = json!("w");
    let r: Value = http
        .put(format!("{base}/c"))
        .json(&fresh)
        .send()
        .expect("put")
        .json()
        .expect("json");
    assert_eq!(r["data"]["k"], "w");
    assert!(
        r["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .parse::<u64>()
            .expect("n")
            > rv.parse::<u64>().expect("n")
    );

    let list: Value = http.get(&base).send().expect("list").json().expect("json");
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().expect("items").len(), 1);

    // What is not implemented yet is refused, never silently ignored.
    let r = http
        .get(format!("{base}?labelSelector=a%3Db"))
        .send()
        .expect("selector");
    assert_eq!(r.status(), 400);
    let r = http
        .post(&base)
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(vec![0x6b, 0x38, 0x73, 0x00])
        .send()
        .expect("proto");
    assert_eq!(r.status(), 415);
    let r = http
        .post(&base)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .expect("bad json");
    assert_eq!(r.status(), 400);
    let r = http
        .post(&base)
        .json(&json!({"metadata": {"name": "Bad_Name"}}))
        .send()
        .expect("invalid");
    assert_eq!(r.status(), 422);
    let s: Value = r.json().expect("status");
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    let r = http
        .post(&base)
        .header("Content-Type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024 + 10])
        .send()
        .expect("big");
    assert_eq!(r.status(), 413);

    let r: Value = http
        .delete(format!("{base}/c"))
        .send()
        .expect("delete")
        .json()
        .expect("json");
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    assert_eq!(
        http.get(format!("{base}/c")).send().expect("get").status(),
        404
    );
    // Unauthenticated clients still get 401 on resources.
    assert_eq!(
        client(dir.path(), false)
            .get(&base)
            .send()
            .expect("anon")
            .status(),
        401
    );
}
