//! Host tests over network namespaces: a small private network built from Linux network
//! namespaces, so an end-to-end test can run the real hub on one "machine", real clients
//! (kubectl, agents) on others, and cut or restore a machine's network link while every
//! process keeps running. It exists for behaviour that loopback cannot show: a client on
//! another address, a peer that silently stops answering (timeouts rather than
//! "connection refused"), reconnection after a partition heals.
//!
//! Topology of a [`Lab`] with the id `<prefix>-<pid>-<n>`:
//!
//! ```text
//!   <id>-hub  eth0 10.200.S.10 ─┐
//!   <id>-a    eth0 10.200.S.11 ─┼─ p-<host> ports on bridge br0 in <id>-sw
//!   <id>-b    eth0 10.200.S.12 ─┘
//! ```
//!
//! Every interface lives in a namespace the lab created (veth pairs are created inside the
//! switch namespace with their peer moved straight into the host namespace), so nothing is
//! added to the root namespace and no lab address is routable from it. `S` is derived from
//! the process id and a per-process counter; since each lab has its own switch, labs cannot
//! reach each other anyway. [`Lab::cut`] takes the host's port on the switch down (the
//! cable is unplugged at the switch: the host keeps its address and route and its packets
//! are dropped, so peers see timeouts), [`Lab::restore`] brings it back.
//!
//! Dropping the lab, also while unwinding from a panic, kills whatever still runs in its
//! namespaces (`ip netns pids`) and deletes them. Namespaces left behind by a test process
//! that died without unwinding (SIGKILL) are swept by the next [`Lab`] with the same prefix.
//!
//! Needs root and iproute2; [`Lab::usable`] says whether both work here and, when they do
//! not, records the skip (a failure under `CI=true`, see [`super::skip`]).
//!
//! ```ignore
//! if !Lab::usable("my_test") {
//!     return;
//! }
//! let lab = Lab::new("mcp");
//! let out = lab.host("a").command("ping").args(["-c1", &lab.host("hub").ip().to_string()]).output();
//! ```
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Hub, bin};

/// Hosts of [`Lab::new`].
pub const DEFAULT_HOSTS: &[&str] = &["hub", "a", "b"];

/// Interface name of a host's link, inside its own namespace.
pub const HOST_LINK: &str = "eth0";

/// Name of the bridge inside the switch namespace.
const BRIDGE: &str = "br0";

/// Last octet of the first host's address; the i-th host gets `FIRST_HOST_OCTET + i`.
const FIRST_HOST_OCTET: u8 = 10;

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// One machine of a [`Lab`]: a network namespace with one link to the switch.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    ns: String,
    ip: Ipv4Addr,
    /// The switch-side end of its link, in the switch namespace.
    port: String,
}

impl Host {
    /// The short name given to [`Lab::with_hosts`] (`hub`, `a`, `b` for [`Lab::new`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Name of its network namespace (as `ip netns list` shows it).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Its address on the lab network.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// A command that runs `program` inside this host's namespace
    /// (`ip netns exec <ns> <program>`); add arguments, environment and stdio as usual.
    /// `ip netns exec` execs the program, so the child's pid is the program's own.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).arg(program);
        cmd
    }

    /// The same command as `cmd` (program, arguments, environment changes and working
    /// directory), run inside this host's namespace; e.g. `host.wrap(&kubectl_cmd(..))`.
    /// Stdio settings and `env_clear` are not carried over (std cannot read them back).
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut out = self.command(cmd.get_program());
        out.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => out.env(k, v),
                None => out.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            out.current_dir(dir);
        }
        out
    }
}

/// A private network of namespaces; see the module documentation. Deleted on drop.
#[derive(Debug)]
pub struct Lab {
    id: String,
    switch_ns: String,
    subnet: u8,
    hosts: Vec<Host>,
    /// Every namespace created so far, deleted on drop (also when `new` fails half way).
    created: Vec<String>,
}

impl Lab {
    /// Whether this machine can build labs: running as root and `ip netns add` works.
    /// Computed once per process.
    pub fn available() -> bool {
        Self::unavailable_reason().is_none()
    }

    /// Whether labs can be built here; when not, `test` is skipped through [`super::skip`]
    /// (which fails it under `CI=true`).
    pub fn usable(test: &str) -> bool {
        match Self::unavailable_reason() {
            None => true,
            Some(why) => {
                super::skip(test, &why);
                false
            }
        }
    }

    /// Why labs cannot be built here, or `None` when they can.
    pub fn unavailable_reason() -> Option<String> {
        static REASON: OnceLock<Option<String>> = OnceLock::new();
        REASON.get_or_init(probe).clone()
    }

    /// A lab with the hosts `hub`, `a` and `b`. Panics when it cannot be built; check
    /// [`Lab::available`] first.
    pub fn new(prefix: &str) -> Lab {
        Self::with_hosts(prefix, DEFAULT_HOSTS)
    }

    /// A lab with the given hosts (at most 200, names of at most 13 bytes, no `-`).
    /// `prefix` names the namespaces (`<prefix>-<pid>-<n>-<host>`); leftovers of dead
    /// processes that used the same prefix are deleted first.
    pub fn with_hosts(prefix: &str, names: &[&str]) -> Lab {
        assert!(
            !prefix.is_empty() && !prefix.contains('/') && !prefix.contains(char::is_whitespace),
            "bad lab prefix {prefix:?}"
        );
        assert!(names.len() <= 200, "too many hosts");
        sweep_stale(prefix);
        let pid = std::process::id();
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let id = format!("{prefix}-{pid}-{n}");
        let subnet = ((pid.wrapping_add(n)) % 250) as u8 + 1;
        let mut lab = Lab {
            switch_ns: format!("{id}-sw"),
            id,
            subnet,
            hosts: Vec::new(),
            created: Vec::new(),
        };
        // From here on a panic drops `lab`, which deletes what was created so far.
        let sw = lab.switch_ns.clone();
        lab.add_ns(&sw);
        ip(&["-n", &sw, "link", "add", BRIDGE, "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", BRIDGE, "up"]);
        for (i, name) in names.iter().enumerate() {
            let port = format!("p-{name}");
            assert!(
                !name.is_empty() && !name.contains('-') && port.len() <= 15,
                "bad host name {name:?} (1 to 13 bytes, no '-')"
            );
            assert!(
                lab.hosts.iter().all(|h| h.name != *name),
                "host {name:?} given twice"
            );
            let ns = format!("{}-{name}", lab.id);
            lab.add_ns(&ns);
            let ip_addr = Ipv4Addr::new(10, 200, subnet, FIRST_HOST_OCTET + i as u8);
            let cidr = format!("{ip_addr}/24");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", HOST_LINK,
                "netns", &ns,
            ]);
            ip(&["-n", &sw, "link", "set", &port, "master", BRIDGE]);
            ip(&["-n", &sw, "link", "set", &port, "up"]);
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", HOST_LINK]);
            ip(&["-n", &ns, "link", "set", HOST_LINK, "up"]);
            lab.hosts.push(Host {
                name: name.to_string(),
                ns,
                ip: ip_addr,
                port,
            });
        }
        lab
    }

    /// `<prefix>-<pid>-<n>`, the common start of its namespace names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab network, `10.200.S.0/24`.
    pub fn subnet(&self) -> String {
        format!("10.200.{}.0/24", self.subnet)
    }

    /// Name of the switch namespace (holds the bridge and one port per host).
    pub fn switch_ns(&self) -> &str {
        &self.switch_ns
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host called `name`; panics when there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("lab {} has no host {name:?}", self.id))
    }

    /// Unplugs `name`'s cable at the switch: its port goes down, the host keeps its address,
    /// route and processes, and nothing it sends or is sent reaches anyone (timeouts, not
    /// refusals).
    pub fn cut(&self, name: &str) {
        let port = &self.host(name).port;
        ip(&["-n", &self.switch_ns, "link", "set", port, "down"]);
    }

    /// Plugs `name`'s cable back in (undoes [`Lab::cut`]). Connections attempted right
    /// after it may still fail with "no route to host" for up to a second (an ARP
    /// resolution started during the cut fails late), so wait for the condition you need.
    pub fn restore(&self, name: &str) {
        let port = &self.host(name).port;
        ip(&["-n", &self.switch_ns, "link", "set", port, "up"]);
    }

    /// Whether `name`'s link is currently cut.
    pub fn is_cut(&self, name: &str) -> bool {
        let port = &self.host(name).port;
        let out = ip(&["-n", &self.switch_ns, "-o", "link", "show", port]);
        !String::from_utf8_lossy(&out.stdout).contains(",UP")
    }

    fn add_ns(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.created.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Hosts first, the switch last: deleting a host namespace removes its veth pair.
        for ns in self.created.iter().rev() {
            delete_ns(ns);
        }
    }
}

/// Kills every process in `ns` (waiting up to 5 s for them to go), then deletes it.
/// Never panics: it runs from `Drop`, possibly while unwinding.
fn delete_ns(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = ns_pids(ns);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in &pids {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("ip").args(["netns", "delete", ns]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => eprintln!(
            "netns: could not delete namespace {ns}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => eprintln!("netns: could not run ip netns delete {ns}: {e}"),
    }
}

fn ns_pids(ns: &str) -> Vec<String> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes namespaces `<prefix>-<pid>-<n>-<host>` whose process is gone.
fn sweep_stale(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let me = std::process::id().to_string();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Lines look like `name` or `name (id: 3)`.
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('-').collect();
        let [pid, n, host] = parts[..] else { continue };
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !numeric(pid) || !numeric(n) || host.is_empty() || pid == me {
            continue;
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("netns: deleting stale namespace {name} (process {pid} is gone)");
            delete_ns(name);
        }
    }
}

/// Runs `ip args`, panicking with its stderr on failure.
fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

fn probe() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        return Some(format!(
            "network namespaces need root (effective uid {euid:?})"
        ));
    }
    let name = format!(
        "probe-{}-{}",
        std::process::id(),
        NEXT_LAB.fetch_add(1, Ordering::Relaxed)
    );
    match Command::new("ip").args(["netns", "add", &name]).output() {
        Err(e) => Some(format!("cannot run ip (iproute2): {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "ip netns add failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => {
            // Creating a namespace is not enough: creating veth pairs and bridges in it
            // needs the modules too.
            let ok = |args: &[&str]| {
                Command::new("ip")
                    .args(args)
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            };
            let reason = if !ok(&["-n", &name, "link", "add", "pb0", "type", "bridge"]) {
                Some("cannot create a bridge inside a network namespace".to_string())
            } else if !ok(&[
                "-n", &name, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1",
            ]) {
                Some("cannot create a veth pair inside a network namespace".to_string())
            } else {
                None
            };
            delete_ns(&name);
            reason
        }
    }
}

impl Hub {
    /// Starts `server` inside `host`'s namespace, listening on the host's lab address with
    /// the default port 9443 (the namespace is fresh, so it is free). Binding to that address
    /// puts it into the serving certificate and the admin kubeconfig, so clients in other
    /// hosts of the lab can use [`Hub::kubeconfig`] as is. [`Hub::url`] still says
    /// 127.0.0.1, which only works from inside `host`; use [`hub_url`] instead.
    pub fn start_in(host: &Host, data_dir: &Path, extra: &[&str]) -> Hub {
        Self::start_in_with_env(host, data_dir, extra, &[])
    }

    pub fn start_in_with_env(
        host: &Host,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Hub {
        Self::start_in_on(host, 9443, data_dir, extra, env)
    }

    /// [`Hub::start_in`] on another port (several hubs on one host).
    pub fn start_in_on(
        host: &Host,
        port: u16,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Hub {
        let port_s = port.to_string();
        let bind = host.ip().to_string();
        let data = data_dir.to_str().expect("utf8 path");
        let mut cmd = host.command(bin());
        cmd.args([
            "server",
            "--data-dir",
            data,
            "--port",
            &port_s,
            "--bind-address",
            &bind,
        ])
        .args(extra);
        Hub::spawn(cmd, port, data_dir, env)
    }
}

/// `https://<host ip>:<port><path>` of a hub started with [`Hub::start_in`] on `host`.
pub fn hub_url(hub: &Hub, host: &Host, path: &str) -> String {
    format!("https://{}:{}{path}", host.ip(), hub.port)
}

/// `kubectl get --raw path` as admin of `server` (our hub, or a peer in the lab), from
/// inside `host`.
pub fn raw(server: &dyn super::ApiServer, host: &Host, path: &str) -> Option<serde_json::Value> {
    let out = host
        .wrap(&super::kubectl_as(
            server,
            &["--request-timeout=5s", "get", "--raw", path],
        ))
        .output()
        .expect("kubectl");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// `kubectl create -f -` of `object` as admin, from inside `host`.
pub fn create(hub: &Hub, host: &Host, object: &str) {
    use std::io::Write;
    let mut cmd = host.wrap(&super::kubectl_cmd(hub, &["create", "-f", "-"]));
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("kubectl create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(object.as_bytes())
        .expect("write");
    assert!(
        child.wait().expect("wait").success(),
        "creating {object} failed"
    );
}

pub fn available(hub: &Hub, host: &Host, cluster: &str) -> Option<String> {
    let mc = raw(hub, host, &super::ocm::cluster_path(cluster))?;
    super::ocm::condition(&mc, "ManagedClusterConditionAvailable").map(|c| c.0)
}

/// A real Kubernetes control plane as `host`'s managed cluster, on that host's loopback:
/// only processes inside the host (its agent, kubectl through [`raw`]) reach it.
pub fn spoke_on(host: &Host, dir: &std::path::Path) -> super::kube_peer::KubePeer {
    super::kube_peer::KubePeer::start_in(host.ns(), dir)
}
