//! Registry semantics against a real embedded store.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Deletion, Registry, Target};
use crate::api::{Catalog, Kind};
use crate::storage::ListOptions;
use crate::storage::rocks::{RocksOptions, RocksStore};

/// A built-in kind with a `'static` lifetime (leaked: tests only).
fn find(group: &str, plural: &str) -> Option<&'static Kind> {
    let kind = Catalog::builtin().find_resource(group, plural)?;
    Some(Box::leak(Box::new((*kind).clone())))
}

struct Env {
    registry: Registry,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(&dir.path().join("db"), &RocksOptions::default()).expect("open");
    let registry = Registry::new(store as Arc<dyn crate::storage::Store>);
    let ns = find("", "namespaces").expect("ns kind");
    registry
        .create(ns, None, json!({"metadata": {"name": "default"}}))
        .await
        .expect("namespace");
    Env {
        registry,
        _dir: dir,
    }
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_fills_server_owned_metadata_and_get_returns_it() {
    let e = env().await;
    let cm = find("", "configmaps").expect("kind");
    let created = e
        .registry
        .create(cm, Some("default"), json!({"metadata": {"name": "a", "uid": "mine", "resourceVersion": "7"}, "data": {"k": "v"}}))
        .await
        .expect("create");
    assert_eq!(created["apiVersion"], "v1");
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["metadata"]["namespace"], "default");
    // Like kube-apiserver, only custom resources and CRDs keep a generation.
    assert!(created["metadata"].get("generation").is_none(), "{created}");
    assert_ne!(created["metadata"]["uid"], "mine");
    assert!(
        created["metadata"]["creationTimestamp"]
            .as_str()
            .expect("ts")
            .ends_with('Z')
    );
    let got = e.registry.get(cm, Some("default"), "a").await.expect("get");
    assert_eq!(got, created);
    let dup = e
        .registry
        .create(cm, Some("default"), json!({"metadata": {"name": "a"}}))
        .await
        .expect_err("dup");
    assert_eq!((dup.reason, dup.code), ("AlreadyExists", 409));
    let missing_ns = e
        .registry
        .create(cm, Some("nope"), json!({"metadata": {"name": "a"}}))
        .await
        .expect_err("ns");
    assert_eq!((missing_ns.reason, missing_ns.code), ("NotFound", 404));
    assert_eq!(missing_ns.message, "namespaces \"nope\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_and_mismatched_bodies_are_rejected() {
    let e = env().await;
    let cm = find("", "configmaps").expect("kind");
    for bad in ["UPPER", "-lead", "trail-", "has space", ""] {
        let err = e
            .registry
            .create(cm, Some("default"), json!({"metadata": {"name": bad}}))
            .await
            .expect_err(bad);
        assert_eq!((err.reason, err.code), ("Invalid", 422), "{bad}");
        let causes = &err.details.as_ref().expect("details").causes;
        assert_eq!(causes[0].field, "metadata.name");
    }
    let err = e
        .registry
        .create(
            cm,
            Some("default"),
            json!({"apiVersion": "v2", "metadata": {"name": "x"}}),
        )
        .await
        .expect_err("apiVersion");
    assert_eq!(err.code, 400);
    let err = e
        .registry
        .create(
            cm,
            Some("default"),
            json!({"metadata": {"name": "x", "namespace": "other"}}),
        )
        .await
        .expect_err("ns");
    assert_eq!(err.code, 400);
    let err = e
        .registry
        .create(cm, Some("default"), json!([1, 2]))
        .await
        .expect_err("array");
    assert_eq!(err.code, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_name_gives_unique_names() {
    let e = env().await;
    let cm = find("", "configmaps").expect("kind");
    let mut names = std::collections::HashSet::new();
    for _ in 0..20 {
        let c = e
            .registry
            .create(
                cm,
                Some("default"),
                json!({"metadata": {"generateName": "gen-"}}),
            )
            .await
            .expect("create");
        let name = c["metadata"]["name"].as_str().expect("name").to_string();
        assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
        assert!(names.insert(name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_check_versions_bump_generation_and_noops_are_free() {
    let e = env().await;
    let mc = find("cluster.open-cluster-management.io", "managedclusters").expect("kind");
    let c = e
        .registry
        .create(
            mc,
            None,
            json!({"metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": false}}),
        )
        .await
        .expect("create");
    // Custom resources need a resourceVersion on update.
    let mut body = c.clone();
    body["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("resourceVersion");
    let err = e
        .registry
        .update(mc, None, "c1", body, Target::Main)
        .await
        .expect_err("no rv");
    assert_eq!((err.reason, err.code), ("Invalid", 422));
    // A stale one conflicts.
    let mut stale = c.clone();
    stale["metadata"]["resourceVersion"] = json!((rv(&c) - 1).to_string());
    assert_eq!(
        e.registry
            .update(mc, None, "c1", stale, Target::Main)
            .await
            .expect_err("stale")
            .reason,
        "Conflict"
    );
    // Same content: nothing written.
    let same = e
        .registry
        .update(mc, None, "c1", c.clone(), Target::Main)
        .await
        .expect("noop");
    assert_eq!(rv(&same), rv(&c));
    // Labels only: new revision, same generation.
    let mut labelled = c.clone();
    labelled["metadata"]["labels"] = json!({"a": "b"});
    let l = e
        .registry
        .update(mc, None, "c1", labelled, Target::Main)
        .await
        .expect("labels");
    assert!(rv(&l) > rv(&c));
    assert_eq!(l["metadata"]["generation"], 1);
    // Spec change: generation + 1; status in a main write is ignored.
    let mut spec = l.clone();
    spec["spec"]["hubAcceptsClient"] = json!(true);
    spec["status"] = json!({"version": {"kubernetes": "fake"}});
    let s = e
        .registry
        .update(mc, None, "c1", spec, Target::Main)
        .await
        .expect("spec");
    assert_eq!(s["metadata"]["generation"], 2);
    assert!(s.get("status").is_none());
    // Status write: only status changes, generation stays.
    let mut st = s.clone();
    st["status"] = json!({"version": {"kubernetes": "v1.36.0"}});
    st["spec"]["hubAcceptsClient"] = json!(false);
    let after = e
        .registry
        .update(mc, None, "c1", st, Target::Status)
        .await
        .expect("status");
    assert_eq!(after["status"]["version"]["kubernetes"], "v1.36.0");
    assert_eq!(after["spec"]["hubAcceptsClient"], true);
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["metadata"]["uid"], c["metadata"]["uid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_until_removed() {
    let e = env().await;
    let cm = find("", "configmaps").expect("kind");
    e.registry
        .create(
            cm,
            Some("default"),
            json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
        )
        .await
        .expect("create");
    let pending = match e
        .registry
        .delete(cm, Some("default"), "f", None)
        .await
        .expect("delete")
    {
        Deletion::Pending(o) => o,
        other => panic!("expected pending, got {other:?}"),
    };
    assert!(pending["metadata"]["deletionTimestamp"].is_string());
    assert!(pending["metadata"].get("generation").is_none(), "{pending}");
    // New finalizers are refused now.
    let mut more = pending.clone();
    more["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/other"]);
    assert_eq!(
        e.registry
            .update(cm, Some("default"), "f", more, Target::Main)
            .await
            .expect_err("add")
            .code,
        422
    );
    // Removing the last finalizer removes the object.
    let mut done = pending.clone();
    done["metadata"]["finalizers"] = json!([]);
    e.registry
        .update(cm, Some("default"), "f", done, Target::Main)
        .await
        .expect("finalize");
    assert_eq!(
        e.registry
            .get(cm, Some("default"), "f")
            .await
            .expect_err("gone")
            .code,
        404
    );
    // Plain delete, with a precondition.
    let p = e
        .registry
        .create(cm, Some("default"), json!({"metadata": {"name": "p"}}))
        .await
        .expect("create");
    assert_eq!(
        e.registry
            .delete(cm, Some("default"), "p", Some(rv(&p) + 5))
            .await
            .expect_err("precondition")
            .reason,
        "Conflict"
    );
    match e
        .registry
        .delete(cm, Some("default"), "p", Some(rv(&p)))
        .await
        .expect("delete")
    {
        Deletion::Deleted(last) => assert!(rv(&last) > rv(&p)),
        other => panic!("expected deleted, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_per_namespace_paged_and_carry_the_snapshot_revision() {
    let e = env().await;
    let ns = find("", "namespaces").expect("kind");
    e.registry
        .create(ns, None, json!({"metadata": {"name": "other"}}))
        .await
        .expect("ns");
    let cm = find("", "configmaps").expect("kind");
    for i in 0..5 {
        e.registry
            .create(
                cm,
                Some("default"),
                json!({"metadata": {"name": format!("d{i}")}}),
            )
            .await
            .expect("create");
    }
    e.registry
        .create(cm, Some("other"), json!({"metadata": {"name": "o"}}))
        .await
        .expect("create");
    let all = e
        .registry
        .list(cm, None, ListOptions::default())
        .await
        .expect("list");
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(all["items"].as_array().expect("items").len(), 6);
    assert!(all["items"][0]["apiVersion"] == "v1" && all["items"][0]["kind"] == "ConfigMap");
    let one = e
        .registry
        .list(cm, Some("other"), ListOptions::default())
        .await
        .expect("list");
    assert_eq!(one["items"].as_array().expect("items").len(), 1);
    let page = e
        .registry
        .list(
            cm,
            Some("default"),
            ListOptions {
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let token = page["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let rest = e
        .registry
        .list(
            cm,
            Some("default"),
            ListOptions {
                limit: Some(10),
                continue_token: Some(token),
                ..Default::default()
            },
        )
        .await
        .expect("rest");
    assert_eq!(rest["items"].as_array().expect("items").len(), 3);
    assert_eq!(
        rest["metadata"]["resourceVersion"],
        page["metadata"]["resourceVersion"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_after_their_ttl_and_other_kinds_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(&dir.path().join("db"), &RocksOptions::default()).expect("open");
    store.start_maintenance(crate::storage::rocks::MaintenanceConfig {
        ttl_check_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    });
    let registry = Registry::new(store as Arc<dyn crate::storage::Store>)
        .with_event_ttl(std::time::Duration::from_secs(1));
    let ns = find("", "namespaces").expect("ns kind");
    registry
        .create(ns, None, json!({"metadata": {"name": "default"}}))
        .await
        .expect("namespace");
    let ev = find("", "events").expect("events");
    let cm = find("", "configmaps").expect("configmaps");
    registry
        .create(
            ev,
            Some("default"),
            json!({"metadata": {"name": "e1"}, "reason": "Test"}),
        )
        .await
        .expect("event");
    registry
        .create(cm, Some("default"), json!({"metadata": {"name": "keep"}}))
        .await
        .expect("configmap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while registry.get(ev, Some("default"), "e1").await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "event never expired");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(registry.get(cm, Some("default"), "keep").await.is_ok());
}

#[test]
fn resource_versions_are_spliced_into_stored_bytes() {
    use super::{Served, served_bytes};
    let stored = br#"{"apiVersion":"v1","data":{"metadata":"{\"x\":1}","k":"v"},"kind":"ConfigMap","metadata":{"name":"a","uid":"u"},"spec":{"metadata":{}}}"#;
    let decoded: Value = serde_json::from_slice(stored).expect("json");
    let mut expected = decoded.clone();
    expected["metadata"]["resourceVersion"] = json!("42");
    let out = served_bytes(stored, 42, Served::Whole).expect("spliced");
    assert_eq!(
        serde_json::from_slice::<Value>(&out).expect("json"),
        expected
    );
    // Typed list items: the same object without apiVersion and kind.
    let out = served_bytes(stored, 42, Served::TypedItem).expect("spliced");
    let mut typed = expected.clone();
    let o = typed.as_object_mut().expect("object");
    o.remove("apiVersion");
    o.remove("kind");
    assert_eq!(serde_json::from_slice::<Value>(&out).expect("json"), typed);
    let empty = served_bytes(br#"{"kind":"X","metadata":{ }}"#, 7, Served::Whole).expect("spliced");
    assert_eq!(
        serde_json::from_slice::<Value>(&empty).expect("json"),
        json!({"kind": "X", "metadata": {"resourceVersion": "7"}})
    );
    // Not shaped as expected: the caller decodes.
    for bad in [
        &br#"{"kind":"X"}"#[..],
        b"not json",
        br#"{"metadata":[]}"#,
        br#"{"meta\u0064ata":{}}"#,
        br#"[1]"#,
    ] {
        assert!(served_bytes(bad, 7, Served::Whole).is_none(), "{bad:?}");
    }
}

#[tokio::test]
async fn list_json_matches_list() {
    let env = env().await;
    let cm = find("", "configmaps").expect("kind");
    for i in 0..5 {
        env.registry
            .create(cm, Some("default"), json!({"metadata": {"name": format!("c{i}"), "labels": {"n": i.to_string()}}, "data": {"k": "v"}}))
            .await
            .expect("create");
    }
    let slow = env
        .registry
        .list(cm, Some("default"), ListOptions::default())
        .await
        .expect("list");
    let fast: Value = serde_json::from_slice(
        &env.registry
            .list_json(cm, Some("default"), ListOptions::default())
            .await
            .expect("list_json"),
    )
    .expect("json");
    // Served as kube serves a built-in kind's list: typed, items without apiVersion/kind.
    let mut typed = slow.clone();
    for item in typed["items"].as_array_mut().expect("items") {
        let o = item.as_object_mut().expect("object");
        assert!(o.remove("apiVersion").is_some() && o.remove("kind").is_some());
    }
    assert_eq!(typed, fast);
    let paged: Value = serde_json::from_slice(
        &env.registry
            .list_json(
                cm,
                Some("default"),
                ListOptions {
                    limit: Some(2),
                    ..ListOptions::default()
                },
            )
            .await
            .expect("page"),
    )
    .expect("json");
    assert_eq!(paged["items"].as_array().map(Vec::len), Some(2));
    assert!(paged["metadata"]["continue"].is_string(), "{paged}");
}

#[test]
fn json_patch_tests_a_missing_path_as_null_like_kube() {
    let patch = |v: Value| -> json_patch::Patch { serde_json::from_value(v).expect("patch") };
    // kube-rs' finalizer helper: test that there are no finalizers, then add the first.
    let mut doc = json!({"metadata": {"name": "w"}});
    super::json_patch_as_kube(
        &mut doc,
        &patch(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
        ])),
    )
    .expect("applies");
    assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
    // Once the path exists, null no longer matches; the index names the failed operation.
    let err = super::json_patch_as_kube(
        &mut doc,
        &patch(json!([
            {"op": "add", "path": "/metadata/labels", "value": {}},
            {"op": "test", "path": "/metadata/finalizers", "value": null}
        ])),
    )
    .expect_err("the finalizers exist");
    assert_eq!(err.operation, 1);
    // Sequential: a path added by an earlier operation is seen by a later test.
    let mut doc = json!({});
    assert!(
        super::json_patch_as_kube(
            &mut doc,
            &patch(json!([
                {"op": "add", "path": "/x", "value": 1},
                {"op": "test", "path": "/x", "value": null}
            ])),
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_precondition_never_loses_a_race_to_another_writer() {
    let e = Arc::new(env().await);
    let cm = find("", "configmaps").expect("kind");
    let names: Vec<String> = (0..40).map(|i| format!("race-{i}")).collect();
    for name in &names {
        e.registry
            .create(
                cm,
                Some("default"),
                json!({"metadata": {"name": name, "finalizers": ["example.com/hold"]}}),
            )
            .await
            .expect("create");
    }
    // A writer that keeps changing every object while they are deleted.
    let writer = {
        let e = Arc::clone(&e);
        let names = names.clone();
        tokio::spawn(async move {
            for round in 0..20 {
                for name in &names {
                    let Ok(mut object) = e.registry.get(cm, Some("default"), name).await else {
                        continue;
                    };
                    object["metadata"]["labels"] = json!({"round": round.to_string()});
                    // Its own lost races are expected; only the deletes are under test.
                    let _ = e
                        .registry
                        .update(cm, Some("default"), name, object, Target::Main)
                        .await;
                }
            }
        })
    };
    for name in &names {
        match e.registry.delete(cm, Some("default"), name, None).await {
            Ok(Deletion::Pending(o)) => assert!(o["metadata"]["deletionTimestamp"].is_string()),
            other => panic!("delete {name}: {other:?}"),
        }
    }
    writer.await.expect("writer");
    for name in &names {
        let object = e
            .registry
            .get(cm, Some("default"), name)
            .await
            .expect("get");
        assert!(
            object["metadata"]["deletionTimestamp"].is_string(),
            "{object}"
        );
    }
}

/// A kind at one of its versions (leaked: tests only).
fn find_at(group: &str, version: &str, plural: &str) -> &'static Kind {
    let kind = Catalog::builtin()
        .find(group, version, plural)
        .expect("kind served");
    Box::leak(Box::new((*kind).clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_with_two_versions_convert_on_every_path() {
    use crate::api::ocm::addon_conversion::INSTALL_NAMESPACE_ANNOTATION;
    use futures::StreamExt;
    const GROUP: &str = "addon.open-cluster-management.io";
    let e = env().await;
    let ns = find("", "namespaces").expect("ns");
    e.registry
        .create(ns, None, json!({"metadata": {"name": "cluster1"}}))
        .await
        .expect("namespace");
    let alpha = find_at(GROUP, "v1alpha1", "managedclusteraddons");
    let beta = find_at(GROUP, "v1beta1", "managedclusteraddons");
    assert_eq!(alpha.storage_version, "v1alpha1");
    assert_eq!(beta.storage_version, "v1alpha1");

    // Written through v1alpha1, stored as v1alpha1, served as v1beta1 by conversion.
    e.registry
        .create(
            alpha,
            Some("cluster1"),
            json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "ManagedClusterAddOn",
            "metadata": {"name": "hello"}, "spec": {"installNamespace": "agents"}}),
        )
        .await
        .expect("create");
    let mut object = e
        .registry
        .get(alpha, Some("cluster1"), "hello")
        .await
        .expect("get");
    object["status"] = json!({"kubeClientDriver": "csr", "registrations": [{"signerName": "kubernetes.io/kube-apiserver-client", "subject": {"user": "u"}}]});
    let written = e
        .registry
        .update(alpha, Some("cluster1"), "hello", object, Target::Status)
        .await
        .expect("status");
    assert_eq!(written["apiVersion"], format!("{GROUP}/v1alpha1"));
    assert_eq!(written["spec"]["installNamespace"], "agents");
    let key = alpha.storage_key(Some("cluster1"), "hello");
    let stored: Value = serde_json::from_slice(
        &e.registry
            .store
            .get(&key)
            .await
            .expect("read")
            .expect("stored")
            .value,
    )
    .expect("json");
    assert_eq!(stored["apiVersion"], format!("{GROUP}/v1alpha1"));
    assert_eq!(stored["spec"]["installNamespace"], "agents");
    assert!(stored["metadata"].get("annotations").is_none());

    // Read back through either version.
    let got = e
        .registry
        .get(alpha, Some("cluster1"), "hello")
        .await
        .expect("get");
    assert_eq!(got, written);
    let as_beta = e
        .registry
        .get(beta, Some("cluster1"), "hello")
        .await
        .expect("get");
    assert_eq!(as_beta["apiVersion"], format!("{GROUP}/v1beta1"));
    assert_eq!(
        as_beta["metadata"]["annotations"][INSTALL_NAMESPACE_ANNOTATION],
        "agents"
    );
    assert_eq!(
        as_beta["status"]["registrations"],
        json!([{"type": "kubeClient", "kubeClient": {"driver": "csr", "subject": {"user": "u"}}}])
    );

    // Writing back what was read changes nothing.
    let again = e
        .registry
        .update(alpha, Some("cluster1"), "hello", got.clone(), Target::Main)
        .await
        .expect("no-op");
    assert_eq!(rv(&again), rv(&got));

    // An object stored at the other version (as a build that stored v1beta1 did) reads
    // through both versions.
    let old = json!({"apiVersion": format!("{GROUP}/v1beta1"), "kind": "ManagedClusterAddOn",
        "metadata": {"name": "old", "namespace": "cluster1", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {INSTALL_NAMESPACE_ANNOTATION: "legacy"}},
        "spec": {}});
    e.registry
        .store
        .create(
            &alpha.storage_key(Some("cluster1"), "old"),
            serde_json::to_vec(&old).expect("json").into(),
            None,
        )
        .await
        .expect("raw write");
    let old_beta = e
        .registry
        .get(beta, Some("cluster1"), "old")
        .await
        .expect("get");
    assert_eq!(
        old_beta["metadata"]["annotations"][INSTALL_NAMESPACE_ANNOTATION],
        "legacy"
    );
    assert_eq!(
        e.registry
            .get(alpha, Some("cluster1"), "old")
            .await
            .expect("get")["spec"]["installNamespace"],
        "legacy"
    );

    // Lists, the spliced fast path included, give each version its own objects.
    for kind in [alpha, beta] {
        let slow = e
            .registry
            .list(kind, Some("cluster1"), ListOptions::default())
            .await
            .expect("list");
        let fast: Value = serde_json::from_slice(
            &e.registry
                .list_json(kind, Some("cluster1"), ListOptions::default())
                .await
                .expect("list_json"),
        )
        .expect("json");
        assert_eq!(slow, fast, "{}", kind.version);
        assert_eq!(slow["items"].as_array().map(Vec::len), Some(2));
        for item in slow["items"].as_array().into_iter().flatten() {
            assert_eq!(item["apiVersion"], kind.api_version());
            assert_eq!(
                item["spec"].get("installNamespace").is_some(),
                kind.version == "v1alpha1",
                "{item}"
            );
        }
    }

    // Patches apply to the version of the request; watches of both versions see them.
    let listed = e
        .registry
        .list(alpha, None, ListOptions::default())
        .await
        .expect("list");
    let from = rv(&listed);
    let mut watches = Vec::new();
    let mut line_watches = Vec::new();
    let mut metadata_watches = Vec::new();
    for kind in [alpha, beta] {
        let stream = e
            .registry
            .watch(
                Arc::new(kind.clone()),
                Some("cluster1"),
                from,
                Default::default(),
            )
            .await
            .expect("watch");
        watches.push(Box::pin(stream));
        let lines = e
            .registry
            .watch_lines(Arc::new(kind.clone()), Some("cluster1"), from)
            .await
            .expect("watch lines");
        line_watches.push(Box::pin(lines));
        let metadata = e
            .registry
            .watch_metadata(
                Arc::new(kind.clone()),
                Some("cluster1"),
                from,
                Default::default(),
            )
            .await
            .expect("metadata watch");
        metadata_watches.push(Box::pin(metadata));
    }
    e.registry
        .patch(
            alpha,
            Some("cluster1"),
            "hello",
            &super::Patch::Merge(json!({"spec": {"installNamespace": "moved"}})),
            Target::Main,
        )
        .await
        .expect("merge patch");
    let seen_alpha = watches[0].next().await.expect("event").expect("ok");
    let seen_beta = watches[1].next().await.expect("event").expect("ok");
    assert_eq!(seen_alpha.object["spec"]["installNamespace"], "moved");
    // The stream lines (spliced from stored bytes where they are served as stored, decoded
    // where they are converted) say the same as the decoded events.
    for (lines, seen) in line_watches.iter_mut().zip([&seen_alpha, &seen_beta]) {
        let line = lines.next().await.expect("line").expect("ok");
        assert_eq!(line.revision, seen.revision);
        assert_eq!(line.bytes.last(), Some(&b'\n'));
        let parsed: Value = serde_json::from_slice(&line.bytes).expect("a JSON line");
        assert_eq!(parsed, json!({"type": seen.type_, "object": seen.object}));
    }
    // Metadata watches show the same events cut down to apiVersion, kind and metadata.
    for (partial, seen) in metadata_watches.iter_mut().zip([&seen_alpha, &seen_beta]) {
        let partial = partial.next().await.expect("event").expect("ok");
        assert_eq!(
            (partial.type_, partial.revision),
            (seen.type_, seen.revision)
        );
        assert_eq!(
            partial.object,
            json!({"apiVersion": seen.object["apiVersion"], "kind": seen.object["kind"],
                "metadata": seen.object["metadata"]})
        );
    }
    assert_eq!(
        seen_beta.object["metadata"]["annotations"][INSTALL_NAMESPACE_ANNOTATION],
        "moved"
    );
    e.registry
        .patch(
            beta,
            Some("cluster1"),
            "hello",
            &super::Patch::Merge(
                json!({"metadata": {"annotations": {INSTALL_NAMESPACE_ANNOTATION: "by-beta"}}}),
            ),
            Target::Main,
        )
        .await
        .expect("merge patch");
    assert_eq!(
        e.registry
            .get(alpha, Some("cluster1"), "hello")
            .await
            .expect("get")["spec"]["installNamespace"],
        "by-beta"
    );

    // Written through v1beta1, stored and read through v1alpha1 with v1alpha1's defaults
    // (kube defaults at every version an object passes).
    e.registry
        .create(
            beta,
            Some("cluster1"),
            json!({"apiVersion": format!("{GROUP}/v1beta1"), "kind": "ManagedClusterAddOn",
            "metadata": {"name": "new"}, "spec": {}}),
        )
        .await
        .expect("create through v1beta1");
    let new = e
        .registry
        .get(alpha, Some("cluster1"), "new")
        .await
        .expect("get");
    assert_eq!(
        new["spec"]["installNamespace"],
        crate::api::ocm::DEFAULT_ADDON_INSTALL_NAMESPACE
    );
    // Stored as v1alpha1 with v1alpha1's defaults, so the v1beta1 view carries them.
    assert_eq!(
        e.registry
            .get(beta, Some("cluster1"), "new")
            .await
            .expect("get")["metadata"]["annotations"][INSTALL_NAMESPACE_ANNOTATION],
        crate::api::ocm::DEFAULT_ADDON_INSTALL_NAMESPACE
    );

    // A deletion held by a finalizer answers in the version of the request.
    let mut held = e
        .registry
        .get(alpha, Some("cluster1"), "old")
        .await
        .expect("get");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    e.registry
        .update(alpha, Some("cluster1"), "old", held, Target::Main)
        .await
        .expect("finalizer");
    match e
        .registry
        .delete(alpha, Some("cluster1"), "old", None)
        .await
        .expect("delete")
    {
        Deletion::Pending(object) => {
            assert_eq!(object["apiVersion"], format!("{GROUP}/v1alpha1"));
            assert_eq!(object["spec"]["installNamespace"], "legacy");
        }
        other => panic!("expected a pending deletion: {other:?}"),
    }
}

#[test]
fn encoding_in_place_drops_only_the_resource_version() {
    let kind = find("", "configmaps").expect("kind");
    let object = json!({"apiVersion": kind.storage_api_version(), "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns", "resourceVersion": "7",
            "labels": {"a": "b"}},
        "data": {"resourceVersion": "kept: not metadata"}});
    let bytes = super::encode(kind, &object, None).expect("encoded");
    let mut want = object.clone();
    if let Some(meta) = want["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    assert_eq!(
        bytes.as_ref(),
        serde_json::to_vec(&want).expect("json").as_slice()
    );
    // Nothing else to drop: the same bytes as plain serialisation.
    let bare = json!({"apiVersion": kind.storage_api_version(), "kind": "ConfigMap",
        "metadata": {}});
    let bytes = super::encode(kind, &bare, None).expect("encoded");
    assert_eq!(
        bytes.as_ref(),
        serde_json::to_vec(&bare).expect("json").as_slice()
    );
}

/// The server's registry starts with the Kubernetes kinds and gets the OCM ones from the
/// CRDs it stores: on a first start (written, then read back) and on the next (read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ocm_kinds_come_from_the_stored_crds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(&dir.path().join("db"), &RocksOptions::default()).expect("open");
    let store = store as Arc<dyn crate::storage::Store>;
    let group = "cluster.open-cluster-management.io";
    let builtin = Catalog::builtin().kinds().len();
    for start in ["first", "next"] {
        let registry = Registry::with_stored_crds(store.clone());
        assert!(
            registry
                .catalog()
                .find_resource(group, "managedclusters")
                .is_none(),
            "{start} start: no OCM kind before the CRDs are read"
        );
        let revision = registry.ensure_builtin_crds().await.expect("crds");
        assert!(revision > 0, "{start} start: built at a revision");
        assert!(
            registry
                .catalog()
                .find_resource(group, "managedclusters")
                .is_some(),
            "{start} start: the OCM kinds are served"
        );
        assert_eq!(registry.catalog().kinds().len(), builtin, "{start} start");
        // What was stored hashes as the embedded specs, so the next start reads, and
        // neither parses the built-in documents nor writes.
        let crds = find("apiextensions.k8s.io", "customresourcedefinitions").expect("kind");
        let stored = registry
            .list(crds, None, ListOptions::default())
            .await
            .expect("list");
        let items = stored["items"].as_array().expect("items");
        assert!(crate::api::ocm::stored_are_current(items), "{start} start");
        assert_eq!(
            rv(&stored),
            revision,
            "{start} start: nothing written since"
        );
    }
}
