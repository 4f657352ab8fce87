//! High availability: three hub replicas on one three-member etcd cluster (Debian's etcd on
//! loopback), sharing one CA and service-account key given as files.
//!
//! Checked: every replica serves the whole API (a write through one is read at once through
//! another; a CRD created through one is served by the others); exactly one replica leads
//! (`leader_election_master_status`, the Lease); kill -9 of the leader hands the
//! controllers over within one lease duration plus a retry period (and a slack for this
//! loaded machine), proved by the next ManagedCluster getting its finalizer; SIGKILLed etcd
//! members and replicas lose no acknowledged write over 20 faults while a writer spreads
//! creates over all replicas; an etcd that lost its quorum makes the replicas unready, and
//! they come back with it; a replica with another CA is refused on the shared prefix.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::{Hub, free_port, kubectl_cmd, wait_until, wait_until_within};
use serde_json::{Value, json};

const LEASE_SECONDS: u64 = 3;
const RETRY_SECONDS: u64 = 1;

struct Replica {
    data: PathBuf,
    config: PathBuf,
    port: u16,
    hub: Option<Hub>,
}

impl Replica {
    fn start(&mut self) {
        let mut hub = Hub::start_on(
            &self.data,
            self.port,
            &["--config", self.config.to_str().expect("utf8")],
            &[],
        );
        hub.wait_ready();
        self.hub = Some(hub);
    }

    fn kill(&mut self) {
        if let Some(mut hub) = self.hub.take() {
            let _ = hub.child.kill();
            let _ = hub.child.wait();
        }
    }

    fn hub(&self) -> &Hub {
        self.hub.as_ref().expect("replica running")
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

/// The shared identity: a CA and a service-account key, as an operator hands them out.
fn shared_identity(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "ha-test-ca");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("ca");
    let sa = KeyPair::generate().expect("sa key");
    let paths = (dir.join("ca.crt"), dir.join("ca.key"), dir.join("sa.key"));
    std::fs::write(&paths.0, cert.pem()).expect("write");
    std::fs::write(&paths.1, key.serialize_pem()).expect("write");
    std::fs::write(&paths.2, sa.serialize_pem()).expect("write");
    paths
}

fn config(dir: &Path, etcd: &EtcdCluster, ca: Option<(&Path, &Path, &Path)>) -> PathBuf {
    let mut apiserver = json!({});
    if let Some((crt, key, sa)) = ca {
        apiserver = json!({"caFile": crt, "caKeyFile": key, "serviceAccountKeyFile": sa});
    }
    let doc = json!({
        "dataDirectory": dir.join("data"),
        "apiserver": apiserver,
        "etcd": {"mode": "external", "prefix": "/ha", "servers": etcd.endpoints()},
        "controllers": {"leaderElection": {
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewDeadlineSeconds": LEASE_SECONDS - 1,
            "retryPeriodSeconds": RETRY_SECONDS,
        }},
    });
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("config.json");
    std::fs::write(&path, doc.to_string()).expect("config");
    path
}

/// An admin client with `replica`'s credentials; the CA is shared, so they work on every
/// replica.
fn admin_client(ca: &Path, replica: &Replica) -> reqwest::blocking::Client {
    let cert = replica.data.join("cert");
    let (crt, key) = (cert.join("admin.crt"), cert.join("admin.key"));
    let mut pem = std::fs::read(&crt).expect("admin crt");
    pem.extend(std::fs::read(&key).expect("admin key"));
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(ca).expect("ca")).expect("ca pem"),
        )
        .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Which replicas say they lead, by their metrics.
fn leaders(client: &reqwest::blocking::Client, replicas: &[Replica]) -> Vec<usize> {
    replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.hub.is_some())
        .filter(|(_, r)| {
            client
                .get(r.url("/metrics"))
                .send()
                .and_then(|resp| resp.text())
                .is_ok_and(|text| text.lines().any(|l| l == "leader_election_master_status 1"))
        })
        .map(|(i, _)| i)
        .collect()
}

fn one_leader(client: &reqwest::blocking::Client, replicas: &[Replica], within: u64) -> usize {
    let mut leader = None;
    wait_until_within("exactly one replica leads", within, || {
        let now = leaders(client, replicas);
        leader = (now.len() == 1).then(|| now[0]);
        leader.is_some()
    });
    leader.expect("leader")
}

fn has_cleanup_finalizer(
    client: &reqwest::blocking::Client,
    replica: &Replica,
    name: &str,
) -> bool {
    client
        .get(replica.url(&format!(
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/{name}"
        )))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.json::<Value>().ok())
        .is_some_and(|c| {
            c["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
}

fn create_cluster(client: &reqwest::blocking::Client, replica: &Replica, name: &str) {
    let body = json!({
        "apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": name}, "spec": {"hubAcceptsClient": true},
    });
    let resp = client
        .post(replica.url("/apis/cluster.open-cluster-management.io/v1/managedclusters"))
        .json(&body)
        .send()
        .expect("create cluster");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().unwrap_or_default()
    );
}

#[test]
fn three_replicas_on_three_etcd_members_survive_faults() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut etcd = EtcdCluster::start(3);
    let (ca, ca_key, sa) = shared_identity(tmp.path());
    let mut replicas: Vec<Replica> = (0..3)
        .map(|i| {
            let dir = tmp.path().join(format!("r{i}"));
            Replica {
                data: dir.join("data"),
                config: config(&dir, &etcd, Some((&ca, &ca_key, &sa))),
                port: free_port(),
                hub: None,
            }
        })
        .collect();
    for r in &mut replicas {
        r.start();
    }
    let client = admin_client(&ca, &replicas[0]);

    // One leader, and every replica serves every write of the others at once.
    let leader = one_leader(&client, &replicas, 30);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"},
                    "data": {"k": "v"}});
    let resp = client
        .post(replicas[1].url("/api/v1/namespaces/default/configmaps"))
        .json(&cm)
        .send()
        .expect("create");
    assert_eq!(resp.status().as_u16(), 201);
    for r in &replicas {
        let resp = client
            .get(r.url("/api/v1/namespaces/default/configmaps/shared"))
            .send()
            .expect("get");
        assert_eq!(resp.status().as_u16(), 200, "read through {}", r.port);
    }
    // A kind defined through one replica is served by the others.
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.ha.example.com"},
        "spec": {"group": "ha.example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let resp = client
        .post(replicas[0].url("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"))
        .json(&crd)
        .send()
        .expect("create crd");
    assert_eq!(resp.status().as_u16(), 201);
    for r in &replicas[1..] {
        wait_until("the CRD is served by every replica", || {
            client
                .get(r.url("/apis/ha.example.com/v1/namespaces/default/widgets"))
                .send()
                .is_ok_and(|resp| resp.status().is_success())
        });
        let out = kubectl_cmd(r.hub(), &["get", "widgets", "-A"])
            .output()
            .expect("kubectl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The leader's controllers act on what another replica was given.
    create_cluster(&client, &replicas[(leader + 1) % 3], "ha-c0");
    wait_until("the leader's cluster controller adds its finalizer", || {
        has_cleanup_finalizer(&client, &replicas[leader], "ha-c0")
    });

    // A replica with a CA of its own is refused on the shared prefix.
    let stranger = tmp.path().join("stranger");
    let out = common::run(&[
        "server",
        "--config",
        config(&stranger, &etcd, None).to_str().expect("utf8"),
        "--port",
        &free_port().to_string(),
        "--bind-address",
        "127.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another CA"), "{err}");

    // Faults while a writer spreads creates over every replica.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let stop = stop.clone();
        let acknowledged = acknowledged.clone();
        let clients: Vec<_> = replicas
            .iter()
            .map(|r| (admin_client(&ca, r), r.port))
            .collect();
        std::thread::spawn(move || {
            // Bounded: at most 20,000 attempts, however long the faults take.
            for n in 0..20_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (client, port) = &clients[n as usize % clients.len()];
                let name = format!("w{n}");
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": name}, "data": {"n": n.to_string()}});
                let ok = client
                    .post(format!(
                        "https://127.0.0.1:{port}/api/v1/namespaces/default/configmaps"
                    ))
                    .json(&body)
                    .send()
                    .is_ok_and(|r| r.status().as_u16() == 201);
                if ok {
                    acknowledged.lock().expect("lock").push(name);
                }
            }
        })
    };
    let mut handovers = Vec::new();
    let mut leader = leader;
    for fault in 0..20 {
        if fault % 2 == 0 {
            // kill -9 the leader; another takes over and its controllers act.
            let killed = Instant::now();
            replicas[leader].kill();
            let survivor = (leader + 1) % 3;
            let name = format!("ha-f{fault}");
            create_cluster(&client, &replicas[survivor], &name);
            wait_until_within("a new leader's controllers act", 30, || {
                has_cleanup_finalizer(&client, &replicas[survivor], &name)
            });
            handovers.push(killed.elapsed());
            let old = leader;
            leader = one_leader(&client, &replicas, 30);
            assert_ne!(leader, old);
            replicas[old].start();
        } else {
            // kill -9 one etcd member, then bring it back on its data.
            let member = (fault / 2) % etcd.len();
            etcd.kill(member);
            etcd.restart(member);
        }
    }
    // An etcd without quorum: replicas become unready rather than answer wrongly, and
    // recover with it.
    etcd.kill(0);
    etcd.kill(1);
    let probe = &client;
    let ready = |c: &reqwest::blocking::Client, r: &Replica| {
        c.get(r.url("/readyz"))
            .send()
            .is_ok_and(|resp| resp.status().is_success())
    };
    wait_until("a replica without etcd quorum is unready", || {
        !ready(probe, &replicas[2])
    });
    etcd.restart(0);
    etcd.restart(1);
    wait_until("the replica is ready again with etcd", || {
        ready(probe, &replicas[2])
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");

    // Every acknowledged write is there, through any replica.
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 50,
        "the writer got too few writes through: {}",
        acknowledged.len()
    );
    let list: Value = client
        .get(replicas[2].url("/api/v1/namespaces/default/configmaps"))
        .send()
        .and_then(|r| r.json())
        .expect("list");
    let stored: std::collections::HashSet<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !stored.contains(n.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(
        leaders(&client, &replicas).len(),
        1,
        "exactly one leader at the end"
    );
    let max = handovers.iter().max().copied().unwrap_or_default();
    eprintln!(
        "ha: {} acknowledged writes kept over 20 faults; controller handover after leader kill: max {:.1} s over {} kills",
        acknowledged.len(),
        max.as_secs_f64(),
        handovers.len()
    );
}
