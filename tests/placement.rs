//! Placement end to end on our hub binary: cluster-set and binding status, the bind
//! permission, the scheduler (eligibility, predicates with labels, claims and CEL,
//! taints and tolerations with expiry, prioritizers and scores, numberOfClusters,
//! decision groups, PlacementDecisions of at most 100, status, events, the disable
//! annotation, rescheduling on every trigger), what goes beyond upstream (decisions that
//! never drop a kept cluster while they move, spread constraints, scores in decisions,
//! the ClustersFiltered explanation) and ClusterProfiles. ManagedClusters are created
//! through the API with their labels, claims, resources and taints; no agent runs.
//! `tests/placement_upstream.rs` compares the scheduler with upstream's.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Hub;
use serde_json::{Value, json};
use support::{Api, CLUSTERS, Cluster, SETS, condition, placements};

fn hub(dir: &Path, config: Option<Value>) -> Hub {
    let mut extra = Vec::new();
    let path = dir.join("hub-config.json");
    if let Some(c) = config {
        std::fs::write(&path, c.to_string()).expect("config");
        extra = vec!["-c", path.to_str().expect("utf8")];
    }
    let mut hub = Hub::start(&dir.join("hub"), &extra);
    hub.wait_ready();
    hub
}

fn api(hub: &Hub) -> Api<'_> {
    Api::new(hub, Duration::from_secs(30))
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Waits until the placement's decisions hold exactly `want`.
fn wait_selected(api: &Api, ns: &str, placement: &str, want: &[&str]) {
    let want = set(want);
    api.wait(&format!("{ns}/{placement} selects {want:?}"), || {
        let got = api.selected(ns, placement);
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
}

/// Waits until condition `type_` of the placement has `status` and `reason`; returns
/// its message.
fn wait_condition(
    api: &Api,
    ns: &str,
    placement: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> String {
    api.wait(
        &format!("{ns}/{placement} has {type_}={status} ({reason})"),
        || {
            let p = api.get_placement(ns, placement).ok_or("gone")?;
            match condition(&p, type_) {
                Some((s, r, m)) if s == status && r == reason => Ok(m),
                other => Err(format!("{other:?}")),
            }
        },
    )
}

fn set_condition(api: &Api, name: &str) -> Option<(String, String, String)> {
    condition(&api.get(&format!("{SETS}/{name}"))?, "ClusterSetEmpty")
}

fn labels(api: &Api, name: &str, labels: Value) {
    api.merge(
        &format!("{CLUSTERS}/{name}"),
        &json!({"metadata": {"labels": labels}}),
    );
}

fn events(api: &Api, ns: &str, placement: &str) -> Vec<Value> {
    api.list(
        &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
        None,
    )
    .into_iter()
    .filter(|e| e["regarding"]["name"] == placement)
    .collect()
}

#[test]
fn cluster_sets_bindings_and_the_bind_permission() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    for s in ["default", "global"] {
        api.wait(&format!("{s} is empty"), || match set_condition(&api, s) {
            Some((st, r, m))
                if st == "True" && r == "NoClusterMatched" && m == "No ManagedCluster selected" =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        });
    }
    api.cluster(&Cluster::new("c1").label("env", "prod"));
    api.cluster(
        &Cluster::new("c2")
            .label("env", "dev")
            .label(support::SET_LABEL, "blue"),
    );
    api.exclusive_set("blue");
    api.label_set("prod", json!({"matchLabels": {"env": "prod"}}));
    api.label_set("nothing", json!({"matchLabels": {"x": "y"}}));
    for (s, status, message) in [
        ("global", "False", "2 ManagedClusters selected"),
        ("default", "False", "1 ManagedClusters selected"),
        ("blue", "False", "1 ManagedClusters selected"),
        ("prod", "False", "1 ManagedClusters selected"),
        ("nothing", "True", "No ManagedCluster selected"),
    ] {
        api.wait(&format!("{s}: {message}"), || {
            match set_condition(&api, s) {
                Some((st, _, m)) if st == status && m == message => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }
    // kubectl shows the EMPTY column.
    let out = common::kubectl_run(&hub, &["get", "managedclustersets"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        row("global").split_whitespace().nth(1) == Some("False"),
        "{text}"
    );
    assert!(
        row("nothing").split_whitespace().nth(1) == Some("True"),
        "{text}"
    );
    // A cluster leaving a set (label change) and one going away.
    labels(&api, "c1", json!({"env": "test"}));
    api.wait("prod is empty", || match set_condition(&api, "prod") {
        Some((st, _, _)) if st == "True" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    api.delete(&format!("{CLUSTERS}/c2"));
    api.wait("blue is empty", || match set_condition(&api, "blue") {
        Some((st, _, _)) if st == "True" => Ok(()),
        other => Err(format!("{other:?}")),
    });

    // Bindings: Bound follows the set's existence.
    api.namespace("apps");
    api.binding("apps", "blue");
    api.binding("apps", "missing");
    let bound = |name: &str| {
        api.get(&format!("{}/{name}", support::bindings("apps")))
            .and_then(|b| condition(&b, "Bound"))
            .map(|(s, r, _)| (s, r))
    };
    api.wait("blue is bound", || match bound("blue") {
        Some((s, r)) if s == "True" && r == "ClusterSetBound" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    api.wait("missing is not bound", || match bound("missing") {
        Some((s, r)) if s == "False" && r == "ClusterSetNotFound" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    api.exclusive_set("missing");
    api.wait("missing is bound once it exists", || {
        match bound("missing") {
            Some((s, _)) if s == "True" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    api.delete(&format!("{SETS}/missing"));
    api.wait("missing is not bound after the set went", || {
        match bound("missing") {
            Some((s, _)) if s == "False" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    // Admission, as upstream's webhook: the name must be the set's (400), creating needs
    // managedclustersets/bind (403), updating does not.
    let mismatch = json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
        "metadata": {"name": "other", "namespace": "apps"}, "spec": {"clusterSet": "blue"}});
    let (code, body) = api.call(
        "POST",
        &support::bindings("apps"),
        Some(&mismatch),
        "application/json",
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body["message"],
        "The ManagedClusterSetBinding must have the same name as the target ManagedClusterSet"
    );
    for (path, body) in [
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "binding-editor"}, "rules": [{"apiGroups": ["cluster.open-cluster-management.io"],
            "resources": ["managedclustersetbindings"], "verbs": ["*"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "alice-bindings"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "binding-editor"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "bind-global"}, "rules": [{"apiGroups": ["cluster.open-cluster-management.io"],
            "resources": ["managedclustersets/bind"], "resourceNames": ["global"], "verbs": ["create"]}]}),
        ),
    ] {
        api.create(path, &body);
    }
    let binding = |set: &str| {
        json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
        "metadata": {"name": set, "namespace": "apps"}, "spec": {"clusterSet": set}})
    };
    let (code, body) = api.call_as(
        Some("alice"),
        "POST",
        &support::bindings("apps"),
        Some(&binding("global")),
        "application/json",
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("user \"alice\" is not allowed to bind cluster set \"global\""),
        "{body}"
    );
    api.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", &json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding", "metadata": {"name": "alice-bind"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bind-global"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}));
    api.wait("alice may bind global", || {
        let (code, body) = api.call_as(
            Some("alice"),
            "POST",
            &support::bindings("apps"),
            Some(&binding("global")),
            "application/json",
        );
        if code == 201 {
            Ok(())
        } else {
            Err(format!("{code} {body}"))
        }
    });
    // Binding blue still needs bind on blue; updating an existing binding does not.
    let (code, _) = api.call_as(Some("alice"), "POST", &support::bindings("apps"), Some(&json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2",
        "kind": "ManagedClusterSetBinding", "metadata": {"name": "nothing", "namespace": "apps"}, "spec": {"clusterSet": "nothing"}})), "application/json");
    assert_eq!(code, 403);
    let (code, body) = api.call_as(
        Some("alice"),
        "PATCH",
        &format!("{}/blue", support::bindings("apps")),
        Some(&json!({"metadata": {"labels": {"team": "a"}}})),
        "application/merge-patch+json",
    );
    assert_eq!(code, 200, "{body}");

    // Without the gate, no ClusterProfile kind is served.
    assert!(api.get(&support::profiles("apps")).is_none());
}

#[test]
fn scheduling_predicates_status_and_triggers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    api.namespace("apps");
    for (name, env, zone, platform) in [
        ("c1", "prod", "a", "AWS"),
        ("c2", "prod", "b", "GCP"),
        ("c3", "dev", "a", "AWS"),
        ("c4", "dev", "b", "Azure"),
        ("c5", "test", "c", "GCP"),
    ] {
        api.cluster(
            &Cluster::new(name)
                .label("env", env)
                .label("zone", zone)
                .claim("platform.open-cluster-management.io", platform),
        );
    }
    api.score("c1", "res", &[("cpu", 80)], None);
    api.score("c3", "res", &[("cpu", 20)], None);

    // No binding yet: one empty decision, the upstream reason, labels and owner.
    let p0 = api.placement("apps", "p0", json!({}));
    let msg = wait_condition(
        &api,
        "apps",
        "p0",
        "PlacementSatisfied",
        "False",
        "NoManagedClusterSetBindings",
    );
    assert_eq!(
        msg,
        "No valid ManagedClusterSetBindings found in placement namespace"
    );
    let p = api.settled("apps", "p0");
    // The scheduler writes the status from its copy, which keeps no managedFields: the
    // creator's entry stays.
    let managed = p["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        managed
            .iter()
            .any(|m| m["operation"] == "Update" && m["fieldsV1"]["f:spec"].is_object()),
        "the creator's managedFields entry is kept: {managed:?}"
    );
    assert_eq!(
        condition(&p, "PlacementMisconfigured"),
        Some((
            "False".into(),
            "Succeedconfigured".into(),
            "Placement configurations check pass".into()
        ))
    );
    assert_eq!(p["status"]["numberOfSelectedClusters"], 0);
    assert_eq!(
        p["status"]["decisionGroups"],
        json!([{"decisionGroupIndex": 0, "decisionGroupName": "", "decisions": ["p0-decision-1"], "clusterCount": 0}])
    );
    let d = api
        .get(&format!("{}/p0-decision-1", support::decisions("apps")))
        .expect("decision");
    assert_eq!(
        d["metadata"]["labels"],
        json!({"cluster.open-cluster-management.io/placement": "p0",
        "cluster.open-cluster-management.io/decision-group-name": "", "cluster.open-cluster-management.io/decision-group-index": "0"})
    );
    assert_eq!(
        d["metadata"]["ownerReferences"],
        json!([{"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
        "name": "p0", "uid": p0["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(d["status"]["decisions"], json!([]));

    // A binding to global: every cluster, rescheduled by the binding.
    api.binding("apps", "global");
    wait_selected(&api, "apps", "p0", &["c1", "c2", "c3", "c4", "c5"]);
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "p0",
            "PlacementSatisfied",
            "True",
            "AllDecisionsScheduled"
        ),
        "All cluster decisions scheduled"
    );
    let created = api.wait("p0's events", || {
        let e = events(&api, "apps", "p0");
        let reasons: BTreeSet<&str> = e.iter().filter_map(|e| e["reason"].as_str()).collect();
        let scored = e.iter().any(|e| {
            e["reason"] == "ScoreUpdate" && e["note"].as_str().unwrap_or("").contains("c1:")
        });
        if reasons.contains("DecisionCreate") && reasons.contains("DecisionUpdate") && scored {
            Ok(e.clone())
        } else {
            Err(format!("{reasons:?}"))
        }
    });
    let create = created
        .iter()
        .find(|e| e["reason"] == "DecisionCreate")
        .expect("create event");
    assert_eq!(
        create["note"],
        "Decision p0-decision-1 is created with placement p0 in namespace apps"
    );
    assert_eq!(create["reportingController"], "placement-controller");
    assert_eq!(create["related"]["kind"], "PlacementDecision");

    // Sets the placement names but the namespace does not bind; a bound empty set.
    api.placement("apps", "unbound", json!({"clusterSets": ["blue", "red"]}));
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "unbound",
            "PlacementSatisfied",
            "False",
            "NoIntersection"
        ),
        "None of ManagedClusterSets [blue,red] is bound to placement namespace"
    );
    api.label_set("empty", json!({"matchLabels": {"none": "x"}}));
    api.binding("apps", "empty");
    api.placement("apps", "empty", json!({"clusterSets": ["empty"]}));
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "empty",
            "PlacementSatisfied",
            "False",
            "AllManagedClusterSetsEmpty"
        ),
        "All ManagedClusterSets [empty] have no member ManagedCluster"
    );

    // Predicates: labels, claims, CEL (with scores()), ORed.
    let by = |sel: Value| json!({"predicates": [{"requiredClusterSelector": sel}]});
    api.placement(
        "apps",
        "prod",
        by(json!({"labelSelector": {"matchLabels": {"env": "prod"}}})),
    );
    api.placement("apps", "aws", by(json!({"claimSelector": {"matchExpressions": [{"key": "platform.open-cluster-management.io", "operator": "In", "values": ["AWS"]}]}})));
    api.placement("apps", "zone-a", by(json!({"celSelector": {"celExpressions": ["managedCluster.metadata.labels[\"zone\"] == \"a\""]}})));
    api.placement("apps", "busy", by(json!({"celSelector": {"celExpressions": ["managedCluster.scores(\"res\").exists(s, s.name == \"cpu\" && s.value > 50)"]}})));
    api.placement("apps", "both", by(json!({"labelSelector": {"matchLabels": {"env": "prod"}}, "claimSelector": {"matchExpressions": [{"key": "platform.open-cluster-management.io", "operator": "NotIn", "values": ["AWS"]}]}})));
    api.placement(
        "apps",
        "either",
        json!({"predicates": [
        {"requiredClusterSelector": {"labelSelector": {"matchLabels": {"env": "test"}}}},
        {"requiredClusterSelector": {"labelSelector": {"matchLabels": {"zone": "b"}}}}]}),
    );
    wait_selected(&api, "apps", "prod", &["c1", "c2"]);
    wait_selected(&api, "apps", "aws", &["c1", "c3"]);
    wait_selected(&api, "apps", "zone-a", &["c1", "c3"]);
    wait_selected(&api, "apps", "busy", &["c1"]);
    wait_selected(&api, "apps", "both", &["c2"]);
    wait_selected(&api, "apps", "either", &["c2", "c4", "c5"]);

    // numberOfClusters: ties by name; too many wanted.
    api.placement(
        "apps",
        "two",
        json!({"numberOfClusters": 2, "prioritizerPolicy": {"mode": "Exact"}}),
    );
    wait_selected(&api, "apps", "two", &["c1", "c2"]);
    api.placement("apps", "ten", json!({"numberOfClusters": 10}));
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "ten",
            "PlacementSatisfied",
            "False",
            "NotAllDecisionsScheduled"
        ),
        "5 cluster decisions unscheduled"
    );
    api.placement(
        "apps",
        "none",
        by(json!({"labelSelector": {"matchLabels": {"env": "staging"}}})),
    );
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "none",
            "PlacementSatisfied",
            "False",
            "NoManagedClusterMatched"
        ),
        "No ManagedCluster matches any of the cluster predicate"
    );

    // Misconfigurations, with upstream's messages.
    api.placement("apps", "bad-prioritizer", json!({"prioritizerPolicy": {"mode": "Exact", "configurations": [{"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Nope"}, "weight": 1}]}}));
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "bad-prioritizer",
            "PlacementMisconfigured",
            "True",
            "Misconfigured"
        ),
        ":incorrect builtin prioritizer: Nope"
    );
    api.placement(
        "apps",
        "bad-toleration",
        json!({"tolerations": [{"operator": "Equal", "value": "x"}]}),
    );
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "bad-toleration",
            "PlacementMisconfigured",
            "True",
            "Misconfigured"
        ),
        "TaintToleration:If the key is empty, operator must be Exists."
    );
    api.placement("apps", "bad-selector", by(json!({"labelSelector": {"matchExpressions": [{"key": "env", "operator": "Matches", "values": ["x"]}]}})));
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "bad-selector",
            "PlacementMisconfigured",
            "True",
            "Misconfigured"
        ),
        "Predicate:\"Matches\" is not a valid label selector operator"
    );
    api.placement(
        "apps",
        "bad-cel",
        by(json!({"celSelector": {"celExpressions": ["managedCluster.metadata.name =="]}})),
    );
    let msg = wait_condition(
        &api,
        "apps",
        "bad-cel",
        "PlacementMisconfigured",
        "True",
        "Misconfigured",
    );
    assert!(msg.starts_with("Predicate:compilation failed"), "{msg}");
    wait_condition(
        &api,
        "apps",
        "bad-cel",
        "PlacementSatisfied",
        "False",
        "NoManagedClusterMatched",
    );
    assert!(api.selected("apps", "bad-cel").is_empty());

    // The disable annotation: the placement is left alone while another one follows.
    api.placement(
        "apps",
        "frozen",
        by(json!({"labelSelector": {"matchLabels": {"env": "prod"}}})),
    );
    wait_selected(&api, "apps", "frozen", &["c1", "c2"]);
    api.merge(&format!("{}/frozen", placements("apps")), &json!({"metadata": {"annotations": {"cluster.open-cluster-management.io/experimental-scheduling-disable": "true"}}}));
    // Triggers: a label change moves clusters in and out.
    labels(&api, "c3", json!({"env": "prod"}));
    wait_selected(&api, "apps", "prod", &["c1", "c2", "c3"]);
    labels(&api, "c1", json!({"env": "dev"}));
    wait_selected(&api, "apps", "prod", &["c2", "c3"]);
    assert_eq!(
        api.selected("apps", "frozen"),
        set(&["c1", "c2"]),
        "a disabled placement is not rescheduled"
    );
    assert!(
        condition(
            &api.get_placement("apps", "frozen").expect("frozen"),
            "PlacementSatisfied"
        )
        .is_some()
    );
    // A claim change.
    api.set_cluster_status(&Cluster::new("c5").claim("platform.open-cluster-management.io", "AWS"));
    wait_selected(&api, "apps", "aws", &["c1", "c3", "c5"]);
    // A score change (CEL reads scores).
    api.score("c3", "res", &[("cpu", 90)], None);
    wait_selected(&api, "apps", "busy", &["c1", "c3"]);
    // A new cluster; a deleting cluster is not eligible.
    api.cluster(&Cluster::new("c6").label("env", "prod"));
    wait_selected(&api, "apps", "prod", &["c2", "c3", "c6"]);
    wait_selected(&api, "apps", "p0", &["c1", "c2", "c3", "c4", "c5", "c6"]);
    api.merge(
        &format!("{CLUSTERS}/c6"),
        &json!({"metadata": {"finalizers": ["test.example.com/hold"]}}),
    );
    api.delete(&format!("{CLUSTERS}/c6"));
    wait_selected(&api, "apps", "prod", &["c2", "c3"]);
    wait_selected(&api, "apps", "p0", &["c1", "c2", "c3", "c4", "c5"]);
    // Sets and bindings: a set whose selector changes, a binding that goes.
    api.label_set("devs", json!({"matchLabels": {"env": "dev"}}));
    api.binding("apps", "devs");
    api.placement("apps", "devs", json!({"clusterSets": ["devs"]}));
    wait_selected(&api, "apps", "devs", &["c1", "c4"]);
    api.merge(
        &format!("{SETS}/devs"),
        &json!({"spec": {"clusterSelector": {"labelSelector": {"matchLabels": {"env": "test"}}}}}),
    );
    wait_selected(&api, "apps", "devs", &["c5"]);
    api.delete(&format!("{}/global", support::bindings("apps")));
    wait_selected(&api, "apps", "p0", &["c5"]);
    api.delete(&format!("{}/devs", support::bindings("apps")));
    api.delete(&format!("{}/empty", support::bindings("apps")));
    wait_condition(
        &api,
        "apps",
        "p0",
        "PlacementSatisfied",
        "False",
        "NoManagedClusterSetBindings",
    );
    wait_selected(&api, "apps", "p0", &[]);
    // Deleting a placement deletes its decisions (owner references).
    api.delete(&format!("{}/p0", placements("apps")));
    api.wait("p0's decisions are gone", || {
        let d = api.decisions("apps", "p0");
        if d.is_empty() {
            Ok(())
        } else {
            Err(format!("{d:?}"))
        }
    });
}

#[test]
fn taints_and_tolerations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    api.namespace("apps");
    api.binding("apps", "global");
    let taint = |key: &str, value: &str, effect: &str| json!({"key": key, "value": value, "effect": effect});
    api.cluster(&Cluster::new("t1"));
    api.cluster(&Cluster::new("t2").taint(taint("gpu", "true", "NoSelect")));
    api.cluster(&Cluster::new("t3").taint(taint("maintenance", "", "PreferNoSelect")));
    api.cluster(&Cluster::new("t4").taint(taint("fresh", "", "NoSelectIfNew")));
    api.cluster(&Cluster::new("t5").taint(taint(
        "cluster.open-cluster-management.io/unreachable",
        "",
        "NoSelect",
    )));
    let t2 = api.get(&format!("{CLUSTERS}/t2")).expect("t2");
    assert!(
        t2["spec"]["taints"][0]["timeAdded"].is_string(),
        "the hub sets timeAdded"
    );

    api.placement("apps", "plain", json!({}));
    wait_selected(&api, "apps", "plain", &["t1", "t3"]);
    api.placement(
        "apps",
        "gpu",
        json!({"tolerations": [{"key": "gpu", "operator": "Equal", "value": "true"}]}),
    );
    wait_selected(&api, "apps", "gpu", &["t1", "t2", "t3"]);
    api.placement(
        "apps",
        "wrong-value",
        json!({"tolerations": [{"key": "gpu", "operator": "Equal", "value": "false"}]}),
    );
    wait_selected(&api, "apps", "wrong-value", &["t1", "t3"]);
    api.placement("apps", "flaky", json!({"tolerations": [{"key": "cluster.open-cluster-management.io/unreachable", "operator": "Exists"}]}));
    wait_selected(&api, "apps", "flaky", &["t1", "t3", "t5"]);
    api.placement(
        "apps",
        "anything",
        json!({"tolerations": [{"operator": "Exists"}]}),
    );
    wait_selected(&api, "apps", "anything", &["t1", "t2", "t3", "t4", "t5"]);
    api.placement(
        "apps",
        "by-effect",
        json!({"tolerations": [{"operator": "Exists", "effect": "NoSelectIfNew"}]}),
    );
    wait_selected(&api, "apps", "by-effect", &["t1", "t3", "t4"]);

    // NoSelectIfNew keeps clusters a placement has, and keeps it from new ones.
    api.cluster(&Cluster::new("t6"));
    wait_selected(&api, "apps", "plain", &["t1", "t3", "t6"]);
    api.merge(
        &format!("{CLUSTERS}/t6"),
        &json!({"spec": {"taints": [taint("fresh", "", "NoSelectIfNew")]}}),
    );
    api.placement("apps", "late", json!({}));
    wait_selected(&api, "apps", "late", &["t1", "t3"]);
    assert_eq!(api.selected("apps", "plain"), set(&["t1", "t3", "t6"]));

    // tolerationSeconds: tolerated until the taint is that old, then the placement is
    // scheduled again without it.
    api.merge(
        &format!("{CLUSTERS}/t1"),
        &json!({"spec": {"taints": [taint("flaky", "", "NoSelect")]}}),
    );
    api.placement(
        "apps",
        "patient",
        json!({"tolerations": [{"key": "flaky", "operator": "Exists", "tolerationSeconds": 4}]}),
    );
    wait_selected(&api, "apps", "patient", &["t1", "t3"]);
    wait_selected(&api, "apps", "patient", &["t3"]);
    wait_selected(&api, "apps", "plain", &["t3", "t6"]);
}

#[test]
fn prioritizers_scores_and_spread() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    api.namespace("apps");
    api.label_set("res", json!({"matchLabels": {"kind": "res"}}));
    api.label_set("bal", json!({"matchLabels": {"kind": "bal"}}));
    api.label_set("zones", json!({"matchLabels": {"kind": "zones"}}));
    for s in ["res", "bal", "zones"] {
        api.binding("apps", s);
    }
    for (name, cpu, mem) in [
        ("r1", "2", "16Gi"),
        ("r2", "4", "8Gi"),
        ("r3", "8", "4Gi"),
        ("r4", "16", "2Gi"),
    ] {
        api.cluster(&Cluster::new(name).label("kind", "res").resources(cpu, mem));
    }
    let exact = |n: i32, configs: Value| {
        json!({"clusterSets": ["res"], "numberOfClusters": n,
        "prioritizerPolicy": {"mode": "Exact", "configurations": configs}})
    };
    let builtin = |name: &str, w: i32| json!({"scoreCoordinate": {"type": "BuiltIn", "builtIn": name}, "weight": w});
    let addon = |res: &str, score: &str, w: i32| json!({"scoreCoordinate": {"type": "AddOn", "addOn": {"resourceName": res, "scoreName": score}}, "weight": w});
    api.placement(
        "apps",
        "cpu",
        exact(2, json!([builtin("ResourceAllocatableCPU", 1)])),
    );
    wait_selected(&api, "apps", "cpu", &["r3", "r4"]);
    // Scores are in the decisions: (8-2)/(16-2) → -14, 16 → 100.
    let scores: BTreeMap<String, i64> = api
        .list(
            &support::decisions("apps"),
            Some("cluster.open-cluster-management.io/placement=cpu"),
        )
        .iter()
        .flat_map(|d| {
            d["status"]["decisions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            (
                c["clusterName"].as_str().unwrap_or("").to_string(),
                c["score"].as_i64().unwrap_or(i64::MIN),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [("r3".to_string(), -14), ("r4".to_string(), 100)]
            .into_iter()
            .collect()
    );
    api.placement(
        "apps",
        "memory",
        exact(2, json!([builtin("ResourceAllocatableMemory", 1)])),
    );
    wait_selected(&api, "apps", "memory", &["r1", "r2"]);
    api.placement(
        "apps",
        "least-cpu",
        exact(1, json!([builtin("ResourceAllocatableCPU", -2)])),
    );
    wait_selected(&api, "apps", "least-cpu", &["r1"]);
    api.placement(
        "apps",
        "mixed",
        exact(
            1,
            json!([
                builtin("ResourceAllocatableCPU", 1),
                builtin("ResourceAllocatableMemory", 2)
            ]),
        ),
    );
    // cpu: r1 -100, r2 -71, r3 -14, r4 100; memory ×2: r1 200, r2 -28, r3 -142, r4 -200.
    wait_selected(&api, "apps", "mixed", &["r1"]);

    // Add-on scores: a missing score counts 0; a change reschedules; an expired score
    // counts 0 and warns; an expiring one reschedules when it expires.
    api.score("r1", "usage", &[("cpu", 90)], None);
    api.score("r2", "usage", &[("cpu", -50)], None);
    api.score("r3", "usage", &[("cpu", 10)], None);
    api.placement("apps", "addon", exact(2, json!([addon("usage", "cpu", 1)])));
    wait_selected(&api, "apps", "addon", &["r1", "r3"]);
    api.score("r2", "usage", &[("cpu", 100)], None);
    wait_selected(&api, "apps", "addon", &["r1", "r2"]);
    api.score("r1", "usage", &[("cpu", 95)], Some("2000-01-01T00:00:00Z"));
    wait_selected(&api, "apps", "addon", &["r2", "r3"]);
    api.wait("a warning about the expired score", || {
        let e = events(&api, "apps", "addon");
        e.iter()
            .find(|e| {
                e["type"] == "Warning"
                    && e["note"]
                        .as_str()
                        .unwrap_or("")
                        .contains("AddOnPlacementScores r1/usage expired in plugin AddOn/usage/cpu")
            })
            .map(|_| ())
            .ok_or(format!("{e:?}"))
    });
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(4))
        .replace_nanosecond(0)
        .expect("whole seconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    api.score("r4", "usage", &[("cpu", 100), ("mem", 100)], Some(&soon));
    api.score("r3", "usage", &[("cpu", 10), ("mem", 50)], None);
    api.placement(
        "apps",
        "expiring",
        exact(1, json!([addon("usage", "mem", 1)])),
    );
    wait_selected(&api, "apps", "expiring", &["r4"]);
    wait_selected(&api, "apps", "expiring", &["r3"]);

    // Balance and Steady (the default Additive policy).
    for name in ["x1", "x2", "x3", "x4"] {
        api.cluster(&Cluster::new(name).label("kind", "bal"));
    }
    let bal = |n: i32| json!({"clusterSets": ["bal"], "numberOfClusters": n});
    api.placement("apps", "b1", bal(2));
    wait_selected(&api, "apps", "b1", &["x1", "x2"]);
    api.placement("apps", "b2", bal(2));
    wait_selected(&api, "apps", "b2", &["x3", "x4"]);
    api.placement("apps", "name-order", json!({"clusterSets": ["bal"], "numberOfClusters": 2, "prioritizerPolicy": {"mode": "Exact"}}));
    wait_selected(&api, "apps", "name-order", &["x1", "x2"]);
    // A cluster sorting first: Steady keeps b1, plain name order takes it.
    api.cluster(&Cluster::new("x0").label("kind", "bal"));
    wait_selected(&api, "apps", "name-order", &["x0", "x1"]);
    assert_eq!(api.selected("apps", "b1"), set(&["x1", "x2"]));

    // Spread constraints (beyond upstream): one per zone first.
    for (name, zone) in [
        ("z1", "a"),
        ("z2", "a"),
        ("z3", "a"),
        ("z4", "b"),
        ("z5", "b"),
        ("z6", "c"),
    ] {
        api.cluster(
            &Cluster::new(name)
                .label("kind", "zones")
                .label("zone", zone)
                .claim("region", zone),
        );
    }
    let spread = |n: i32, when: &str, key_type: &str| {
        json!({"clusterSets": ["zones"], "numberOfClusters": n,
        "prioritizerPolicy": {"mode": "Exact"},
        "spreadPolicy": {"spreadConstraints": [{"topologyKey": if key_type == "Claim" { "region" } else { "zone" },
            "topologyKeyType": key_type, "maxSkew": 1, "whenUnsatisfiable": when}]}})
    };
    api.placement("apps", "spread3", spread(3, "DoNotSchedule", "Label"));
    wait_selected(&api, "apps", "spread3", &["z1", "z4", "z6"]);
    api.placement("apps", "spread5", spread(5, "DoNotSchedule", "Claim"));
    wait_selected(&api, "apps", "spread5", &["z1", "z2", "z4", "z5", "z6"]);
    api.placement("apps", "spread6", spread(6, "DoNotSchedule", "Label"));
    wait_selected(&api, "apps", "spread6", &["z1", "z2", "z4", "z5", "z6"]);
    assert_eq!(
        wait_condition(
            &api,
            "apps",
            "spread6",
            "PlacementSatisfied",
            "False",
            "NotAllDecisionsScheduled"
        ),
        "1 cluster decisions unscheduled"
    );
    api.placement("apps", "anyway", spread(4, "ScheduleAnyway", "Label"));
    wait_selected(&api, "apps", "anyway", &["z1", "z2", "z4", "z6"]);
    api.placement("apps", "anyway6", spread(6, "ScheduleAnyway", "Label"));
    wait_selected(
        &api,
        "apps",
        "anyway6",
        &["z1", "z2", "z3", "z4", "z5", "z6"],
    );

    // Why clusters were filtered out.
    api.merge(
        &format!("{CLUSTERS}/z5"),
        &json!({"spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSelect"}]}}),
    );
    api.placement("apps", "explained", json!({"clusterSets": ["zones"], "numberOfClusters": 1,
        "predicates": [{"requiredClusterSelector": {"labelSelector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}}}]}));
    let msg = wait_condition(
        &api,
        "apps",
        "explained",
        "ClustersFiltered",
        "True",
        "ClustersFilteredOut",
    );
    assert!(msg.starts_with("2 of 6 ManagedClusters in the bound ManagedClusterSets were filtered out: z5 (taint gpu=true:NoSelect is not tolerated); z6 (its labels do not match)."), "{msg}");
    assert!(
        msg.ends_with(" 3 more passed the filters but were not selected (numberOfClusters)."),
        "{msg}"
    );
}

#[test]
fn decision_groups_and_large_placements() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    api.namespace("apps");
    api.label_set("many", json!({"matchLabels": {"scope": "many"}}));
    api.binding("apps", "many");
    for i in 0..250 {
        let mut c = Cluster::new(&format!("g{i:03}")).label("scope", "many");
        if i % 25 == 0 {
            c = c.label("canary", "true");
        }
        api.cluster(&c);
    }
    let names = |range: std::ops::Range<usize>, skip_canary: bool| -> Vec<String> {
        range
            .filter(|i| !skip_canary || i % 25 != 0)
            .map(|i| format!("g{i:03}"))
            .collect()
    };
    // One group: 250 clusters in three decisions of 100, 100 and 50.
    api.placement("apps", "all", json!({}));
    let p = api.settled("apps", "all");
    assert_eq!(p["status"]["numberOfSelectedClusters"], 250);
    let d = api.decisions("apps", "all");
    assert_eq!(
        d.keys().cloned().collect::<Vec<_>>(),
        ["all-decision-1", "all-decision-2", "all-decision-3"]
    );
    assert_eq!(d["all-decision-1"].2, names(0..100, false));
    assert_eq!(d["all-decision-3"].2, names(200..250, false));
    assert_eq!(
        p["status"]["decisionGroups"],
        json!([{"decisionGroupIndex": 0, "decisionGroupName": "",
        "decisions": ["all-decision-1", "all-decision-2", "all-decision-3"], "clusterCount": 250}])
    );

    // A canary group first, then groups of 20% (50) of the rest.
    api.placement("apps", "grouped", json!({"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": "20%",
        "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"labelSelector": {"matchLabels": {"canary": "true"}}}}]}}}));
    let p = api.settled("apps", "grouped");
    let groups = p["status"]["decisionGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 6, "{groups:?}");
    assert_eq!(
        groups[0],
        json!({"decisionGroupIndex": 0, "decisionGroupName": "canary", "decisions": ["grouped-decision-1"], "clusterCount": 10})
    );
    assert_eq!(
        groups[5],
        json!({"decisionGroupIndex": 5, "decisionGroupName": "", "decisions": ["grouped-decision-6"], "clusterCount": 40})
    );
    let d = api.decisions("apps", "grouped");
    assert_eq!(
        d["grouped-decision-1"],
        (
            "canary".to_string(),
            "0".to_string(),
            (0..250)
                .step_by(25)
                .map(|i| format!("g{i:03}"))
                .collect::<Vec<_>>()
        )
    );
    let rest = names(0..250, true);
    assert_eq!(
        d["grouped-decision-2"],
        (String::new(), "1".to_string(), rest[0..50].to_vec())
    );
    assert_eq!(d["grouped-decision-6"].2, rest[200..240].to_vec());

    // A count, with numberOfClusters: groups of the selected clusters.
    api.placement(
        "apps",
        "counted",
        json!({"numberOfClusters": 7, "prioritizerPolicy": {"mode": "Exact"},
        "decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": 3}}}),
    );
    let p = api.settled("apps", "counted");
    let counts: Vec<i64> = p["status"]["decisionGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["clusterCount"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(counts, [3, 3, 1]);
    assert_eq!(
        api.decisions("apps", "counted")["counted-decision-3"].2,
        ["g006"]
    );

    // Fewer clusters: the stale decisions go.
    for i in 100..250 {
        labels(&api, &format!("g{i:03}"), json!({"scope": "few"}));
    }
    api.wait("all has one decision", || {
        let d = api.decisions("apps", "all");
        if d.len() == 1 && d["all-decision-1"].2.len() == 100 {
            Ok(())
        } else {
            Err(format!("{:?}", d.keys()))
        }
    });
}

/// Watches the namespace's PlacementDecisions (a stream without a client timeout).
struct Watcher {
    events: Arc<Mutex<Vec<Value>>>,
}

impl Watcher {
    fn start(hub: &Hub, ns: &str, from: &str) -> Watcher {
        let cert = hub.data_dir.join("cert");
        let ca = std::fs::read(cert.join("ca.crt")).expect("ca");
        let mut pem = std::fs::read(cert.join("admin.crt")).expect("crt");
        pem.extend(std::fs::read(cert.join("admin.key")).expect("key"));
        let http = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
            .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
            .timeout(None)
            .build()
            .expect("client");
        let url = hub.url(&format!(
            "{}?watch=true&resourceVersion={from}&timeoutSeconds=600",
            support::decisions(ns)
        ));
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = events.clone();
        let response = http.get(url).send().expect("watch");
        assert!(response.status().is_success());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(response).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Ok(mut e) = sink.lock()
                {
                    e.push(v);
                }
            }
        });
        Watcher { events }
    }

    fn len(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Replays events `from..` onto `state` (decision name → clusters), checking after
    /// each one that every cluster of `kept` is in some decision of `placement`.
    fn replay(
        &self,
        from: usize,
        placement: &str,
        state: &mut BTreeMap<String, Vec<String>>,
        kept: &BTreeSet<String>,
    ) -> usize {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        for (i, event) in events.iter().enumerate().skip(from) {
            let obj = &event["object"];
            if obj["metadata"]["labels"][support::PLACEMENT_LABEL] != placement {
                continue;
            }
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            match event["type"].as_str() {
                Some("DELETED") => {
                    state.remove(&name);
                }
                Some("ADDED" | "MODIFIED") => {
                    let clusters = obj["status"]["decisions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c["clusterName"].as_str().unwrap_or("").to_string())
                        .collect();
                    state.insert(name, clusters);
                }
                _ => continue,
            }
            let all: BTreeSet<&String> = state.values().flatten().collect();
            let lost: Vec<&String> = kept.iter().filter(|c| !all.contains(c)).collect();
            assert!(
                lost.is_empty(),
                "after event {i} ({} {}), kept clusters {lost:?} are in no decision",
                event["type"],
                obj["metadata"]["name"]
            );
        }
        events.len()
    }
}

#[test]
fn decisions_never_drop_a_kept_cluster_while_they_move() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(tmp.path(), None);
    let api = api(&hub);
    api.namespace("apps");
    api.label_set("atomic", json!({"matchLabels": {"scope": "atomic"}}));
    api.binding("apps", "atomic");
    // 110 even and 110 odd: each group needs two PlacementDecisions.
    for i in 1..=220 {
        api.cluster(
            &Cluster::new(&format!("a{i:03}"))
                .label("scope", "atomic")
                .label("zone", if i % 2 == 0 { "even" } else { "odd" }),
        );
    }
    api.placement("apps", "p", json!({"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": "100%",
        "decisionGroups": [{"groupName": "even", "groupClusterSelector": {"labelSelector": {"matchLabels": {"zone": "even"}}}}]}}}));
    api.settled("apps", "p");
    let list = api.get(&support::decisions("apps")).expect("list");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let watcher = Watcher::start(&hub, "apps", &rv);
    let mut state: BTreeMap<String, Vec<String>> = api
        .decisions("apps", "p")
        .into_iter()
        .map(|(k, v)| (k, v.2))
        .collect();
    let mut seen = 0;
    let current = |api: &Api| api.selected("apps", "p");

    // Each change moves clusters between PlacementDecisions: a cluster sorting first
    // shifts every object; a relabelled one moves between groups (both ways); one
    // leaving shifts back.
    type Change = Box<dyn Fn(&Api)>;
    let changes: Vec<Change> = vec![
        Box::new(|api| {
            api.cluster(
                &Cluster::new("a000")
                    .label("scope", "atomic")
                    .label("zone", "odd"),
            )
        }),
        Box::new(|api| labels(api, "a001", json!({"scope": "atomic", "zone": "even"}))),
        Box::new(|api| labels(api, "a002", json!({"scope": "atomic", "zone": "odd"}))),
        Box::new(|api| labels(api, "a000", json!({"scope": "gone"}))),
        Box::new(|api| {
            api.cluster(
                &Cluster::new("a0001")
                    .label("scope", "atomic")
                    .label("zone", "even"),
            )
        }),
    ];
    for (n, change) in changes.iter().enumerate() {
        let before = current(&api);
        let layout_before = api.decisions("apps", "p");
        change(&api);
        // Settled: the decisions changed and agree with the status again.
        api.wait(&format!("change {n} is scheduled"), || {
            api.settled("apps", "p");
            let layout = api.decisions("apps", "p");
            let count: usize = layout.values().map(|d| d.2.len()).sum();
            let distinct: BTreeSet<&String> = layout.values().flat_map(|d| d.2.iter()).collect();
            if layout != layout_before && count == distinct.len() {
                Ok(())
            } else {
                Err(format!("{count} decisions"))
            }
        });
        let after = current(&api);
        let kept: BTreeSet<String> = before.intersection(&after).cloned().collect();
        // The watch delivers every event up to the settled state.
        let want: BTreeMap<String, Vec<String>> = api
            .decisions("apps", "p")
            .into_iter()
            .map(|(k, v)| (k, v.2))
            .collect();
        api.wait("the watch caught up", || {
            let mut probe = state.clone();
            watcher.replay(seen, "p", &mut probe, &BTreeSet::new());
            if probe == want {
                Ok(())
            } else {
                Err(format!("{} events", watcher.len()))
            }
        });
        seen = watcher.replay(seen, "p", &mut state, &kept);
        assert_eq!(state, want);
    }
}

#[test]
fn cluster_profiles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = hub(
        tmp.path(),
        Some(json!({"controllers": {"featureGates": {"ClusterProfile": true}}})),
    );
    let api = api(&hub);
    api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterprofiles.multicluster.x-k8s.io").expect("the CRD is installed with the gate");
    api.exclusive_set("blue");
    api.exclusive_set("red");
    api.cluster(
        &Cluster::new("p1")
            .label(support::SET_LABEL, "blue")
            .claim("id.k8s.io", "p1-id")
            .claim("platform", "AWS"),
    );
    api.cluster(&Cluster::new("p2").label(support::SET_LABEL, "red"));
    api.namespace("team");
    api.binding("team", "blue");
    let profile = |name: &str| api.get(&format!("{}/{name}", support::profiles("team")));
    let p1 = api.wait("p1's profile has its status", || {
        let p = profile("p1").ok_or("no profile")?;
        if condition(&p, "Joined").is_some()
            && p["metadata"]["labels"]["multicluster.x-k8s.io/clusterset"] == "blue"
        {
            Ok(p)
        } else {
            Err(p.to_string())
        }
    });
    assert_eq!(
        p1["spec"],
        json!({"displayName": "p1", "clusterManager": {"name": "open-cluster-management"}})
    );
    assert_eq!(
        p1["metadata"]["labels"],
        json!({"x-k8s.io/cluster-manager": "open-cluster-management",
        "open-cluster-management.io/cluster-name": "p1", "multicluster.x-k8s.io/clusterset": "blue"})
    );
    assert_eq!(p1["status"]["version"], json!({"kubernetes": "v1.30.0"}));
    assert_eq!(
        p1["status"]["properties"],
        json!([{"name": "id.k8s.io", "value": "p1-id"}, {"name": "platform", "value": "AWS"}])
    );
    assert_eq!(
        condition(&p1, "ControlPlaneHealthy"),
        Some((
            "True".into(),
            "ManagedClusterAvailable".into(),
            "test".into()
        ))
    );
    assert!(profile("p2").is_none(), "red is not bound to team");

    // Another bound set; a status change; a cluster leaving the set; a binding going.
    api.binding("team", "red");
    api.wait("p2's profile", || {
        profile("p2").map(|_| ()).ok_or("none".to_string())
    });
    let mut changed = Cluster::new("p1").claim("id.k8s.io", "p1-id");
    changed.available = false;
    api.set_cluster_status(&changed);
    api.wait("p1's profile follows the cluster", || {
        let p = profile("p1").ok_or("no profile")?;
        let healthy = condition(&p, "ControlPlaneHealthy").map(|c| c.0);
        if healthy.as_deref() == Some("Unknown")
            && p["status"]["properties"].as_array().map(Vec::len) == Some(1)
        {
            Ok(())
        } else {
            Err(p.to_string())
        }
    });
    labels(
        &api,
        "p2",
        json!({"cluster.open-cluster-management.io/clusterset": "green"}),
    );
    api.wait("p2's profile goes with it leaving red", || {
        if profile("p2").is_none() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    labels(
        &api,
        "p2",
        json!({"cluster.open-cluster-management.io/clusterset": "red"}),
    );
    api.wait("p2's profile is back", || {
        profile("p2").map(|_| ()).ok_or("none".to_string())
    });
    api.delete(&format!("{}/red", support::bindings("team")));
    api.wait("p2's profile goes with the binding", || {
        if profile("p2").is_none() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    api.delete(&format!("{CLUSTERS}/p1"));
    api.wait("p1's profile goes with the cluster", || {
        if profile("p1").is_none() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
}
