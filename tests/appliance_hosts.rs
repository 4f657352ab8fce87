//! The NixOS VM-test scenarios as host tests over network namespaces (`vm-tests/` runs
//! them in VMs where Nix is available): a hub on external etcd over mutual TLS keeping
//! its clusters and works across a restart, and two hubs on one host, each with its own
//! agent, isolated from each other.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::etcd::TlsFiles;
use common::netns::{Host, Lab, available, create, hub_url, raw, spoke_on};
use common::ocm::{self, Agent};
use common::{Hub, wait_until};

const FAST: [&str; 4] = [
    "--lease-duration-seconds",
    "2",
    "--status-sync-seconds",
    "1",
];

fn work(cluster: &str, name: &str) -> String {
    format!(
        r#"{{"apiVersion":"work.open-cluster-management.io/v1","kind":"ManifestWork","metadata":{{"name":"{name}","namespace":"{cluster}"}},"spec":{{"workload":{{"manifests":[{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default"}},"data":{{"from":"{cluster}"}}}}]}}}}}}"#
    )
}

fn applied(hub: &Hub, host: &Host, cluster: &str, name: &str) -> bool {
    raw(
        hub,
        host,
        &format!(
            "/apis/work.open-cluster-management.io/v1/namespaces/{cluster}/manifestworks/{name}"
        ),
    )
    .and_then(|w| ocm::condition(&w, "Applied"))
    .is_some_and(|c| c.0 == "True")
}

/// etcd with mutual TLS on the loopback of `host`.
struct EtcdIn(Child);

impl Drop for EtcdIn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd_in(host: &Host, dir: &Path, tls: &TlsFiles) -> EtcdIn {
    let path = |p: &Path| p.to_str().expect("utf8").to_string();
    let etcd = std::env::var("ETCD").unwrap_or_else(|_| "etcd".into());
    let child = host
        .command(etcd)
        .args([
            "--data-dir",
            &path(&dir.join("etcd")),
            "--name",
            "appliance",
        ])
        .args([
            "--listen-client-urls",
            "https://127.0.0.1:2379",
            "--advertise-client-urls",
            "https://127.0.0.1:2379",
        ])
        .args([
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
        ])
        .args(["--initial-cluster", "appliance=http://127.0.0.1:2380"])
        .args([
            "--cert-file",
            &path(&tls.server_cert),
            "--key-file",
            &path(&tls.server_key),
        ])
        .args(["--client-cert-auth", "--trusted-ca-file", &path(&tls.ca)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd in the namespace");
    wait_until("etcd answers over TLS", || {
        host.command(std::env::var("ETCDCTL").unwrap_or_else(|_| "etcdctl".into()))
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                "https://127.0.0.1:2379",
                "endpoint",
                "health",
            ])
            .args([
                "--cacert",
                &path(&tls.ca),
                "--cert",
                &path(&tls.client_cert),
                "--key",
                &path(&tls.client_key),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    EtcdIn(child)
}

#[test]
fn hub_on_external_etcd_keeps_clusters_and_works_across_a_restart() {
    if !Lab::usable("hub_on_external_etcd_keeps_clusters_and_works_across_a_restart")
        || !common::kube_peer::available(
            "hub_on_external_etcd_keeps_clusters_and_works_across_a_restart",
        )
    {
        return;
    }
    let lab = Lab::new("mcpetcd");
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub_host, a) = (lab.host("hub"), lab.host("a"));
    let tls = TlsFiles::generate(dir.path());
    let _etcd = etcd_in(hub_host, dir.path(), &tls);
    let config = dir.path().join("hub.json");
    let path = |p: &Path| p.to_str().expect("utf8").to_string();
    std::fs::write(
        &config,
        serde_json::json!({"etcd": {"mode": "external", "servers": ["https://127.0.0.1:2379"], "prefix": "/appliance",
            "caFile": path(&tls.ca), "certFile": path(&tls.client_cert), "keyFile": path(&tls.client_key)}})
        .to_string(),
    )
    .expect("config");
    let args = ["-c", config.to_str().expect("utf8")];
    let mut hub = Hub::start_in(hub_host, &dir.path().join("hub"), &args);
    hub.wait_ready();
    let url = hub_url(&hub, hub_host, "");
    let token = ocm::create_token_in(Some(hub_host.ns()), &hub, None, "1h");
    let spoke = spoke_on(a, &dir.path().join("spoke"));
    let _agent = Agent::start_in(
        Some(a.ns()),
        "edge",
        &url,
        &token,
        &spoke,
        &dir.path().join("agent"),
        &FAST,
    );
    wait_until("edge registered", || {
        raw(&hub, hub_host, &ocm::cluster_path("edge")).is_some()
    });
    ocm::accept_in(Some(hub_host.ns()), &hub, "edge");
    wait_until("edge is Available", || {
        available(&hub, hub_host, "edge").as_deref() == Some("True")
    });
    create(&hub, hub_host, &work("edge", "before"));
    wait_until("the work is applied", || {
        applied(&hub, hub_host, "edge", "before")
    });

    // Restart: everything comes back from etcd.
    hub.terminate();
    let mut hub = Hub::start_in(hub_host, &dir.path().join("hub"), &args);
    hub.wait_ready();
    assert!(
        applied(&hub, hub_host, "edge", "before"),
        "the work and its status survive the restart"
    );
    wait_until("edge is Available after the restart", || {
        available(&hub, hub_host, "edge").as_deref() == Some("True")
    });
    create(&hub, hub_host, &work("edge", "after"));
    wait_until("a new work is applied", || {
        raw(&spoke, a, "/api/v1/namespaces/default/configmaps/after").is_some()
    });
}

#[test]
fn two_hubs_on_one_host_are_isolated() {
    if !Lab::usable("two_hubs_on_one_host_are_isolated")
        || !common::kube_peer::available("two_hubs_on_one_host_are_isolated")
    {
        return;
    }
    let lab = Lab::new("mcptwo");
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub_host, a, b) = (lab.host("hub"), lab.host("a"), lab.host("b"));
    let mut hub1 = Hub::start_in_on(hub_host, 9443, &dir.path().join("hub1"), &[], &[]);
    let mut hub2 = Hub::start_in_on(hub_host, 9444, &dir.path().join("hub2"), &[], &[]);
    hub1.wait_ready();
    hub2.wait_ready();
    let (spoke_a, spoke_b) = (
        spoke_on(a, &dir.path().join("spoke-a")),
        spoke_on(b, &dir.path().join("spoke-b")),
    );
    let t1 = ocm::create_token_in(Some(hub_host.ns()), &hub1, None, "1h");
    let t2 = ocm::create_token_in(Some(hub_host.ns()), &hub2, None, "1h");
    let agent_dir = dir.path().join("agent-a");
    let _a = Agent::start_in(
        Some(a.ns()),
        "one",
        &hub_url(&hub1, hub_host, ""),
        &t1,
        &spoke_a,
        &agent_dir,
        &FAST,
    );
    let _b = Agent::start_in(
        Some(b.ns()),
        "two",
        &hub_url(&hub2, hub_host, ""),
        &t2,
        &spoke_b,
        &dir.path().join("agent-b"),
        &FAST,
    );
    wait_until("both registered", || {
        raw(&hub1, hub_host, &ocm::cluster_path("one")).is_some()
            && raw(&hub2, hub_host, &ocm::cluster_path("two")).is_some()
    });
    ocm::accept_in(Some(hub_host.ns()), &hub1, "one");
    ocm::accept_in(Some(hub_host.ns()), &hub2, "two");
    wait_until("both Available", || {
        available(&hub1, hub_host, "one").as_deref() == Some("True")
            && available(&hub2, hub_host, "two").as_deref() == Some("True")
    });
    assert!(
        raw(&hub2, hub_host, &ocm::cluster_path("one")).is_none(),
        "hub2 knows nothing of hub1's cluster"
    );
    assert!(raw(&hub1, hub_host, &ocm::cluster_path("two")).is_none());
    // Cluster one's certificate, presented to hub2: rejected (another CA).
    let kubeconfig = agent_dir.join("kubeconfig");
    let out = a
        .wrap(&Command::new(common::kubectl()))
        .args([
            "--kubeconfig",
            kubeconfig.to_str().expect("utf8"),
            "--insecure-skip-tls-verify",
            "--server",
        ])
        .arg(hub_url(&hub2, hub_host, ""))
        .args([
            "get",
            "--raw",
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/one",
        ])
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("401"),
        "hub2 must reject hub1's client certificate: {stderr}"
    );
    // Works reach only their hub's cluster.
    create(&hub1, hub_host, &work("one", "for-one"));
    create(&hub2, hub_host, &work("two", "for-two"));
    wait_until("each work is applied on its own cluster", || {
        raw(&spoke_a, a, "/api/v1/namespaces/default/configmaps/for-one").is_some()
            && raw(&spoke_b, b, "/api/v1/namespaces/default/configmaps/for-two").is_some()
    });
    assert!(raw(&spoke_a, a, "/api/v1/namespaces/default/configmaps/for-two").is_none());
    assert!(raw(&spoke_b, b, "/api/v1/namespaces/default/configmaps/for-one").is_none());
}
