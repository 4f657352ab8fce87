//! Wire compatibility with the real OCM tools written in Go (installed by
//! `hack/install-go-peers.sh`): `clusteradm get token --use-bootstrap-token` and
//! `clusteradm accept` against our hub, and the Go singleton klusterlet agent
//! (`registration-operator agent`) joining our hub, becoming Available, and applying a
//! ManifestWork created through our API (its status stored and served intact), and a
//! template add-on enabled and disabled with `clusteradm addon` that the Go agent registers
//! (its hub kubeconfig Secret) and installs until it is Available. The managed
//! cluster is a real Kubernetes control plane (`KubePeer`) with the AppliedManifestWork
//! and ClusterClaim CRDs applied from upstream's klusterlet manifests, as upstream's
//! klusterlet operator installs them before it starts the agent.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::kube_peer::{self, KubePeer};
use common::ocm::{self, cluster_path, condition, get, has_condition};
use common::ocm_hub::{self, tool};
use common::{Hub, client, free_port, wait_until};
use serde_json::json;

fn clusteradm(hub: &Hub, args: &[&str]) -> String {
    let out = Command::new(tool("CLUSTERADM", "clusteradm"))
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .args(args)
        .output()
        .expect("clusteradm");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "clusteradm {args:?} failed:\n{text}");
    text
}

/// The kubeconfig `clusteradm join` would build: hub URL and CA, bootstrap token.
fn bootstrap_kubeconfig(hub: &Hub, token: &str, path: &Path) {
    use base64::Engine;
    let ca = std::fs::read(hub.data_dir.join("cert/ca.crt")).expect("ca");
    let doc = json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "hub", "cluster": {"server": hub.url(""),
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca)}}],
        "users": [{"name": "bootstrap", "user": {"token": token}}],
        "contexts": [{"name": "bootstrap", "context": {"cluster": "hub", "user": "bootstrap", "namespace": "default"}}],
        "current-context": "bootstrap"});
    std::fs::write(path, multicluster_controlplane::pki::kubeconfig_yaml(&doc)).expect("write");
}

#[test]
fn clusteradm_and_the_go_agent_work_with_our_hub() {
    let test = "clusteradm_and_the_go_agent_work_with_our_hub";
    if !kube_peer::available(test) || !ocm_hub::available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(&dir.path().join("hub"), &[]);
    hub.wait_ready();
    let spoke = KubePeer::start(&dir.path().join("spoke"));
    // What upstream's klusterlet operator prepares on the managed cluster: the agent's
    // namespace (it keeps its Secrets there) and the CRDs the agent needs.
    spoke.kubectl_ok(&["create", "namespace", "open-cluster-management-agent"]);
    let managed = ocm_hub::module_dir().join("manifests/klusterlet/managed");
    for crd in [
        "0000_01_work.open-cluster-management.io_appliedmanifestworks.crd.yaml",
        "0000_02_clusters.open-cluster-management.io_clusterclaims.crd.yaml",
    ] {
        let path = managed.join(crd);
        spoke.kubectl_ok(&["apply", "-f", path.to_str().expect("utf8")]);
    }
    spoke.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/appliedmanifestworks.work.open-cluster-management.io",
        "crd/clusterclaims.cluster.open-cluster-management.io",
        "--timeout=60s",
    ]);

    let token = ocm::create_token(&hub, None, "1h");
    let printed = clusteradm(&hub, &["get", "token", "--use-bootstrap-token"]);
    assert!(
        printed.contains(&format!("token={}", token.token)),
        "clusteradm get token printed:\n{printed}"
    );

    let work_dir = dir.path().join("go-agent");
    std::fs::create_dir_all(&work_dir).expect("dir");
    let bootstrap = work_dir.join("bootstrap.kubeconfig");
    bootstrap_kubeconfig(&hub, &token.token, &bootstrap);
    let hub_dir = work_dir.join("hub-kubeconfig");
    std::fs::create_dir_all(&hub_dir).expect("dir");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agent = Command::new(tool("OCM_AGENT", "registration-operator"))
        .args([
            "agent",
            "--cluster-name",
            "goc",
            "--agent-id",
            "goagent",
            "--disable-leader-election",
        ])
        .arg("--bootstrap-kubeconfig")
        .arg(&bootstrap)
        .arg("--hub-kubeconfig-dir")
        .arg(&hub_dir)
        .arg("--workload-source-config")
        .arg(hub_dir.join("kubeconfig"))
        .arg("--kubeconfig")
        .arg(spoke.kubeconfig())
        .arg("--spoke-kubeconfig")
        .arg(spoke.kubeconfig())
        .args([
            "--listen",
            &listen,
            "--namespace",
            "open-cluster-management-agent",
            "--cluster-healthcheck-period",
            "2s",
            "--status-sync-interval",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work_dir.join("agent.log")).expect("log"))
        .spawn()
        .map(KillOnDrop)
        .expect("start the Go agent");
    let log = || std::fs::read_to_string(work_dir.join("agent.log")).unwrap_or_default();

    let mut waited = || {
        if let Ok(Some(status)) = agent.0.try_wait() {
            panic!("the Go agent exited with {status}:\n{}", log());
        }
    };
    wait_until("the Go agent registered goc and made a CSR", || {
        waited();
        get(&hub, &cluster_path("goc")).is_some()
            && get(
                &hub,
                "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            )
            .is_some_and(|l| l["items"].as_array().is_some_and(|i| !i.is_empty()))
    });
    let accepted = clusteradm(&hub, &["accept", "--clusters", "goc"]);
    assert!(accepted.contains("goc"), "{accepted}");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("the Go agent's cluster is Available", || {
            has_condition(&hub, "goc", "ManagedClusterConditionAvailable", "True")
        });
    }));
    if result.is_err() {
        let _ = agent.0.kill();
        panic!(
            "goc never became Available; Go agent log:\n{}\ncluster: {:?}",
            log(),
            get(&hub, &cluster_path("goc"))
        );
    }
    let mc = get(&hub, &cluster_path("goc")).expect("goc");
    assert_eq!(
        condition(&mc, "ManagedClusterJoined"),
        Some(("True".into(), "ManagedClusterJoined".into()))
    );
    assert_eq!(
        mc["status"]["capacity"]["cpu"], "16",
        "two kwok nodes of 8 CPUs"
    );
    // The Go agent's certificate came from our signer and works for its lease.
    let lease = "/apis/coordination.k8s.io/v1/namespaces/goc/leases/managed-cluster-lease";
    let renewed =
        || get(&hub, lease).and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_string));
    assert!(renewed().is_some());
    assert!(
        hub_dir.join("tls.crt").exists(),
        "the Go agent wrote its issued certificate"
    );

    // A ManifestWork created through our API reaches the Go agent, and the status it
    // writes back is stored and served intact.
    let works = "/apis/work.open-cluster-management.io/v1/namespaces/goc/manifestworks";
    let work = json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": "from-rust-hub", "namespace": "goc"},
        "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "delivered", "namespace": "default"}, "data": {"by": "go-agent"}}]},
            "manifestConfigs": [{"resourceIdentifier": {"group": "", "resource": "configmaps", "namespace": "default", "name": "delivered"},
                "feedbackRules": [{"type": "JSONPaths", "jsonPaths": [{"name": "by", "path": ".data.by"}]}]}]}});
    let r = client(&hub.data_dir, true)
        .post(hub.url(works))
        .json(&work)
        .send()
        .expect("work");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let path = format!("{works}/from-rust-hub");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            "the Go agent reports the work Applied and Available",
            || {
                get(&hub, &path).is_some_and(|w| {
                    condition(&w, "Applied").is_some_and(|c| c.0 == "True")
                        && condition(&w, "Available").is_some_and(|c| c.0 == "True")
                        && w.to_string().contains("go-agent")
                })
            },
        );
    }));
    if result.is_err() {
        let _ = agent.0.kill();
        panic!(
            "the Go agent did not apply the work; log:\n{}\nwork: {:?}",
            log(),
            get(&hub, &path)
        );
    }
    let w = get(&hub, &path).expect("work");
    let manifest = &w["status"]["resourceStatus"]["manifests"][0];
    assert_eq!(manifest["resourceMeta"]["resource"], "configmaps");
    assert_eq!(
        manifest["statusFeedback"]["values"][0]["fieldValue"]["string"],
        "go-agent"
    );
    assert!(
        w["metadata"]["finalizers"]
            .to_string()
            .contains("manifest-work-cleanup")
    );
    assert!(get(&spoke, "/api/v1/namespaces/default/configmaps/delivered").is_some());
    let r = client(&hub.data_dir, true)
        .delete(hub.url(&path))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    wait_until("the Go agent cleans up and releases the work", || {
        get(&hub, &path).is_none()
    });
    // The Go agent releases the work once its AppliedManifestWork is gone; the applied
    // resources are deleted by that AppliedManifestWork's own finalizer, which may finish
    // a moment later.
    wait_until(
        "the applied ConfigMap is deleted from the managed cluster",
        || get(&spoke, "/api/v1/namespaces/default/configmaps/delivered").is_none(),
    );

    // A template add-on enabled with `clusteradm addon enable`: our hub renders it, approves
    // the Go agent's CSR for the add-on identity, and the Go agent writes the add-on's hub
    // kubeconfig Secret and applies its Deployment, whose feedback makes it Available.
    let addons = common::addon::ADDONS;
    let admin = client(&hub.data_dir, true);
    for (path, body) in [
        (
            format!("{addons}/addontemplates"),
            common::addon::template("hello-v1"),
        ),
        (
            format!("{addons}/clustermanagementaddons"),
            common::addon::cma(
                "hello",
                json!({"type": "Manual"}),
                common::addon::hello_configs("hello-v1", None),
            ),
        ),
    ] {
        let r = admin
            .post(hub.url(&path))
            .json(&body)
            .send()
            .expect("create");
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    }
    let enabled = clusteradm(
        &hub,
        &["addon", "enable", "--names", "hello", "--clusters", "goc"],
    );
    assert!(enabled.contains("Deploying hello add-on"), "{enabled}");
    let mca = common::addon::mca_path("goc", "hello");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("the Go agent's add-on becomes Available", || {
            get(&hub, &mca).is_some_and(|a| {
                condition(&a, "Available").is_some_and(|c| c.0 == "True" && c.1 == "ProbeAvailable")
            })
        });
        wait_until("the Go agent writes the add-on's hub kubeconfig", || {
            get(
                &spoke,
                "/api/v1/namespaces/hello-ns/secrets/hello-hub-kubeconfig",
            )
            .is_some()
        });
    }));
    if result.is_err() {
        let _ = agent.0.kill();
        panic!(
            "the Go agent did not install the add-on; log:\n{}\nadd-on: {:?}\nCSRs: {:?}",
            log(),
            get(&hub, &mca),
            get(
                &hub,
                "/apis/certificates.k8s.io/v1/certificatesigningrequests"
            )
        );
    }
    let csrs = get(
        &hub,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    )
    .expect("CSRs");
    let addon_csr = csrs["items"]
        .as_array()
        .and_then(|i| {
            i.iter().find(|c| {
                c["metadata"]["labels"]["open-cluster-management.io/addon-name"] == "hello"
            })
        })
        .expect("the add-on's CSR");
    assert!(
        addon_csr
            .to_string()
            .contains("Auto approving addon agent certificate."),
        "{addon_csr}"
    );
    let disabled = clusteradm(
        &hub,
        &["addon", "disable", "--names", "hello", "--clusters", "goc"],
    );
    assert!(disabled.contains("hello"), "{disabled}");
    // Its pre-delete hook Job runs first (the Go agent applies the hook work), then the
    // add-on and its works go.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The hook Job's pod takes a while on kwok's nodes.
        common::wait_until_within("the disabled add-on's Deployment is removed", 240, || {
            get(
                &spoke,
                "/apis/apps/v1/namespaces/hello-ns/deployments/hello-agent",
            )
            .is_none()
        });
    }));
    if result.is_err() {
        let _ = agent.0.kill();
        panic!(
            "the disabled add-on was not removed; log:\n{}\nadd-on: {:?}\nhook work: {:?}\nhook Job: {:?}",
            log(),
            get(&hub, &mca),
            get(
                &hub,
                "/apis/work.open-cluster-management.io/v1/namespaces/goc/manifestworks/addon-hello-pre-delete"
            ),
            get(
                &spoke,
                "/apis/batch/v1/namespaces/default/jobs/hello-cleanup"
            ),
        );
    }
    assert!(get(&hub, &mca).is_none(), "a disabled add-on came back");

    let _ = agent.0.kill();
    let _ = agent.0.wait();
    // Nothing the agent asked of our hub failed. (409s between its own controllers are
    // retried by design; the peer sets no request-header CA, which only the agent's own
    // metrics endpoint reads from `extension-apiserver-authentication`; the add-on's work
    // lists its Deployment before its Namespace, in upstream's largest-first order, so a
    // first apply may find no namespace yet and is retried.)
    let errors: Vec<String> = log()
        .lines()
        .filter(|l| {
            let retried_namespace = l.contains("hello-ns") && l.contains("not found");
            l.starts_with('E')
                && !l.contains("extension-apiserver-authentication")
                && !l.contains("the object has been modified")
                && !retried_namespace
        })
        .map(str::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "the Go agent logged errors:\n{}",
        errors.join("\n")
    );

    // clusteradm's add-on commands read and write v1alpha1 (the storage version); v1beta1
    // is served by conversion. An add-on created through v1beta1, enabled (created, then
    // updated) with clusteradm, read through both versions, and listed by clusteradm.
    let addons = "/apis/addon.open-cluster-management.io";
    let cma = json!({"apiVersion": "addon.open-cluster-management.io/v1beta1", "kind": "ClusterManagementAddOn",
        "metadata": {"name": "greeter"},
        "spec": {"addOnMeta": {"displayName": "Greeter"},
            "defaultConfigs": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                "namespace": "open-cluster-management", "name": "default"}]}});
    let r = client(&hub.data_dir, true)
        .post(hub.url(&format!("{addons}/v1beta1/clustermanagementaddons")))
        .json(&cma)
        .send()
        .expect("add-on");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    for namespace in ["greeter-agent", "greeter-moved"] {
        let enabled = clusteradm(
            &hub,
            &[
                "addon",
                "enable",
                "--names",
                "greeter",
                "--clusters",
                "goc",
                "--namespace",
                namespace,
            ],
        );
        assert!(enabled.contains("Deploying greeter add-on"), "{enabled}");
        let path = |v: &str| format!("{addons}/{v}/namespaces/goc/managedclusteraddons/greeter");
        let alpha = get(&hub, &path("v1alpha1")).expect("v1alpha1 add-on");
        assert_eq!(alpha["spec"]["installNamespace"], namespace);
        let beta = get(&hub, &path("v1beta1")).expect("v1beta1 add-on");
        assert_eq!(
            beta["metadata"]["annotations"]["addon.open-cluster-management.io/v1alpha1-install-namespace"],
            namespace
        );
    }
    let listed = clusteradm(&hub, &["get", "addon", "--clusters", "goc"]);
    assert!(listed.contains("greeter"), "{listed}");
}

/// The Go agent's process, killed when the test ends, also by a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
