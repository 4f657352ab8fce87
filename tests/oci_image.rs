//! The OCI image, assembled by hack/oci-image.sh with umoci from the binary under test
//! (the same layout and configuration as nix/image.nix), unpacked and run with runc. The
//! container joins the network namespace of a lab host (`common::netns`), runs the image's
//! default command as user 65532 with its data directory as a volume, and is reached from
//! another host of the lab: /readyz answers, and the admin kubeconfig it wrote works with
//! kubectl. SIGTERM stops it cleanly.
//!
//! Needs root and network namespaces (skipped, with a message, without them), and the
//! Debian packages umoci and runc (crun fails on this machine's hybrid cgroup layout).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Host, Lab};
use common::{bin, kubectl, pump, wait_exit};
use serde_json::Value;

const DATA_DIR: &str = "/var/lib/multicluster-controlplane";
const TAG: &str = "test";
const REVISION: &str = "0123abc";

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
    out
}

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} not found: install the Debian packages umoci and runc \
         (apt-get install -y umoci runc)"
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    read_json(&layout.join("blobs/sha256").join(hex))
}

/// The image configuration of `layout:tag`, read from the OCI layout.
fn image_config(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let manifest = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no manifest tagged {tag}: {index}"));
    let manifest = blob(layout, manifest["digest"].as_str().expect("digest"));
    blob(
        layout,
        manifest["config"]["digest"].as_str().expect("digest"),
    )
}

/// A runc container; killed and deleted on drop.
struct Container {
    id: String,
    state_root: PathBuf,
    child: Option<Child>,
}

impl Container {
    fn runc(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.state_root);
        cmd
    }

    fn state(&self) -> Value {
        let out = run(self.runc().args(["state", &self.id]));
        serde_json::from_slice(&out.stdout).expect("runc state json")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self
            .runc()
            .args(["kill", &self.id, "KILL"])
            .stderr(Stdio::null())
            .status();
        if let Some(child) = self.child.as_mut() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self
            .runc()
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// Polls `check` every 200 ms until it holds, failing after `secs` seconds.
fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn curl_readyz(from: &Host, ca: &Path, hub_ip: &str) -> Output {
    from.command("curl")
        .args(["-sS", "--max-time", "3", "--cacert"])
        .arg(ca)
        // The serving certificate names localhost (and the container's host name); the
        // container was given no external host name, as with a plain `docker run`.
        .args([
            "--connect-to",
            &format!("localhost:9443:{hub_ip}:9443"),
            "https://localhost:9443/readyz",
        ])
        .output()
        .expect("run curl")
}

#[test]
fn oci_image_runs_under_runc_and_serves_another_namespace() {
    if !Lab::usable("oci_image_runs_under_runc_and_serves_another_namespace") {
        return;
    }
    require("umoci");
    require("runc");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    // 1. Assemble the image from the binary under test.
    let out = run(Command::new(repo.join("hack/oci-image.sh"))
        .args(["--binary", bin(), "--tag", TAG, "--revision", REVISION])
        .arg(dir.path().join("image")));
    let image = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let layout = dir.path().join("image/layout");
    assert_eq!(image, format!("{}:{TAG}", layout.display()));

    // 2. Its configuration: what nix/image.nix declares.
    let config = image_config(&layout, TAG);
    assert_eq!(config["os"], "linux");
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/multicluster-controlplane"])
    );
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["server", "--data-dir", DATA_DIR])
    );
    assert!(c["ExposedPorts"].get("9443/tcp").is_some(), "{c}");
    assert!(c["Volumes"].get(DATA_DIR).is_some(), "{c}");
    assert_eq!(c["WorkingDir"], DATA_DIR);
    let version = String::from_utf8_lossy(&run(Command::new(bin()).arg("--version")).stdout)
        .split_whitespace()
        .nth(1)
        .expect("version")
        .to_string();
    assert_eq!(c["Labels"]["org.opencontainers.image.version"], version);
    assert_eq!(c["Labels"]["org.opencontainers.image.revision"], REVISION);
    assert_eq!(
        c["Labels"]["org.opencontainers.image.licenses"],
        "Apache-2.0"
    );
    let printed: Value = serde_json::from_slice(
        &run(Command::new(repo.join("hack/oci-image.sh")).arg("--print-config")).stdout,
    )
    .expect("json");
    for key in [
        "User",
        "Entrypoint",
        "Cmd",
        "Env",
        "ExposedPorts",
        "Volumes",
    ] {
        assert_eq!(
            c[key], printed[key],
            "{key}: layout and --print-config differ"
        );
    }

    // 3. Unpack it (as root: files keep their owners) and check the file system.
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
    assert!(passwd.contains("ocm:x:65532:65532:"), "{passwd}");
    let data = std::fs::metadata(rootfs.join(&DATA_DIR[1..])).expect("data dir");
    assert_eq!((data.uid(), data.gid()), (65532, 65532));
    assert_eq!(data.permissions().mode() & 0o777, 0o700);
    assert!(rootfs.join("etc/ssl/certs/ca-bundle.crt").is_file());
    assert!(
        rootfs
            .join("share/multicluster-controlplane/schema.ncl")
            .is_file()
    );
    assert!(!rootfs.join("bin/sh").exists(), "the image has no shell");

    // 4. The runtime spec: no terminal, the lab host's network namespace, the data
    //    directory a volume from the host (owned by the image's user).
    let lab = Lab::new("mcpoci");
    let (hub_host, a) = (lab.host("hub"), lab.host("a"));
    let volume = dir.path().join("data");
    std::fs::create_dir(&volume).expect("volume");
    std::os::unix::fs::chown(&volume, Some(65532), Some(65532)).expect("chown volume");
    std::fs::set_permissions(&volume, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let spec_path = bundle.join("config.json");
    let mut spec = read_json(&spec_path);
    spec["process"]["terminal"] = Value::Bool(false);
    // Inherit runc's open-file limit (umoci writes 1024, and a raise may be refused).
    spec["process"]
        .as_object_mut()
        .expect("process")
        .remove("rlimits");
    for ns in spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
    {
        if ns["type"] == "network" {
            ns["path"] = Value::String(format!("/var/run/netns/{}", hub_host.ns()));
        }
    }
    let mounts = spec["mounts"].as_array_mut().expect("mounts");
    mounts.retain(|m| m["destination"] != DATA_DIR);
    mounts.push(serde_json::json!({
        "destination": DATA_DIR,
        "type": "bind",
        "source": volume,
        "options": ["rbind", "rw"],
    }));
    assert_eq!(
        spec["process"]["args"],
        serde_json::json!([
            "/bin/multicluster-controlplane",
            "server",
            "--data-dir",
            DATA_DIR
        ]),
        "runs the image's default command"
    );
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).expect("json")).expect("spec");

    // 5. Run it.
    let mut container = Container {
        id: format!("mcp-oci-{}", std::process::id()),
        state_root: dir.path().join("runc"),
        child: None,
    };
    let mut child = container
        .runc()
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&container.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runc");
    let stdout = pump(child.stdout.take().expect("stdout"));
    let stderr = pump(child.stderr.take().expect("stderr"));
    container.child = Some(child);
    let logs = || {
        let mut lines: Vec<String> = stdout.try_iter().collect();
        lines.extend(stderr.try_iter());
        lines.join("\n")
    };

    // 6. /readyz from host `a`, through the lab network.
    let hub_ip = hub_host.ip().to_string();
    let ca = volume.join("cert/ca.crt");
    let mut last = String::new();
    wait_for(
        "the containerized hub answers /readyz from host a",
        60,
        || {
            if let Some(Ok(Some(status))) = container.child.as_mut().map(Child::try_wait) {
                panic!("runc exited with {status} before ready:\n{}", logs());
            }
            if !ca.exists() {
                return false;
            }
            let out = curl_readyz(a, &ca, &hub_ip);
            last = describe(&out);
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok"
        },
    );
    eprintln!("readyz from host a: ok ({last})");

    // The server runs as the image's user, and its files in the volume are that user's.
    let pid = container.state()["pid"].as_u64().expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .expect("uid");
    assert_eq!(uid, "65532", "the container's process runs as 65532");
    let kubeconfig_file = volume.join("cert/kube-aggregator.kubeconfig");
    assert_eq!(
        std::fs::metadata(&kubeconfig_file)
            .expect("kubeconfig")
            .uid(),
        65532
    );

    // 7. The admin kubeconfig it wrote works from host `a` (server URL rewritten to the
    //    container's address, as `kubeconfig --server` does for remote clients).
    let out = run(Command::new(bin())
        .args(["kubeconfig", "--data-dir"])
        .arg(&volume)
        .args(["--server", &format!("https://{hub_ip}:9443")]));
    let kubeconfig = dir.path().join("remote.kubeconfig");
    std::fs::write(&kubeconfig, &out.stdout).expect("write kubeconfig");
    let out = run(a
        .command(kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("kubectl-cache"))
        .args([
            "--tls-server-name",
            "localhost",
            "--request-timeout=10s",
            "get",
            "namespaces",
            "-o",
            "name",
        ]));
    let namespaces = String::from_utf8_lossy(&out.stdout);
    assert!(
        namespaces
            .lines()
            .any(|l| l.trim() == "namespace/kube-system"),
        "{namespaces}"
    );

    // 8. SIGTERM (what `docker stop` sends) stops it cleanly.
    run(container.runc().args(["kill", &container.id, "TERM"]));
    let status = wait_exit(
        container.child.as_mut().expect("child"),
        Duration::from_secs(30),
    );
    let output = logs();
    assert!(status.success(), "exit {status}:\n{output}");
    assert!(output.contains("is ready"), "{output}");
    assert!(output.contains("stopped"), "{output}");
    drop(container);
    drop(lab);
}
