//! The Helm chart (`charts/multicluster-controlplane`) with real helm 4: lint and template
//! for every exposure and storage combination, clear failures for wrong values (the
//! chart's checks and `values.schema.json`), the rendered configuration accepted by the
//! binary's own contract and served by a hub started from it, and two releases in two
//! namespaces installed into a real Kubernetes API server (`KubePeer`), every manifest
//! accepted and both Deployments Available; one release's hub run on this host from the
//! configuration it installed publishes its kubeconfigs (external port, Service name in
//! its serving certificate) into its namespace; the Go chart's default values render.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::kube_peer::{self, KubePeer};
use common::{Hub, wait_until_within};

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/multicluster-controlplane")
}

/// Real helm 4: `$HELM`, else `helm` on PATH, with its state in `dir`.
fn helm(dir: &Path, args: &[&str]) -> Output {
    let bin = std::env::var_os("HELM").unwrap_or_else(|| "helm".into());
    Command::new(bin)
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_DATA_HOME", dir.join("helm-data"))
        .args(args)
        .output()
        .expect("run helm (hack/test.sh installs helm 4)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `helm template` with `--set` values; the rendered documents.
fn render(dir: &Path, sets: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let flags: Vec<&str> = sets.iter().flat_map(|s| ["--set", s]).collect();
    render_with(dir, &flags)
}

/// `helm template` with these flags; the rendered documents.
fn render_with(dir: &Path, flags: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        "r1",
        chart.to_str().expect("utf8"),
        "--namespace",
        "team-a",
    ];
    args.extend(flags);
    let out = helm(dir, &args);
    if !out.status.success() {
        return Err(text(&out));
    }
    let docs = String::from_utf8_lossy(&out.stdout).to_string();
    Ok(docs
        .split("\n---")
        .filter_map(|d| multicluster_controlplane::api::yaml::from_str(d).ok())
        .filter(|v| v.is_object())
        .collect())
}

/// A hub started on this host from a configuration rendered for a pod: its data in
/// `data`, on a free loopback port (returned), ready.
fn hub_on_host(mut config: serde_json::Value, data: &Path, env: &[(&str, &str)]) -> (Hub, u16) {
    let port = common::free_port();
    config["dataDirectory"] = serde_json::json!(data);
    config["apiserver"]["port"] = serde_json::json!(port);
    config["apiserver"]["bindAddress"] = serde_json::json!("127.0.0.1");
    let file = data.with_extension("json");
    std::fs::write(&file, config.to_string()).expect("write");
    let mut cmd = Command::new(common::bin());
    cmd.args(["server", "--config", file.to_str().expect("utf8")]);
    let mut hub = Hub::spawn(cmd, port, data, env);
    hub.wait_ready();
    (hub, port)
}

/// Key `key` (jsonpath-escaped) of Secret `name` in `ns` on the peer, decoded; `None`
/// while the Secret is not there.
fn secret_text(peer: &KubePeer, ns: &str, name: &str, key: &str) -> Option<String> {
    use base64::Engine;
    let out = peer.kubectl(&[
        "get",
        "secret",
        name,
        "-n",
        ns,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ]);
    if !out.status.success() {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8_lossy(&out.stdout).trim())
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn kinds(docs: &[serde_json::Value]) -> Vec<String> {
    let mut k: Vec<String> = docs
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or("").to_string())
        .collect();
    k.sort();
    k
}

fn hub_json(docs: &[serde_json::Value]) -> serde_json::Value {
    let secret = docs
        .iter()
        .find(|d| {
            d["kind"] == "Secret" && d["metadata"]["name"] == "multicluster-controlplane-config"
        })
        .expect("config secret");
    serde_json::from_str(secret["stringData"]["hub.json"].as_str().expect("hub.json"))
        .expect("hub.json is JSON")
}

#[test]
fn every_combination_renders_and_passes_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let external = [
        "etcd.mode=external",
        "etcd.servers={https://etcd-0.etcd:2379,https://etcd-1.etcd:2379}",
        "etcd.ca=CA",
        "etcd.cert=CERT",
        "etcd.certkey=KEY",
        // Replicas of one hub share its identity.
        "replicas=3",
        "apiserver.ca=CA",
        "apiserver.cakey=KEY",
        "apiserver.serviceAccountKey=SAKEY",
    ];
    let chart_path = chart().to_str().expect("utf8").to_string();
    for exposure in [
        None,
        Some("route.enabled=true"),
        Some("loadbalancer.enabled=true"),
        Some("nodeport.enabled=true"),
    ] {
        for storage in [&[][..], &external[..]] {
            let mut sets: Vec<&str> = storage.to_vec();
            sets.extend(exposure);
            sets.extend([
                "enableSelfManagement=true",
                "enableDelegatingAuthentication=true",
                "serviceMonitor.enabled=true",
                "apiserver.externalHostname=hub.example.com",
            ]);
            let mut lint = vec!["lint", chart_path.as_str(), "--strict"];
            for set in &sets {
                lint.extend(["--set", set]);
            }
            let out = helm(dir.path(), &lint);
            assert!(out.status.success(), "helm lint {sets:?}: {}", text(&out));
            let docs = render(dir.path(), &sets).unwrap_or_else(|e| panic!("{sets:?}: {e}"));
            let k = kinds(&docs);
            assert!(k.contains(&"Deployment".to_string()), "{k:?}");
            assert_eq!(
                k.contains(&"Route".to_string()),
                exposure == Some("route.enabled=true"),
                "{k:?}"
            );
            assert_eq!(
                k.contains(&"PersistentVolumeClaim".to_string()),
                storage.is_empty()
            );
            let service = docs
                .iter()
                .find(|d| d["kind"] == "Service")
                .expect("service");
            let want = match exposure {
                Some("loadbalancer.enabled=true") => "LoadBalancer",
                Some("nodeport.enabled=true") => "NodePort",
                _ => "ClusterIP",
            };
            assert_eq!(service["spec"]["type"], want);
            // Cluster-scoped RBAC is named per namespace, so releases do not collide.
            for d in docs
                .iter()
                .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
            {
                assert!(
                    d["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.contains(":team-a")),
                    "{d}"
                );
            }
            let config = hub_json(&docs);
            if !storage.is_empty() {
                assert_eq!(
                    config["etcd"]["prefix"], "/team-a",
                    "release namespace as prefix"
                );
                let deployment = docs
                    .iter()
                    .find(|d| d["kind"] == "Deployment")
                    .expect("deployment");
                assert_eq!(deployment["spec"]["replicas"], 3);
                assert_eq!(
                    config["apiserver"]["serviceAccountKeyFile"],
                    "/etc/multicluster-controlplane/sa.key"
                );
                let secret = docs.iter().find(|d| d["kind"] == "Secret").expect("secret");
                assert_eq!(secret["stringData"]["sa.key"], "SAKEY");
            }
            // Kubeconfigs name the port clients reach: the node port, or the Service's.
            let port = if exposure == Some("nodeport.enabled=true") {
                30443
            } else {
                443
            };
            assert_eq!(config["apiserver"]["externalPort"], port, "{sets:?}");
            assert_eq!(config["controllers"]["selfManagement"]["enabled"], true);
            assert_eq!(
                config["apiserver"]["delegatingAuthentication"]["enabled"],
                true
            );
            // The binary's own contract accepts what the chart renders.
            let file = dir.path().join("hub.json");
            std::fs::write(&file, config.to_string()).expect("write");
            let check = common::run(&["config", "check", file.to_str().expect("utf8")]);
            assert!(check.status.success(), "{sets:?}: {}", text(&check));
        }
    }
}

#[test]
fn wrong_values_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (sets, reason) in [
        (
            vec!["route.enabled=true", "nodeport.enabled=true"],
            "enable at most one",
        ),
        (
            vec!["nodeport.enabled=true", "nodeport.port=80"],
            "/nodeport/port",
        ),
        (vec!["features=Bogus=true"], "unknown gate"),
        (vec!["features=DefaultClusterSet"], "features"),
        (vec!["etcd.mode=external"], "etcd.servers"),
        (vec!["etcd.mode=sqlite"], "/etcd/mode"),
        (vec!["replicas=2"], "replicas > 1 needs etcd.mode=external"),
        (vec!["apiserver.ca=PEM"], "apiserver.cakey"),
        // A replaced pod on external etcd must keep the identity its data was written with.
        (
            vec!["etcd.mode=external", "etcd.servers={https://etcd:2379}"],
            "set apiserver.ca, apiserver.cakey and apiserver.serviceAccountKey",
        ),
        (
            vec!["serviceMonitor.enabled=true"],
            "needs enableDelegatingAuthentication=true",
        ),
        (
            vec![
                "replicas=3",
                "etcd.mode=external",
                "etcd.servers={https://etcd:2379}",
                "etcd.ca=PEM",
                "etcd.cert=PEM",
                "etcd.certkey=PEM",
                "apiserver.ca=PEM",
                "apiserver.cakey=PEM",
            ],
            "apiserver.serviceAccountKey",
        ),
        (vec!["notAValue=1"], "notAValue"),
        (
            vec!["selfManagementClusterName=Not_A_Name"],
            "/selfManagementClusterName",
        ),
    ] {
        let err = render(dir.path(), &sets).expect_err(&format!("{sets:?} must fail"));
        assert!(
            err.contains(reason),
            "{sets:?}: expected {reason:?} in:\n{err}"
        );
    }
}

#[test]
fn rendered_config_starts_a_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = render(
        dir.path(),
        &[
            "features=DefaultClusterSet=true",
            "apiserver.externalHostname=127.0.0.1",
            "apiserver.externalPort=30443",
        ],
    )
    .expect("render");
    let (hub, port) = hub_on_host(hub_json(&docs), &dir.path().join("data"), &[]);
    // The kubeconfig the hub writes (and publishes in a pod) names the external port.
    let admin = std::fs::read_to_string(dir.path().join("data/cert/kube-aggregator.kubeconfig"))
        .expect("admin kubeconfig");
    assert!(admin.contains("server: https://127.0.0.1:30443"), "{admin}");
    // 30443 is the node port in front of the pod; here the hub is reached directly.
    let server = format!("--server=https://127.0.0.1:{port}");
    let out = common::kubectl_run(&hub, &[&server, "get", "managedclustersets", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out));
    let sets = String::from_utf8_lossy(&out.stdout);
    assert!(
        sets.contains("managedclusterset.cluster.open-cluster-management.io/default"),
        "{sets}"
    );
}

#[test]
fn two_releases_install_into_a_real_cluster() {
    let test = "two_releases_install_into_a_real_cluster";
    if !kube_peer::available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = KubePeer::start(&dir.path().join("peer"));
    let kubeconfig = peer.kubeconfig();
    let chart = chart();
    // The peer has no storage provisioner: an administrator's volume for each release's
    // claim (the persistent-volume controller binds them).
    for i in 0..2 {
        let pv = serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": format!("hub-data-{i}")},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": format!("/var/lib/hub-data-{i}")}}});
        peer.kubectl_stdin_ok(&["create", "-f", "-"], &pv.to_string());
    }
    for (release, ns, extra) in [
        ("hub-a", "team-a", "nodeport.enabled=true"),
        ("hub-b", "team-b", "enableSelfManagement=true"),
    ] {
        let external = format!(
            "apiserver.externalHostname={}",
            if ns == "team-a" { "127.0.0.1" } else { "" }
        );
        let out = helm(
            dir.path(),
            &[
                "install",
                release,
                chart.to_str().expect("utf8"),
                "--kubeconfig",
                kubeconfig.to_str().expect("utf8"),
                "--namespace",
                ns,
                "--create-namespace",
                "--set",
                extra,
                "--set",
                "enableDelegatingAuthentication=true",
                "--set",
                "nodeport.port=30443",
                "--set",
                &external,
                "--wait",
                "--timeout",
                "3m",
            ],
        );
        assert!(
            out.status.success(),
            "helm install {release}: {}",
            text(&out)
        );
    }
    for ns in ["team-a", "team-b"] {
        wait_until_within(
            &format!("the hub Deployment in {ns} is Available"),
            120,
            || {
                peer.kubectl(&[
                    "wait",
                    "--for=condition=Available",
                    "deployment/multicluster-controlplane",
                    "-n",
                    ns,
                    "--timeout=5s",
                ])
                .status
                .success()
            },
        );
        let role = peer.kubectl_ok(&[
            "get",
            "clusterrole",
            &format!("open-cluster-management:multicluster-controlplane:{ns}"),
            "-o",
            "name",
        ]);
        assert!(role.contains(ns));
    }
    let list = helm(
        dir.path(),
        &[
            "list",
            "--all-namespaces",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf8"),
        ],
    );
    let listed = text(&list);
    assert!(
        listed.contains("hub-a") && listed.contains("hub-b"),
        "{listed}"
    );

    // The pods are simulated: run team-a's hub on this host from the configuration the
    // release installed, as its pod would (POD_NAMESPACE; the peer as hosting cluster
    // through KUBECONFIG instead of the in-cluster configuration).
    let config = secret_text(
        &peer,
        "team-a",
        "multicluster-controlplane-config",
        "hub\\.json",
    )
    .expect("the installed configuration");
    let config: serde_json::Value = serde_json::from_str(&config).expect("hub.json");
    let kubeconfig_env = kubeconfig.to_str().expect("utf8");
    let (_hub, port) = hub_on_host(
        config,
        &dir.path().join("hub-a"),
        &[("POD_NAMESPACE", "team-a"), ("KUBECONFIG", kubeconfig_env)],
    );
    // It publishes both kubeconfigs into its namespace, as the Go project's pod does.
    let published = |name: &str| secret_text(&peer, "team-a", name, "kubeconfig");
    wait_until_within("the hub publishes its kubeconfigs", 60, || {
        published("multicluster-controlplane-kubeconfig").is_some()
            && published("multicluster-controlplane-svc-kubeconfig").is_some()
    });
    let external = published("multicluster-controlplane-kubeconfig").expect("kubeconfig");
    assert!(
        external.contains("server: https://127.0.0.1:30443"),
        "the node port: {external}"
    );
    let service = published("multicluster-controlplane-svc-kubeconfig").expect("kubeconfig");
    let service_name = "multicluster-controlplane.team-a.svc";
    assert!(
        service.contains(&format!("server: https://{service_name}")),
        "{service}"
    );
    // Its serving certificate is valid for the Service name that kubeconfig uses.
    let svc_file = dir.path().join("svc.kubeconfig");
    std::fs::write(&svc_file, &service).expect("write");
    let out = Command::new(common::kubectl())
        .args([
            "--kubeconfig",
            svc_file.to_str().expect("utf8"),
            &format!("--server=https://127.0.0.1:{port}"),
            &format!("--tls-server-name={service_name}"),
            "get",
            "managedclustersets",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "{}", text(&out));
}

/// The Go project's chart values (the keys and defaults its `values.yaml` ships with,
/// written out here) render unchanged: an empty self-management name means local-cluster,
/// and keys we do not use (`generateCA`, `etcd.snapshotCount`) are accepted.
#[test]
fn the_go_charts_default_values_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values = dir.path().join("go-values.yaml");
    std::fs::write(
        &values,
        r#"image: quay.io/open-cluster-management/multicluster-controlplane:latest
imagePullPolicy: IfNotPresent
replicas: 1
features: "DefaultClusterSet=true,ManagedClusterAutoApproval=true"
autoApprovalBootstrapUsers: ""
enableSelfManagement: true
selfManagementClusterName: ""
enableDelegatingAuthentication: false
apiserver: {externalHostname: "", externalPort: 443, ca: "", cakey: "", generateCA: false}
etcd: {mode: embed, snapshotCount: 5000, servers: [], ca: "", cert: "", certkey: ""}
pvc: {storageCapacity: 1Gi, storageClassName: "", selector: {}}
route: {enabled: false}
loadbalancer: {enabled: false, ip: ""}
nodeport: {enabled: false, port: 30443}
"#,
    )
    .expect("values");
    let docs = render_with(dir.path(), &["-f", values.to_str().expect("utf8")])
        .unwrap_or_else(|e| panic!("the Go chart's values: {e}"));
    let config = hub_json(&docs);
    assert_eq!(
        config["controllers"]["selfManagement"]["clusterName"],
        "local-cluster"
    );
    assert!(kinds(&docs).contains(&"PersistentVolumeClaim".to_string()));
}
