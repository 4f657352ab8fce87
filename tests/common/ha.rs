//! Hub replicas on one etcd cluster, for the HA tests and benchmark: replicas sharing an
//! identity (CA and service-account key as files), their admin clients, and who leads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::etcd::EtcdCluster;
use super::{Hub, wait_until_within};

pub const LEASE_SECONDS: u64 = 3;
pub const RETRY_SECONDS: u64 = 1;

pub struct Replica {
    pub data: PathBuf,
    pub config: PathBuf,
    pub port: u16,
    pub hub: Option<Hub>,
}

impl Replica {
    /// Starts the replica and waits until it is ready.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    fn spawn(&mut self) {
        self.hub = Some(Hub::start_on(
            &self.data,
            self.port,
            &["--config", self.config.to_str().expect("utf8")],
            &[],
        ));
    }

    fn wait_ready(&mut self) {
        self.hub.as_mut().expect("spawned").wait_ready();
    }

    pub fn kill(&mut self) {
        if let Some(mut hub) = self.hub.take() {
            let _ = hub.child.kill();
            let _ = hub.child.wait();
        }
    }

    pub fn hub(&self) -> &Hub {
        self.hub.as_ref().expect("replica running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

/// The shared identity: a CA and a service-account key, as an operator hands them out.
pub fn shared_identity(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
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

/// A replica's configuration in `dir`: external etcd at `servers`, short lease timings,
/// and the shared identity (`ca`: CA certificate, CA key, service-account key).
pub fn config(dir: &Path, servers: &[String], ca: Option<(&Path, &Path, &Path)>) -> PathBuf {
    let mut apiserver = json!({});
    if let Some((crt, key, sa)) = ca {
        apiserver = json!({"caFile": crt, "caKeyFile": key, "serviceAccountKeyFile": sa});
    }
    let doc = json!({
        "dataDirectory": dir.join("data"),
        "apiserver": apiserver,
        "etcd": {"mode": "external", "prefix": "/ha", "servers": servers},
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
pub fn admin_client(ca: &Path, replica: &Replica) -> reqwest::blocking::Client {
    let (ca, identity) = trust(ca, replica);
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// [`admin_client`] for async code (the benchmark).
pub fn async_admin_client(ca: &Path, replica: &Replica) -> reqwest::Client {
    let (ca, identity) = trust(ca, replica);
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The shared CA and `replica`'s admin identity.
fn trust(ca: &Path, replica: &Replica) -> (reqwest::Certificate, reqwest::Identity) {
    let cert = replica.data.join("cert");
    let mut pem = std::fs::read(cert.join("admin.crt")).expect("admin crt");
    pem.extend(std::fs::read(cert.join("admin.key")).expect("admin key"));
    (
        reqwest::Certificate::from_pem(&std::fs::read(ca).expect("ca")).expect("ca pem"),
        reqwest::Identity::from_pem(&pem).expect("identity"),
    )
}

/// Which replicas say they lead, by their metrics.
pub fn leaders(client: &reqwest::blocking::Client, replicas: &[Replica]) -> Vec<usize> {
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

pub fn one_leader(client: &reqwest::blocking::Client, replicas: &[Replica], within: u64) -> usize {
    let mut leader = None;
    wait_until_within("exactly one replica leads", within, || {
        let now = leaders(client, replicas);
        leader = (now.len() == 1).then(|| now[0]);
        leader.is_some()
    });
    leader.expect("leader")
}

/// ManagedCluster `name` read through `replica`, if it is there.
pub fn get_cluster(
    client: &reqwest::blocking::Client,
    replica: &Replica,
    name: &str,
) -> Option<Value> {
    get_object(
        client,
        replica,
        &format!("/apis/cluster.open-cluster-management.io/v1/managedclusters/{name}"),
    )
}

/// The object at `path` read through `replica`, if it is there (and the replica answers).
pub fn get_object(
    client: &reqwest::blocking::Client,
    replica: &Replica,
    path: &str,
) -> Option<Value> {
    client
        .get(replica.url(path))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.json::<Value>().ok())
}

/// Whether the cluster controller (the leader's) has put its finalizer on `name`.
pub fn has_cleanup_finalizer(
    client: &reqwest::blocking::Client,
    replica: &Replica,
    name: &str,
) -> bool {
    get_cluster(client, replica, name).is_some_and(|c| {
        c["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    })
}

pub fn create_cluster(client: &reqwest::blocking::Client, replica: &Replica, name: &str) {
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

/// `n` replicas (started together, then ready) on `etcd`, sharing an identity made in `dir`; returns them with
/// the shared CA's path.
pub fn start_replicas(dir: &Path, etcd: &EtcdCluster, n: usize) -> (Vec<Replica>, PathBuf) {
    let (ca, ca_key, sa) = shared_identity(dir);
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| {
            let dir = dir.join(format!("r{i}"));
            Replica {
                data: dir.join("data"),
                config: config(&dir, &etcd.endpoints(), Some((&ca, &ca_key, &sa))),
                port: super::free_port(),
                hub: None,
            }
        })
        .collect();
    // All at once, as an operator's replicas come up: their start-up writes race.
    for r in &mut replicas {
        r.spawn();
    }
    for r in &mut replicas {
        r.wait_ready();
    }
    (replicas, ca)
}
