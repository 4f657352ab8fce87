//! Helm 4 against the hub: install, upgrade and uninstall of a chart holding ConfigMaps, a
//! CRD (from `crds/`) and a custom resource of it. Helm 4 applies server-side and waits
//! for the CRD to be established before creating the custom resource.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Hub, kubectl_run};

/// Real helm 4: `$HELM`, else `helm` on PATH.
fn helm() -> PathBuf {
    std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("helm"))
}

fn helm_ok(hub: &Hub, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(helm())
        .args(args)
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_DATA_HOME", dir.join("helm-data"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "helm not found at {}: {e}; run hack/test.sh",
                helm().display()
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helm {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(hub: &Hub, args: &[&str]) -> Option<String> {
    let out = kubectl_run(hub, args);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_chart(root: &Path) -> PathBuf {
    let chart = root.join("demo");
    std::fs::create_dir_all(chart.join("crds")).expect("crds dir");
    std::fs::create_dir_all(chart.join("templates")).expect("templates dir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    )
    .expect("chart");
    std::fs::write(chart.join("values.yaml"), "greeting: hello\nsize: 2\n").expect("values");
    std::fs::write(
        chart.join("crds/gadgets.yaml"),
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
",
    )
    .expect("crd");
    std::fs::write(
        chart.join("templates/config.yaml"),
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-static
data:
  fixed: \"yes\"
",
    )
    .expect("configmaps");
    std::fs::write(
        chart.join("templates/gadget.yaml"),
        "apiVersion: example.com/v1
kind: Gadget
metadata:
  name: {{ .Release.Name }}-gadget
spec:
  size: {{ .Values.size }}
",
    )
    .expect("gadget");
    chart
}

#[test]
fn helm_install_upgrade_uninstall() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(&dir.path().join("hub"), &[]);
    hub.wait_ready();
    let chart = write_chart(dir.path());
    let chart = chart.to_str().expect("utf8");

    helm_ok(
        &hub,
        dir.path(),
        &[
            "install",
            "demo",
            chart,
            "--namespace",
            "default",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "configmap",
                "demo-config",
                "-o",
                "jsonpath={.data.greeting}"
            ]
        )
        .as_deref(),
        Some("hello")
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "gadgets",
                "demo-gadget",
                "-o",
                "jsonpath={.spec.size}"
            ]
        )
        .as_deref(),
        Some("2")
    );
    let status = helm_ok(
        &hub,
        dir.path(),
        &["status", "demo", "--namespace", "default"],
    );
    assert!(status.contains("deployed"), "{status}");

    helm_ok(
        &hub,
        dir.path(),
        &[
            "upgrade",
            "demo",
            chart,
            "--namespace",
            "default",
            "--set",
            "greeting=hi,size=5",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "configmap",
                "demo-config",
                "-o",
                "jsonpath={.data.greeting}"
            ]
        )
        .as_deref(),
        Some("hi")
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "gadgets",
                "demo-gadget",
                "-o",
                "jsonpath={.spec.size}"
            ]
        )
        .as_deref(),
        Some("5")
    );
    let history = helm_ok(
        &hub,
        dir.path(),
        &["history", "demo", "--namespace", "default"],
    );
    assert!(history.lines().count() >= 3, "{history}");

    helm_ok(
        &hub,
        dir.path(),
        &[
            "uninstall",
            "demo",
            "--namespace",
            "default",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert!(get(&hub, &["get", "configmap", "demo-config"]).is_none());
    assert!(get(&hub, &["get", "gadgets", "demo-gadget"]).is_none());
    // Helm keeps CRDs from crds/ on uninstall.
    assert!(get(&hub, &["get", "crd", "gadgets.example.com"]).is_some());
}
