//! Our agent against a real upstream OCM hub: kube peer A runs upstream's hub controllers
//! (`common::ocm_hub`, ocm v1.2.0), kube peer B is the managed cluster (a real
//! kube-apiserver, controller-manager, scheduler and kwok). The agent joins A with a
//! bootstrap token, `clusteradm accept` lets it in, and a ManifestWork created on A is
//! applied on B by our agent, reported back (conditions and WellKnownStatus feedback) and
//! removed from B when it is deleted on A.
//!
//! Prerequisites: `hack/install-kube-peer.sh` (kube-peer), `hack/install-ocm-hub.sh`
//! (ocm-hub, and through `hack/install-go-peers.sh` clusteradm and the ocm module), and
//! kubectl (`$KUBECTL`).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::kube_peer::{self, KubePeer};
use common::ocm_hub::{self, OcmHub};
use serde_json::{Value, json};

const TEST: &str = "upstream_hub";
const CLUSTER: &str = "c1";
const WORK: &str = "upstream-work";
const APP_NS: &str = "upstream-app";

/// How long one step may take: several real control planes and controllers share the
/// two cores of a CI machine, often with a cargo build.
const STEP: Duration = Duration::from_secs(180);

/// Everything a failure message needs: the agent's and the hub controllers' log tails.
struct Scene<'a> {
    hub_peer: &'a KubePeer,
    managed: &'a KubePeer,
    hub: &'a mut OcmHub,
    agent: &'a mut Child,
    agent_log: &'a Path,
}

impl Scene<'_> {
    fn diagnostics(&self) -> String {
        let agent = std::fs::read_to_string(self.agent_log).unwrap_or_default();
        let lines: Vec<&str> = agent.lines().collect();
        let from = lines.len().saturating_sub(60);
        format!(
            "----- our agent ({}, last {} lines) -----\n{}\n{}",
            self.agent_log.display(),
            lines.len() - from,
            lines[from..].join("\n"),
            self.hub.logs()
        )
    }

    /// Polls `check` every second until it returns `Some`; panics after [`STEP`] with
    /// `what`, the last observation `show` renders and the logs. Also panics at once when
    /// the agent or a hub controller exits.
    fn wait<T>(&mut self, what: &str, mut check: impl FnMut(&Self) -> Result<T, String>) -> T {
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(Some(status)) = self.agent.try_wait() {
                panic!(
                    "our agent exited ({status}) while waiting until {what}\n{}",
                    self.diagnostics()
                );
            }
            self.hub.check_running();
            let last = match check(self) {
                Ok(v) => return v,
                Err(last) => last,
            };
            if Instant::now() > deadline {
                panic!(
                    "timed out after {STEP:?} waiting until {what}; last seen:\n{last}\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// `kubectl get ARGS -o json` on `peer`: the object, or the error text (e.g. NotFound).
fn get(peer: &KubePeer, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let out = peer.kubectl(&all);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))
}

/// The status of condition `type_` of `obj`.
fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a str> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["status"]
        .as_str()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Gone: `kubectl get` says NotFound.
fn gone(peer: &KubePeer, args: &[&str]) -> Result<(), String> {
    match get(peer, args) {
        Err(e) if e.contains("NotFound") => Ok(()),
        Err(e) => Err(e),
        Ok(obj) => Err(pretty(&obj)),
    }
}

/// The ManifestWork: a namespace, a ConfigMap and a two-replica Deployment, with a
/// WellKnownStatus feedback rule on the Deployment.
fn manifest_work() -> Value {
    let labels = json!({"app": "web"});
    json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {"name": WORK, "namespace": CLUSTER},
        "spec": {
            "workload": {"manifests": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}},
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "settings", "namespace": APP_NS},
                 "data": {"greeting": "hello from the upstream hub"}},
                {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "web", "namespace": APP_NS},
                 "spec": {"replicas": 2,
                          "selector": {"matchLabels": labels},
                          "template": {"metadata": {"labels": labels},
                                       "spec": {"terminationGracePeriodSeconds": 1,
                                                "containers": [{
                                           "name": "web",
                                           // kwok runs no containers: the image is never pulled.
                                           "image": "registry.invalid/web:1"}]}}}}
            ]},
            "manifestConfigs": [{
                "resourceIdentifier": {"group": "apps", "resource": "deployments",
                                       "namespace": APP_NS, "name": "web"},
                "feedbackRules": [{"type": "WellKnownStatus"}]
            }]
        }
    })
}

/// The value of feedback `name` of the Deployment in the ManifestWork's status.
fn feedback(work: &Value, name: &str) -> Option<Value> {
    work.pointer("/status/resourceStatus/manifests")?
        .as_array()?
        .iter()
        .find(|m| m.pointer("/resourceMeta/kind") == Some(&json!("Deployment")))?
        .pointer("/statusFeedback/values")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
        .map(|v| v["fieldValue"].clone())
}

#[test]
fn our_agent_joins_an_upstream_hub_and_applies_work() {
    if !kube_peer::available(TEST) || !ocm_hub::available(TEST) {
        return;
    }
    let clusteradm = ocm_hub::tool("CLUSTERADM", "clusteradm");
    if !clusteradm.is_file() {
        common::skip(
            TEST,
            &format!(
                "clusteradm not found at {}; run hack/install-go-peers.sh (or set CLUSTERADM)",
                clusteradm.display()
            ),
        );
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();

    // Two real control planes at once (each waits for its own components).
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| KubePeer::start(&dir.join("hub-peer")));
        let b = KubePeer::start(&dir.join("managed-peer"));
        (a.join().expect("hub peer"), b)
    });
    eprintln!("kube peers up in {:?}", started.elapsed());

    let mut hub = OcmHub::start(&a, &dir.join("ocm-hub"));
    eprintln!("upstream OCM hub up in {:?}", started.elapsed());

    // The token Secret has the shape clusteradm looks for.
    let token = hub.bootstrap_token();
    let clusteradm_run = |args: &[&str]| -> String {
        let out = Command::new(&clusteradm)
            .arg("--kubeconfig")
            .arg(a.kubeconfig())
            .args(args)
            .output()
            .expect("run clusteradm");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "clusteradm {args:?} failed:\n{text}");
        text
    };
    let printed = clusteradm_run(&["get", "token", "--use-bootstrap-token"]);
    assert!(
        printed.contains(&format!("token={token}")),
        "clusteradm get token --use-bootstrap-token does not show our token {token}:\n{printed}"
    );

    // Our agent, joining A for the cluster B.
    let agent_dir = dir.join("agent");
    std::fs::create_dir_all(&agent_dir).expect("agent dir");
    let agent_log = dir.join("agent.log");
    let log_file = std::fs::File::create(&agent_log).expect("agent log");
    let mut agent = Command::new(common::bin())
        .args(["agent", "--cluster-name", CLUSTER, "--hub-url", hub.url()])
        .args(["--token", &token])
        .arg("--hub-ca-file")
        .arg(hub.ca_file())
        .arg("--hub-kubeconfig-dir")
        .arg(&agent_dir)
        .arg("--managed-kubeconfig")
        .arg(b.kubeconfig())
        .args(["--status-sync-seconds", "2"])
        .env("RUST_LOG", "info,kube_client=error")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file)
        .spawn()
        .expect("start our agent");
    let mut scene = Scene {
        hub_peer: &a,
        managed: &b,
        hub: &mut hub,
        agent: &mut agent,
        agent_log: &agent_log,
    };

    // Registration: the ManagedCluster and a CSR from the bootstrap identity.
    scene.wait(
        "our agent created ManagedCluster c1 and a CSR on the upstream hub",
        |s| {
            let mc = get(s.hub_peer, &["managedcluster", CLUSTER])?;
            let csrs = get(
                s.hub_peer,
                &[
                    "csr",
                    "-l",
                    &format!("open-cluster-management.io/cluster-name={CLUSTER}"),
                ],
            )?;
            match csrs["items"].as_array() {
                Some(items) if !items.is_empty() => Ok(()),
                _ => Err(format!(
                    "no CSR labelled with the cluster name yet; ManagedCluster:\n{}",
                    pretty(&mc)
                )),
            }
        },
    );
    eprintln!("registered at {:?}", started.elapsed());

    let accepted = clusteradm_run(&["accept", "--clusters", CLUSTER]);
    eprintln!("clusteradm accept:\n{accepted}");

    let cluster = scene.wait(
        "ManagedCluster c1 is ManagedClusterConditionAvailable=True",
        |s| {
            let mc = get(s.hub_peer, &["managedcluster", CLUSTER])?;
            if condition(&mc, "ManagedClusterConditionAvailable") == Some("True") {
                Ok(mc)
            } else {
                Err(pretty(&mc))
            }
        },
    );
    for type_ in ["HubAcceptedManagedCluster", "ManagedClusterJoined"] {
        assert_eq!(
            condition(&cluster, type_),
            Some("True"),
            "condition {type_} of the available cluster:\n{}",
            pretty(&cluster)
        );
    }
    eprintln!("available at {:?}", started.elapsed());

    // Upstream's lease, clock-sync and taint controllers agree with our agent: its lease is
    // fresh, its clock in sync, and the unavailable/unreachable taints are gone.
    scene.wait(
        "ManagedCluster c1 is ClockSynced and has no taints left",
        |s| {
            let mc = get(s.hub_peer, &["managedcluster", CLUSTER])?;
            let taints = mc.pointer("/spec/taints").and_then(Value::as_array);
            if condition(&mc, "ManagedClusterConditionClockSynced") == Some("True")
                && taints.is_none_or(|t| t.is_empty())
            {
                Ok(())
            } else {
                Err(pretty(&mc))
            }
        },
    );

    // Upstream's placement controller picks the cluster through the `global` set that
    // upstream's registration controller made.
    let placement = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "placements"}},
        {"apiVersion": "cluster.open-cluster-management.io/v1beta2",
         "kind": "ManagedClusterSetBinding",
         "metadata": {"name": "global", "namespace": "placements"},
         "spec": {"clusterSet": "global"}},
        {"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
         "metadata": {"name": "one", "namespace": "placements"},
         "spec": {"numberOfClusters": 1}}
    ]});
    scene
        .hub_peer
        .kubectl_stdin_ok(&["create", "-f", "-"], &placement.to_string());
    scene.wait("upstream's placement controller selects c1", |s| {
        let list = get(
            s.hub_peer,
            &[
                "placementdecisions",
                "-n",
                "placements",
                "-l",
                "cluster.open-cluster-management.io/placement=one",
            ],
        )?;
        let chosen = list["items"].as_array().is_some_and(|items| {
            items.iter().any(|d| {
                d.pointer("/status/decisions")
                    .and_then(Value::as_array)
                    .is_some_and(|ds| ds.iter().any(|x| x["clusterName"] == CLUSTER))
            })
        });
        if chosen {
            Ok(())
        } else {
            Err(format!(
                "{}\nPlacement:\n{}",
                pretty(&list),
                get(s.hub_peer, &["placement", "one", "-n", "placements"])
                    .map(|p| pretty(&p))
                    .unwrap_or_else(|e| e)
            ))
        }
    });
    eprintln!("placed at {:?}", started.elapsed());

    // Work: created on A, applied on B by our agent.
    let out = scene
        .hub_peer
        .kubectl_stdin(&["create", "-f", "-"], &manifest_work().to_string());
    assert!(
        out.status.success(),
        "creating the ManifestWork on the upstream hub failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cm = scene.wait("the ConfigMap of the work exists on B", |s| {
        get(s.managed, &["configmap", "settings", "-n", APP_NS])
    });
    eprintln!("ConfigMap on B at {:?}", started.elapsed());
    assert_eq!(cm["data"]["greeting"], "hello from the upstream hub");
    scene.wait(
        "the Deployment of the work is Available on B with 2 ready replicas",
        |s| {
            let d = get(s.managed, &["deployment", "web", "-n", APP_NS])?;
            if condition(&d, "Available") == Some("True")
                && d.pointer("/status/readyReplicas") == Some(&json!(2))
            {
                Ok(())
            } else {
                Err(pretty(&d))
            }
        },
    );
    eprintln!("Deployment Available on B at {:?}", started.elapsed());
    let applied = scene.wait("an AppliedManifestWork for the work exists on B", |s| {
        let list = get(s.managed, &["appliedmanifestworks"])?;
        list["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|w| w.pointer("/spec/manifestWorkName") == Some(&json!(WORK)))
            })
            .cloned()
            .ok_or_else(|| pretty(&list))
    });
    eprintln!("applied on B at {:?}", started.elapsed());
    assert!(
        applied.pointer("/spec/hubHash").is_some(),
        "AppliedManifestWork without spec.hubHash:\n{}",
        pretty(&applied)
    );

    let work = scene.wait(
        "the ManifestWork on A is Applied and Available with readyReplicas 2 fed back",
        |s| {
            let w = get(s.hub_peer, &["manifestwork", WORK, "-n", CLUSTER])?;
            if condition(&w, "Applied") == Some("True")
                && condition(&w, "Available") == Some("True")
                && feedback(&w, "ReadyReplicas") == Some(json!({"type": "Integer", "integer": 2}))
            {
                Ok(w)
            } else {
                Err(pretty(&w))
            }
        },
    );
    let manifests = work
        .pointer("/status/resourceStatus/manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        manifests.len(),
        3,
        "one status per manifest:\n{}",
        pretty(&work)
    );
    for m in &manifests {
        assert_eq!(
            condition(&json!({"status": m}), "Applied"),
            Some("True"),
            "manifest status:\n{}",
            pretty(m)
        );
    }
    eprintln!("work status on A at {:?}", started.elapsed());

    // Deleting the work on A removes its objects from B, and the agent lets the
    // ManifestWork go (its finalizer).
    let out = scene.hub_peer.kubectl(&[
        "delete",
        "manifestwork",
        WORK,
        "-n",
        CLUSTER,
        "--wait=false",
    ]);
    assert!(
        out.status.success(),
        "deleting the ManifestWork failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    scene.wait(
        "the ConfigMap and Deployment of the deleted work are gone from B",
        |s| {
            gone(s.managed, &["configmap", "settings", "-n", APP_NS])?;
            gone(s.managed, &["deployment", "web", "-n", APP_NS])
        },
    );
    eprintln!("objects gone from B at {:?}", started.elapsed());
    scene.wait("the ManifestWork is gone from A", |s| {
        gone(s.hub_peer, &["manifestwork", WORK, "-n", CLUSTER])
    });
    scene.wait("the AppliedManifestWork is gone from B", |s| {
        let list = get(s.managed, &["appliedmanifestworks"])?;
        match list["items"].as_array() {
            Some(items) if items.is_empty() => Ok(()),
            _ => Err(pretty(&list)),
        }
    });
    eprintln!("cleaned up at {:?}", started.elapsed());

    let _ = agent.kill();
    let _ = agent.wait();
}
