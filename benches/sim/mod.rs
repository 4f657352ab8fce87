//! The simulated agent population the benchmarks share: one task per cluster speaking
//! the real protocol over HTTPS with its own TLS identity (bootstrap token →
//! ManagedCluster → its own key and CSR → certificate → status report → lease renewals
//! every period), optionally acknowledging the ManifestWorks of its namespace through a
//! watch (status `Applied`/`Available`, as an agent that applied them would write).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

use crate::common;

/// A hub (quiet logs) that accepts and approves the benchmark token's clusters by itself,
/// and that token.
pub fn start_hub(dir: &std::path::Path) -> (common::Hub, common::ocm::Token) {
    let config = dir.join("hub.json");
    std::fs::write(
        &config,
        json!({"controllers": {"featureGates": {"ManagedClusterAutoApproval": true},
            "autoApprovalBootstrapUsers": ["system:bootstrap:abcdef"]},
            "logging": {"level": "warn"}})
        .to_string(),
    )
    .expect("config");
    let mut hub = common::Hub::start(&dir.join("hub"), &["-c", config.to_str().expect("utf8")]);
    hub.wait_ready();
    let token = common::ocm::create_token(&hub, Some(TOKEN), "0");
    (hub, token)
}

pub const TOKEN: &str = "abcdef.0123456789abcdef";
pub const CLUSTERS: &str = "/apis/cluster.open-cluster-management.io/v1/managedclusters";
pub const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// Lifts this process's open-files limit (soft and hard) to the kernel's ceiling
/// (`fs.nr_open`), which the hub it starts inherits: each simulated cluster holds one
/// connection on each side. Returns the limit in force.
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(n) = ceiling {
        let wanted = Rlimit {
            current: Some(n),
            maximum: Some(n),
        };
        if let Err(e) = setrlimit(Resource::Nofile, wanted) {
            eprintln!("cannot raise the open-files limit to {n} ({e}); the machine caps the run");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

pub fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len().saturating_sub(1)) as f64 * q) as usize)
        .copied()
        .unwrap_or(0.0)
}

/// The hub's latency histogram of one verb on one resource (`apiserver_request_duration_seconds`
/// from its `/metrics`): cumulative counts per bucket, by upper bound in seconds.
pub async fn hub_latency(
    admin: &reqwest::Client,
    hub: &common::Hub,
    verb: &str,
    resource: &str,
) -> Vec<(f64, u64)> {
    let text = admin
        .get(hub.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let (verb, resource) = (
        format!("verb=\"{verb}\""),
        format!("resource=\"{resource}\""),
    );
    let mut buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("apiserver_request_duration_seconds_bucket{"))
        .filter(|l| l.contains(&verb) && l.contains(&resource))
        .filter_map(|l| {
            let (labels, count) = l.split_once("} ")?;
            let le = labels.split(',').find_map(|p| p.strip_prefix("le=\""))?;
            let le = le.trim_end_matches('"');
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The `q` quantile in milliseconds of the requests counted between two [`hub_latency`]
/// readings, interpolated within its bucket as Prometheus' `histogram_quantile` does (the
/// last finite bound when it falls in `+Inf`); 0 without requests.
pub fn hub_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> f64 {
    let earlier = |bound: f64| {
        before
            .iter()
            .find(|(b, _)| *b == bound)
            .map_or(0, |(_, c)| *c)
    };
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|(b, c)| (*b, c.saturating_sub(earlier(*b))))
        .collect();
    let total = delta.last().map_or(0, |(_, c)| *c);
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for (bound, count) in delta {
        if count as f64 >= rank {
            if bound.is_infinite() {
                return lower.0 * 1000.0;
            }
            let within = (rank - lower.1 as f64) / (count - lower.1).max(1) as f64;
            return (lower.0 + (bound - lower.0) * within) * 1000.0;
        }
        lower = (bound, count);
    }
    lower.0 * 1000.0
}

pub fn arg_value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Routes watch events of one kind to waiters by object name.
#[derive(Clone, Default)]
pub struct Waiters {
    map: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
}

impl Waiters {
    pub fn wait(&self, name: &str) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.map.lock() {
            m.insert(name.to_string(), tx);
        }
        rx
    }
    pub fn offer(&self, name: &str, object: &Value) {
        if let Ok(mut m) = self.map.lock()
            && let Some(tx) = m.remove(name)
        {
            let _ = tx.send(object.clone());
        }
    }
}

/// Lists then watches `path` (again after any break) and hands objects that satisfy
/// `ready` to their waiters, counting distinct ready names.
pub fn follow(
    http: reqwest::Client,
    base: String,
    waiters: Waiters,
    ready: fn(&Value) -> bool,
    ready_count: Arc<Mutex<usize>>,
) {
    tokio::spawn(async move {
        let mut seen = std::collections::HashSet::new();
        let offer = |object: &Value, seen: &mut std::collections::HashSet<String>| {
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let key = match object["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.clone(),
            };
            if ready(object) {
                if seen.insert(key)
                    && let Ok(mut n) = ready_count.lock()
                {
                    *n += 1;
                }
                waiters.offer(&name, object);
            }
        };
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Ok(list) = http.get(&base).send().await else {
                continue;
            };
            let Ok(list) = list.json::<Value>().await else {
                continue;
            };
            for item in list["items"].as_array().into_iter().flatten() {
                offer(item, &mut seen);
            }
            let rv = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("0")
                .to_string();
            let Ok(response) = http
                .get(format!("{base}?watch=1&resourceVersion={rv}"))
                .send()
                .await
            else {
                continue;
            };
            let mut body = response.bytes_stream();
            let mut buffer = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.extend_from_slice(&chunk);
                while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=pos).collect();
                    if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                        offer(&event["object"], &mut seen);
                    }
                }
            }
        }
    });
}

pub fn issued(csr: &Value) -> bool {
    csr.pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}

pub fn condition_true(mc: &Value, t: &str) -> bool {
    common::ocm::condition(mc, t).is_some_and(|c| c.0 == "True")
}

pub fn accepted(mc: &Value) -> bool {
    condition_true(mc, "HubAcceptedManagedCluster")
}

pub fn available(mc: &Value) -> bool {
    condition_true(mc, "ManagedClusterConditionAvailable")
}

pub struct Sim {
    hub_url: String,
    ca: Vec<u8>,
    bootstrap: reqwest::Client,
    csrs: Waiters,
    accepted: Waiters,
    pub latencies: Arc<Mutex<Vec<f64>>>,
    period: Duration,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// While set, `sim-0` renews back to back: the single-cluster reference.
    pub reference: Arc<std::sync::atomic::AtomicBool>,
    /// Acknowledge the ManifestWorks of the cluster's namespace.
    acknowledge_works: bool,
    /// Clusters `sim-<i>` with `i` below this keep their connection (and watch) open, as
    /// agents do; the others connect for each renewal and are told when to acknowledge
    /// works ([`Sim::wake_all`]): the open-files limit caps the connections a process holds.
    persistent_limit: usize,
    /// How to tell the clusters without a watch that works wait for them.
    wake: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Connections the clusters without a held one may have open at once, so this process
    /// stays under its open-files limit (at 34,000 clusters, 16,000 of them connecting for
    /// each renewal, it ran out of descriptors when the hub slowed).
    transient: Arc<Semaphore>,
}

/// Connections clusters without a held one open at once ([`Sim::transient`]).
pub const TRANSIENT_CONNECTIONS: usize = 1_000;

impl Sim {
    /// One simulated agent: join, report, then renew the lease every period.
    pub async fn agent(self: Arc<Self>, index: usize, joining: Arc<Semaphore>) {
        let name = format!("sim-{index}");
        let persistent = index < self.persistent_limit;
        let permit = joining.acquire_owned().await.expect("semaphore");
        let url = |p: &str| format!("{}{p}", self.hub_url);
        let waiting_accept = self.accepted.wait(&name);
        let mc = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": name}, "spec": {"hubAcceptsClient": false, "leaseDurationSeconds": self.period.as_secs()}});
        let r = self
            .bootstrap
            .post(url(CLUSTERS))
            .bearer_auth(TOKEN)
            .json(&mc)
            .send()
            .await
            .expect("create mc");
        assert!(
            r.status().is_success() || r.status() == 409,
            "create mc: {}",
            r.status()
        );
        let (key, request) =
            multicluster_controlplane::agent::register::new_request(&name, "sim").expect("csr");
        use base64::Engine;
        let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": format!("{name}-sim"), "labels": {"open-cluster-management.io/cluster-name": name}},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["digital signature", "key encipherment", "client auth"],
                "request": base64::engine::general_purpose::STANDARD.encode(&request)}});
        let waiting_csr = self.csrs.wait(&format!("{name}-sim"));
        let r = self
            .bootstrap
            .post(url(CSRS))
            .bearer_auth(TOKEN)
            .json(&csr)
            .send()
            .await
            .expect("csr");
        assert!(r.status().is_success(), "create csr: {}", r.status());
        let signed = waiting_csr.await.expect("issued");
        let chain = base64::engine::general_purpose::STANDARD
            .decode(signed["status"]["certificate"].as_str().expect("cert"))
            .expect("b64");
        let mut identity = chain;
        identity.extend(key.serialize_pem().as_bytes());
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca).expect("ca"))
            .identity(reqwest::Identity::from_pem(&identity).expect("identity"));
        if !persistent {
            // One connection per renewal: its GET and PUT, the PUT asking the hub to close
            // it (a connection per request would double the TLS handshakes).
            builder = builder
                .http1_only()
                .pool_idle_timeout(Duration::from_millis(500));
        }
        let client = builder.build().expect("client");
        let mut current = waiting_accept.await.expect("accepted");
        // Report Joined and Available (retry on conflicts with the hub's own writes).
        loop {
            for (t, reason, msg) in [
                (
                    "ManagedClusterJoined",
                    "ManagedClusterJoined",
                    "Managed cluster joined",
                ),
                (
                    "ManagedClusterConditionAvailable",
                    "ManagedClusterAvailable",
                    "Managed cluster is available",
                ),
            ] {
                current["status"]["conditions"]
                    .as_array_mut()
                    .expect("conditions")
                    .push(json!({
                    "type": t, "status": "True", "reason": reason, "message": msg,
                    "lastTransitionTime": multicluster_controlplane::api::meta::now_rfc3339()}));
            }
            let r = client
                .put(url(&format!("{CLUSTERS}/{name}/status")))
                .json(&current)
                .send()
                .await
                .expect("status");
            if r.status().is_success() {
                break;
            }
            // 409: a concurrent hub write; 403: the hub's authorizer has not yet seen the
            // cluster's new RBAC (it follows RBAC objects through a watch). Both pass.
            assert!(
                r.status() == 409 || r.status() == 403,
                "status report: {}",
                r.status()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            current = loop {
                let r = client
                    .get(url(&format!("{CLUSTERS}/{name}")))
                    .send()
                    .await
                    .expect("get");
                if r.status().is_success() {
                    break r.json().await.expect("json");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
        }
        drop(permit);
        let mut wake = None;
        if self.acknowledge_works && persistent {
            tokio::spawn(self.clone().acknowledge(name.clone(), client.clone()));
        } else if self.acknowledge_works {
            let notify = Arc::new(tokio::sync::Notify::new());
            if let Ok(mut m) = self.wake.lock() {
                m.insert(name.clone(), notify.clone());
            }
            wake = Some(notify);
        }
        let woken = async |wake: &Option<Arc<tokio::sync::Notify>>| match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        };
        // Heartbeats, starting at a random point of the period.
        let lease = url(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{name}/leases/managed-cluster-lease"
        ));
        let mut next = tokio::time::Instant::now();
        if name != "sim-0" {
            next += self.period.mul_f64(rand::random::<f64>());
        }
        while !self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = woken(&wake) => {
                    self.acknowledge_listed(&name, &client).await;
                    continue;
                }
            }
            // Counted from the connection slot: the wait for one of this process's
            // slots is the simulator's own limit (open files), not the hub's latency.
            let _connection = if persistent {
                None
            } else {
                Some(self.transient.acquire().await.expect("semaphore"))
            };
            let started = Instant::now();
            let r = match client.get(&lease).send().await {
                Ok(r) => r,
                // The benchmark is ending: its runtime drops the connections.
                Err(_) if self.stop.load(std::sync::atomic::Ordering::Relaxed) => break,
                Err(e) => panic!("lease: {e:?}"),
            };
            assert!(r.status().is_success(), "lease: {}", r.status());
            let mut l: Value = r.json().await.expect("json");
            l["spec"]["renewTime"] = json!(multicluster_controlplane::api::meta::now_micro());
            let mut put = client.put(&lease).json(&l);
            if !persistent {
                put = put.header(reqwest::header::CONNECTION, "close");
            }
            let status = match put.send().await {
                Ok(r) => common::read_status(r).await,
                Err(_) if self.stop.load(std::sync::atomic::Ordering::Relaxed) => break,
                Err(e) => panic!("renew: {e:?}"),
            };
            assert!(status.is_success(), "renew: {status}");
            if let Ok(mut v) = self.latencies.lock() {
                v.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            next = tokio::time::Instant::now();
            if !(name == "sim-0" && self.reference.load(std::sync::atomic::Ordering::Relaxed)) {
                next += self.period;
            }
        }
    }
}

/// A running population and the hub-side counts the benchmarks wait on.
pub struct Population {
    pub sim: Arc<Sim>,
    /// ManagedClusters seen Available (distinct names).
    pub available: Arc<Mutex<usize>>,
    /// ManifestWorks seen Applied (distinct names).
    pub applied: Arc<Mutex<usize>>,
    pub joining: Arc<Semaphore>,
}

/// A simulated cluster's ManifestWork reported Applied.
fn work_applied(w: &Value) -> bool {
    w["metadata"]["namespace"]
        .as_str()
        .is_some_and(|ns| ns.starts_with("sim-"))
        && condition_true(w, "Applied")
}

impl Population {
    /// Sets up the shared watches; clusters join with [`Population::spawn`].
    pub fn start(hub: &common::Hub, period: Duration, acknowledge_works: bool) -> Population {
        Self::start_with(hub, period, acknowledge_works, usize::MAX)
    }

    /// As [`Population::start`], with clusters from `persistent_limit` on connecting per
    /// renewal (see [`Sim`]).
    pub fn start_with(
        hub: &common::Hub,
        period: Duration,
        acknowledge_works: bool,
        persistent_limit: usize,
    ) -> Population {
        // Shared clients (the followers, the bootstrap token used by every joining
        // cluster) use HTTP/1.1 connections; each simulated cluster's own client speaks
        // HTTP/2 on one connection, as client-go does.
        let admin = common::async_client(&hub.data_dir, true, true);
        let ca = std::fs::read(hub.data_dir.join("cert/ca.crt")).expect("ca");
        let bootstrap = reqwest::Client::builder()
            .http1_only()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
            .build()
            .expect("client");
        let (csrs, accepted_waiters) = (Waiters::default(), Waiters::default());
        let available = Arc::new(Mutex::new(0usize));
        let applied = Arc::new(Mutex::new(0usize));
        follow(
            admin.clone(),
            hub.url(CSRS),
            csrs.clone(),
            issued,
            Arc::default(),
        );
        follow(
            admin.clone(),
            hub.url(CLUSTERS),
            accepted_waiters.clone(),
            accepted,
            Arc::default(),
        );
        follow(
            admin.clone(),
            hub.url(CLUSTERS),
            Waiters::default(),
            self::available,
            available.clone(),
        );
        if acknowledge_works {
            follow(
                admin,
                hub.url("/apis/work.open-cluster-management.io/v1/manifestworks"),
                Waiters::default(),
                work_applied,
                applied.clone(),
            );
        }
        let sim = Arc::new(Sim {
            hub_url: hub.url(""),
            ca,
            bootstrap,
            csrs,
            accepted: accepted_waiters,
            latencies: Arc::default(),
            period,
            stop: Arc::default(),
            reference: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            acknowledge_works,
            persistent_limit,
            wake: Mutex::default(),
            transient: Arc::new(Semaphore::new(TRANSIENT_CONNECTIONS)),
        });
        Population {
            sim,
            available,
            applied,
            joining: Arc::new(Semaphore::new(64)),
        }
    }

    /// Starts simulated clusters `sim-<from>` .. `sim-<to - 1>`.
    pub fn spawn(&self, from: usize, to: usize) {
        for i in from..to {
            tokio::spawn(self.sim.clone().agent(i, self.joining.clone()));
        }
    }

    /// Waits until `count` reaches `target`, printing progress every 10 s.
    pub async fn wait_for(count: &Arc<Mutex<usize>>, target: usize, what: &str) -> f64 {
        let t0 = Instant::now();
        let mut last = Instant::now();
        loop {
            let n = *count.lock().expect("count");
            if n >= target {
                return t0.elapsed().as_secs_f64();
            }
            if last.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "  … {n}/{target} {what} after {:.0} s",
                    t0.elapsed().as_secs_f64()
                );
                last = Instant::now();
            }
            assert!(t0.elapsed() < Duration::from_secs(1800), "not all {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Sim {
    /// Tells every cluster without a watch to acknowledge its works now.
    pub fn wake_all(&self) {
        if let Ok(m) = self.wake.lock() {
            for n in m.values() {
                n.notify_one();
            }
        }
    }

    /// Lists the cluster's ManifestWorks with its own identity and acknowledges those not
    /// yet Applied (a cluster without a watch).
    async fn acknowledge_listed(&self, name: &str, client: &reqwest::Client) {
        let _connection = self.transient.acquire().await.expect("semaphore");
        let base = works_url(&self.hub_url, name);
        let Ok(r) = client.get(&base).send().await else {
            return;
        };
        let list: Value = r.json().await.unwrap_or_default();
        for work in list["items"].as_array().into_iter().flatten() {
            if !work_applied(work) {
                report_applied(client, &base, work).await;
            }
        }
    }

    /// Watches the cluster's ManifestWorks with its own identity and reports each as
    /// Applied, Available and no longer Progressing once (what an agent that applied a
    /// ConfigMap would write; a rollout counts such a work as succeeded).
    async fn acknowledge(self: Arc<Self>, name: String, client: reqwest::Client) {
        let base = works_url(&self.hub_url, &name);
        loop {
            let Ok(r) = client.get(format!("{base}?watch=1")).send().await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let mut body = r.bytes_stream();
            let mut buffer = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.extend_from_slice(&chunk);
                while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=pos).collect();
                    let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let work = &event["object"];
                    if event["type"] == "DELETED" || work_applied(work) {
                        continue;
                    }
                    report_applied(&client, &base, work).await;
                }
            }
        }
    }
}

/// The ManifestWorks of namespace `ns` on the hub at `hub_url`.
fn works_url(hub_url: &str, ns: &str) -> String {
    format!("{hub_url}/apis/work.open-cluster-management.io/v1/namespaces/{ns}/manifestworks")
}

/// A ManifestWork `name` for `cluster` with one ConfigMap (100 bytes of data).
pub fn config_map_work(cluster: &str, name: &str) -> Value {
    json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": name, "namespace": cluster},
        "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"payload": "x".repeat(100)}}]}}})
}

/// Reports a ManifestWork Applied, Available and no longer Progressing (what an agent
/// that applied it writes), with the cluster's own client; `base` is the namespace's
/// manifestworks URL.
async fn report_applied(client: &reqwest::Client, base: &str, work: &Value) {
    let work_name = work["metadata"]["name"].as_str().unwrap_or("");
    let now = multicluster_controlplane::api::meta::now_rfc3339();
    let generation = work["metadata"]["generation"].clone();
    let condition = |t: &str, status: &str, reason: &str, message: &str| {
        json!({"type": t, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now, "observedGeneration": generation})
    };
    let patch = json!({"metadata": {"uid": work["metadata"]["uid"], "resourceVersion": work["metadata"]["resourceVersion"]},
        "status": {"conditions": [
            condition("Applied", "True", "AppliedManifestWorkComplete", "Apply manifest work complete"),
            condition("Available", "True", "ResourcesAvailable", "All resources are available"),
            condition("Progressing", "False", "Completed", "All manifests are applied")]}});
    let _ = client
        .patch(format!("{base}/{work_name}/status"))
        .header("Content-Type", "application/merge-patch+json")
        .json(&patch)
        .send()
        .await;
}

/// POSTs `body`; an existing object is fine.
pub async fn post(admin: &reqwest::Client, hub: &common::Hub, path: &str, body: &Value) {
    let r = admin
        .post(hub.url(path))
        .json(body)
        .send()
        .await
        .expect("post");
    let status = r.status();
    assert!(
        status.is_success() || status == 409,
        "POST {path}: {status} {}",
        r.text().await.unwrap_or_default()
    );
}

/// Namespace `ns`, bound to the `default` cluster set, with Placement `all`; returns once
/// it selects `clusters` clusters.
pub async fn placement_of_all(
    admin: &reqwest::Client,
    hub: &common::Hub,
    ns: &str,
    clusters: usize,
) {
    post(
        admin,
        hub,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": ns}}),
    )
    .await;
    post(
        admin,
        hub,
        &format!("/apis/cluster.open-cluster-management.io/v1beta2/namespaces/{ns}/managedclustersetbindings"),
        &json!({"metadata": {"name": "default"}, "spec": {"clusterSet": "default"}}),
    )
    .await;
    post(
        admin,
        hub,
        &format!("/apis/cluster.open-cluster-management.io/v1beta1/namespaces/{ns}/placements"),
        &json!({"metadata": {"name": "all"}, "spec": {}}),
    )
    .await;
    let url = hub.url(&format!(
        "/apis/cluster.open-cluster-management.io/v1beta1/namespaces/{ns}/placements/all"
    ));
    let t0 = std::time::Instant::now();
    loop {
        let selected = match admin.get(&url).send().await {
            Ok(r) => {
                r.json::<Value>().await.unwrap_or_default()["status"]["numberOfSelectedClusters"]
                    .as_u64()
                    .unwrap_or(0)
            }
            Err(_) => 0,
        };
        if selected >= clusters as u64 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "placement not scheduled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates, in the namespace `sim-<i>` of each simulated cluster of `clusters`, the
/// ManifestWorks `works(i)` gives (64 creates in flight).
pub async fn create_works(
    admin: &reqwest::Client,
    hub: &common::Hub,
    clusters: std::ops::Range<usize>,
    works: impl Fn(usize) -> Vec<Value>,
) {
    let creating = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::new();
    for i in clusters {
        let url = works_url(&hub.url(""), &format!("sim-{i}"));
        for body in works(i) {
            let (admin, creating, url) = (admin.clone(), creating.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = creating.acquire_owned().await.expect("semaphore");
                // A cluster reports itself Available before the hub has always created
                // its namespace: wait for the namespace (bounded).
                let t0 = Instant::now();
                loop {
                    let r = admin.post(&url).json(&body).send().await.expect("create");
                    if r.status() == 404 && t0.elapsed() < Duration::from_secs(60) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                    break;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("create");
    }
}

/// `clusters` simulated clusters that acknowledge works, joined, and Placement `all` in
/// `ns` selecting them (times and RSS printed); the population, an admin client and the
/// hub's RSS with the clusters, in MB.
pub async fn joined_with_placement(
    hub: &common::Hub,
    clusters: usize,
    ns: &str,
) -> (Population, reqwest::Client, f64) {
    let population = Population::start(hub, Duration::from_secs(60), true);
    let admin = common::async_client(&hub.data_dir, true, true);
    let pid = hub.child.id();
    let idle_mb = common::rss_mb(pid);
    population.spawn(0, clusters);
    let join_s = Population::wait_for(&population.available, clusters, "Available").await;
    println!("{clusters} simulated clusters joined in {join_s:.1} s");
    let t0 = Instant::now();
    placement_of_all(&admin, hub, ns, clusters).await;
    let before_mb = common::rss_mb(pid);
    println!(
        "placement selected {clusters} clusters in {:.1} s; RSS idle {idle_mb:.0} MB, with the clusters {before_mb:.0} MB",
        t0.elapsed().as_secs_f64()
    );
    (population, admin, before_mb)
}
