//! The first slice of the Kubernetes API: discovery, and create/get/list/update/delete of
//! built-in and OCM kinds through the generic registry, with real kubectl and raw HTTP.
//! The hubs run with `--no-controllers`: these tests count events and generations of
//! ManagedClusters that the registration controllers would otherwise also write.

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
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
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
    // kubectl validates through /openapi/v3 (it finds the fieldValidation parameter).
    stdout(&kubectl_run(
        &hub,
        &["create", "-f", manifest.to_str().expect("utf8")],
    ));
    // Client-side apply of a new object (its merge patches go through the same path).
    let applied = dir.path().join("mc2.yaml");
    std::fs::write(&applied, "apiVersion: cluster.open-cluster-management.io/v1\nkind: ManagedCluster\nmetadata:\n  name: cluster2\nspec:\n  hubAcceptsClient: false\n").expect("write");
    let out = kubectl_run(&hub, &["apply", "-f", applied.to_str().expect("utf8")]);
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("cluster2 created"));
    std::fs::write(&applied, "apiVersion: cluster.open-cluster-management.io/v1\nkind: ManagedCluster\nmetadata:\n  name: cluster2\nspec:\n  hubAcceptsClient: true\n").expect("write");
    assert!(
        stdout(&kubectl_run(
            &hub,
            &["apply", "-f", applied.to_str().expect("utf8")]
        ))
        .contains("cluster2 configured")
    );
    let c2: Value = serde_json::from_str(&stdout(&kubectl_run(
        &hub,
        &["get", "mcl", "cluster2", "-o", "json"],
    )))
    .expect("json");
    assert_eq!(c2["spec"]["hubAcceptsClient"], true);
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
    // Merge patches (label, annotate, patch --type merge) and JSON patches.
    stdout(&kubectl_run(&hub, &["label", "mcl", "cluster1", "env=dev"]));
    stdout(&kubectl_run(
        &hub,
        &["annotate", "mcl", "cluster1", "note=hi"],
    ));
    stdout(&kubectl_run(
        &hub,
        &[
            "patch",
            "mcl",
            "cluster1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"hubAcceptsClient":false}}"#,
        ],
    ));
    stdout(&kubectl_run(
        &hub,
        &[
            "patch",
            "mcl",
            "cluster1",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/tier","value":"gold"}]"#,
        ],
    ));
    let got: Value = serde_json::from_str(&stdout(&kubectl_run(
        &hub,
        &["get", "mcl", "cluster1", "-o", "json"],
    )))
    .expect("json");
    assert_eq!(
        got["metadata"]["labels"],
        json!({"env": "dev", "tier": "gold", "cluster.open-cluster-management.io/clusterset": "default"})
    );
    assert_eq!(got["metadata"]["annotations"]["note"], "hi");
    assert_eq!(got["spec"]["hubAcceptsClient"], false);
    assert_eq!(
        got["metadata"]["generation"], 2,
        "only the spec patch bumps generation"
    );
    // Table output with the OCM printer columns.
    let table = stdout(&kubectl_run(&hub, &["get", "managedclusters"]));
    let header = table.lines().next().unwrap_or("");
    for column in [
        "NAME",
        "HUB ACCEPTED",
        "MANAGED CLUSTER URLS",
        "JOINED",
        "AVAILABLE",
        "AGE",
    ] {
        assert!(header.contains(column), "{table}");
    }
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|row| row.starts_with("cluster1") && row.contains("false")),
        "{table}"
    );
    assert!(
        stdout(&kubectl_run(
            &hub,
            &["get", "mcl", "-l", "tier=gold", "-o", "name"]
        ))
        .contains("cluster1")
    );
    assert!(
        stdout(&kubectl_run(
            &hub,
            &["get", "mcl", "-l", "tier=silver", "-o", "name"]
        ))
        .trim()
        .is_empty()
    );
    // delete waits (a watch with a metadata.name field selector) until the object is gone.
    stdout(&kubectl_run(
        &hub,
        &[
            "delete",
            "managedcluster",
            "cluster1",
            "--wait=true",
            "--timeout=30s",
        ],
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
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
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

    // Selectors filter; unsupported field labels are refused as kube refuses them.
    http.post(&base)
        .json(&json!({"metadata": {"name": "labelled", "labels": {"tier": "web"}}}))
        .send()
        .expect("post");
    let web: Value = http
        .get(format!("{base}?labelSelector=tier%20in%20(web,db)"))
        .send()
        .expect("selector")
        .json()
        .expect("json");
    assert_eq!(web["items"].as_array().expect("items").len(), 1);
    assert_eq!(web["items"][0]["metadata"]["name"], "labelled");
    let by_name: Value = http
        .get(format!("{base}?fieldSelector=metadata.name%3Dc"))
        .send()
        .expect("selector")
        .json()
        .expect("json");
    assert_eq!(by_name["items"].as_array().expect("items").len(), 1);
    let r = http
        .get(format!("{base}?fieldSelector=spec.x%3D1"))
        .send()
        .expect("selector");
    assert_eq!(r.status(), 400);
    let s: Value = r.json().expect("status");
    // kube-apiserver's words for a built-in kind without field labels of its own (the
    // conformance suite compares them with the real server).
    assert_eq!(
        s["message"],
        "\"spec.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    // A dry run answers as the write would, and writes nothing.
    let r = http
        .post(format!("{base}?dryRun=All"))
        .json(&json!({"metadata": {"name": "d"}}))
        .send()
        .expect("dry run");
    assert_eq!(r.status(), 201);
    let dry: Value = r.json().expect("json");
    assert_eq!(dry["metadata"]["name"], "d");
    assert!(dry["metadata"]["uid"].is_string());
    assert_eq!(
        http.get(format!("{base}/d")).send().expect("get").status(),
        404
    );
    let r = http
        .delete(format!("{base}/c?dryRun=All"))
        .send()
        .expect("dry delete");
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(format!("{base}/c")).send().expect("get").status(),
        200
    );
    let r = http
        .post(format!("{base}?dryRun=Some"))
        .json(&json!({"metadata": {"name": "d"}}))
        .send()
        .expect("bad dry run");
    assert_eq!(r.status(), 422);
    let r = http
        .post(&base)
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(vec![0x6b, 0x38, 0x73, 0x00])
        .send()
        .expect("proto");
    assert_eq!(r.status(), 400, "an empty protobuf envelope");
    let r = http
        .post(&base)
        .header("Content-Type", "application/cbor")
        .body(vec![0xa0])
        .send()
        .expect("cbor");
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
    // PartialObjectMetadata for metadata-only clients.
    let meta_accept =
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let partial: Value = http
        .get(&base)
        .header("Accept", meta_accept)
        .send()
        .expect("list")
        .json()
        .expect("json");
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
    assert_eq!(partial["items"][0]["kind"], "PartialObjectMetadata");
    assert!(partial["items"][0].get("data").is_none());
    assert!(partial["items"][0]["metadata"]["uid"].is_string());
    let one: Value = http
        .get(format!("{base}/labelled"))
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(
        (one["kind"].as_str(), one["metadata"]["name"].as_str()),
        (Some("PartialObjectMetadata"), Some("labelled")),
        "{one}"
    );
    let stream = events(
        http.get(format!(
            "{base}?watch=true&resourceVersion=0&timeoutSeconds=5"
        ))
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )
        .send()
        .expect("watch"),
    );
    let e = next(&stream);
    assert_eq!(
        (e["type"].as_str(), e["object"]["kind"].as_str()),
        (Some("ADDED"), Some("PartialObjectMetadata"))
    );
    // deletecollection honours the selector.
    for (name, tier) in [("x1", "tmp"), ("x2", "tmp"), ("x3", "keep")] {
        http.post(&base)
            .json(&json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
            .send()
            .expect("post");
    }
    let gone: Value = http
        .delete(format!("{base}?labelSelector=tier%3Dtmp"))
        .send()
        .expect("deletecollection")
        .json()
        .expect("json");
    assert_eq!(gone["items"].as_array().expect("items").len(), 2);
    let left: Value = http
        .get(format!("{base}?labelSelector=tier"))
        .send()
        .expect("list")
        .json()
        .expect("json");
    let names: Vec<&str> = left["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["labelled", "x3"]);
    // Anonymous clients are system:anonymous, whom RBAC does not let list ConfigMaps.
    let r = client(dir.path(), false).get(&base).send().expect("anon");
    assert_eq!(r.status(), 403);
    let s: Value = r.json().expect("status");
    assert_eq!(
        s["message"],
        "configmaps is forbidden: User \"system:anonymous\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
}

/// Reads watch events (one JSON object per line) from a streaming response.
fn events(response: reqwest::blocking::Response) -> std::sync::mpsc::Receiver<Value> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(response).lines() {
            let Ok(line) = line else { break };
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                break;
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

fn next(rx: &std::sync::mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("watch event within 30 s")
}

#[test]
fn watch_streams_changes_bookmarks_and_initial_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let http = client(dir.path(), true);
    let base = hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters");
    let list: Value = http.get(&base).send().expect("list").json().expect("json");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let stream = events(
        http.get(format!(
            "{base}?watch=true&resourceVersion={rv}&labelSelector=env%3Ddev"
        ))
        .send()
        .expect("watch"),
    );

    let created: Value = http
        .post(&base)
        .json(&json!({"metadata": {"name": "c1", "labels": {"env": "dev"}}}))
        .send()
        .expect("post")
        .json()
        .expect("json");
    http.post(&base)
        .json(&json!({"metadata": {"name": "other", "labels": {"env": "prod"}}}))
        .send()
        .expect("post");
    let mut relabelled = created.clone();
    relabelled["metadata"]["labels"]["env"] = json!("prod");
    assert_eq!(
        http.put(format!("{base}/c1"))
            .json(&relabelled)
            .send()
            .expect("put")
            .status(),
        200
    );
    let e = next(&stream);
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("c1"))
    );
    assert_eq!(e["object"]["kind"], "ManagedCluster");
    // Leaving the selector is a DELETED event for this watcher; "other" never matched.
    let e = next(&stream);
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("c1"))
    );

    // sendInitialEvents: current objects, then the initial-events-end bookmark.
    let initial = events(http.get(format!("{base}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=")).send().expect("watch-list"));
    let mut names = vec![
        next(&initial)["object"]["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string(),
    ];
    names.push(
        next(&initial)["object"]["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string(),
    );
    names.sort();
    assert_eq!(names, ["c1", "other"]);
    let b = next(&initial);
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(
        b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(
        b["object"]["apiVersion"],
        "cluster.open-cluster-management.io/v1"
    );
    let r = http
        .get(format!("{base}?watch=true&sendInitialEvents=true"))
        .send()
        .expect("bad watch-list");
    assert_eq!(r.status(), 422);
}

#[test]
fn watch_from_compacted_history_ends_with_an_in_stream_410() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("hub.json");
    std::fs::write(
        &cfg,
        r#"{"storage": {"compactionIntervalSeconds": 1, "historyRetentionSeconds": 0}}"#,
    )
    .expect("config");
    let mut hub = Hub::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("utf8")],
    );
    hub.wait_ready();
    let http = client(&dir.path().join("data"), true);
    let base = hub.url("/api/v1/namespaces/default/configmaps");
    for i in 0..5 {
        http.post(&base)
            .json(&json!({"metadata": {"name": format!("c{i}")}}))
            .send()
            .expect("post");
    }
    // Wait for the compactor to pass the first writes. A list at 2 failing means the
    // compaction point is at least 3, so events after 1 are gone for a watch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = http
            .get(format!(
                "{base}?resourceVersion=2&resourceVersionMatch=Exact"
            ))
            .send()
            .expect("list");
        if r.status() == 410 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "history never compacted"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = http
        .get(format!("{base}?watch=true&resourceVersion=1"))
        .send()
        .expect("watch");
    assert_eq!(r.status(), 200, "a 410 must arrive inside the stream");
    let stream = events(r);
    let e = next(&stream);
    assert_eq!(e["type"], "ERROR");
    assert_eq!(
        (e["object"]["code"].as_i64(), e["object"]["reason"].as_str()),
        (Some(410), Some("Expired"))
    );
}
