//! A real upstream OCM hub on a kube peer: what the cluster-manager operator would set up,
//! done by hand. `OcmHub::start(peer, dir)` applies the hub CRDs and the bootstrap RBAC of
//! `open-cluster-management.io/ocm` v1.2.0 (read at test time from the Go module cache that
//! `hack/install-go-peers.sh` fills; nothing of them is kept in this repository) and runs
//! upstream's four hub controllers as processes of `ocm-hub` (`hack/ocm-hub/`, built by
//! `hack/install-ocm-hub.sh`), with the peer's admin kubeconfig and no leader election.
//!
//! Not set up: the registration, work and add-on webhooks (nothing defaults the
//! `cluster.open-cluster-management.io/clusterset` label of new ManagedClusters or
//! validates ManifestWorks on the hub) and the add-on CRDs' conversion webhook (their
//! conversion strategy is rendered as `None`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::kube_peer::KubePeer;

/// The ocm module version the hub controllers come from (`hack/ocm-hub/go.mod`).
pub const OCM_VERSION: &str = "v1.2.0";

/// The namespace the cluster-manager operator runs the hub in; the controllers record
/// their events there.
pub const HUB_NAMESPACE: &str = "open-cluster-management-hub";

/// The group the bootstrap token authenticates into, bound to the bootstrap ClusterRole.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers:managedcluster";

/// Upstream's hub controllers: `ocm-hub <tool> <command>`.
const CONTROLLERS: [(&str, &str); 4] = [
    ("registration", "controller"),
    ("work", "manager"),
    ("placement", "controller"),
    ("addon", "manager"),
];

/// How long the hub may take to come up (the CRDs, then four controllers that each
/// start a health server and informers) on a shared 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The tools directory of the hack/ scripts: `$MCP_TOOLS`, else `$MCP_CACHE/tools`, else
/// `~/.cache/multicluster-controlplane/tools`.
fn tools_dir() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("MCP_TOOLS").unwrap_or_else(|| {
        let cache = var("MCP_CACHE").unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .unwrap_or_else(|| var("HOME").unwrap_or_default().join(".cache"))
                .join("multicluster-controlplane")
        });
        cache.join("tools")
    })
}

/// The ocm-hub binary: `$OCM_HUB`, else `bin/ocm-hub` in the tools directory.
pub fn binary() -> PathBuf {
    std::env::var_os("OCM_HUB")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| tools_dir().join("bin/ocm-hub"))
}

/// The unpacked ocm module: `$OCM_MODULE_DIR`, else
/// `gomodcache/open-cluster-management.io/ocm@v1.2.0` in the tools directory.
pub fn module_dir() -> PathBuf {
    std::env::var_os("OCM_MODULE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            tools_dir()
                .join("gomodcache/open-cluster-management.io")
                .join(format!("ocm@{OCM_VERSION}"))
        })
}

/// A Go peer of the hack/ scripts: `$<env>`, else `bin/<name>` in the tools directory.
pub fn tool(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| tools_dir().join("bin").join(name))
}

/// Whether ocm-hub and the ocm module are there. When they are not, `test` is skipped
/// (and fails under `CI=true`) through `common::skip`, and this returns false.
pub fn available(test: &str) -> bool {
    let bin = binary();
    if !bin.is_file() {
        super::skip(
            test,
            &format!(
                "ocm-hub not found at {}; run hack/install-ocm-hub.sh (or set OCM_HUB)",
                bin.display()
            ),
        );
        return false;
    }
    let crds = module_dir().join("manifests/cluster-manager/hub/crds");
    if !crds.is_dir() {
        super::skip(
            test,
            &format!(
                "the ocm {OCM_VERSION} module is not unpacked at {} (no {}); run \
                 hack/install-ocm-hub.sh (or set OCM_MODULE_DIR)",
                module_dir().display(),
                crds.display()
            ),
        );
        return false;
    }
    true
}

/// One hub controller process.
struct Controller {
    name: &'static str,
    child: Child,
    log: PathBuf,
    listen: String,
}

/// An upstream OCM hub on a kube peer; the controllers are killed on drop (the peer and
/// what was applied to it stay).
pub struct OcmHub {
    dir: PathBuf,
    url: String,
    kubeconfig: PathBuf,
    ca_file: PathBuf,
    controllers: Vec<Controller>,
}

/// Reads a manifest template of the ocm module.
fn read_manifest(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The hub CRDs as the cluster-manager operator would apply them: its two template values
/// filled in, and (no add-on webhook here) no conversion webhook.
fn hub_crds() -> Vec<Value> {
    let dir = module_dir().join("manifests/cluster-manager/hub/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no CRDs in {}", dir.display());
    files
        .iter()
        .map(|path| {
            let text = read_manifest(path)
                .replace("{{ .ClusterManagerNamespace }}", HUB_NAMESPACE)
                .replace("{{ .AddonAPIServiceCABundle }}", "\"\"");
            assert!(
                !text.contains("{{"),
                "{}: a template value this helper does not know",
                path.display()
            );
            let mut crd: Value = multicluster_controlplane::api::yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
            assert_eq!(
                crd["kind"],
                "CustomResourceDefinition",
                "{}",
                path.display()
            );
            if crd.pointer("/spec/conversion/strategy") == Some(&json!("Webhook")) {
                crd["spec"]["conversion"] = json!({"strategy": "None"});
            }
            crd
        })
        .collect()
}

/// The bootstrap ClusterRole and its binding to [`BOOTSTRAP_GROUP`], from the
/// cluster-manager chart (its `{{- if ... }}` / `{{- end }}` wrappers dropped, as helm
/// renders them with `createBootstrapToken: true`).
fn bootstrap_rbac() -> Vec<Value> {
    let dir = module_dir().join("deploy/cluster-manager/chart/cluster-manager/templates");
    [
        "bootstrap_cluster_role.yaml",
        "bootstrap_cluster_role_binding.yaml",
    ]
    .iter()
    .map(|name| {
        let path = dir.join(name);
        let text: String = read_manifest(&path)
            .lines()
            .filter(|l| !l.trim_start().starts_with("{{"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            !text.contains("{{"),
            "{}: a template this helper does not render",
            path.display()
        );
        multicluster_controlplane::api::yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
    })
    .collect()
}

/// Applies `objects` (server-side: some CRDs are too big for the last-applied annotation).
fn apply(peer: &KubePeer, dir: &Path, name: &str, objects: Vec<Value>) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&list).expect("json")).expect("write");
    peer.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "ocm-hub-test",
        "-f",
        path.to_str().expect("utf8"),
    ]);
}

/// The last `n` lines of a file, for failure messages.
fn tail(path: &Path, n: usize) -> String {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = body.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl OcmHub {
    /// Turns `peer` into an upstream OCM hub and waits until its four controllers serve
    /// their health endpoints and the registration controller has created the `default`
    /// and `global` ManagedClusterSets. Logs go to `dir/<tool>.log`. The controllers run
    /// under `setpriv --pdeathsig KILL`, so they die with the thread that called this:
    /// call it from the thread that keeps the hub (the test's own), not a short-lived one.
    pub fn start(peer: &KubePeer, dir: &Path) -> OcmHub {
        Self::start_only(peer, dir, &CONTROLLERS.map(|(tool, _)| tool))
    }

    /// As [`OcmHub::start`], with only the named controllers (`registration`, `work`,
    /// `placement`, `addon`); the `default` and `global` sets are awaited only when the
    /// registration controller runs.
    pub fn start_only(peer: &KubePeer, dir: &Path, only: &[&str]) -> OcmHub {
        std::fs::create_dir_all(dir).expect("create the hub dir");
        let dir = dir.canonicalize().expect("canonical hub dir");

        let crds = hub_crds();
        let names: Vec<String> = crds
            .iter()
            .map(|c| format!("crd/{}", c["metadata"]["name"].as_str().expect("crd name")))
            .collect();
        apply(peer, &dir, "hub-crds", crds);
        let mut wait = vec![
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "120s",
        ];
        wait.extend(names.iter().map(String::as_str));
        peer.kubectl_ok(&wait);

        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": HUB_NAMESPACE}});
        let mut objects = vec![namespace];
        objects.extend(bootstrap_rbac());
        apply(peer, &dir, "hub-objects", objects);

        let mut hub = OcmHub {
            url: peer.url().to_string(),
            kubeconfig: peer.kubeconfig(),
            ca_file: peer.dir().join("pki/ca.crt"),
            dir,
            controllers: Vec::new(),
        };
        assert!(
            hub.ca_file.is_file(),
            "the kube peer has no CA at {}",
            hub.ca_file.display()
        );
        for (tool, command) in CONTROLLERS {
            if only.contains(&tool) {
                hub.spawn(tool, command);
            }
        }
        hub.wait_ready();
        hub
    }

    /// Runs kubectl against the hub as its admin, with `stdin` as input when given.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(super::kubectl())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kubectl-cache"))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes())
                .expect("write kubectl stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Starts `ocm-hub <tool> <command>` against the peer.
    fn spawn(&mut self, tool: &'static str, command: &str) {
        let log = self.dir.join(format!("{tool}.log"));
        let out = File::create(&log).expect("create the controller log");
        let err = out.try_clone().expect("clone the log handle");
        let listen = format!("127.0.0.1:{}", super::free_port());
        let bin = binary();
        // With setpriv, the controller dies with the thread that started it (the test's),
        // even when the test process is killed before Drop runs.
        let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args([tool, command])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args([
                "--disable-leader-election",
                "--namespace",
                HUB_NAMESPACE,
                "--listen",
                &listen,
                "--v",
                "2",
            ])
            // Upstream's ManifestWorkReplicaSet controller is behind an alpha gate.
            .args((tool == "work").then_some("--feature-gates=ManifestWorkReplicaSet=true"))
            // The controllers write their serving certificates to a temporary directory.
            .env("TMPDIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        self.controllers.push(Controller {
            name: tool,
            child,
            log,
            listen,
        });
    }

    fn wait_ready(&mut self) {
        let http = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<&'static str> = self.controllers.iter().map(|c| c.name).collect();
        let mut sets = !self.controllers.iter().any(|c| c.name == "registration");
        while !pending.is_empty() || !sets {
            self.check_running();
            pending.retain(|name| {
                let c = self
                    .controllers
                    .iter()
                    .find(|c| c.name == *name)
                    .expect("c");
                let ok = http
                    .get(format!("https://{}/healthz", c.listen))
                    .send()
                    .is_ok_and(|r| r.status().is_success());
                !ok
            });
            if !sets {
                let out = self.kubectl(&["get", "managedclustersets", "default", "global"], None);
                sets = out.status.success();
            }
            if Instant::now() > deadline {
                panic!(
                    "the OCM hub is not ready within {READY_TIMEOUT:?}: unhealthy: {pending:?}, \
                     ManagedClusterSets default and global created: {sets}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Panics (with the logs) when a controller has exited.
    pub fn check_running(&mut self) {
        let mut exited = Vec::new();
        for c in &mut self.controllers {
            if let Ok(Some(status)) = c.child.try_wait() {
                exited.push(format!("{} ({status})", c.name));
            }
        }
        if !exited.is_empty() {
            panic!(
                "OCM hub controllers exited: {}\n{}",
                exited.join(", "),
                self.logs()
            );
        }
    }

    /// Creates a bootstrap token of the hub, the way the cluster-manager chart and
    /// `clusteradm init` do (a `bootstrap-token-<id>` Secret in kube-system labelled
    /// `app=cluster-manager`, which `clusteradm get token --use-bootstrap-token` reads),
    /// valid for an hour; returns `<id>.<secret>`.
    pub fn bootstrap_token(&self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let random = |n: usize| -> String {
            (0..n)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let (id, secret) = (random(6), random(16));
        let expiration = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
            .replace_nanosecond(0)
            .expect("whole seconds")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
        let object = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system",
                         "labels": {"app": "cluster-manager"}},
            "type": "bootstrap.kubernetes.io/token",
            "stringData": {"token-id": id, "token-secret": secret,
                           "expiration": expiration,
                           "usage-bootstrap-authentication": "true",
                           "auth-extra-groups": BOOTSTRAP_GROUP}});
        let out = self.kubectl(&["create", "-f", "-"], Some(&object.to_string()));
        assert!(
            out.status.success(),
            "creating the bootstrap token Secret failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{id}.{secret}")
    }

    /// The process id of controller `tool`, when it runs.
    pub fn pid(&self, tool: &str) -> Option<u32> {
        self.controllers
            .iter()
            .find(|c| c.name == tool)
            .map(|c| c.child.id())
    }

    /// The hub's address, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The peer's admin kubeconfig, which the controllers use too.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The CA that signs the hub's serving certificate and the agents' client certificates.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The log of controller `tool` (`registration`, `work`, `placement`, `addon`).
    pub fn log_path(&self, tool: &str) -> PathBuf {
        self.dir.join(format!("{tool}.log"))
    }

    /// The last lines of every controller's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for c in &self.controllers {
            text.push_str(&format!(
                "----- {} (last 30 lines) -----\n{}\n",
                c.log.display(),
                tail(&c.log, 30)
            ));
        }
        text
    }
}

impl Drop for OcmHub {
    fn drop(&mut self) {
        for c in &mut self.controllers {
            let _ = c.child.kill();
        }
        for c in &mut self.controllers {
            let _ = c.child.wait();
        }
    }
}
