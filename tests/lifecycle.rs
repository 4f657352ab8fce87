//! Garbage collection and lifecycles: ownerReferences with Background, Foreground and
//! Orphan propagation (kubectl `--cascade`), dangling owners, and Namespace deletion
//! through Terminating; the order of deletions is observed through a watch.

mod common;

use std::time::Duration;

use common::{Hub, client, kubectl_run, wait_until};
use serde_json::{Value, json};

fn start() -> (tempfile::TempDir, Hub, reqwest::blocking::Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let http = client(dir.path(), true);
    (dir, hub, http)
}

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn create(hub: &Hub, http: &reqwest::blocking::Client, path: &str, body: Value) -> Value {
    let r = http.post(hub.url(path)).json(&body).send().expect("post");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().expect("json")
}

fn owner_ref(owner: &Value, block: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block})
}

fn exists(hub: &Hub, http: &reqwest::blocking::Client, path: &str) -> bool {
    http.get(hub.url(path)).send().expect("get").status() == 200
}

fn kubectl_ok(hub: &Hub, args: &[&str]) {
    let out = kubectl_run(hub, args);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn owner_references_and_propagation_policies() {
    let (_dir, hub, http) = start();
    // Background: the owner goes at once, its dependent after it.
    let owner = create(&hub, &http, CM, json!({"metadata": {"name": "bg-owner"}}));
    create(
        &hub,
        &http,
        CM,
        json!({"metadata": {"name": "bg-dep", "ownerReferences": [owner_ref(&owner, false)]}}),
    );
    kubectl_ok(&hub, &["delete", "configmap", "bg-owner"]);
    wait_until("the background dependent is collected", || {
        !exists(&hub, &http, &format!("{CM}/bg-dep"))
    });

    // Orphan: the dependent stays, without its owner reference.
    let owner = create(&hub, &http, CM, json!({"metadata": {"name": "or-owner"}}));
    create(
        &hub,
        &http,
        CM,
        json!({"metadata": {"name": "or-dep", "ownerReferences": [owner_ref(&owner, false)]}}),
    );
    kubectl_ok(
        &hub,
        &[
            "delete",
            "configmap",
            "or-owner",
            "--cascade=orphan",
            "--wait=true",
            "--timeout=30s",
        ],
    );
    assert!(!exists(&hub, &http, &format!("{CM}/or-owner")));
    let dep: Value = http
        .get(hub.url(&format!("{CM}/or-dep")))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert!(
        dep["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r == &json!([])),
        "{dep}"
    );

    // Foreground: the owner waits for its blocking dependent; a watch sees the order.
    let owner = create(&hub, &http, CM, json!({"metadata": {"name": "fg-owner"}}));
    let listed: Value = http
        .get(hub.url(CM))
        .send()
        .expect("list")
        .json()
        .expect("json");
    let rv = listed["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    create(
        &hub,
        &http,
        CM,
        json!({"metadata": {"name": "fg-dep", "finalizers": ["example.com/hold"], "ownerReferences": [owner_ref(&owner, true)]}}),
    );
    let watch = http
        .get(hub.url(&format!(
            "{CM}?watch=true&resourceVersion={rv}&timeoutSeconds=25"
        )))
        .send()
        .expect("watch");
    let (tx, events) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(watch).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str(&line)
                && tx.send(event).is_err()
            {
                return;
            }
        }
    });
    let r = http
        .delete(hub.url(&format!("{CM}/fg-owner")))
        .json(&json!({"propagationPolicy": "Foreground"}))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    // The dependent holds a finalizer of its own: the owner must still be there, waiting.
    wait_until("the dependent is being deleted", || {
        let d: Value = http
            .get(hub.url(&format!("{CM}/fg-dep")))
            .send()
            .expect("get")
            .json()
            .expect("json");
        d["metadata"]["deletionTimestamp"].is_string()
    });
    let waiting: Value = http
        .get(hub.url(&format!("{CM}/fg-owner")))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(
        waiting["metadata"]["finalizers"],
        json!(["foregroundDeletion"]),
        "{waiting}"
    );
    http.patch(hub.url(&format!("{CM}/fg-dep")))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":null}}"#)
        .send()
        .expect("release");
    wait_until("the owner goes after its dependent", || {
        !exists(&hub, &http, &format!("{CM}/fg-owner"))
    });
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let event = events
            .recv_timeout(Duration::from_secs(10))
            .expect("a DELETED event");
        if event["type"] == "DELETED" {
            deleted.push(
                event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    assert_eq!(deleted, ["fg-dep", "fg-owner"]);

    // A dependent whose owner never existed (or is gone) is collected.
    create(
        &hub,
        &http,
        CM,
        json!({"metadata": {"name": "dangling", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}]}}),
    );
    wait_until("the dangling dependent is collected", || {
        !exists(&hub, &http, &format!("{CM}/dangling"))
    });
}

#[test]
fn namespace_deletion_empties_then_removes_it() {
    let (_dir, hub, http) = start();
    create(
        &hub,
        &http,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "doomed"}}),
    );
    for i in 0..5 {
        create(
            &hub,
            &http,
            "/api/v1/namespaces/doomed/configmaps",
            json!({"metadata": {"name": format!("c{i}")}}),
        );
    }
    create(
        &hub,
        &http,
        "/apis/addon.open-cluster-management.io/v1alpha1/namespaces/doomed/managedclusteraddons",
        json!({"metadata": {"name": "addon"}, "spec": {}}),
    );
    create(
        &hub,
        &http,
        "/api/v1/namespaces/doomed/configmaps",
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    );
    let r = http
        .delete(hub.url("/api/v1/namespaces/doomed"))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    wait_until("the namespace is Terminating", || {
        let ns: Value = http
            .get(hub.url("/api/v1/namespaces/doomed"))
            .send()
            .expect("get")
            .json()
            .expect("json");
        ns["status"]["phase"] == "Terminating"
    });
    // Nothing new may be created in it.
    let r = http
        .post(hub.url("/api/v1/namespaces/doomed/configmaps"))
        .json(&json!({"metadata": {"name": "late"}}))
        .send()
        .expect("post");
    assert_eq!(r.status(), 403);
    wait_until("only the held object is left", || {
        let cms: Value = http
            .get(hub.url("/api/v1/namespaces/doomed/configmaps"))
            .send()
            .expect("list")
            .json()
            .expect("json");
        cms["items"].as_array().map(Vec::len) == Some(1)
    });
    assert!(
        exists(&hub, &http, "/api/v1/namespaces/doomed"),
        "held by an object that is still finalizing"
    );
    http.patch(hub.url("/api/v1/namespaces/doomed/configmaps/held"))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":null}}"#)
        .send()
        .expect("release");
    wait_until("the namespace is gone", || {
        !exists(&hub, &http, "/api/v1/namespaces/doomed")
    });
    assert!(!exists(
        &hub,
        &http,
        "/apis/addon.open-cluster-management.io/v1alpha1/namespaces/doomed/managedclusteraddons/addon"
    ));
    // kubectl's own wait works too.
    create(
        &hub,
        &http,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "short"}}),
    );
    kubectl_ok(
        &hub,
        &[
            "delete",
            "namespace",
            "short",
            "--wait=true",
            "--timeout=30s",
        ],
    );
}
