//! Our scheduler against upstream's: a real kube-apiserver runs upstream OCM v1.2.0's hub
//! controllers (`common::ocm_hub`), and both hubs get the same generated scenarios — the
//! same ManagedClusters (labels, claims, allocatable resources, taints), sets, bindings,
//! AddOnPlacementScores and Placements, created in the same order — and must agree on
//! every PlacementDecision (names, group labels, clusters in order), the placement status
//! (selected count, decision groups) and the PlacementSatisfied and
//! PlacementMisconfigured conditions.
//!
//! Placements of one scenario are created one after the other, each once the previous is
//! scheduled on both hubs, and deleted (with their decisions) at the end of the scenario:
//! upstream's Balance prioritizer depends on which other decisions exist when a placement
//! is scheduled, so both hubs must schedule in the same order on the same state.
//! Then each placement that selected all of its `numberOfClusters` (2 or more) is asked
//! for one fewer and compared again: rescheduling over its own decisions, where Steady
//! and the tie-break decide which cluster goes. What upstream ignores (spread
//! constraints, scores in decisions, our ClustersFiltered condition) is left out. The
//! scenarios come from a fixed seed (`PLACEMENT_SEED` overrides it, `PLACEMENT_SCENARIOS`
//! their number).
//!
//! Prerequisites: `hack/install-kube-peer.sh` and `hack/install-ocm-hub.sh`.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::kube_peer::{self, KubePeer};
use common::ocm_hub::{self, OcmHub};
use common::{ApiServer, Hub};
use serde_json::{Value, json};
use support::{Api, CLUSTERS, Cluster, Rng, condition, placements};

const TEST: &str = "placement_upstream";

/// An AddOnPlacementScore: (cluster, [(score name, value)], validUntil).
type Score = (String, Vec<(&'static str, i64)>, Option<&'static str>);

/// One generated scenario.
struct Scenario {
    id: String,
    clusters: Vec<Cluster>,
    /// (name, label selector or None for ExclusiveClusterSetLabel)
    sets: Vec<(String, Option<Value>)>,
    bindings: Vec<String>,
    scores: Vec<Score>,
    placements: Vec<(String, Value)>,
}

fn generate(n: usize, rng: &mut Rng) -> Scenario {
    let id = format!("s{n:02}");
    let count = 3 + rng.below(8) as usize;
    let taints = [
        json!({"key": "gpu", "value": "true", "effect": "NoSelect"}),
        json!({"key": "maint", "effect": "PreferNoSelect"}),
        json!({"key": "new", "effect": "NoSelectIfNew"}),
        json!({"key": "flaky", "effect": "NoSelect"}),
    ];
    let mut clusters = Vec::new();
    for j in 0..count {
        let mut c = Cluster::new(&format!("{id}-c{j}"))
            .label("scenario", &id)
            .label("env", rng.word(&["prod", "dev", "test"]))
            .label("zone", rng.word(&["a", "b", "c"]))
            .label(
                support::SET_LABEL,
                &format!("{id}-{}", rng.word(&["x", "y"])),
            )
            .claim(
                "platform.open-cluster-management.io",
                rng.word(&["AWS", "GCP", "Azure"]),
            );
        if rng.chance(60) {
            c = c.label("tier", rng.word(&["1", "2", "3"]));
        }
        if rng.chance(40) {
            c = c.claim("region", rng.word(&["eu", "us"]));
        }
        if rng.chance(80) {
            c = c.resources(
                rng.word(&["2", "4", "8", "16", "4"]),
                rng.word(&["4Gi", "8Gi", "16Gi", "8Gi"]),
            );
        }
        if rng.chance(25) {
            c = c.taint(rng.pick(&taints).clone());
        }
        clusters.push(c);
    }
    let sets = vec![
        (
            format!("{id}-all"),
            Some(json!({"matchLabels": {"scenario": id}})),
        ),
        (format!("{id}-x"), None),
        (format!("{id}-y"), None),
        (
            format!("{id}-prod"),
            Some(json!({"matchLabels": {"scenario": id, "env": "prod"}})),
        ),
    ];
    let mut bindings: Vec<String> = sets
        .iter()
        .filter(|_| rng.chance(45))
        .map(|s| s.0.clone())
        .collect();
    if bindings.is_empty() && rng.chance(85) {
        bindings.push(format!("{id}-all"));
    }
    let mut scores = Vec::new();
    for c in &clusters {
        if rng.chance(60) {
            let values = vec![
                ("cpu", rng.below(201) as i64 - 100),
                ("mem", rng.below(5) as i64 * 25),
            ];
            let valid = if rng.chance(15) {
                Some("2000-01-01T00:00:00Z")
            } else {
                None
            };
            scores.push((c.name.clone(), values, valid));
        }
    }
    let placement_count = 1 + rng.below(3) as usize;
    let placements = (0..placement_count)
        .map(|k| (format!("p{k}"), placement_spec(&id, count, &sets, rng)))
        .collect();
    Scenario {
        id,
        clusters,
        sets,
        bindings,
        scores,
        placements,
    }
}

fn placement_spec(
    id: &str,
    clusters: usize,
    sets: &[(String, Option<Value>)],
    rng: &mut Rng,
) -> Value {
    let mut spec = json!({});
    if rng.chance(30) {
        let chosen: Vec<&String> = sets
            .iter()
            .map(|s| &s.0)
            .filter(|_| rng.chance(50))
            .collect();
        if !chosen.is_empty() {
            spec["clusterSets"] = json!(chosen);
        }
    }
    if rng.chance(55) {
        spec["numberOfClusters"] = json!(rng.below(clusters as u64 + 2));
    }
    if rng.chance(60) {
        let mut predicates = Vec::new();
        for _ in 0..(1 + rng.below(2)) {
            let mut selector = json!({});
            match rng.below(6) {
                0 => {
                    selector["labelSelector"] =
                        json!({"matchLabels": {"env": rng.word(&["prod", "dev", "test"])}})
                }
                1 => {
                    selector["labelSelector"] = json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": [rng.word(&["a", "b"]), "c"]}]})
                }
                2 => {
                    selector["labelSelector"] = json!({"matchExpressions": [{"key": "tier", "operator": rng.word(&["Exists", "DoesNotExist"])}]})
                }
                3 => {
                    selector["labelSelector"] = json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["1"]}]})
                }
                4 => {
                    selector["claimSelector"] = json!({"matchExpressions": [{"key": "platform.open-cluster-management.io", "operator": "In", "values": [rng.word(&["AWS", "GCP"]), "Azure"]}]})
                }
                _ => {
                    selector["celSelector"] = json!({"celExpressions": [rng.pick(&[
                        "managedCluster.metadata.labels[\"env\"] != \"dev\"",
                        "managedCluster.scores(\"usage\").exists(s, s.name == \"cpu\" && s.value > 0)",
                        "managedCluster.status.clusterClaims.exists(c, c.name == \"region\" && c.value == \"eu\")",
                        "has(managedCluster.metadata.labels.tier) && managedCluster.metadata.labels.tier.startsWith(\"2\")",
                    ])]});
                }
            }
            if rng.chance(25) {
                selector["claimSelector"] =
                    json!({"matchExpressions": [{"key": "region", "operator": "Exists"}]});
            }
            predicates.push(json!({"requiredClusterSelector": selector}));
        }
        spec["predicates"] = json!(predicates);
    }
    if rng.chance(35) {
        let options = [
            json!({"key": "gpu", "operator": "Equal", "value": "true"}),
            json!({"key": "maint", "operator": "Exists"}),
            json!({"key": "flaky", "operator": "Exists", "tolerationSeconds": 3600}),
            json!({"key": "flaky", "operator": "Exists", "tolerationSeconds": 0}),
            json!({"operator": "Exists", "effect": "NoSelectIfNew"}),
            json!({"operator": "Exists"}),
        ];
        let tolerations: Vec<Value> = (0..(1 + rng.below(2)))
            .map(|_| rng.pick(&options).clone())
            .collect();
        spec["tolerations"] = json!(tolerations);
    }
    if rng.chance(65) {
        let coordinates = [
            json!({"type": "BuiltIn", "builtIn": "Balance"}),
            json!({"type": "BuiltIn", "builtIn": "Steady"}),
            json!({"type": "BuiltIn", "builtIn": "ResourceAllocatableCPU"}),
            json!({"type": "BuiltIn", "builtIn": "ResourceAllocatableMemory"}),
            json!({"type": "AddOn", "addOn": {"resourceName": "usage", "scoreName": "cpu"}}),
            json!({"type": "AddOn", "addOn": {"resourceName": "usage", "scoreName": "mem"}}),
        ];
        // A negative Steady weight makes every pass undo the previous one: upstream then
        // reschedules forever on its own decision changes, so there is no result to compare.
        let configurations: Vec<Value> = (0..(1 + rng.below(3)))
            .map(|_| {
                let coordinate = rng.pick(&coordinates).clone();
                let mut weight = rng.below(7) as i64 - 3;
                if coordinate["builtIn"] == "Steady" {
                    weight = weight.abs();
                }
                json!({"scoreCoordinate": coordinate, "weight": weight})
            })
            .collect();
        spec["prioritizerPolicy"] =
            json!({"mode": rng.word(&["Additive", "Exact"]), "configurations": configurations});
    }
    if rng.chance(30) {
        let mut strategy = json!({"clustersPerDecisionGroup": rng.pick(&[json!(1), json!(2), json!("50%"), json!("34%")]).clone()});
        if rng.chance(50) {
            strategy["decisionGroups"] = json!([{"groupName": "prod", "groupClusterSelector": {"labelSelector": {"matchLabels": {"env": "prod"}}}}]);
        }
        spec["decisionStrategy"] = json!({"groupStrategy": strategy});
    }
    if rng.chance(5) {
        spec["prioritizerPolicy"] = json!({"mode": "Exact", "configurations": [{"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Nope"}, "weight": 1}]});
    } else if rng.chance(4) {
        spec["tolerations"] = json!([{"operator": "Equal", "value": "x"}]);
    }
    let _ = id;
    spec
}

/// Creates the scenario's objects on one hub (everything but the placements).
fn set_up(api: &Api, s: &Scenario, upstream: bool) {
    let ns = format!("ns-{}", s.id);
    api.namespace(&ns);
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole seconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    for c in &s.clusters {
        let mut c = c.clone();
        if upstream {
            // Upstream's webhook (not set up on the reference hub) would stamp this.
            for t in &mut c.taints {
                t["timeAdded"] = json!(now);
            }
        }
        api.cluster(&c);
    }
    for (name, selector) in &s.sets {
        match selector {
            Some(sel) => api.label_set(name, sel.clone()),
            None => api.exclusive_set(name),
        }
    }
    for b in &s.bindings {
        api.binding(&ns, b);
    }
    for (cluster, values, valid) in &s.scores {
        api.score(cluster, "usage", values, *valid);
    }
    // Upstream's taint controller taints clusters until it sees them Available: wait for
    // every cluster to carry exactly its own taints.
    for c in &s.clusters {
        let want: Vec<String> = c
            .taints
            .iter()
            .filter_map(|t| t["key"].as_str().map(str::to_string))
            .collect();
        api.wait(&format!("{} has only its taints", c.name), || {
            let mc = api
                .get(&format!("{CLUSTERS}/{}", c.name))
                .ok_or("no cluster")?;
            let mut have: Vec<String> = mc["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["key"].as_str().map(str::to_string))
                .collect();
            have.sort();
            let mut want = want.clone();
            want.sort();
            if have == want {
                Ok(())
            } else {
                Err(format!("{have:?}"))
            }
        });
    }
}

/// What is compared of a scheduled placement.
fn observed(api: &Api, ns: &str, name: &str) -> Value {
    observed_where(api, ns, name, |_| Ok(()))
}

/// As [`observed`], once `check` accepts the placement.
fn observed_where(
    api: &Api,
    ns: &str,
    name: &str,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Value {
    let p = api.settled_where(ns, name, check);
    let cond = |t: &str| {
        condition(&p, t).map(|(s, r, m)| {
            // CEL and selector error texts are the engines' own; the reason is what counts.
            let m = if m.starts_with("Predicate:") {
                "Predicate:<message>".to_string()
            } else {
                m
            };
            json!([s, r, m])
        })
    };
    json!({
        "numberOfSelectedClusters": p["status"]["numberOfSelectedClusters"].as_u64().unwrap_or(0),
        "decisionGroups": p["status"]["decisionGroups"],
        "PlacementSatisfied": cond("PlacementSatisfied"),
        "PlacementMisconfigured": cond("PlacementMisconfigured"),
        "decisions": api.decisions(ns, name),
    })
}

/// Whether two of the clusters our hub selected for the placement have the same score, so
/// their order (and, at the `numberOfClusters` cut, their selection) is the tie-break's.
fn tied(api: &Api, ns: &str, name: &str) -> bool {
    let mut scores: Vec<i64> = api
        .list(
            &support::decisions(ns),
            Some(&format!("{}={name}", support::PLACEMENT_LABEL)),
        )
        .iter()
        .flat_map(|d| {
            d["status"]["decisions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["score"].as_i64())
        .collect();
    let n = scores.len();
    scores.sort_unstable();
    scores.dedup();
    scores.len() < n
}

fn diff(ours: &Value, theirs: &Value) -> String {
    let mut out = String::new();
    if let (Some(a), Some(b)) = (ours.as_object(), theirs.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                out.push_str(&format!(
                    "    {k}:\n      ours:     {v}\n      upstream: {}\n",
                    b.get(k).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    out
}

#[test]
fn scheduler_agrees_with_upstream() {
    if !kube_peer::available(TEST) || !ocm_hub::available(TEST) {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let peer = KubePeer::start(&dir.join("peer"));
    let upstream_hub = OcmHub::start(&peer, &dir.join("ocm-hub"));
    let mut ours = Hub::start(&dir.join("ours"), &[]);
    ours.wait_ready();
    eprintln!("hubs up in {:?}", started.elapsed());
    let theirs = Api::new(&peer as &dyn ApiServer, Duration::from_secs(180));
    let mine = Api::new(&ours as &dyn ApiServer, Duration::from_secs(60));

    let seed: u64 = std::env::var("PLACEMENT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_260_101);
    let count: usize = std::env::var("PLACEMENT_SCENARIOS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut rng = Rng::new(seed);
    let mut compared = 0;
    let mut identical = 0;
    let mut ties = 0;
    let mut rescheduled = 0;
    let mut mismatches = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for n in 0..count {
        let s = generate(n, &mut rng);
        let ns = format!("ns-{}", s.id);
        set_up(&theirs, &s, true);
        set_up(&mine, &s, false);
        for (name, spec) in &s.placements {
            theirs.placement(&ns, name, spec.clone());
            mine.placement(&ns, name, spec.clone());
            let (a, b) = (observed(&mine, &ns, name), observed(&theirs, &ns, name));
            compared += 1;
            if tied(&mine, &ns, name) {
                ties += 1;
            }
            let reason = a["PlacementSatisfied"][1]
                .as_str()
                .unwrap_or("?")
                .to_string();
            *reasons.entry(reason).or_default() += 1;
            if a == b {
                identical += 1;
            } else {
                mismatches.push(format!("  {}/{name} {spec}\n{}", s.id, diff(&a, &b)));
            }
        }
        // Rescheduling over existing decisions (where Steady counts): a placement that
        // selected all of its `numberOfClusters` is asked for one cluster fewer.
        for (name, spec) in &s.placements {
            let Some(n) = spec["numberOfClusters"].as_u64().filter(|n| *n >= 2) else {
                continue;
            };
            let selected = |p: &Value| p["status"]["numberOfSelectedClusters"].as_u64();
            if mine.get_placement(&ns, name).and_then(|p| selected(&p)) != Some(n) {
                continue;
            }
            let path = format!("{}/{name}", placements(&ns));
            let patch = json!({"spec": {"numberOfClusters": n - 1}});
            for api in [&theirs, &mine] {
                api.merge(&path, &patch);
            }
            let fewer = |p: &Value| match selected(p) {
                Some(k) if k == n - 1 => Ok(()),
                k => Err(format!("{k:?} selected, waiting for {}", n - 1)),
            };
            let (a, b) = (
                observed_where(&mine, &ns, name, fewer),
                observed_where(&theirs, &ns, name, fewer),
            );
            compared += 1;
            rescheduled += 1;
            if tied(&mine, &ns, name) {
                ties += 1;
            }
            if a == b {
                identical += 1;
            } else {
                let mut spec = spec.clone();
                spec["numberOfClusters"] = json!(n - 1);
                mismatches.push(format!(
                    "  {}/{name} (rescheduled from {n} clusters) {spec}\n{}",
                    s.id,
                    diff(&a, &b)
                ));
            }
        }
        // Clean up so the next scenario's Balance starts from the same, empty state.
        for (name, _) in &s.placements {
            for api in [&theirs, &mine] {
                api.delete(&format!("{}/{name}", placements(&ns)));
            }
        }
        for api in [&theirs, &mine] {
            api.wait(&format!("{ns} has no decisions"), || {
                let left = api.list(&support::decisions(&ns), None);
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} left", left.len()))
                }
            });
        }
    }
    eprintln!(
        "compared {compared} placements in {count} scenarios (seed {seed}) in {:?} ({rescheduled} of them rescheduled with one cluster fewer): {identical} identical, {ties} with equal scores among the selected (ordered by the tie-break); outcomes {reasons:?}",
        started.elapsed()
    );
    drop(upstream_hub);
    assert!(count < 50 || compared >= 50);
    assert!(
        count < 50 || ties > 0,
        "no scenario exercised the tie-break"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {compared} placements differ from upstream:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
