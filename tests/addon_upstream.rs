//! Our add-on manager against upstream's: a real kube-apiserver runs upstream OCM's
//! add-on manager, placement and registration controllers (`common::ocm_hub`), and both
//! hubs get the same clusters, placement, AddOnTemplate, AddOnDeploymentConfig and
//! ClusterManagementAddOn (`Placements` strategy). Both must produce the same objects:
//! which clusters get the add-on, its owner, config references with their spec hashes,
//! registrations, install namespace, supported configs, health mode and conditions; the
//! deploy work (name, labels, spec-hash annotation, manifests, feedback rules); the hub
//! RoleBindings; and the CMA's status. Then the works are answered the same way on both
//! hubs (applied, the Deployment ready in its feedback), and after that a config change;
//! both hubs must agree again each time.
//!
//! Prerequisites: `hack/install-kube-peer.sh` and `hack/install-ocm-hub.sh`.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::addon::{ADDONS, cma, hello_configs, template};
use common::kube_peer::{self, KubePeer};
use common::ocm_hub::{self, OcmHub};
use common::{ApiServer, Hub};
use serde_json::{Value, json};
use support::{Api, Cluster};

const TEST: &str = "addon_upstream";
const NS: &str = "addons";
const CLUSTERS: [&str; 3] = ["c0", "c1", "c2"];
const WORKS: &str = "/apis/work.open-cluster-management.io/v1/manifestworks";

fn set_up(api: &Api, upstream: bool) {
    for name in CLUSTERS {
        api.cluster(
            &Cluster::new(name).label("cluster.open-cluster-management.io/clusterset", "fleet"),
        );
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
    api.namespace(NS);
    api.binding(NS, "fleet");
    api.placement(NS, "two", json!({"numberOfClusters": 2}));
    api.settled(NS, "two");
    let mut tpl = template("hello-v1");
    tpl["spec"]["registration"][0]["kubeClient"]["hubPermissions"]
        .as_array_mut()
        .expect("permissions")
        .push(json!({"type": "SingleNamespace", "singleNamespace": {"namespace": NS,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hello-reader"}}}));
    api.create(&format!("{ADDONS}/addontemplates"), &tpl);
    api.create(
        &format!("{ADDONS}/namespaces/{NS}/addondeploymentconfigs"),
        &json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "AddOnDeploymentConfig",
            "metadata": {"name": "hello-config", "namespace": NS},
            "spec": {"customizedVariables": [{"name": "LEVEL", "value": "debug"}],
                "nodePlacement": {"nodeSelector": {"zone": "a"}},
                "registries": [{"source": "quay.io/example", "mirror": "mirror.local/example"}]}}),
    );
    api.create(
        &format!("{ADDONS}/clustermanagementaddons"),
        &cma(
            "hello",
            json!({"type": "Placements", "placements": [{"namespace": NS, "name": "two"}]}),
            hello_configs("hello-v1", Some((NS, "hello-config"))),
        ),
    );
}

/// JSON without nulls and empty objects or lists (upstream's typed round trip adds
/// `creationTimestamp: null`, `resources: {}` and the like).
fn pruned(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), pruned(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(pruned).collect()),
        v => v.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn conditions(v: &Value) -> BTreeMap<String, Value> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or("").to_string(),
                json!([c["status"], c["reason"]]),
            )
        })
        .collect()
}

/// Everything compared, from one hub; `Err` until the add-ons have their configs.
fn observed(api: &Api) -> Result<Value, String> {
    let mut addons = BTreeMap::new();
    for cluster in CLUSTERS {
        let Some(a) = api.get(&common::addon::mca_path(cluster, "hello")) else {
            continue;
        };
        let status = &a["status"];
        if status["configReferences"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            return Err(format!("{cluster}: no configReferences yet: {status}"));
        }
        let mut supported: Vec<Value> = status["supportedConfigs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        supported.sort_by_key(Value::to_string);
        let owner = &a["metadata"]["ownerReferences"][0];
        let work = api
            .get(&format!(
                "/apis/work.open-cluster-management.io/v1/namespaces/{cluster}/manifestworks/addon-hello-deploy-0"
            ))
            .map(|w| {
                let mut manifest_configs: Vec<Value> = w["spec"]["manifestConfigs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                manifest_configs.sort_by_key(Value::to_string);
                let hashes: Value = w["metadata"]["annotations"]
                    ["open-cluster-management.io/config-spec-hash"]
                    .as_str()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or(Value::Null);
                json!({"labels": w["metadata"]["labels"], "specHashes": hashes,
                    "owner": [w["metadata"]["ownerReferences"][0]["kind"], w["metadata"]["ownerReferences"][0]["name"]],
                    "manifests": pruned(&w["spec"]["workload"]["manifests"]),
                    "manifestConfigs": manifest_configs})
            });
        let bindings: BTreeMap<String, Value> = [cluster, NS]
            .iter()
            .flat_map(|ns| {
                api.list(
                    &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
                    Some("open-cluster-management.io/addon-name=hello"),
                )
            })
            .map(|b| {
                let ns = b["metadata"]["namespace"].as_str().unwrap_or("");
                // A `SingleNamespace` binding has one name for every cluster, so the
                // cluster reconciled last owns its subjects, on both hubs alike.
                let subjects = if ns == NS { Value::Null } else { b["subjects"].clone() };
                (
                    format!("{ns}/{}", b["metadata"]["name"].as_str().unwrap_or("")),
                    json!({"roleRef": b["roleRef"], "subjects": subjects, "labels": b["metadata"]["labels"]}),
                )
            })
            .collect();
        let mut conditions = conditions(&a);
        // Upstream's health probe runs on the add-on's events and reads works from its
        // informer: one that ran before the new work reached the informer says
        // `WorkNotFound` until the add-on changes again (seen once in CI, for 90 s). A
        // hub that reports the work itself cannot mean that; not compared.
        if work.is_some()
            && conditions.get("Available") == Some(&json!(["Unknown", "WorkNotFound"]))
        {
            conditions.remove("Available");
        }
        addons.insert(
            cluster.to_string(),
            json!({
                "owner": [owner["kind"], owner["name"], owner["controller"]],
                "configReferences": status["configReferences"],
                "registrations": status["registrations"],
                "namespace": status["namespace"],
                "supportedConfigs": supported,
                "healthCheck": status["healthCheck"],
                "conditions": conditions,
                "work": work,
                "roleBindings": bindings,
            }),
        );
    }
    let c = api
        .get(&format!("{ADDONS}/clustermanagementaddons/hello"))
        .ok_or("no CMA")?;
    let progressions: Vec<Value> = c["status"]["installProgressions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"placement": [p["namespace"], p["name"]], "configReferences": p["configReferences"],
            "conditions": conditions(&json!({"status": p}))}))
        .collect();
    Ok(
        json!({"addons": addons, "cma": {"defaultconfigReferences": c["status"]["defaultconfigReferences"],
        "installProgressions": progressions}}),
    )
}

/// What an agent would report for every deploy work: applied and available, the add-on's
/// Deployment ready in its feedback.
fn acknowledge_works(api: &Api) {
    for w in api.list(WORKS, Some("open-cluster-management.io/addon-name=hello")) {
        let generation = w["metadata"]["generation"].clone();
        let c = |t: &str| {
            json!({"type": t, "status": "True", "reason": "Test", "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation})
        };
        let mut next = w.clone();
        next["status"] = json!({"conditions": [c("Applied"), c("Available")],
            "resourceStatus": {"manifests": [{"resourceMeta": {"ordinal": 1, "group": "apps", "version": "v1",
                "kind": "Deployment", "resource": "deployments", "name": "hello-agent", "namespace": "hello-ns"},
                "statusFeedback": {"values": [
                    {"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 1}},
                    {"name": "Replicas", "fieldValue": {"type": "Integer", "integer": 1}},
                    {"name": "AvailableReplicas", "fieldValue": {"type": "Integer", "integer": 1}}]},
                "conditions": []}]}});
        let path = format!(
            "/apis/work.open-cluster-management.io/v1/namespaces/{}/manifestworks/{}/status",
            w["metadata"]["namespace"].as_str().unwrap_or(""),
            w["metadata"]["name"].as_str().unwrap_or("")
        );
        let (code, body) = api.call("PUT", &path, Some(&next), "application/json");
        assert!((200..300).contains(&code), "PUT {path}: {code} {body}");
    }
}

#[test]
fn template_addons_agree_with_upstream() {
    if !kube_peer::available(TEST) || !ocm_hub::available(TEST) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let peer = KubePeer::start(&dir.join("peer"));
    let upstream = OcmHub::start_only(
        &peer,
        &dir.join("ocm-hub"),
        &["registration", "placement", "addon"],
    );
    let mut ours = Hub::start(&dir.join("ours"), &[]);
    ours.wait_ready();
    let theirs = Api::new(&peer as &dyn ApiServer, Duration::from_secs(120));
    let mine = Api::new(&ours as &dyn ApiServer, Duration::from_secs(120));
    set_up(&theirs, true);
    set_up(&mine, false);

    let mut mismatches = Vec::new();
    let mut settle = |what: &str| match mine.agrees_with(&theirs, Duration::from_secs(90), observed)
    {
        Ok(v) => Some(v),
        Err(e) => {
            mismatches.push(format!("{what}:{e}"));
            None
        }
    };
    let installed = settle("installed");
    if let Some(v) = &installed {
        assert_eq!(v["addons"].as_object().map(|m| m.len()), Some(2), "{v}");
    }
    acknowledge_works(&theirs);
    acknowledge_works(&mine);
    settle("after the works are answered");
    for api in [&theirs, &mine] {
        api.merge(
            &format!("{ADDONS}/namespaces/{NS}/addondeploymentconfigs/hello-config"),
            &json!({"spec": {"customizedVariables": [{"name": "LEVEL", "value": "info"}]}}),
        );
    }
    settle("after a config change");
    drop(upstream);
    assert!(
        mismatches.is_empty(),
        "our add-on manager differs from upstream's:\n{}",
        mismatches.join("\n")
    );
}
