//! A real etcd for tests: Debian's `etcd` (or `$ETCD`) on free loopback ports, with its
//! own data directory, killed on drop. (Not PR_SET_PDEATHSIG: that fires when the
//! spawning *thread* exits, and tests start etcd from short-lived blocking-pool threads.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    /// With TLS: client connections need a certificate signed by this CA.
    pub tls: Option<TlsFiles>,
    _tmp: Option<tempfile::TempDir>,
}

/// PEM files of an etcd with TLS: its CA, and a client certificate it trusts.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// A fresh CA, a serving certificate for 127.0.0.1 and a client certificate.
    pub fn generate(dir: &Path) -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "etcd-test-ca");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca_params, &ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, &issuer).expect("sign");
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) =
            leaf(vec!["127.0.0.1".into(), "localhost".into()], "etcd");
        let (client_pem, client_key_pem) = leaf(vec![], "hub");
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write pem");
            p
        };
        TlsFiles {
            ca: write("ca.crt", &ca_cert.pem()),
            server_cert: write("server.crt", &server_pem),
            server_key: write("server.key", &server_key_pem),
            client_cert: write("client.crt", &client_pem),
            client_key: write("client.key", &client_key_pem),
        }
    }
}

fn binary() -> String {
    std::env::var("ETCD").unwrap_or_else(|_| "etcd".to_string())
}

impl Etcd {
    pub fn start() -> Etcd {
        Self::start_with(false)
    }

    /// An etcd that serves clients over TLS and requires client certificates.
    pub fn start_tls() -> Etcd {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Etcd {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("etcd");
        let tls = tls.then(|| TlsFiles::generate(tmp.path()));
        let mut etcd = Etcd {
            child: None,
            data_dir,
            client_port: 0,
            peer_port: 0,
            tls,
            _tmp: Some(tmp),
        };
        // A free port can be taken by another test before etcd binds it: then etcd exits,
        // and it is started again on other ports.
        for attempt in 1.. {
            etcd.client_port = super::free_port();
            etcd.peer_port = super::free_port();
            match etcd.try_launch() {
                Ok(()) => break,
                Err(why) if attempt < 3 => {
                    eprintln!("{why}; starting it again on other ports");
                    etcd.child = None;
                    let _ = std::fs::remove_dir_all(&etcd.data_dir);
                }
                Err(why) => panic!("{why}"),
            }
        }
        etcd
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    fn launch(&mut self) {
        if let Err(why) = self.try_launch() {
            panic!("{why}");
        }
    }

    /// Starts etcd and waits until it serves; an error when it exits first (its output
    /// is in `etcd.log` beside the data directory, and its end in the error).
    fn try_launch(&mut self) -> Result<(), String> {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new(binary());
        cmd.args(["--name", "test", "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdout(Stdio::null())
            .stderr(log_file(&self.data_dir));
        if let Some(tls) = &self.tls {
            cmd.arg("--cert-file").arg(&tls.server_cert);
            cmd.arg("--key-file").arg(&tls.server_key);
            cmd.arg("--trusted-ca-file").arg(&tls.ca);
            cmd.arg("--client-cert-auth");
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start etcd ({e}); run hack/test.sh, which installs it")
        });
        let (tls, port) = (self.tls.is_some(), self.client_port);
        let child = self.child.insert(child);
        if tls {
            wait_listening(port, &self.data_dir, child)
        } else {
            wait_healthy(&client, &self.data_dir, child)
        }
    }

    /// Stops etcd (SIGTERM) and starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = super::wait_exit(&mut child, Duration::from_secs(30));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// With TLS the health endpoint needs a client certificate; wait for the port instead
/// (clients retry until etcd has elected itself).
fn wait_listening(port: u16, dir: &Path, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        exited(child, dir)?;
        assert!(
            Instant::now() < deadline,
            "etcd in {} not listening within 60 s",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// An error when etcd has exited, with the end of its output (the temporary directory
/// that holds the log is gone once the test has failed).
fn exited(child: &mut Child, dir: &Path) -> Result<(), String> {
    match child.try_wait() {
        Ok(Some(status)) => {
            let log = std::fs::read_to_string(log_path(dir)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            Err(format!(
                "etcd in {} exited ({status}) before it was ready; the end of its log:\n{tail}",
                dir.display()
            ))
        }
        _ => Ok(()),
    }
}

/// etcd's output: `<data directory>.log`, beside the data directory.
fn log_path(dir: &Path) -> PathBuf {
    dir.with_extension("log")
}

fn log_file(dir: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

fn wait_healthy(endpoint: &str, dir: &Path, child: &mut Child) -> Result<(), String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = endpoint.trim_start_matches("http://").to_string();
    loop {
        // Plain HTTP/1.0 by hand: usable from sync and async tests alike.
        let healthy = std::net::TcpStream::connect(&addr)
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"GET /health HTTP/1.0\r\n\r\n")?;
                let mut body = String::new();
                s.read_to_string(&mut body)?;
                Ok(body.contains("\"health\":\"true\""))
            })
            .unwrap_or(false);
        if healthy {
            return Ok(());
        }
        exited(child, dir)?;
        assert!(
            Instant::now() < deadline,
            "etcd in {} not healthy within 60 s",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A three-member etcd cluster on loopback (Debian's etcd): members can be killed with
/// SIGKILL and started again on their data, as an operator's cluster loses machines.
pub struct EtcdCluster {
    members: Vec<Member>,
    initial_cluster: String,
    _tmp: tempfile::TempDir,
}

struct Member {
    name: String,
    data_dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until every one reports healthy (a quorum exists).
    pub fn start(size: usize) -> EtcdCluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                data_dir: tmp.path().join(format!("m{i}")),
                client_port: 0,
                peer_port: 0,
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster {
            members,
            initial_cluster: String::new(),
            _tmp: tmp,
        };
        // As for one member: a port taken by another test between the draw and etcd's
        // bind makes a member exit; then the whole cluster starts again on other ports
        // (the peer ports are part of every member's configuration).
        for attempt in 1.. {
            for m in &mut cluster.members {
                m.client_port = super::free_port();
                m.peer_port = super::free_port();
            }
            cluster.initial_cluster = cluster
                .members
                .iter()
                .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
                .collect::<Vec<_>>()
                .join(",");
            // All at once: a member is healthy only once a quorum of its peers is up.
            for i in 0..size {
                cluster.spawn(i);
            }
            match (0..size).try_for_each(|i| cluster.try_wait_healthy(i)) {
                Ok(()) => break,
                Err(why) if attempt < 3 => {
                    eprintln!("{why}; starting the cluster again on other ports");
                    for i in 0..size {
                        cluster.kill(i);
                        let _ = std::fs::remove_dir_all(&cluster.members[i].data_dir);
                    }
                }
                Err(why) => panic!("{why}"),
            }
        }
        cluster
    }

    /// Every member's client URL, for the hub's `etcd.servers`.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    fn spawn(&mut self, i: usize) {
        let initial = self.initial_cluster.clone();
        let m = &mut self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = Command::new(binary())
            .args(["--name", &m.name, "--data-dir"])
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-token", "mcp-test"])
            .stdout(Stdio::null())
            .stderr(log_file(&m.data_dir))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start etcd ({e}); run hack/test.sh, which installs it")
            });
        m.child = Some(child);
    }

    fn try_wait_healthy(&mut self, i: usize) -> Result<(), String> {
        let m = &mut self.members[i];
        let endpoint = format!("http://127.0.0.1:{}", m.client_port);
        match m.child.as_mut() {
            Some(child) => wait_healthy(&endpoint, &m.data_dir, child),
            None => Ok(()),
        }
    }

    /// SIGKILL to member `i` (no clean shutdown, as a machine that dies).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        if let Err(why) = self.try_wait_healthy(i) {
            panic!("{why}");
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
