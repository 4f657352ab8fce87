//! ManifestWorkReplicaSets end to end: our hub, three real Kubernetes control planes as
//! the managed clusters (`KubePeer`, where Deployments really roll out on kwok's nodes),
//! our agents. A Deployment is rolled out progressively (one cluster at a time, a cluster
//! counting once its Deployment is available), rolled out again when the template
//! changes, stopped by a cluster whose Deployment cannot progress (`maxFailures: 0`),
//! followed when the placement drops a cluster and takes it back, and removed with each
//! cascade policy; the replica set's summary and conditions are checked on the way. `All` and
//! `ProgressivePerGroup` roll out on the same real clusters (a canary decision group
//! first), and are compared with upstream in `tests/replicaset_upstream.rs`.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kube_peer::{self, KubePeer};
use common::ocm::setup;
use serde_json::{Value, json};
use support::{Api, condition, placements};

const NS: &str = "apps";
const MWRS: &str =
    "/apis/work.open-cluster-management.io/v1alpha1/namespaces/apps/manifestworkreplicasets";
const WORKS: &str = "/apis/work.open-cluster-management.io/v1/manifestworks";
const OWNER: &str = "work.open-cluster-management.io/manifestworkreplicaset";

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "web", "image": image}]}}}})
}

fn replica_set(name: &str, image: &str, strategy: Value, cascade: &str) -> Value {
    replica_set_on(name, "all", image, strategy, cascade)
}

fn replica_set_on(
    name: &str,
    placement: &str,
    image: &str,
    strategy: Value,
    cascade: &str,
) -> Value {
    json!({"apiVersion": "work.open-cluster-management.io/v1alpha1", "kind": "ManifestWorkReplicaSet",
        "metadata": {"name": name, "namespace": NS, "labels": {"team": "web"}},
        "spec": {"cascadeDeletionPolicy": cascade,
            "placementRefs": [{"name": placement, "rolloutStrategy": strategy}],
            "manifestWorkTemplate": {"workload": {"manifests": [deployment(image)]}}}})
}

/// The works of replica set `name`, by cluster.
fn works(api: &Api, name: &str) -> Vec<Value> {
    api.list(WORKS, Some(&format!("{OWNER}={NS}.{name}")))
}

fn image_of(work: &Value) -> &str {
    work.pointer("/spec/workload/manifests/0/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn cluster_of(work: &Value) -> String {
    work["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether the work reports its rollout finished at its current generation.
fn succeeded(work: &Value) -> bool {
    let generation = work.pointer("/metadata/generation").and_then(Value::as_i64);
    let current = |t: &str, s: &str| {
        work.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == t && c["status"] == s && c["observedGeneration"].as_i64() == generation
            })
    };
    current("Applied", "True") && current("Progressing", "False")
}

/// Waits until every cluster in `clusters` has finished rolling out `image` (once: a
/// Deployment may flap later when the managed cluster's simulated node misses a
/// heartbeat on a loaded machine), checking on every look that at most `concurrency`
/// clusters got `image` without having finished with it yet.
fn rolled_out(api: &Api, name: &str, image: &str, clusters: &[&str], concurrency: usize) {
    let want: BTreeSet<String> = clusters.iter().map(|c| c.to_string()).collect();
    let mut finished_once: BTreeSet<String> = BTreeSet::new();
    api.wait(&format!("{name} rolled out {image} to {want:?}"), || {
        let ws = works(api, name);
        let current: Vec<&Value> = ws.iter().filter(|w| image_of(w) == image).collect();
        finished_once.extend(
            current
                .iter()
                .filter(|w| succeeded(w))
                .map(|w| cluster_of(w)),
        );
        let unfinished = current
            .iter()
            .filter(|w| !finished_once.contains(&cluster_of(w)))
            .count();
        assert!(
            unfinished <= concurrency,
            "{unfinished} clusters roll out {image} at once (at most {concurrency}): {ws:?}"
        );
        let done: BTreeSet<String> = current
            .iter()
            .map(|w| cluster_of(w))
            .filter(|c| finished_once.contains(c))
            .collect();
        if done == want {
            Ok(())
        } else {
            // What each cluster's work says, so a timeout shows why the rollout waits.
            let states: Vec<String> = ws
                .iter()
                .map(|w| {
                    let conditions: Vec<String> = w
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            format!(
                                "{}={} (gen {}, {})",
                                c["type"].as_str().unwrap_or(""),
                                c["status"].as_str().unwrap_or(""),
                                c["observedGeneration"],
                                c["reason"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    format!(
                        "{} {} gen {}: {}",
                        cluster_of(w),
                        image_of(w),
                        w["metadata"]["generation"],
                        conditions.join(", ")
                    )
                })
                .collect();
            Err(format!(
                "done on {done:?}; works: {states:?}; status: {}",
                status_of(api, name)
            ))
        }
    });
}

fn status_of(api: &Api, name: &str) -> Value {
    api.get(&format!("{MWRS}/{name}")).unwrap_or_default()["status"].clone()
}

fn reason(status: &Value, type_: &str) -> Option<(String, String)> {
    condition(&json!({"status": status}), type_).map(|(s, r, _)| (s, r))
}

#[test]
fn replica_sets_roll_out_follow_placements_and_clean_up() {
    if !kube_peer::available("replica_sets_roll_out_follow_placements_and_clean_up") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = setup(dir.path(), 3, json!({}));
    let api = Api::new(&s.hub, Duration::from_secs(240));
    api.namespace(NS);
    api.binding(NS, "default");
    api.placement(NS, "all", json!({}));
    wait_selected(&api, 3);

    // Progressive, one cluster at a time: each waits for the previous Deployment.
    let one_at_a_time = json!({"type": "Progressive", "progressive": {"maxConcurrency": 1}});
    api.create(
        MWRS,
        &replica_set("web", "nginx:1", one_at_a_time.clone(), "Foreground"),
    );
    rolled_out(&api, "web", "nginx:1", &["c0", "c1", "c2"], 1);
    for spoke in &s.spokes {
        let d = spoke.kubectl_json(&["get", "deployment", "web", "-n", "default", "-o", "json"]);
        assert_eq!(d["status"]["availableReplicas"], 1, "{d}");
    }
    let status = api.wait("the replica set reports the rollout complete", || {
        let st = status_of(&api, "web");
        let summary = &st["summary"];
        (summary["total"] == 3
            && summary["available"] == 3
            && reason(&st, "PlacementRolledOut") == Some(("True".into(), "Complete".into()))
            && reason(&st, "ManifestworkApplied") == Some(("True".into(), "AsExpected".into())))
        .then(|| st.clone())
        .ok_or(format!("{st}"))
    });
    assert_eq!(
        reason(&status, "PlacementVerified"),
        Some(("True".into(), "AsExpected".into()))
    );
    assert_eq!(status["placementSummary"][0]["name"], "all");
    assert_eq!(
        status["placementSummary"][0]["availableDecisionGroups"],
        "1 (3 / 3 clusters applied)"
    );
    for w in works(&api, "web") {
        assert_eq!(w["metadata"]["labels"]["team"], "web", "{w}");
        assert_eq!(
            w["metadata"]["labels"]["work.open-cluster-management.io/placementname"],
            "all"
        );
        assert!(
            w["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("web"))
        );
    }

    // A template change rolls out again under the same strategy.
    api.merge(
        &format!("{MWRS}/web"),
        &json!({"spec": {"manifestWorkTemplate": {"workload": {"manifests": [deployment("nginx:2")]}}}}),
    );
    rolled_out(&api, "web", "nginx:2", &["c0", "c1", "c2"], 1);
    assert_image_everywhere(&s.spokes, "nginx:2");

    // The placement drops a cluster: its work goes, the others stay.
    api.merge(
        &format!("{}/all", placements(NS)),
        &json!({"spec": {"numberOfClusters": 2}}),
    );
    let kept = wait_selected(&api, 2);
    let dropped = ["c0", "c1", "c2"]
        .into_iter()
        .find(|c| !kept.contains(*c))
        .expect("one cluster dropped");
    api.wait("only the selected clusters keep a work", || {
        let on: BTreeSet<String> = works(&api, "web").iter().map(cluster_of).collect();
        (on == kept).then_some(()).ok_or(format!("{on:?}"))
    });
    let gone_from = &s.spokes[dropped[1..].parse::<usize>().expect("index")];
    api.wait("the dropped cluster's Deployment is removed", || {
        let out = gone_from.kubectl(&["get", "deployment", "web", "-n", "default"]);
        (!out.status.success())
            .then_some(())
            .ok_or("still there".to_string())
    });
    api.wait("the summary counts two works", || {
        let st = status_of(&api, "web");
        (st["summary"]["total"] == 2)
            .then_some(())
            .ok_or(format!("{st}"))
    });

    // The placement takes the cluster back: it gets the current template again.
    api.merge(
        &format!("{}/all", placements(NS)),
        &json!({"spec": {"numberOfClusters": 3}}),
    );
    rolled_out(&api, "web", "nginx:2", &["c0", "c1", "c2"], 1);
    api.wait("the summary counts three works again", || {
        let st = status_of(&api, "web");
        (st["summary"]["total"] == 3)
            .then_some(())
            .ok_or(format!("{st}"))
    });

    // Foreground: the replica set stays until its works are gone.
    api.delete(&format!("{MWRS}/web"));
    api.wait("the replica set and its works are gone", || {
        let left = works(&api, "web").len();
        let rs = api.get(&format!("{MWRS}/web"));
        if let Some(rs) = &rs {
            assert!(
                left > 0 || rs["metadata"]["deletionTimestamp"].is_string(),
                "{rs}"
            );
        }
        (rs.is_none() && left == 0)
            .then_some(())
            .ok_or(format!("{left} works left"))
    });
    for spoke in &s.spokes {
        api.wait("the Deployments are removed", || {
            let out = spoke.kubectl(&["get", "deployment", "web", "-n", "default"]);
            (!out.status.success())
                .then_some(())
                .ok_or("still there".to_string())
        });
    }

    // A cluster whose Deployment cannot progress stops a rollout allowing no failure.
    wait_selected(&api, 3);
    block_pods(&s.spokes[1]);
    let strict =
        json!({"type": "Progressive", "progressive": {"maxConcurrency": 1, "maxFailures": 0}});
    api.create(
        MWRS,
        &replica_set("strict", "nginx:3", strict, "Background"),
    );
    let st = api.wait("c1's failure is reported and stops the rollout", || {
        let st = status_of(&api, "strict");
        (st["summary"]["degraded"] == 1)
            .then(|| st.clone())
            .ok_or(format!("{st}"))
    });
    assert_eq!(
        reason(&st, "PlacementRolledOut"),
        Some(("False".into(), "Progressing".into()))
    );
    assert_eq!(
        reason(&st, "ManifestworkApplied"),
        Some(("False".into(), "NotAsExpected".into()))
    );
    let strict_works = works(&api, "strict");
    let on: BTreeSet<String> = strict_works.iter().map(cluster_of).collect();
    assert_eq!(
        on,
        BTreeSet::from(["c0".to_string(), "c1".to_string()]),
        "c2 must wait: {strict_works:?}"
    );

    // Background: the replica set goes at once, its works after it.
    api.delete(&format!("{MWRS}/strict"));
    api.wait("the works of a background deletion go", || {
        let left = works(&api, "strict").len();
        (left == 0)
            .then_some(())
            .ok_or(format!("{left} works left"))
    });
    assert!(api.get(&format!("{MWRS}/strict")).is_none());
}

/// Waits until placement `all` selects `n` clusters; returns them.
fn wait_selected(api: &Api, n: usize) -> BTreeSet<String> {
    api.wait(&format!("the placement selects {n} clusters"), || {
        let selected = api.selected(NS, "all");
        (selected.len() == n)
            .then(|| selected.clone())
            .ok_or(format!("{selected:?}"))
    })
}

/// Every managed cluster's Deployment `web` runs `image`.
fn assert_image_everywhere(spokes: &[KubePeer], image: &str) {
    for spoke in spokes {
        let found = spoke.kubectl_ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]);
        assert_eq!(found.trim(), image);
    }
}

/// A ResourceQuota on a managed cluster that admits no pod in `default`: a Deployment
/// there cannot create its replicas (ReplicaFailure) and never becomes available.
fn block_pods(spoke: &KubePeer) {
    spoke.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        &json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "no-pods", "namespace": "default"},
            "spec": {"hard": {"pods": "0"}}})
        .to_string(),
    );
}

#[test]
fn all_and_progressive_per_group_roll_out_on_real_clusters() {
    if !kube_peer::available("all_and_progressive_per_group_roll_out_on_real_clusters") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = setup(dir.path(), 3, json!({}));
    let api = Api::new(&s.hub, Duration::from_secs(240));
    api.namespace(NS);
    api.binding(NS, "default");
    // c0 is the canary: its own decision group, before the others'.
    api.merge(
        "/apis/cluster.open-cluster-management.io/v1/managedclusters/c0",
        &json!({"metadata": {"labels": {"tier": "canary"}}}),
    );
    api.placement(
        NS,
        "grouped",
        json!({"decisionStrategy": {"groupStrategy": {"decisionGroups": [
            {"groupName": "canary", "groupClusterSelector": {"labelSelector": {"matchLabels": {"tier": "canary"}}}}]}}}),
    );
    api.wait(
        "the placement makes a canary group and a group of the rest",
        || {
            let p = api.get_placement(NS, "grouped").unwrap_or_default();
            let groups = p["status"]["decisionGroups"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let counts: Vec<i64> = groups
                .iter()
                .filter_map(|g| g["clusterCount"].as_i64())
                .collect();
            (counts == [1, 2]).then_some(()).ok_or(format!("{p}"))
        },
    );

    // All: every cluster at once.
    api.create(
        MWRS,
        &replica_set_on(
            "everywhere",
            "grouped",
            "nginx:1",
            json!({"type": "All"}),
            "Background",
        ),
    );
    rolled_out(&api, "everywhere", "nginx:1", &["c0", "c1", "c2"], 3);
    api.wait("All reports the rollout complete", || {
        let st = status_of(&api, "everywhere");
        (st["summary"]["available"] == 3
            && reason(&st, "PlacementRolledOut") == Some(("True".into(), "Complete".into())))
        .then_some(())
        .ok_or(format!("{st}"))
    });
    api.delete(&format!("{MWRS}/everywhere"));
    api.wait("All's works are gone", || {
        let left = works(&api, "everywhere").len();
        (left == 0).then_some(()).ok_or(format!("{left} left"))
    });

    // ProgressivePerGroup: the canary group first; the rest only once the canary's
    // Deployment is available.
    api.create(
        MWRS,
        &replica_set_on(
            "per-group",
            "grouped",
            "nginx:2",
            json!({"type": "ProgressivePerGroup"}),
            "Background",
        ),
    );
    let mut canary_done = false;
    api.wait("the canary, then the rest, roll out nginx:2", || {
        let ws = works(&api, "per-group");
        let canary = ws.iter().find(|w| cluster_of(w) == "c0");
        canary_done |= canary.is_some_and(succeeded);
        let rest: Vec<String> = ws
            .iter()
            .map(cluster_of)
            .filter(|c| c.as_str() != "c0")
            .collect();
        assert!(
            canary_done || rest.is_empty(),
            "the rest got works before the canary finished: {ws:?}"
        );
        let finished = ws.iter().filter(|w| succeeded(w)).count();
        (finished == 3)
            .then_some(())
            .ok_or(format!("{finished} finished: {rest:?}"))
    });
    assert_image_everywhere(&s.spokes, "nginx:2");
    let st = api.wait("ProgressivePerGroup reports the rollout complete", || {
        let st = status_of(&api, "per-group");
        (reason(&st, "PlacementRolledOut") == Some(("True".into(), "Complete".into())))
            .then(|| st.clone())
            .ok_or(format!("{st}"))
    });
    assert_eq!(
        st["placementSummary"][0]["availableDecisionGroups"], "2 (3 / 3 clusters applied)",
        "{st}"
    );
}
