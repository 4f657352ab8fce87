//! A real Kubernetes control plane as a test peer: `kube-peer up` (`hack/kube-peer/`, built
//! by `hack/install-kube-peer.sh`) runs kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok 1.37 with Debian's etcd on loopback, plus fake nodes on which
//! every scheduled pod becomes Running and Ready (and a Job's pods Succeeded).
//!
//! `KubePeer::start(dir)` gives a peer of the test's own; `KubePeer::shared()` one peer for
//! the whole test binary (use a namespace per test). Either way `up` runs under
//! `setpriv --pdeathsig TERM` from a thread that lives as long as it does, so nothing
//! outlives the test process, even when that is killed: `up` then stops its components
//! (which it started with a parent-death signal of their own) and exits.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long `up` may take to print its ready line (several peers and a cargo build can
/// share the two cores of a CI machine).
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The log files `up` writes in its directory, one per component, and its own.
pub const LOGS: [&str; 6] = [
    "up",
    "etcd",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kwok",
];

/// A running `kube-peer up`; its whole process group is killed on drop.
pub struct KubePeer {
    dir: PathBuf,
    url: String,
    kubeconfig: PathBuf,
    pid: u32,
    /// The exit status, from the thread that spawned `up` and waits for it.
    exit: Mutex<mpsc::Receiver<std::io::Result<ExitStatus>>>,
    status: Option<ExitStatus>,
}

/// The kube-peer binary: `$KUBE_PEER`, else `bin/kube-peer` in the tools directory of the
/// hack/ scripts (`$MCP_TOOLS`, else `$MCP_CACHE/tools`, else
/// `~/.cache/multicluster-controlplane/tools`).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBE_PEER") {
        return PathBuf::from(p);
    }
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let tools = var("MCP_TOOLS").unwrap_or_else(|| {
        let cache = var("MCP_CACHE").unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .unwrap_or_else(|| var("HOME").unwrap_or_default().join(".cache"))
                .join("multicluster-controlplane")
        });
        cache.join("tools")
    });
    tools.join("bin/kube-peer")
}

/// Whether kube-peer is installed. When it is not, `test` is skipped (and fails under
/// `CI=true`) through `common::skip`, and this returns false.
pub fn available(test: &str) -> bool {
    let bin = binary();
    if bin.is_file() {
        return true;
    }
    super::skip(
        test,
        &format!(
            "kube-peer not found at {}; run hack/install-kube-peer.sh (or set KUBE_PEER)",
            bin.display()
        ),
    );
    false
}

/// Real kubectl (`common::kubectl`, checked once per test binary).
fn kubectl_bin() -> &'static Path {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL.get_or_init(super::kubectl)
}

impl KubePeer {
    /// Starts `kube-peer up --dir DIR` (two fake nodes) and waits for its ready line;
    /// panics with the tails of its logs when it fails or takes longer than 5 minutes.
    pub fn start(dir: &Path) -> KubePeer {
        Self::start_with(dir, &[])
    }

    /// `start` with more `up` flags, e.g. `["--nodes", "3"]`.
    pub fn start_with(dir: &Path, extra: &[&str]) -> KubePeer {
        Self::launch(None, dir, extra)
    }

    /// `start` inside network namespace `ns` (a lab host of `common::netns`): the peer
    /// listens on that namespace's loopback, so only processes in it (an agent, kubectl
    /// through `Host::wrap`) can reach it.
    pub fn start_in(ns: &str, dir: &Path) -> KubePeer {
        Self::launch(Some(ns), dir, &[])
    }

    fn launch(ns: Option<&str>, dir: &Path, extra: &[&str]) -> KubePeer {
        let bin = binary();
        assert!(
            bin.is_file(),
            "kube-peer not found at {}; run hack/install-kube-peer.sh (or set KUBE_PEER)",
            bin.display()
        );
        std::fs::create_dir_all(dir).expect("create the kube-peer dir");
        let dir = dir.canonicalize().expect("canonical kube-peer dir");
        let up_log = std::fs::File::create(dir.join("up.log")).expect("create up.log");

        // `ip netns exec` and setpriv both exec what follows, so the parent-death signal
        // still ties `up` to the spawning thread.
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(ns) = ns {
            argv.extend(["ip", "netns", "exec", ns].map(Into::into));
        }
        if Path::new("/usr/bin/setpriv").exists() {
            argv.extend(["/usr/bin/setpriv", "--pdeathsig", "TERM", "--"].map(Into::into));
        }
        argv.push(bin.clone().into());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.arg("up")
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(up_log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);

        // The parent-death signal fires when the spawning *thread* exits, so spawn from a
        // thread that waits for `up` and ends only after it.
        let (started_tx, started_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kube-peer".into())
            .spawn(move || {
                let mut child = match cmd.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let stdout = child.stdout.take().expect("stdout");
                let _ = started_tx.send(Ok((child.id(), stdout)));
                let _ = exit_tx.send(child.wait());
            })
            .expect("spawn the kube-peer thread");
        let (pid, stdout) = started_rx
            .recv()
            .expect("kube-peer thread")
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));

        // From here on a panic drops `peer`, which kills the process group.
        let mut peer = KubePeer {
            kubeconfig: dir.join("admin.kubeconfig"),
            dir,
            url: String::new(),
            pid,
            exit: Mutex::new(exit_rx),
            status: None,
        };
        let lines = super::pump(stdout);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("kube-peer ready: ") {
                        let (url, kubeconfig) = rest
                            .split_once(" kubeconfig=")
                            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
                        peer.url = url.to_string();
                        peer.kubeconfig = PathBuf::from(kubeconfig);
                        return peer;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = peer.wait_exit(Duration::from_secs(30));
                    panic!(
                        "kube-peer up exited ({status:?}) before it was ready\n{}",
                        peer.logs()
                    );
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "kube-peer up not ready within {READY_TIMEOUT:?}\n{}",
                    peer.logs()
                );
            }
        }
    }

    /// One peer for the whole test binary, started on first use in
    /// `$CARGO_TARGET_TMPDIR/kube-peer/<test>-<pid>`. It is never dropped: it stops when
    /// the test process exits and then deletes that directory (`up --remove-dir`);
    /// directories left by a run that was killed harder are removed here.
    pub fn shared() -> &'static KubePeer {
        static SHARED: OnceLock<KubePeer> = OnceLock::new();
        static STARTING: Mutex<()> = Mutex::new(());
        if let Some(p) = SHARED.get() {
            return p;
        }
        // One start at a time; a failed start panics here and the next caller retries.
        let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = SHARED.get() {
            return p;
        }
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-peer");
        let prefix = format!("{}-", env!("CARGO_CRATE_NAME"));
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix(&prefix)
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = root.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let peer = KubePeer::start_with(&dir, &["--remove-dir"]);
        SHARED.get_or_init(|| peer)
    }

    /// `DIR/admin.kubeconfig`: server, CA and a `system:masters` client certificate.
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// The apiserver's address, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory given to `start`: certificates in `pki/` (`pki/ca.crt` is the
    /// cluster CA and CSR signer), logs as `<component>.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pid of `kube-peer up` (also its process group).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// kubectl with the admin kubeconfig and a discovery cache of this peer's own.
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_bin());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kubectl-cache"))
            .args(args);
        cmd
    }

    /// Runs kubectl against the peer.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("run kubectl")
    }

    /// Runs kubectl with `stdin` as its input (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write kubectl stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and returns its stdout; panics with its output (and the peer's log
    /// tails) when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        self.expect_ok(args, out)
    }

    /// `kubectl_stdin` that must succeed; returns stdout.
    pub fn kubectl_stdin_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        self.expect_ok(args, out)
    }

    /// `kubectl ARGS -o json`, parsed.
    pub fn kubectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.kubectl_ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("kubectl {all:?}: not JSON ({e}):\n{text}"))
    }

    fn expect_ok(&self, args: &[&str], out: Output) -> String {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        stdout
    }

    /// The last lines of `up`'s and every component's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in LOGS {
            let path = self.dir.join(format!("{name}.log"));
            let body = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({e})"));
            let lines: Vec<&str> = body.lines().collect();
            let from = lines.len().saturating_sub(25);
            text.push_str(&format!(
                "----- {} (last {} lines) -----\n{}\n",
                path.display(),
                lines.len() - from,
                lines[from..].join("\n")
            ));
        }
        text
    }

    /// The processes `up` started (etcd and the four components), from `/proc`.
    pub fn component_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(self.pid) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Sends `sig` (a name for kill(1), e.g. "TERM") to `up` alone.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} {}", self.pid);
    }

    /// Stops the peer cleanly (SIGTERM to `up`, which stops its components) and returns
    /// its exit status; panics if that takes more than a minute.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("kube-peer up did not stop within 60 s\n{}", self.logs()))
    }

    /// Waits up to `timeout` for `up` to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            let rx = self.exit.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(Ok(status)) = rx.recv_timeout(timeout) {
                self.status = Some(status);
            }
        }
        self.status
    }
}

impl Drop for KubePeer {
    fn drop(&mut self) {
        if self.status.is_none() {
            // The whole group: `up` and every component, at once.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.pid)])
                .stderr(Stdio::null())
                .status();
            let _ = self.wait_exit(Duration::from_secs(30));
        }
    }
}
