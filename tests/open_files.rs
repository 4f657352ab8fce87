//! The hub under a low open-files limit: client connections never take the descriptors its
//! storage needs (a RocksDB compaction that cannot open a table stops every later write).

mod common;

use std::net::TcpStream;
use std::process::Command;

use common::{Hub, client, free_port, wait_until};

/// The hub's limit: its reserve for storage and room for 100 connections.
const LIMIT: u64 = multicluster_controlplane::server::RESERVED_FILES + 100;
/// Connections the test opens: far more than the hub may hold.
const FLOOD: usize = 700;

#[test]
fn client_connections_leave_the_storage_its_descriptors() {
    // This process holds FLOOD sockets.
    let own = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: own.maximum,
            maximum: own.maximum,
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={LIMIT}:{LIMIT}"))
        .arg("--")
        .arg(common::bin())
        .args(Hub::server_args(dir.path(), port));
    let mut hub = Hub::spawn(cmd, port, dir.path(), &[]);
    hub.wait_ready();

    // Connections that never start TLS: each holds a slot until the handshake times out
    // (10 s), and then the hub takes the next from its listen backlog; a connect beyond the
    // backlog waits for that.
    let held: Vec<TcpStream> = (0..FLOOD)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    let mut warned = false;
    wait_until("the hub says it stopped accepting at its cap", || {
        warned |= hub
            .stderr_lines
            .try_iter()
            .any(|l| l.contains("connection limit reached"));
        warned
    });
    let open = std::fs::read_dir(format!("/proc/{}/fd", hub.child.id()))
        .expect("the hub's descriptors")
        .count();
    assert!(
        open as u64 <= LIMIT - 512,
        "the hub holds {open} descriptors under a limit of {LIMIT} with {FLOOD} connections waiting: \
         connections took the storage's reserve"
    );

    // Once those connections are gone, clients are served and writes land.
    drop(held);
    let c = client(dir.path(), true);
    wait_until("a namespace is created", || {
        c.post(hub.url("/api/v1/namespaces"))
            .json(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "after-the-flood"}}))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
}
