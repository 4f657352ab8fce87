//! Helpers shared by the end-to-end tests: start the real binary on a free loopback port,
//! wait for it to be ready, find real kubectl.
#![allow(dead_code)]

pub mod addon;
pub mod etcd;
pub mod ha;
pub mod kube_peer;
pub mod netns;
pub mod ocm;
pub mod ocm_hub;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A prerequisite of `test` is missing (`why` says which). Under `CI=true` that fails the
/// test: CI must prove everything it claims to run. Elsewhere the test is skipped, and the
/// skip is appended to `$MCP_SKIP_LOG` (set by `hack/test.sh`) so the suite's summary counts
/// and names it instead of reporting a silent pass. Returns so callers can `return` after.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: a prerequisite is missing and CI=true forbids skipping: {why}");
    }
    eprintln!("skipped: {test}: {why}");
    if let Some(log) = std::env::var_os("MCP_SKIP_LOG") {
        use std::io::Write;
        let line = format!("{test}\t{}\n", why.replace(['\n', '\t'], " "));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!(
                "{test}: cannot record the skip in {}: {e}",
                log.to_string_lossy()
            );
        }
    }
}

/// The binary under test: `$MCP_BIN` when set (a copy taken right after the build, where
/// several worktrees share one target directory and overwrite its uplifted binary), else
/// the one cargo built for this test.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("MCP_BIN")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_multicluster-controlplane").to_string())
    })
}

/// An API server a test reads and writes as its administrator: our hub, or the real
/// Kubernetes control plane ([`kube_peer::KubePeer`]) that stands as a managed cluster.
pub trait ApiServer {
    /// The admin kubeconfig (what agents and kubectl are given).
    fn admin_kubeconfig(&self) -> PathBuf;
    /// `https://<address><path>`.
    fn api_url(&self, path: &str) -> String;
    /// An HTTPS client trusting the server's CA and presenting an admin certificate.
    fn admin_http(&self) -> reqwest::blocking::Client;

    /// GET as admin; `None` on 404.
    fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        let r = self.admin_http().get(self.api_url(path)).send().ok()?;
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().ok()
    }
}

impl ApiServer for Hub {
    fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig()
    }
    fn api_url(&self, path: &str) -> String {
        self.url(path)
    }
    fn admin_http(&self) -> reqwest::blocking::Client {
        client(&self.data_dir, true)
    }
}

impl ApiServer for kube_peer::KubePeer {
    fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig()
    }
    fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }
    fn admin_http(&self) -> reqwest::blocking::Client {
        let pki = self.dir().join("pki");
        tls_client(
            &pki.join("ca.crt"),
            Some((&pki.join("admin.crt"), &pki.join("admin.key"))),
        )
    }
}

/// A blocking HTTPS client trusting only `ca`, presenting `identity` (certificate, key).
pub fn tls_client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::blocking::Client {
    let ca = std::fs::read(ca).expect("ca");
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
        .timeout(Duration::from_secs(10));
    if let Some((crt, key)) = identity {
        let mut pem = std::fs::read(crt).expect("crt");
        pem.extend(std::fs::read(key).expect("key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    b.build().expect("client")
}

/// Runs the binary to completion with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run binary")
}

/// A loopback port nobody listens on right now, for a server that a test starts later.
///
/// It is drawn at random from below the kernel's ephemeral range: a port from that range
/// (what binding port 0 gives) can be taken as the local end of any outgoing connection
/// before the server binds it, which made starts fail with "address already in use"
/// while other tests ran.
///
/// A port is handed out once per test process, so two servers of one test (or of two
/// tests running side by side) never draw the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low > 12_000 {
        for _ in 0..1000 {
            let port = rand::random_range(10_000..ephemeral_low);
            if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.push(port);
                return port;
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    given.push(port);
    port
}

/// Real kubectl (1.35 or newer): `$KUBECTL`, else `kubectl` on PATH.
pub fn kubectl() -> PathBuf {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"));
    let out = Command::new(&path)
        .args(["version", "--client", "-o", "json"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubectl not found at {}: {e}; run hack/test.sh, which installs it",
                path.display()
            )
        });
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kubectl version json");
    let minor: u32 = v["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap_or(0);
    assert!(
        minor >= 35,
        "kubectl at {} is too old (minor {minor}); set KUBECTL to kubectl >= 1.35 (hack/test.sh installs 1.37)",
        path.display()
    );
    path
}

/// A running server; killed on drop.
pub struct Hub {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    pub stdout_lines: mpsc::Receiver<String>,
    pub stderr_lines: mpsc::Receiver<String>,
}

impl Hub {
    /// Starts `server` with a fresh port on 127.0.0.1 and the given extra args.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Hub {
        Self::start_with_env(data_dir, extra, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Hub {
        Self::start_on(data_dir, free_port(), extra, env)
    }

    /// Starts `server` on a given loopback port (a restart keeps its address).
    pub fn start_on(data_dir: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Hub {
        let mut cmd = Command::new(bin());
        cmd.args(Self::server_args(data_dir, port)).args(extra);
        Self::spawn(cmd, port, data_dir, env)
    }

    /// The arguments of `server` on `data_dir` and a loopback `port` (without the binary,
    /// for commands that wrap it).
    pub fn server_args(data_dir: &Path, port: u16) -> Vec<String> {
        let data = data_dir.to_str().expect("utf8 path");
        [
            "server",
            "--data-dir",
            data,
            "--port",
            &port.to_string(),
            "--bind-address",
            "127.0.0.1",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Spawns a prepared `server` command, capturing its output.
    pub fn spawn(mut cmd: Command, port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Hub {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn server");
        let stdout_lines = pump(child.stdout.take().expect("stdout"));
        let stderr_lines = pump(child.stderr.take().expect("stderr"));
        Hub {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
            stdout_lines,
            stderr_lines,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("cert/kube-aggregator.kubeconfig")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until the server prints its ready line (it does so only after `/readyz` would
    /// answer 200), or panics with its stderr if it exits or takes too long.
    pub fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(line) = self.stdout_lines.recv_timeout(Duration::from_millis(100))
                && line.contains("is ready")
            {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let err: Vec<String> = self.stderr_lines.try_iter().collect();
                panic!(
                    "server exited with {status} before ready:\n{}",
                    err.join("\n")
                );
            }
            assert!(Instant::now() < deadline, "server not ready within 60 s");
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM");
        wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a child to exit, killing it (and failing) after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

pub fn pump<R: std::io::Read + Send + 'static>(r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// An HTTPS client trusting the hub's CA, optionally presenting the admin certificate.
/// An async client trusting the hub CA, with the admin certificate when `admin`; the
/// benchmarks use it (`http1` forces one connection per in-flight request).
pub fn async_client(data_dir: &Path, admin: bool, http1: bool) -> reqwest::Client {
    let ca = std::fs::read(data_dir.join("cert/ca.crt")).expect("ca");
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"));
    if http1 {
        b = b.http1_only();
    }
    if admin {
        let mut pem = std::fs::read(data_dir.join("cert/admin.crt")).expect("crt");
        pem.extend(std::fs::read(data_dir.join("cert/admin.key")).expect("key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    b.build().expect("client")
}

/// A response's status, after reading its body: a body dropped unread is an HTTP/2 stream
/// the client cancels, and hyper's client closes the connection after 1,024 of those.
pub async fn read_status(response: reqwest::Response) -> reqwest::StatusCode {
    let status = response.status();
    let _ = response.bytes().await;
    status
}

/// Polls `check` every 50 ms until it holds; fails the test after 30 s naming `what`.
pub fn wait_until(what: &str, check: impl FnMut() -> bool) {
    wait_until_within(what, 30, check);
}

/// [`wait_until`] with a limit of `seconds` (the real Kubernetes peer's controllers, on a
/// loaded 2-core machine, take longer than our hub to act).
pub fn wait_until_within(what: &str, seconds: u64, check: impl FnMut() -> bool) {
    wait_until_or_explain(what, seconds, check, String::new);
}

/// [`wait_until_within`] that, on timeout, adds what `explain` gathers (logs, statuses)
/// to the failure.
pub fn wait_until_or_explain(
    what: &str,
    seconds: u64,
    mut check: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        if Instant::now() >= deadline {
            panic!("timed out waiting until {what}\n{}", explain());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn client(data_dir: &Path, admin: bool) -> reqwest::blocking::Client {
    let cert = data_dir.join("cert");
    let (crt, key) = (cert.join("admin.crt"), cert.join("admin.key"));
    tls_client(&cert.join("ca.crt"), admin.then_some((&crt, &key)))
}

/// kubectl with the hub's admin kubeconfig and a discovery cache of its own (ports are
/// reused between tests; a shared cache could describe another hub).
pub fn kubectl_cmd(hub: &Hub, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl());
    cmd.arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .arg("--cache-dir")
        .arg(hub.data_dir.join("kubectl-cache"))
        .args(args);
    cmd
}

/// kubectl as the administrator of any API server, with a discovery cache beside its
/// kubeconfig.
pub fn kubectl_as(server: &dyn ApiServer, args: &[&str]) -> Command {
    let kubeconfig = server.admin_kubeconfig();
    let cache = kubeconfig.with_extension("kubectl-cache");
    let mut cmd = Command::new(kubectl());
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args);
    cmd
}

/// Runs kubectl with the hub's admin kubeconfig.
pub fn kubectl_run(hub: &Hub, args: &[&str]) -> Output {
    kubectl_cmd(hub, args).output().expect("run kubectl")
}

/// Resident memory of a process, in MB (from /proc).
pub fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS")
}

/// A memory figure of `/proc/<pid>/status` (`VmRSS`, `RssAnon`, `RssFile`...) in MB.
pub fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
