//! kubectl 1.37 against the hub, command by command, asserting on output and on the
//! absence of warnings: describe, wait for a condition, get --watch, explain, and the core
//! kinds kubectl sends as protobuf.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{Hub, client, kubectl_cmd, kubectl_run};
use serde_json::json;

/// Runs kubectl, asserts success and an empty stderr (no warnings), returns stdout.
fn quiet(hub: &Hub, args: &[&str]) -> String {
    let out = kubectl_run(hub, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "kubectl {args:?} warned: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start() -> (tempfile::TempDir, Hub) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    (dir, hub)
}

fn apply(hub: &Hub, dir: &std::path::Path, yaml: &str) -> String {
    let file = dir.join("manifest.yaml");
    std::fs::write(&file, yaml).expect("write");
    quiet(hub, &["apply", "-f", file.to_str().expect("utf8")])
}

const CLUSTER: &str = "apiVersion: cluster.open-cluster-management.io/v1
kind: ManagedCluster
metadata:
  name: cluster1
  labels:
    env: dev
spec:
  hubAcceptsClient: true
";

#[test]
fn describe_wait_and_watch() {
    let (dir, hub) = start();
    assert!(apply(&hub, dir.path(), CLUSTER).contains("cluster1 created"));

    let described = quiet(&hub, &["describe", "managedcluster", "cluster1"]);
    for line in [
        "Name:",
        "cluster1",
        "env=dev",
        "Hub Accepts Client:",
        "true",
    ] {
        assert!(
            described.contains(line),
            "{line} missing from:\n{described}"
        );
    }

    // `get -w` prints the current row, then one per change.
    let mut watch = kubectl_cmd(
        &hub,
        &[
            "get",
            "managedclusters",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier",
            "--no-headers",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("kubectl get -w");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("initial row");
    assert!(first.starts_with("cluster1"), "{first}");
    quiet(&hub, &["label", "managedcluster", "cluster1", "tier=gold"]);
    let changed = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("changed row");
    assert!(changed.contains("gold"), "{changed}");
    let _ = watch.kill();
    let _ = watch.wait();

    // `wait --for=condition` returns once the status carries the condition.
    let waiter = kubectl_cmd(
        &hub,
        &[
            "wait",
            "--for=condition=ManagedClusterConditionAvailable",
            "managedcluster/cluster1",
            "--timeout=60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("kubectl wait");
    let http = client(&hub.data_dir, true);
    let r = http
        .patch(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters/cluster1/status"))
        .header("Content-Type", "application/merge-patch+json")
        .body(
            json!({"status": {"conditions": [{"type": "ManagedClusterConditionAvailable", "status": "True",
                "reason": "ManagedClusterAvailable", "message": "Managed cluster is available",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
            .to_string(),
        )
        .send()
        .expect("status patch");
    assert!(r.status().is_success(), "{}", r.status());
    let out = waiter.wait_with_output().expect("wait output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));
    let table = quiet(&hub, &["get", "managedclusters"]);
    assert!(
        table.lines().nth(1).is_some_and(|l| l.contains("True")),
        "{table}"
    );
}

/// kubectl sends core kinds as protobuf; they arrive whole.
#[test]
fn core_kinds_from_kubectl_protobuf() {
    let (_dir, hub) = start();
    quiet(&hub, &["create", "namespace", "team-a"]);
    quiet(
        &hub,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
            "--from-literal=level=3",
        ],
    );
    quiet(
        &hub,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=password=s3cr3t",
        ],
    );
    quiet(&hub, &["create", "serviceaccount", "robot", "-n", "team-a"]);
    quiet(
        &hub,
        &[
            "create",
            "clusterrole",
            "reader",
            "--verb=get,list",
            "--resource=configmaps",
        ],
    );
    quiet(
        &hub,
        &[
            "create",
            "rolebinding",
            "robot-reads",
            "-n",
            "team-a",
            "--clusterrole=reader",
            "--serviceaccount=team-a:robot",
        ],
    );
    let cm = quiet(
        &hub,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.mode}/{.data.level}",
        ],
    );
    assert_eq!(cm, "fast/3");
    let secret = quiet(
        &hub,
        &[
            "get",
            "secret",
            "creds",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.type}/{.data.password}",
        ],
    );
    assert_eq!(secret, "Opaque/czNjcjN0");
    let binding = quiet(
        &hub,
        &[
            "get",
            "rolebinding",
            "robot-reads",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.roleRef.kind}/{.roleRef.name}/{.subjects[0].kind}/{.subjects[0].name}",
        ],
    );
    assert_eq!(binding, "ClusterRole/reader/ServiceAccount/robot");
    let role = quiet(
        &hub,
        &[
            "get",
            "clusterrole",
            "reader",
            "-o",
            "jsonpath={.rules[0].verbs}",
        ],
    );
    assert_eq!(role, r#"["get","list"]"#);
    quiet(&hub, &["delete", "configmap", "settings", "-n", "team-a"]);
    assert!(
        !kubectl_run(&hub, &["get", "configmap", "settings", "-n", "team-a"])
            .status
            .success()
    );
}

/// `kubectl explain` walks the published schemas; kubectl's own field validation (strict
/// by default) is delegated to the server, which names the unknown field.
#[test]
fn explain_and_server_side_field_validation() {
    let (dir, hub) = start();
    let spec = quiet(&hub, &["explain", "managedclusters.spec"]);
    for field in [
        "hubAcceptsClient",
        "leaseDurationSeconds",
        "managedClusterClientConfigs",
        "taints",
    ] {
        assert!(spec.contains(field), "{field} missing:\n{spec}");
    }
    let taint = quiet(&hub, &["explain", "managedclusters.spec.taints.effect"]);
    assert!(
        taint.contains("<string>") && taint.contains("NoSelect"),
        "{taint}"
    );
    let work = quiet(&hub, &["explain", "manifestworks.spec.workload.manifests"]);
    assert!(work.contains("manifests"), "{work}");
    let meta = quiet(&hub, &["explain", "placements.metadata.labels"]);
    assert!(meta.contains("map[string]string"), "{meta}");
    let cm = quiet(&hub, &["explain", "configmaps.data"]);
    assert!(cm.contains("map[string]string"), "{cm}");

    let file = dir.path().join("typo.yaml");
    std::fs::write(
        &file,
        CLUSTER.replace(
            "hubAcceptsClient: true",
            "hubAcceptsClient: true\n  hubAcceptsClients: true",
        ),
    )
    .expect("write");
    let out = kubectl_run(&hub, &["apply", "-f", file.to_str().expect("utf8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a typo must fail strict validation");
    assert!(
        stderr.contains("unknown field \"spec.hubAcceptsClients\""),
        "{stderr}"
    );
    let out = kubectl_run(
        &hub,
        &[
            "apply",
            "--validate=warn",
            "-f",
            file.to_str().expect("utf8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field \"spec.hubAcceptsClients\"")
    );
    let stored = quiet(
        &hub,
        &[
            "get",
            "managedcluster",
            "cluster1",
            "-o",
            "jsonpath={.spec}",
        ],
    );
    assert!(
        !stored.contains("hubAcceptsClients") && stored.contains("\"leaseDurationSeconds\":60"),
        "{stored}"
    );
}
