//! A real etcd for tests: Debian's `etcd` (or `$ETCD`) on free loopback ports, with its
//! own data directory, killed with the test process (PR_SET_PDEATHSIG) or on drop.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    _tmp: Option<tempfile::TempDir>,
}

fn binary() -> String {
    std::env::var("ETCD").unwrap_or_else(|_| "etcd".to_string())
}

impl Etcd {
    pub fn start() -> Etcd {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("etcd");
        let mut etcd = Etcd {
            child: None,
            data_dir,
            client_port: super::free_port(),
            peer_port: super::free_port(),
            _tmp: Some(tmp),
        };
        etcd.launch();
        etcd
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn launch(&mut self) {
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
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child
        // when this process dies, so no etcd outlives the tests.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start etcd ({e}); run hack/test.sh, which installs it")
        });
        self.child = Some(child);
        wait_healthy(&self.endpoint(), &self.data_dir);
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

fn wait_healthy(endpoint: &str, dir: &Path) {
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
            return;
        }
        assert!(
            Instant::now() < deadline,
            "etcd in {} not healthy within 60 s",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
