//! OCM test scaffolding: agents run as real `agent` processes against a managed cluster
//! (the real Kubernetes peer of `kube_peer`), bootstrap tokens minted with the real
//! `token` command, and JSON reads of ManagedClusters and their conditions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::kube_peer::KubePeer;
use super::{ApiServer, Hub, bin, pump, wait_until};

/// A bootstrap token and the pin of the hub CA, from `token create`.
pub struct Token {
    pub token: String,
    pub ca_hash: String,
}

/// The binary with `args`, inside network namespace `ns` when given.
pub fn command(ns: Option<&str>, args: &[&str]) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, bin()]).args(args);
            c
        }
        None => {
            let mut c = Command::new(bin());
            c.args(args);
            c
        }
    }
}

/// Mints a token with `token create` (`token` fixed when given).
pub fn create_token(hub: &Hub, token: Option<&str>, ttl: &str) -> Token {
    create_token_in(None, hub, token, ttl)
}

/// [`create_token`] run inside network namespace `ns`.
pub fn create_token_in(ns: Option<&str>, hub: &Hub, token: Option<&str>, ttl: &str) -> Token {
    let data = hub.data_dir.to_str().expect("utf8");
    let mut args = vec!["token", "create", "--data-dir", data, "--ttl", ttl];
    if let Some(t) = token {
        args.push(t);
    }
    let out = command(ns, &args).output().expect("token create");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("token line")
        .to_string();
    let ca_hash = text
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("ca hash")
        .to_string();
    Token { token, ca_hash }
}

/// A running `agent` process; killed on drop.
pub struct Agent {
    pub child: Child,
    pub dir: PathBuf,
    program: String,
    args: Vec<String>,
    pub stderr_lines: std::sync::mpsc::Receiver<String>,
}

impl Agent {
    /// Starts an agent for `cluster` joining `hub_url` with `token`; the managed cluster is
    /// `spoke`; credentials live in `dir`.
    pub fn start(
        cluster: &str,
        hub_url: &str,
        token: &Token,
        spoke: &dyn ApiServer,
        dir: &Path,
        extra: &[&str],
    ) -> Agent {
        Self::start_in(None, cluster, hub_url, token, spoke, dir, extra)
    }

    /// [`Agent::start`] inside a network namespace (`ns`), when given.
    pub fn start_in(
        ns: Option<&str>,
        cluster: &str,
        hub_url: &str,
        token: &Token,
        spoke: &dyn ApiServer,
        dir: &Path,
        extra: &[&str],
    ) -> Agent {
        let kubeconfig = spoke.admin_kubeconfig();
        let mut args: Vec<String> = [
            "agent",
            "--cluster-name",
            cluster,
            "--hub-url",
            hub_url,
            "--token",
            &token.token,
            "--hub-ca-hash",
            &token.ca_hash,
            "--hub-kubeconfig-dir",
            dir.to_str().expect("utf8"),
            "--managed-kubeconfig",
            kubeconfig.to_str().expect("utf8"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        if let Some(ns) = ns {
            let mut wrapped: Vec<String> = ["netns", "exec", ns, bin()]
                .iter()
                .map(|s| s.to_string())
                .collect();
            wrapped.extend(args);
            return Self::spawn("ip", wrapped, dir);
        }
        Self::spawn(bin(), args, dir)
    }

    fn spawn(program: &str, args: Vec<String>, dir: &Path) -> Agent {
        let mut child = Command::new(program)
            .args(&args)
            .env("RUST_LOG", "info,kube_client=error,kube_runtime=debug,multicluster_controlplane::agent::work=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn agent");
        let stderr_lines = pump(child.stderr.take().expect("stderr"));
        Agent {
            child,
            dir: dir.to_path_buf(),
            program: program.to_string(),
            args,
            stderr_lines,
        }
    }

    /// Kills the process (SIGKILL) and starts it again with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        *self = Self::spawn(&self.program.clone(), self.args.clone(), &self.dir.clone());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The log lines printed so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr_lines.try_iter().collect()
    }

    /// A client authenticating with the agent's issued certificate.
    pub fn hub_client(&self, hub: &Hub) -> reqwest::blocking::Client {
        let ca = std::fs::read(hub.data_dir.join("cert/ca.crt")).expect("ca");
        let mut pem = std::fs::read(self.dir.join("tls.crt")).expect("agent crt");
        pem.extend(std::fs::read(self.dir.join("tls.key")).expect("agent key"));
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
            .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GET as admin (on our hub or a managed cluster), `None` on 404.
pub fn get(server: &dyn ApiServer, path: &str) -> Option<Value> {
    server.get_json(path)
}

pub fn cluster_path(name: &str) -> String {
    format!("/apis/cluster.open-cluster-management.io/v1/managedclusters/{name}")
}

/// `(status, reason)` of a ManagedCluster condition.
pub fn condition(cluster: &Value, type_: &str) -> Option<(String, String)> {
    let c = cluster
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
    ))
}

/// True when the cluster's condition has `status`.
pub fn has_condition(hub: &Hub, cluster: &str, type_: &str, status: &str) -> bool {
    get(hub, &cluster_path(cluster))
        .and_then(|c| condition(&c, type_))
        .is_some_and(|(s, _)| s == status)
}

/// Runs `accept` for `cluster`; returns its output.
pub fn accept(hub: &Hub, cluster: &str) -> String {
    accept_in(None, hub, cluster)
}

/// [`accept`] run inside network namespace `ns`.
/// An agent creates its ManagedCluster a moment before its CSR: while `accept` says no
/// CSR is approved yet, it runs again (for up to 30 s), as a user would.
pub fn accept_in(ns: Option<&str>, hub: &Hub, cluster: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = accept_once(ns, hub, cluster);
        if !text.contains("is approved yet") || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// One run of `accept`: its stdout and stderr.
pub fn accept_once(ns: Option<&str>, hub: &Hub, cluster: &str) -> String {
    let out = command(
        ns,
        &[
            "accept",
            "--data-dir",
            hub.data_dir.to_str().expect("utf8"),
            cluster,
        ],
    )
    .output()
    .expect("accept");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub struct Setup {
    pub hub: Hub,
    pub spokes: Vec<KubePeer>,
    pub agents: Vec<Agent>,
    /// Each agent's metrics address.
    pub metrics: Vec<String>,
}

/// A hub with auto-approval and `n` joined clusters `c0..`, each a real control plane
/// (`KubePeer`) with an agent of ours; `extra_config` is merged into `controllers`.
pub fn setup(dir: &Path, n: usize, extra_config: Value) -> Setup {
    let mut config = json!({"controllers": {"featureGates": {"ManagedClusterAutoApproval": true},
        "autoApprovalBootstrapUsers": ["system:bootstrap:abcdef"]}});
    if let (Some(c), Some(extra)) = (
        config["controllers"].as_object_mut(),
        extra_config.as_object(),
    ) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    let path = dir.join("hub.json");
    std::fs::write(&path, config.to_string()).expect("config");
    let mut hub = Hub::start(&dir.join("hub"), &["-c", path.to_str().expect("utf8")]);
    hub.wait_ready();
    let token = create_token(&hub, Some("abcdef.0123456789abcdef"), "1h");
    let mut spokes = Vec::new();
    let mut agents = Vec::new();
    let mut metrics = Vec::new();
    for i in 0..n {
        let spoke = KubePeer::start(&dir.join(format!("spoke{i}")));
        let address = format!("127.0.0.1:{}", super::free_port());
        agents.push(Agent::start(
            &format!("c{i}"),
            &hub.url(""),
            &token,
            &spoke,
            &dir.join(format!("agent{i}")),
            &[
                "--lease-duration-seconds",
                "5",
                "--status-sync-seconds",
                "1",
                "--appliedmanifestwork-eviction-grace-seconds",
                "3",
                "--metrics-bind-address",
                &address,
            ],
        ));
        spokes.push(spoke);
        metrics.push(address);
    }
    for i in 0..n {
        wait_until(&format!("c{i} is Available"), || {
            has_condition(
                &hub,
                &format!("c{i}"),
                "ManagedClusterConditionAvailable",
                "True",
            )
        });
    }
    Setup {
        hub,
        spokes,
        agents,
        metrics,
    }
}
