//! The official Python `kubernetes` client against the hub (`tests/python/client_smoke.py`):
//! list, create, merge patch, watch and delete, for an OCM kind and a core kind. Without
//! the hub controllers, so the watched ManagedCluster changes only as the script says.

mod common;

use std::process::Command;

use common::Hub;

#[test]
fn python_kubernetes_client_lists_watches_and_patches() {
    let python = std::env::var("MCP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MCP_PYTHON is not set: run hack/test.sh, which installs the Python kubernetes client"
        )
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_smoke.py");
    let out = Command::new(python)
        .arg(script)
        .arg(hub.kubeconfig())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "list namespaces ok",
        "create and merge patch ok",
        "watch ok",
        "core create/read/delete ok",
    ] {
        assert!(stdout.contains(check), "missing {check:?} in:\n{stdout}");
    }
}
