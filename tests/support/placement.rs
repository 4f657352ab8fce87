//! What the placement tests and benchmark share: a small typed-ish HTTP client over any
//! API server (our hub or the upstream hub's kube peer), builders of the objects
//! placement reads, and readers of its results.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::ApiServer;

pub const GROUP: &str = "cluster.open-cluster-management.io";
pub const CLUSTERS: &str = "/apis/cluster.open-cluster-management.io/v1/managedclusters";
pub const SETS: &str = "/apis/cluster.open-cluster-management.io/v1beta2/managedclustersets";
pub const PLACEMENT_LABEL: &str = "cluster.open-cluster-management.io/placement";
pub const SET_LABEL: &str = "cluster.open-cluster-management.io/clusterset";

pub fn bindings(ns: &str) -> String {
    format!(
        "/apis/cluster.open-cluster-management.io/v1beta2/namespaces/{ns}/managedclustersetbindings"
    )
}
pub fn placements(ns: &str) -> String {
    format!("/apis/cluster.open-cluster-management.io/v1beta1/namespaces/{ns}/placements")
}
pub fn decisions(ns: &str) -> String {
    format!("/apis/cluster.open-cluster-management.io/v1beta1/namespaces/{ns}/placementdecisions")
}
pub fn scores(ns: &str) -> String {
    format!(
        "/apis/cluster.open-cluster-management.io/v1alpha1/namespaces/{ns}/addonplacementscores"
    )
}
pub fn profiles(ns: &str) -> String {
    format!("/apis/multicluster.x-k8s.io/v1alpha1/namespaces/{ns}/clusterprofiles")
}

/// An HTTP client of one API server, as its administrator.
pub struct Api<'a> {
    pub server: &'a dyn ApiServer,
    http: reqwest::blocking::Client,
    /// How long waits may take (the real peer is slower on a loaded machine).
    pub patience: Duration,
}

impl<'a> Api<'a> {
    pub fn new(server: &'a dyn ApiServer, patience: Duration) -> Api<'a> {
        Api {
            http: server.admin_http(),
            server,
            patience,
        }
    }

    /// A request; the status code and the JSON body (`null` when not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> (u16, Value) {
        self.call_as(None, method, path, body, content_type)
    }

    /// [`Api::call`] impersonating `user` when given.
    pub fn call_as(
        &self,
        user: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> (u16, Value) {
        let url = self.server.api_url(path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        for attempt in 0..5 {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(u) = user {
                req = req.header("Impersonate-User", u);
            }
            if let Some(b) = body {
                req = req.header("Content-Type", content_type).body(b.to_string());
            }
            match req.send() {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let text = r.text().unwrap_or_default();
                    return (
                        code,
                        serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    );
                }
                Err(e) if attempt < 4 => eprintln!("{method} {path}: {e}; retrying"),
                Err(e) => panic!("{method} {path}: {e}"),
            }
        }
        unreachable!()
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>, content_type: &str) -> Value {
        let (code, v) = self.call(method, path, body, content_type);
        assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
        v
    }

    pub fn create(&self, collection: &str, body: &Value) -> Value {
        self.ok("POST", collection, Some(body), "application/json")
    }

    /// Creates, or does nothing when it exists.
    pub fn ensure(&self, collection: &str, body: &Value) {
        let (code, v) = self.call("POST", collection, Some(body), "application/json");
        assert!(
            (200..300).contains(&code) || code == 409,
            "POST {collection}: {code} {v}"
        );
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        let (code, v) = self.call("GET", path, None, "");
        match code {
            404 => None,
            c if (200..300).contains(&c) => Some(v),
            c => panic!("GET {path}: {c} {v}"),
        }
    }

    pub fn list(&self, collection: &str, selector: Option<&str>) -> Vec<Value> {
        let path = match selector {
            Some(s) => format!("{collection}?labelSelector={}", urlencode(s)),
            None => collection.to_string(),
        };
        self.get(&path)
            .and_then(|l| l["items"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn merge(&self, path: &str, patch: &Value) -> Value {
        self.ok("PATCH", path, Some(patch), "application/merge-patch+json")
    }

    pub fn delete(&self, path: &str) {
        let (code, v) = self.call("DELETE", path, None, "");
        assert!(
            (200..300).contains(&code) || code == 404,
            "DELETE {path}: {code} {v}"
        );
    }

    /// Polls `check` every 50 ms until it returns `Some`; panics with `what` and the last
    /// observation after the patience runs out.
    pub fn wait<T>(&self, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + self.patience;
        loop {
            match check() {
                Ok(v) => return v,
                Err(last) => {
                    if Instant::now() > deadline {
                        panic!(
                            "timed out after {:?} waiting until {what}; last seen: {last}",
                            self.patience
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `observe` gives the same settled state on this hub and on `theirs`
    /// (each hub's controllers run on their own schedule); the state, or both last
    /// observations when they never agree within `patience`.
    pub fn agrees_with(
        &self,
        theirs: &Api,
        patience: Duration,
        observe: impl Fn(&Api) -> Result<Value, String>,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + patience;
        loop {
            let (a, b) = (observe(self), observe(theirs));
            match (&a, &b) {
                (Ok(a), Ok(b)) if a == b => return Ok(a.clone()),
                _ if Instant::now() > deadline => {
                    let show = |r: &Result<Value, String>| match r {
                        Ok(v) => v.to_string(),
                        Err(e) => format!("(not settled) {e}"),
                    };
                    return Err(format!(
                        "\n  ours:     {}\n  upstream: {}",
                        show(&a),
                        show(&b)
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    // ------------------------------------------------------------------------------
    // Builders.

    pub fn namespace(&self, ns: &str) {
        self.ensure(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }

    /// A cluster with labels, then its status (claims, resources, conditions).
    pub fn cluster(&self, c: &Cluster) {
        let mut obj = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": c.name, "labels": c.labels},
            "spec": {"hubAcceptsClient": false, "taints": c.taints}});
        if c.taints.is_empty() {
            obj["spec"].as_object_mut().expect("spec").remove("taints");
        }
        self.create(CLUSTERS, &obj);
        self.set_cluster_status(c);
    }

    /// Writes a cluster's status (claims, allocatable and capacity, Available and Joined),
    /// on the current object (the hub's controllers write the cluster too).
    pub fn set_cluster_status(&self, c: &Cluster) {
        for _ in 0..10 {
            let current = self
                .get(&format!("{CLUSTERS}/{}", c.name))
                .expect("the cluster exists");
            let (code, v) = self.call(
                "PUT",
                &format!("{CLUSTERS}/{}/status", c.name),
                Some(&self.status_of(current, c)),
                "application/json",
            );
            match code {
                409 => continue,
                c if (200..300).contains(&c) => return,
                c => panic!("PUT status: {c} {v}"),
            }
        }
        panic!("the status of {} kept conflicting", c.name);
    }

    fn status_of(&self, current: Value, c: &Cluster) -> Value {
        let now = "2024-01-01T00:00:00Z";
        let mut obj = current;
        let mut status = json!({
            "conditions": [
                {"type": "ManagedClusterConditionAvailable", "status": if c.available { "True" } else { "Unknown" },
                 "reason": "ManagedClusterAvailable", "message": "test", "lastTransitionTime": now},
                {"type": "ManagedClusterJoined", "status": "True", "reason": "ManagedClusterJoined",
                 "message": "test", "lastTransitionTime": now}],
            "clusterClaims": c.claims.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "version": {"kubernetes": "v1.30.0"},
        });
        if let Some((cpu, mem)) = &c.resources {
            status["allocatable"] = json!({"cpu": cpu, "memory": mem});
            status["capacity"] = json!({"cpu": cpu, "memory": mem});
        }
        obj["status"] = status;
        obj
    }

    pub fn label_set(&self, name: &str, selector: Value) {
        self.create(SETS, &json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSet",
            "metadata": {"name": name}, "spec": {"clusterSelector": {"selectorType": "LabelSelector", "labelSelector": selector}}}));
    }

    pub fn exclusive_set(&self, name: &str) {
        self.create(SETS, &json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSet",
            "metadata": {"name": name}, "spec": {"clusterSelector": {"selectorType": "ExclusiveClusterSetLabel"}}}));
    }

    pub fn binding(&self, ns: &str, set: &str) {
        self.create(&bindings(ns), &json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2",
            "kind": "ManagedClusterSetBinding", "metadata": {"name": set, "namespace": ns}, "spec": {"clusterSet": set}}));
    }

    pub fn placement(&self, ns: &str, name: &str, spec: Value) -> Value {
        self.create(
            &placements(ns),
            &json!({"apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "Placement", "metadata": {"name": name, "namespace": ns}, "spec": spec}),
        )
    }

    /// An AddOnPlacementScore `name` of `cluster` (in the cluster's namespace).
    pub fn score(
        &self,
        cluster: &str,
        name: &str,
        values: &[(&str, i64)],
        valid_until: Option<&str>,
    ) {
        self.namespace(cluster);
        let path = format!("{}/{name}", scores(cluster));
        let current = match self.get(&path) {
            Some(c) => c,
            None => self.create(
                &scores(cluster),
                &json!({"apiVersion": "cluster.open-cluster-management.io/v1alpha1",
                "kind": "AddOnPlacementScore", "metadata": {"name": name, "namespace": cluster}}),
            ),
        };
        let mut obj = current;
        obj["status"] = json!({"scores": values.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()});
        if let Some(t) = valid_until {
            obj["status"]["validUntil"] = json!(t);
        }
        self.ok(
            "PUT",
            &format!("{path}/status"),
            Some(&obj),
            "application/json",
        );
    }

    // ------------------------------------------------------------------------------
    // Readers.

    /// The placement's PlacementDecisions: name → (group name, group index, clusters).
    pub fn decisions(
        &self,
        ns: &str,
        placement: &str,
    ) -> BTreeMap<String, (String, String, Vec<String>)> {
        self.list(
            &decisions(ns),
            Some(&format!("{PLACEMENT_LABEL}={placement}")),
        )
        .iter()
        .map(|d| {
            let label = |k: &str| {
                d["metadata"]["labels"][k]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            };
            (
                d["metadata"]["name"].as_str().unwrap_or("").to_string(),
                (
                    label("cluster.open-cluster-management.io/decision-group-name"),
                    label("cluster.open-cluster-management.io/decision-group-index"),
                    d["status"]["decisions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c["clusterName"].as_str().unwrap_or("").to_string())
                        .collect(),
                ),
            )
        })
        .collect()
    }

    /// Every cluster the placement's decisions hold.
    pub fn selected(&self, ns: &str, placement: &str) -> BTreeSet<String> {
        self.decisions(ns, placement)
            .into_values()
            .flat_map(|(_, _, c)| c)
            .collect()
    }

    pub fn get_placement(&self, ns: &str, name: &str) -> Option<Value> {
        self.get(&format!("{}/{name}", placements(ns)))
    }

    /// Waits until the placement has a status and decisions agreeing with it (what both
    /// upstream and our scheduler write last), and returns the placement.
    pub fn settled(&self, ns: &str, name: &str) -> Value {
        self.settled_where(ns, name, |_| Ok(()))
    }

    /// As [`Api::settled`], also waiting for `check` to accept the placement.
    pub fn settled_where(
        &self,
        ns: &str,
        name: &str,
        check: impl Fn(&Value) -> Result<(), String>,
    ) -> Value {
        self.wait(&format!("placement {ns}/{name} is scheduled"), || {
            let p = self.get_placement(ns, name).ok_or("no placement")?;
            check(&p)?;
            // Upstream patches status fields that changed: a 0 it never wrote is absent.
            let n = p["status"]["numberOfSelectedClusters"]
                .as_u64()
                .unwrap_or(0);
            if condition(&p, "PlacementSatisfied").is_none() {
                return Err(format!("no PlacementSatisfied: {p}"));
            }
            let decisions = self.decisions(ns, name);
            let in_status: BTreeSet<String> = p["status"]["decisionGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["decisions"].as_array().cloned().unwrap_or_default())
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect();
            let names: BTreeSet<String> = decisions.keys().cloned().collect();
            let count: usize = decisions.values().map(|d| d.2.len()).sum();
            if names != in_status || count as u64 != n {
                return Err(format!("decisions {decisions:?} vs status {}", p["status"]));
            }
            Ok(p)
        })
    }
}

/// A ManagedCluster to create.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub claims: Vec<(String, String)>,
    /// Allocatable (= capacity) CPU and memory.
    pub resources: Option<(String, String)>,
    pub taints: Vec<Value>,
    pub available: bool,
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        Cluster {
            name: name.into(),
            available: true,
            ..Cluster::default()
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> Cluster {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn claim(mut self, k: &str, v: &str) -> Cluster {
        self.claims.push((k.into(), v.into()));
        self
    }
    pub fn resources(mut self, cpu: &str, memory: &str) -> Cluster {
        self.resources = Some((cpu.into(), memory.into()));
        self
    }
    pub fn taint(mut self, taint: Value) -> Cluster {
        self.taints.push(taint);
        self
    }
}

/// `(status, reason, message)` of condition `type_` of `obj`.
pub fn condition(obj: &Value, type_: &str) -> Option<(String, String, String)> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (s("status"), s("reason"), s("message"))
        })
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A small deterministic generator (xorshift), so scenarios are the same in every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len() as u64) as usize]
    }
    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len() as u64) as usize]
    }
}
