//! The command line and the configuration contract, driven through the real binary.

mod common;

use std::path::{Path, PathBuf};

use common::run;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn help_is_complete_for_every_command() {
    let top = run(&["--help"]);
    assert!(top.status.success());
    let text = String::from_utf8_lossy(&top.stdout);
    for cmd in ["server", "kubeconfig", "config", "version"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
    for (args, must) in [
        (
            &["server", "--help"][..],
            &["--config", "--data-dir", "--port", "--bind-address"][..],
        ),
        (&["kubeconfig", "--help"], &["--server", "--data-dir"]),
        (&["config", "--help"], &["check", "export", "schema"]),
        (&["config", "check", "--help"], &["<FILE>"]),
        (&["version", "--help"], &["--output"]),
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for m in must {
            assert!(text.contains(m), "{args:?} help lacks {m}:\n{text}");
        }
    }
}

#[test]
fn version_text_and_json() {
    let out = run(&["version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("multicluster-controlplane "));
    let out = run(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["major"], "1");
    assert!(
        v["gitVersion"]
            .as_str()
            .expect("gitVersion")
            .starts_with("v1.")
    );
}

#[test]
fn every_example_config_is_valid() {
    let dir = repo("config/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples") {
        let path = entry.expect("entry").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        // hub-tuning.ncl is a fragment imported by hub.ncl; it is valid on its own too.
        if !["ncl", "json", "yaml", "yml"].contains(&ext) {
            continue;
        }
        let out = run(&["config", "check", path.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "{} rejected:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} examples found");
}

#[test]
fn go_ocmconfig_is_accepted_unchanged_and_mapped() {
    let out = run(&[
        "config",
        "export",
        repo("config/examples/ocmconfig-external-etcd.yaml")
            .to_str()
            .expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["etcd"]["mode"], "external");
    assert_eq!(v["etcd"]["servers"].as_array().expect("servers").len(), 3);
    assert_eq!(v["etcd"]["prefix"], "hub1");
    // `caFile:` with no value is YAML null, read as "" like the Go project does.
    assert_eq!(v["apiserver"]["caFile"], "");
    assert_eq!(v["apiserver"]["port"], 9443);
    // Defaults are filled in for everything the file leaves out.
    assert_eq!(v["storage"]["sync"], true);
    assert_eq!(v["apiserver"]["bindAddress"], "0.0.0.0");

    let out = run(&[
        "config",
        "export",
        repo("config/examples/ocmconfig.yaml")
            .to_str()
            .expect("utf8"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["etcd"]["mode"], "embed");
    assert_eq!(v["dataDirectory"], "/.ocm");
}

#[test]
fn nickel_imports_are_resolved() {
    let out = run(&[
        "config",
        "export",
        repo("config/examples/hub.ncl").to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["storage"]["compactionIntervalSeconds"], 120);
    assert_eq!(
        v["controllers"]["featureGates"]["ManagedClusterAutoApproval"],
        true
    );
    assert_eq!(v["apiserver"]["externalHostname"], "hub.example.com");
}

#[test]
fn broken_configs_fail_with_file_line_diagnostics() {
    for (file, line, needle) in [
        ("bad-unknown-field.yaml", 3, "prot"),
        ("bad-type.json", 3, "port"),
        ("bad-port-range.ncl", 3, "port"),
        ("bad-enum.yaml", 3, "embedded"),
        ("bad-syntax.ncl", 3, ""),
    ] {
        let path = repo("config/tests").join(file);
        let out = run(&["config", "check", path.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(1), "{file} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let location = format!("{file}:{line}:");
        assert!(
            err.contains(&location),
            "{file}: diagnostic lacks {location}:\n{err}"
        );
        assert!(
            err.contains(needle),
            "{file}: diagnostic lacks {needle}:\n{err}"
        );
        // The same file given to the server is refused before anything starts.
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run(&[
            "server",
            "--config",
            path.to_str().expect("utf8"),
            "--data-dir",
            dir.path().to_str().expect("utf8"),
        ]);
        assert_eq!(out.status.code(), Some(1), "server started with {file}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&location));
    }
}

#[test]
fn missing_and_unknown_format_files_are_clear_errors() {
    let out = run(&["config", "check", "/nonexistent/ocmconfig.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ocmconfig.yaml"));
    let dir = tempfile::tempdir().expect("tempdir");
    let txt = dir.path().join("config.txt");
    std::fs::write(&txt, "x").expect("write");
    let out = run(&["config", "check", txt.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format"));
}

#[test]
fn schema_is_printed_and_defaults_export() {
    let out = run(&["config", "schema"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Config = {") && text.contains("dataDirectory"));
    let out = run(&["config", "export"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for section in [
        "apiserver",
        "etcd",
        "logging",
        "pki",
        "storage",
        "controllers",
        "agent",
    ] {
        assert!(v[section].is_object(), "default export lacks {section}");
    }
}
