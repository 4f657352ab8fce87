//! Our ManifestWorkReplicaSet controller against upstream's: a real kube-apiserver runs
//! upstream OCM's work manager (its ManifestWorkReplicaSet controller) and placement
//! controller (`common::ocm_hub`), and both hubs get the same clusters, placements and
//! replica sets. Simulated agents answer every new work the same way on both hubs (applied
//! and finished, or applied and failing), round after round, and after each round both
//! hubs must agree on which clusters have a work, the replica set's summary and its
//! conditions (status and reason). Work names are left out: upstream v1.2.0 names a work
//! after its replica set, v1.3 (ours) lets the server generate it.
//!
//! Prerequisites: `hack/install-kube-peer.sh` and `hack/install-ocm-hub.sh`.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::kube_peer::{self, KubePeer};
use common::ocm_hub::{self, OcmHub};
use common::{ApiServer, Hub};
use serde_json::{Value, json};
use support::{Api, Cluster, condition};

const TEST: &str = "replicaset_upstream";
const WORKS: &str = "/apis/work.open-cluster-management.io/v1/manifestworks";
const OWNER: &str = "work.open-cluster-management.io/manifestworkreplicaset";
const CLUSTERS: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "c5"];

fn mwrs_path(ns: &str) -> String {
    format!(
        "/apis/work.open-cluster-management.io/v1alpha1/namespaces/{ns}/manifestworkreplicasets"
    )
}

/// One scenario: a placement, a strategy, and the clusters whose works fail.
struct Scenario {
    id: &'static str,
    placement: Value,
    strategy: Value,
    failing: &'static [&'static str],
}

fn scenarios() -> Vec<Scenario> {
    let groups =
        |n: u32| json!({"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": n}}});
    vec![
        Scenario {
            id: "progressive",
            placement: json!({}),
            strategy: json!({"type": "Progressive", "progressive": {"maxConcurrency": 2}}),
            failing: &[],
        },
        Scenario {
            id: "percent",
            placement: json!({}),
            strategy: json!({"type": "Progressive", "progressive": {"maxConcurrency": "34%", "maxFailures": 1}}),
            failing: &["c1", "c3"],
        },
        Scenario {
            id: "per-group",
            placement: groups(2),
            strategy: json!({"type": "ProgressivePerGroup"}),
            failing: &[],
        },
        Scenario {
            id: "group-failure",
            placement: groups(3),
            strategy: json!({"type": "ProgressivePerGroup", "progressivePerGroup": {"maxFailures": 0}}),
            failing: &["c1"],
        },
        Scenario {
            id: "mandatory",
            placement: json!({"decisionStrategy": {"groupStrategy": {
                "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"labelSelector": {"matchLabels": {"canary": "true"}}}}],
                "clustersPerDecisionGroup": 3}}}),
            strategy: json!({"type": "Progressive", "progressive": {
                "mandatoryDecisionGroups": [{"groupName": "canary"}], "maxConcurrency": 2}}),
            failing: &[],
        },
        Scenario {
            id: "all",
            placement: json!({"numberOfClusters": 4}),
            strategy: json!({"type": "All"}),
            failing: &["c2"],
        },
    ]
}

fn set_up(api: &Api, upstream: bool) {
    for (i, name) in CLUSTERS.iter().enumerate() {
        let mut c =
            Cluster::new(name).label("cluster.open-cluster-management.io/clusterset", "fleet");
        if i == 4 {
            c = c.label("canary", "true");
        }
        api.cluster(&c);
        api.namespace(name);
    }
    api.exclusive_set("fleet");
    if upstream {
        // Upstream's taint controller taints clusters until it sees them Available.
        for name in CLUSTERS {
            api.wait(&format!("{name} is untainted"), || {
                let mc = api
                    .get(&format!("{}/{name}", support::CLUSTERS))
                    .ok_or("no cluster")?;
                mc["spec"]["taints"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
                    .then_some(())
                    .ok_or(format!("{}", mc["spec"]))
            });
        }
    }
}

/// The works of a scenario's replica set (named as its namespace: upstream v1.2.0 names
/// every work after its replica set, so names must differ across scenarios), by cluster.
fn works(api: &Api, ns: &str) -> BTreeMap<String, Value> {
    api.list(WORKS, Some(&format!("{OWNER}={ns}.{ns}")))
        .into_iter()
        .map(|w| {
            (
                w["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                w,
            )
        })
        .collect()
}

fn acknowledged(work: &Value) -> bool {
    work.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
}

/// What an agent would report for a work: applied and finished, or applied and failing,
/// at the work's generation.
fn acknowledge(api: &Api, work: &Value, failing: bool) {
    let generation = work["metadata"]["generation"].clone();
    let now = "2026-01-01T00:00:00Z";
    let c = |t: &str, s: &str| {
        json!({"type": t, "status": s, "reason": "Test", "message": "", "lastTransitionTime": now,
            "observedGeneration": generation})
    };
    let conditions = if failing {
        vec![
            c("Applied", "True"),
            c("Available", "True"),
            c("Progressing", "True"),
            c("Degraded", "True"),
        ]
    } else {
        vec![
            c("Applied", "True"),
            c("Available", "True"),
            c("Progressing", "False"),
            c("Degraded", "False"),
        ]
    };
    let mut w = work.clone();
    w["status"] = json!({"conditions": conditions});
    let path = format!(
        "/apis/work.open-cluster-management.io/v1/namespaces/{}/manifestworks/{}/status",
        w["metadata"]["namespace"].as_str().unwrap_or(""),
        w["metadata"]["name"].as_str().unwrap_or("")
    );
    let (code, body) = api.call("PUT", &path, Some(&w), "application/json");
    assert!((200..300).contains(&code), "PUT {path}: {code} {body}");
}

/// What is compared: clusters with a work, the summary, each condition's status and
/// reason, the placement summaries; `Err` until the replica set's status counts the
/// works there are and the `acked` answers.
fn observed(api: &Api, ns: &str, acked: usize) -> Result<Value, String> {
    let rs = api
        .get(&format!("{}/{ns}", mwrs_path(ns)))
        .ok_or("no replica set")?;
    let ws = works(api, ns);
    let st = &rs["status"];
    let total = st["summary"]["total"].as_u64().unwrap_or(0) as usize;
    let applied = st["summary"]["applied"].as_u64().unwrap_or(0) as usize;
    let counted = condition(&rs, "PlacementRolledOut").is_some();
    if !counted || total != ws.len() || applied != acked {
        return Err(format!(
            "works {:?}, status {st}",
            ws.keys().collect::<Vec<_>>()
        ));
    }
    let conditions: BTreeMap<String, Value> = [
        "PlacementVerified",
        "PlacementRolledOut",
        "ManifestworkApplied",
    ]
    .iter()
    .map(|t| {
        let c = condition(&rs, t).map(|(s, r, _)| json!([s, r]));
        (t.to_string(), c.unwrap_or(Value::Null))
    })
    .collect();
    let mut seen = json!({
        "clusters": ws.keys().collect::<Vec<_>>(),
        "summary": st["summary"],
        "conditions": conditions,
        "placementSummary": st["placementSummary"],
    });
    drop_unwritten(&mut seen);
    Ok(seen)
}

/// Neither controller sets `desiredTotal` and `updated`: a 0 there may be written or not.
fn drop_unwritten(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, v| !(matches!(k.as_str(), "desiredTotal" | "updated") && *v == 0));
            m.values_mut().for_each(drop_unwritten);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_unwritten),
        _ => {}
    }
}

#[test]
fn replica_sets_agree_with_upstream() {
    if !kube_peer::available(TEST) || !ocm_hub::available(TEST) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let peer = KubePeer::start(&dir.join("peer"));
    let _upstream = OcmHub::start_only(
        &peer,
        &dir.join("ocm-hub"),
        &["registration", "placement", "work"],
    );
    let mut ours = Hub::start(&dir.join("ours"), &[]);
    ours.wait_ready();
    let theirs = Api::new(&peer as &dyn ApiServer, Duration::from_secs(120));
    let mine = Api::new(&ours as &dyn ApiServer, Duration::from_secs(120));
    set_up(&theirs, true);
    set_up(&mine, false);

    let mut mismatches = Vec::new();
    let mut rounds = 0;
    for s in scenarios() {
        let ns = format!("ns-{}", s.id);
        for api in [&theirs, &mine] {
            api.namespace(&ns);
            api.binding(&ns, "fleet");
            api.placement(&ns, "web", s.placement.clone());
            api.settled(&ns, "web");
            api.create(
                &mwrs_path(&ns),
                &json!({"apiVersion": "work.open-cluster-management.io/v1alpha1",
                    "kind": "ManifestWorkReplicaSet", "metadata": {"name": ns, "namespace": ns},
                    "spec": {"placementRefs": [{"name": "web", "rolloutStrategy": s.strategy}],
                        "manifestWorkTemplate": {"workload": {"manifests": [
                            {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": format!("cm-{}", s.id), "namespace": "default"},
                             "data": {"a": "b"}}]}}}}),
            );
        }
        let mut acked = 0;
        loop {
            rounds += 1;
            if let Err(difference) = mine.agrees_with(&theirs, Duration::from_secs(60), |api| {
                observed(api, &ns, acked)
            }) {
                mismatches.push(format!("{} after {acked} answers:{difference}", s.id));
                break;
            }
            // Answer the new works the same way on both hubs.
            let fresh: BTreeSet<String> = works(&mine, &ns)
                .into_iter()
                .filter(|(_, w)| !acknowledged(w))
                .map(|(c, _)| c)
                .collect();
            if fresh.is_empty() {
                break;
            }
            for api in [&theirs, &mine] {
                let ws = works(api, &ns);
                for c in &fresh {
                    let w = ws
                        .get(c)
                        .unwrap_or_else(|| panic!("{} has no work in {c}", s.id));
                    acknowledge(api, w, s.failing.contains(&c.as_str()));
                }
            }
            acked += fresh.len();
        }
    }
    eprintln!("{} scenarios, {rounds} rounds compared", scenarios().len());
    assert!(
        mismatches.is_empty(),
        "{} of {} scenarios differ from upstream:\n{}",
        mismatches.len(),
        scenarios().len(),
        mismatches.join("\n")
    );
}
