//! Registration end to end: our hub, a real Kubernetes control plane as the managed
//! cluster (`KubePeer`; one per test where the test reads what the agent reports about it,
//! else one shared by the tests of this file), real `agent`, `token` and `accept`
//! processes. Joining, reporting (real nodes' resources, the real version, ClusterClaims
//! through the CRD the agent installs), lease expiry and recovery, restarts, certificate
//! rotation, falling back to bootstrap, removal, auto-approval and the ManagedCluster
//! admission rules.

mod common;

use std::path::Path;

use common::kube_peer::{self, KubePeer};
use common::ocm::{self, Agent, cluster_path, condition, get, has_condition};
use common::{ApiServer, Hub, client, wait_until};
use serde_json::{Value, json};

fn hub_with(dir: &Path, config: Option<Value>) -> Hub {
    let mut extra = Vec::new();
    let path = dir.join("hub-config.json");
    if let Some(c) = config {
        std::fs::write(&path, c.to_string()).expect("config");
        extra = vec!["-c", path.to_str().expect("utf8")];
    }
    let mut hub = Hub::start(&dir.join("hub"), &extra);
    hub.wait_ready();
    hub
}

fn fast(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec![
        "--lease-duration-seconds",
        "1",
        "--status-sync-seconds",
        "1",
    ];
    v.extend_from_slice(extra);
    v
}

fn csrs_for(hub: &Hub, cluster: &str) -> Vec<Value> {
    get(
        hub,
        &format!(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?labelSelector=open-cluster-management.io%2Fcluster-name%3D{cluster}"
        ),
    )
    .and_then(|l| l["items"].as_array().cloned())
    .unwrap_or_default()
}

fn taint_keys(cluster: &Value) -> Vec<String> {
    cluster
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A CRD on a managed cluster.
fn spoke_crd(spoke: &KubePeer, name: &str) -> Value {
    get(
        spoke,
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
    )
    .unwrap_or_else(|| panic!("CRD {name} is not on the managed cluster"))
}

fn established(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
}

#[test]
fn join_accept_report_expire_recover_restart_remove() {
    if !kube_peer::available("join_accept_report_expire_recover_restart_remove") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), None);
    let peer = KubePeer::start(&dir.path().join("spoke"));
    let spoke = &peer;
    let admin = client(&hub.data_dir, true);

    // Start-up objects.
    let anonymous = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let info = anonymous
        .get(hub.url("/api/v1/namespaces/kube-public/configmaps/cluster-info"))
        .send()
        .expect("cluster-info");
    assert_eq!(
        info.status(),
        200,
        "cluster-info must be readable anonymously"
    );
    let info: Value = info.json().expect("json");
    assert!(
        info["data"]["kubeconfig"]
            .as_str()
            .unwrap_or("")
            .contains(&format!(":{}", hub.port))
    );
    let secrets = anonymous
        .get(hub.url("/api/v1/namespaces/kube-public/configmaps"))
        .send()
        .expect("list");
    assert_eq!(
        secrets.status(),
        403,
        "anonymous may read cluster-info only"
    );
    for set in ["default", "global"] {
        assert!(
            get(
                &hub,
                &format!(
                    "/apis/cluster.open-cluster-management.io/v1beta2/managedclustersets/{set}"
                )
            )
            .is_some()
        );
    }
    let role = get(
        &hub,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/open-cluster-management:bootstrap",
    )
    .expect("bootstrap role");
    assert!(
        role.to_string().contains("\"watch\""),
        "bootstrap role needs watch on managedclusters: {role}"
    );
    wait_until("kube-root-ca.crt is in default", || {
        get(
            &hub,
            "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        )
        .is_some()
    });

    let token = ocm::create_token(&hub, None, "1h");
    let agent_dir = dir.path().join("agent");
    let mut agent = Agent::start("c1", &hub.url(""), &token, spoke, &agent_dir, &fast(&[]));
    wait_until("the agent created its ManagedCluster and a CSR", || {
        get(&hub, &cluster_path("c1")).is_some() && !csrs_for(&hub, "c1").is_empty()
    });
    let mc = get(&hub, &cluster_path("c1")).expect("mc");
    assert_eq!(mc["spec"]["hubAcceptsClient"], false);
    assert_eq!(
        mc["metadata"]["labels"]["cluster.open-cluster-management.io/clusterset"],
        "default"
    );
    let csr = &csrs_for(&hub, "c1")[0];
    let id = token.token.split('.').next().expect("id");
    assert_eq!(csr["spec"]["username"], format!("system:bootstrap:{id}"));
    assert!(
        csr.pointer("/status/certificate").is_none(),
        "nothing is issued before acceptance"
    );

    let out = ocm::accept(&hub, "c1");
    assert!(out.contains("accepted"), "{out}");
    wait_until("c1 is Available", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "True")
    });
    let mc = get(&hub, &cluster_path("c1")).expect("mc");
    assert_eq!(
        condition(&mc, "HubAcceptedManagedCluster"),
        Some(("True".into(), "HubClusterAdminAccepted".into()))
    );
    assert_eq!(
        condition(&mc, "ManagedClusterJoined"),
        Some(("True".into(), "ManagedClusterJoined".into()))
    );
    // Resources summed over the real cluster's two (kwok) nodes, its real version.
    assert_eq!(mc["status"]["capacity"]["cpu"], "16");
    assert_eq!(mc["status"]["capacity"]["memory"], "64Gi");
    assert_eq!(mc["status"]["allocatable"]["cpu"], "15600m");
    assert_eq!(mc["status"]["allocatable"]["pods"], "220");
    let version = spoke.kubectl_json(&["version", "-o", "json"]);
    assert_eq!(
        mc["status"]["version"]["kubernetes"],
        version["serverVersion"]["gitVersion"]
    );

    // The agent installed the ClusterClaim CRD on the managed cluster: claims made there
    // reach the hub, except spoke-only ones.
    let crd = spoke_crd(spoke, "clusterclaims.cluster.open-cluster-management.io");
    assert!(established(&crd), "{crd}");
    for (name, labels) in [
        ("id.k8s.io", json!({})),
        (
            "local.secret",
            json!({"open-cluster-management.io/spoke-only": ""}),
        ),
    ] {
        let claim = json!({"apiVersion": "cluster.open-cluster-management.io/v1alpha1", "kind": "ClusterClaim",
            "metadata": {"name": name, "labels": labels}, "spec": {"value": "claim-value"}});
        let r = spoke
            .admin_http()
            .post(spoke.api_url("/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims"))
            .json(&claim)
            .send()
            .expect("claim");
        assert!(
            r.status().is_success(),
            "claim: {}",
            r.text().unwrap_or_default()
        );
    }
    wait_until("the claims reach the hub", || {
        get(&hub, &cluster_path("c1")).is_some_and(|mc| {
            mc["status"]["clusterClaims"] == json!([{"name": "id.k8s.io", "value": "claim-value"}])
        })
    });
    // What operators type: kubectl waits on the condition.
    let waited = common::kubectl_run(
        &hub,
        &[
            "wait",
            "--for=condition=ManagedClusterConditionAvailable",
            "managedcluster/c1",
            "--timeout=30s",
        ],
    );
    assert!(
        waited.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    wait_until("the unreachable taint is removed", || {
        get(&hub, &cluster_path("c1")).is_some_and(|c| taint_keys(&c).is_empty())
    });
    let mc = get(&hub, &cluster_path("c1")).expect("mc");
    assert!(
        mc["metadata"]["finalizers"]
            .to_string()
            .contains("api-resource-cleanup")
    );

    // What the hub made for the accepted cluster.
    let ns = get(&hub, "/api/v1/namespaces/c1").expect("cluster namespace");
    assert_eq!(
        ns["metadata"]["labels"]["open-cluster-management.io/cluster-name"],
        "c1"
    );
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let cr = get(
        &hub,
        &format!("{rbac}/clusterroles/open-cluster-management:managedcluster:c1"),
    )
    .expect("cluster role");
    assert!(cr.to_string().contains("clientcertificates"));
    assert!(
        get(
            &hub,
            &format!("{rbac}/clusterrolebindings/open-cluster-management:managedcluster:c1")
        )
        .is_some()
    );
    assert!(get(&hub, &format!("{rbac}/namespaces/c1/rolebindings/open-cluster-management:managedcluster:c1:registration")).is_some());
    let work = get(
        &hub,
        &format!(
            "{rbac}/namespaces/c1/rolebindings/open-cluster-management:managedcluster:c1:work"
        ),
    )
    .expect("work rb");
    assert_eq!(
        work["metadata"]["finalizers"],
        json!(["cluster.open-cluster-management.io/manifest-work-cleanup"])
    );
    wait_until("kube-root-ca.crt is in c1", || {
        get(&hub, "/api/v1/namespaces/c1/configmaps/kube-root-ca.crt").is_some()
    });
    let lease_path = "/apis/coordination.k8s.io/v1/namespaces/c1/leases/managed-cluster-lease";
    let renewed = |hub: &Hub| {
        get(hub, lease_path).and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_string))
    };
    let first = renewed(&hub);
    wait_until("the agent renews its lease", || renewed(&hub) != first);

    // Credentials on disk: private, and the key never left the agent.
    use std::os::unix::fs::PermissionsExt;
    for f in ["tls.key", "kubeconfig", "tls.crt"] {
        let mode = std::fs::metadata(agent_dir.join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} mode {mode:o}");
    }
    let key = std::fs::read_to_string(agent_dir.join("tls.key")).expect("key");
    let all_csrs = get(
        &hub,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    )
    .expect("csrs")
    .to_string();
    assert!(
        !all_csrs.contains(key.lines().nth(1).unwrap_or("?")),
        "private key material on the hub"
    );

    // The agent stops: Unknown after 5 × 1 s, with the unreachable taint.
    agent.kill();
    wait_until("c1 becomes Unknown", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "Unknown")
    });
    let mc = get(&hub, &cluster_path("c1")).expect("mc");
    assert_eq!(
        condition(&mc, "ManagedClusterConditionAvailable").map(|c| c.1),
        Some("ManagedClusterLeaseUpdateStopped".into())
    );
    wait_until("the unreachable taint is set", || {
        get(&hub, &cluster_path("c1"))
            .is_some_and(|c| taint_keys(&c) == ["cluster.open-cluster-management.io/unreachable"])
    });
    let csr_count = csrs_for(&hub, "c1").len();
    agent.restart();
    wait_until("c1 is Available again", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "True")
    });
    assert_eq!(
        csrs_for(&hub, "c1").len(),
        csr_count,
        "a restarted agent reuses its credentials"
    );
    wait_until("the taint is removed again", || {
        get(&hub, &cluster_path("c1")).is_some_and(|c| taint_keys(&c).is_empty())
    });

    // Hub restart on the same address: the agent carries on by itself.
    let port = hub.port;
    hub.terminate();
    let mut hub = Hub::start_on(&dir.path().join("hub"), port, &[], &[]);
    hub.wait_ready();
    let before = renewed(&hub);
    wait_until("the lease is renewed after the hub restart", || {
        renewed(&hub) != before
    });
    // The restart may have outlasted 5 leases (Unknown); the agent's next report heals it.
    wait_until("c1 is Available after the hub restart", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "True")
    });

    // Removal: works and RBAC and the namespace go, then the cluster.
    agent.kill();
    let mw = json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": "w1", "namespace": "c1"},
        "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}]}}});
    let r = admin
        .post(hub.url("/apis/work.open-cluster-management.io/v1/namespaces/c1/manifestworks"))
        .json(&mw)
        .send()
        .expect("work");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    let r = admin
        .delete(hub.url(&cluster_path("c1")))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    wait_until("the ManagedCluster is gone", || {
        get(&hub, &cluster_path("c1")).is_none()
    });
    assert!(
        get(
            &hub,
            "/apis/work.open-cluster-management.io/v1/namespaces/c1/manifestworks/w1"
        )
        .is_none()
    );
    assert!(
        get(
            &hub,
            &format!("{rbac}/clusterroles/open-cluster-management:managedcluster:c1")
        )
        .is_none()
    );
    assert!(
        get(
            &hub,
            &format!("{rbac}/clusterrolebindings/open-cluster-management:managedcluster:c1")
        )
        .is_none()
    );
    wait_until("the cluster namespace is gone", || {
        get(&hub, "/api/v1/namespaces/c1").is_none()
    });
}

#[test]
fn credentials_are_isolated_and_denial_revokes_access() {
    if !kube_peer::available("credentials_are_isolated_and_denial_revokes_access") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), None);
    let spoke = KubePeer::shared();
    let token = ocm::create_token(&hub, None, "1h");
    let a = Agent::start(
        "c1",
        &hub.url(""),
        &token,
        spoke,
        &dir.path().join("a1"),
        &fast(&[]),
    );
    let b = Agent::start(
        "c2",
        &hub.url(""),
        &token,
        spoke,
        &dir.path().join("a2"),
        &fast(&[]),
    );
    wait_until("both clusters exist", || {
        get(&hub, &cluster_path("c1")).is_some() && get(&hub, &cluster_path("c2")).is_some()
    });
    for c in ["c1", "c2"] {
        ocm::accept(&hub, c);
    }
    wait_until("both are Available", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "True")
            && has_condition(&hub, "c2", "ManagedClusterConditionAvailable", "True")
    });
    let c1 = a.hub_client(&hub);
    let code = |r: reqwest::blocking::RequestBuilder| r.send().expect("request").status().as_u16();
    let lease = |c: &str| {
        format!("/apis/coordination.k8s.io/v1/namespaces/{c}/leases/managed-cluster-lease")
    };
    assert_eq!(code(c1.get(hub.url(&cluster_path("c1")))), 200);
    assert_eq!(
        code(c1.get(hub.url(&cluster_path("c2")))),
        403,
        "another cluster's ManagedCluster"
    );
    assert_eq!(
        code(c1.get(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters"))),
        403
    );
    assert_eq!(
        code(c1.get(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters?fieldSelector=metadata.name%3Dc1"))),
        200,
        "a list of its own cluster by name is allowed"
    );
    assert_eq!(code(c1.get(hub.url(&lease("c1")))), 200);
    assert_eq!(
        code(c1.get(hub.url(&lease("c2")))),
        403,
        "another cluster's namespace"
    );
    assert_eq!(
        code(c1.get(hub.url("/api/v1/namespaces/c2/configmaps"))),
        403
    );
    assert_eq!(
        code(c1.get(hub.url("/api/v1/namespaces/kube-system/secrets"))),
        403
    );
    assert_eq!(code(c1.get(hub.url("/api/v1/namespaces/c1/secrets"))), 403);
    let mc2 = get(&hub, &cluster_path("c2")).expect("c2");
    assert_eq!(
        code(
            c1.put(hub.url(&format!("{}/status", cluster_path("c2"))))
                .json(&mc2)
        ),
        403
    );
    let mut mc1 = get(&hub, &cluster_path("c1")).expect("c1");
    mc1["metadata"]["labels"]["cluster.open-cluster-management.io/clusterset"] = json!("other");
    assert_eq!(
        code(c1.put(hub.url(&cluster_path("c1"))).json(&mc1)),
        403,
        "joining another set"
    );

    // A bootstrap token can only do what joining needs.
    let bearer = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let with = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(&token.token);
    assert_eq!(
        code(with(bearer.get(hub.url(
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        )))),
        200
    );
    assert_eq!(
        code(with(
            bearer.get(hub.url("/api/v1/namespaces/kube-system/secrets"))
        )),
        403
    );
    assert_eq!(code(with(bearer.get(hub.url(&lease("c1"))))), 403);
    assert_eq!(
        code(with(
            bearer
                .put(hub.url(&format!("{}/status", cluster_path("c2"))))
                .json(&mc2)
        )),
        403
    );
    assert_eq!(code(with(bearer.delete(hub.url(&cluster_path("c2"))))), 403);
    let sneaky = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": "sneaky"}, "spec": {"hubAcceptsClient": true}});
    let r = with(
        bearer
            .post(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters"))
            .json(&sneaky),
    )
    .send()
    .expect("create");
    assert_eq!(
        r.status(),
        403,
        "a bootstrap user cannot accept its own cluster"
    );
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("managedclusters/accept")
    );
    let csr = get(
        &hub,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    )
    .expect("csrs")["items"][0]
        .clone();
    let approval = format!(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/{}/approval",
        csr["metadata"]["name"].as_str().unwrap_or("")
    );
    assert_eq!(code(with(bearer.put(hub.url(&approval)).json(&csr))), 403);
    assert_eq!(code(c1.put(hub.url(&approval)).json(&csr)), 403);

    // CSRs for another cluster's identity: never approved automatically, not by `accept`,
    // and refused by the signer when subject and label disagree.
    let csrs_url = hub.url("/apis/certificates.k8s.io/v1/certificatesigningrequests");
    let forged_csr = |name: &str, label: &str, subject_cluster: &str| {
        use base64::Engine;
        let (_, pem) =
            multicluster_controlplane::agent::register::new_request(subject_cluster, "evil")
                .expect("csr");
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name, "labels": {"open-cluster-management.io/cluster-name": label}},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["digital signature", "key encipherment", "client auth"],
                "request": base64::engine::general_purpose::STANDARD.encode(pem)}})
    };
    assert_eq!(
        code(c1.post(&csrs_url).json(&forged_csr("steal-c2", "c2", "c2"))),
        201
    );
    assert_eq!(
        code(c1.post(&csrs_url).json(&forged_csr("mismatch", "c1", "c2"))),
        201
    );
    let out = ocm::accept(&hub, "c2");
    assert!(
        !out.contains("steal-c2"),
        "accept approves bootstrap requests only: {out}"
    );
    let steal = get(
        &hub,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/steal-c2",
    )
    .expect("csr");
    assert!(
        steal.pointer("/status/conditions").is_none(),
        "a CSR for c2 made by c1 stays pending: {steal}"
    );
    let mut mismatch = get(
        &hub,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/mismatch",
    )
    .expect("csr");
    mismatch["status"] = json!({"conditions": [{"type": "Approved", "status": "True", "reason": "Careless", "message": "approved by hand"}]});
    let r = client(&hub.data_dir, true)
        .put(hub.url("/apis/certificates.k8s.io/v1/certificatesigningrequests/mismatch/approval"))
        .json(&mismatch)
        .send()
        .expect("approve");
    assert!(r.status().is_success());
    wait_until("the signer refuses the mismatched CSR", || {
        get(
            &hub,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/mismatch",
        )
        .is_some_and(|c| {
            c.to_string().contains("SignerValidationFailure")
                && c.pointer("/status/certificate").is_none()
        })
    });

    // Deny c1: its access goes within a sync period; c2 is untouched.
    let r = client(&hub.data_dir, true)
        .patch(hub.url(&cluster_path("c1")))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"spec":{"hubAcceptsClient":false}}"#)
        .send()
        .expect("deny");
    assert!(r.status().is_success());
    wait_until("c1's lease access is revoked", || {
        code(c1.get(hub.url(&lease("c1")))) == 403
    });
    wait_until("c1 is marked denied", || {
        get(&hub, &cluster_path("c1")).and_then(|c| condition(&c, "HubAcceptedManagedCluster"))
            == Some(("False".into(), "HubClusterAdminDenied".into()))
    });
    assert_eq!(
        code(c1.get(hub.url(&cluster_path("c1")))),
        200,
        "a denied cluster still sees its own ManagedCluster"
    );
    assert_eq!(code(b.hub_client(&hub).get(hub.url(&lease("c2")))), 200);
    wait_until("c1 becomes Unknown", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "Unknown")
    });
    drop(a);
}

#[test]
fn rotation_then_rejected_credentials_fall_back_to_bootstrap() {
    if !kube_peer::available("rotation_then_rejected_credentials_fall_back_to_bootstrap") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(
        dir.path(),
        Some(json!({"controllers": {"maxCertExpirationSeconds": 15}})),
    );
    let spoke = KubePeer::shared();
    let token = ocm::create_token(&hub, None, "1h");
    let agent_dir = dir.path().join("agent");
    let mut agent = Agent::start("c1", &hub.url(""), &token, spoke, &agent_dir, &fast(&[]));
    wait_until("c1 exists", || get(&hub, &cluster_path("c1")).is_some());
    ocm::accept(&hub, "c1");
    wait_until("c1 is Available", || {
        has_condition(&hub, "c1", "ManagedClusterConditionAvailable", "True")
    });
    let first = std::fs::read_to_string(agent_dir.join("tls.crt")).expect("crt");
    wait_until("the certificate is rotated", || {
        std::fs::read_to_string(agent_dir.join("tls.crt")).is_ok_and(|c| c != first)
    });
    wait_until("the rotation is reported", || {
        get(&hub, &cluster_path("c1"))
            .and_then(|c| condition(&c, "ClusterCertificateRotated"))
            .is_some_and(|c| c == ("True".into(), "ClientCertificateUpdated".into()))
    });
    let renewal = csrs_for(&hub, "c1")
        .into_iter()
        .find(|c| {
            c["spec"]["username"]
                .as_str()
                .is_some_and(|u| u.starts_with("system:open-cluster-management:c1:"))
        })
        .expect("a renewal CSR made with the agent's own identity");
    assert!(
        renewal
            .to_string()
            .contains("AutoApprovedByHubCSRApprovingController")
    );

    // Credentials the hub does not accept: the agent bootstraps again.
    agent.kill();
    let key = rcgen::KeyPair::generate().expect("key");
    let cn = common_name(&std::fs::read_to_string(agent_dir.join("tls.crt")).expect("crt"));
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let forged = params.self_signed(&key).expect("self-signed");
    std::fs::write(agent_dir.join("tls.crt"), forged.pem()).expect("write");
    std::fs::write(agent_dir.join("tls.key"), key.serialize_pem()).expect("write");
    let before = csrs_for(&hub, "c1").len();
    agent.restart();
    wait_until("a new bootstrap CSR", || {
        csrs_for(&hub, "c1").len() > before
    });
    ocm::accept(&hub, "c1");
    wait_until("the agent holds a hub-issued certificate again", || {
        std::fs::read_to_string(agent_dir.join("tls.crt"))
            .is_ok_and(|c| c != forged.pem() && c.contains("BEGIN CERTIFICATE"))
    });
    let lease = "/apis/coordination.k8s.io/v1/namespaces/c1/leases/managed-cluster-lease";
    let renewed = |hub: &Hub| {
        get(hub, lease).and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_string))
    };
    let now = renewed(&hub);
    wait_until("the lease is renewed with the new certificate", || {
        renewed(&hub) != now
    });
}

fn common_name(pem: &str) -> String {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let cert = block.parse_x509().expect("x509");
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .expect("cn")
        .to_string()
}

#[test]
fn auto_approval_tokens_and_admission() {
    if !kube_peer::available("auto_approval_tokens_and_admission") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(
        dir.path(),
        Some(
            json!({"controllers": {"featureGates": {"ManagedClusterAutoApproval": true},
            "autoApprovalBootstrapUsers": ["system:bootstrap:abcdef"]}}),
        ),
    );
    let spoke = KubePeer::shared();
    let token = ocm::create_token(&hub, Some("abcdef.0123456789abcdef"), "1h");
    assert_eq!(token.token, "abcdef.0123456789abcdef");
    let _agent = Agent::start(
        "auto",
        &hub.url(""),
        &token,
        spoke,
        &dir.path().join("agent"),
        &fast(&[]),
    );
    wait_until(
        "the listed bootstrap user's cluster is accepted and Available",
        || has_condition(&hub, "auto", "ManagedClusterConditionAvailable", "True"),
    );
    // A cluster whose agent has made no CSR yet: `accept` sets hubAcceptsClient but, as
    // `clusteradm accept` does, fails saying nothing can join yet.
    let created = common::client(&hub.data_dir, true)
        .post(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters"))
        .json(
            &json!({"apiVersion": "cluster.open-cluster-management.io/v1",
            "kind": "ManagedCluster", "metadata": {"name": "no-agent"}}),
        )
        .send()
        .expect("create");
    assert_eq!(created.status(), 201);
    let out = ocm::accept_once(None, &hub, "no-agent");
    assert!(
        out.contains("no CSR of cluster \"no-agent\" is approved yet"),
        "{out}"
    );
    let mc = get(&hub, &cluster_path("no-agent")).expect("mc");
    assert_eq!(mc["spec"]["hubAcceptsClient"], true);
    // Another token's cluster waits for an admin.
    let other = ocm::create_token(&hub, None, "1h");
    let _manual = Agent::start(
        "manual",
        &hub.url(""),
        &other,
        spoke,
        &dir.path().join("agent2"),
        &fast(&[]),
    );
    wait_until("the other cluster exists with a CSR", || {
        !csrs_for(&hub, "manual").is_empty()
    });

    // A second agent claiming the same cluster: `accept` refuses to pick one.
    let impostor = {
        use base64::Engine;
        let (_, pem) = multicluster_controlplane::agent::register::new_request("manual", "other")
            .expect("csr");
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "impostor", "labels": {"open-cluster-management.io/cluster-name": "manual"}},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["digital signature", "key encipherment", "client auth"],
                "request": base64::engine::general_purpose::STANDARD.encode(pem)}})
    };
    let bearer = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let r = bearer
        .post(hub.url("/apis/certificates.k8s.io/v1/certificatesigningrequests"))
        .bearer_auth(&other.token)
        .json(&impostor)
        .send()
        .expect("csr");
    assert_eq!(r.status(), 201);
    let out = ocm::accept(&hub, "manual");
    assert!(out.contains("several agents ask to join"), "{out}");
    assert!(
        csrs_for(&hub, "manual")
            .iter()
            .all(|c| c.pointer("/status/conditions").is_none())
    );

    // Tokens: listed, expire and are cleaned up, deleted by id.
    let short = ocm::create_token(&hub, None, "2s");
    let data = hub.data_dir.to_str().expect("utf8");
    let list = common::run(&["token", "list", "--data-dir", data]);
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    let short_id = short.token.split('.').next().expect("id").to_string();
    assert!(
        listed.contains(&short_id) && listed.contains("abcdef"),
        "{listed}"
    );
    let secret = get(
        &hub,
        &format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{short_id}"),
    )
    .expect("secret");
    assert_eq!(secret["metadata"]["labels"]["app"], "cluster-manager");
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
    wait_until("the expired token is deleted", || {
        get(
            &hub,
            &format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{short_id}"),
        )
        .is_none()
    });
    // Seconds after it was made (the token above had to expire meanwhile), the other
    // token's CSR is still pending: only the listed user is approved automatically.
    assert!(
        csrs_for(&hub, "manual")
            .iter()
            .all(|c| c.pointer("/status/conditions").is_none()),
        "a CSR of an unlisted bootstrap user was approved"
    );
    let out = common::run(&["token", "delete", "--data-dir", data, &other.token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::run(&["token", "delete", "--data-dir", data, "zzzzzz"]);
    assert!(!out.status.success(), "deleting an unknown token fails");

    // Admission on ManagedClusters and bindings.
    let admin = client(&hub.data_dir, true);
    let clusters = hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters");
    let mut mc = get(&hub, &cluster_path("auto")).expect("auto");
    mc["spec"]["taints"] =
        json!([{"key": "k", "effect": "NoSelect", "timeAdded": "2001-01-01T00:00:00Z"}]);
    let r = admin
        .put(hub.url(&cluster_path("auto")))
        .json(&mc)
        .send()
        .expect("put");
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("spec.taints[0].timeAdded")
    );
    let bad_url = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": "x1"}, "spec": {"managedClusterClientConfigs": [{"url": "http://plain"}]}});
    let r = admin.post(&clusters).json(&bad_url).send().expect("post");
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("managedClusterClientConfigs[0].url")
    );
    let dotted = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster", "metadata": {"name": "a.b"}});
    assert_eq!(
        admin
            .post(&clusters)
            .json(&dotted)
            .send()
            .expect("post")
            .status(),
        422
    );
    let binding = json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
        "metadata": {"name": "default", "namespace": "default"}, "spec": {"clusterSet": "global"}});
    let r = admin
        .post(hub.url("/apis/cluster.open-cluster-management.io/v1beta2/namespaces/default/managedclustersetbindings"))
        .json(&binding)
        .send()
        .expect("binding");
    assert_eq!(
        r.status(),
        400,
        "a binding named after another set (upstream: BadRequest)"
    );
    // A user who may edit clusters but not accept them.
    for (path, body) in [
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-editor"}, "rules": [{"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"], "verbs": ["*"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "alice"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-editor"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        ),
    ] {
        let r = admin.post(hub.url(path)).json(&body).send().expect("rbac");
        assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    }
    let as_alice = |r: reqwest::blocking::RequestBuilder| {
        r.header("Impersonate-User", "alice").send().expect("alice")
    };
    let accept = as_alice(
        admin
            .patch(hub.url(&cluster_path("manual")))
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"spec":{"hubAcceptsClient":true}}"#),
    );
    assert_eq!(accept.status(), 403);
    let moved = as_alice(
        admin
            .patch(hub.url(&cluster_path("manual")))
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"cluster.open-cluster-management.io/clusterset":"global"}}}"#),
    );
    assert_eq!(moved.status(), 403);
    assert!(
        moved
            .text()
            .unwrap_or_default()
            .contains("managedclustersets/join")
    );
    let labelled = as_alice(
        admin
            .patch(hub.url(&cluster_path("manual")))
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"env":"test"}}}"#),
    );
    assert_eq!(labelled.status(), 200, "other edits are fine");
}

/// `token create` on a hub that serves before its controllers have published
/// `kube-public/cluster-info` (an elected leader's job in HA; here the controllers are off,
/// so nothing else writes it) waits for it, says so, and prints the published URL once it
/// appears.
#[test]
fn token_create_waits_for_the_published_cluster_info() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), Some(json!({"controllers": {"enabled": false}})));
    assert!(
        get(
            &hub,
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        )
        .is_none(),
        "without controllers nothing publishes cluster-info"
    );
    let data = hub.data_dir.to_str().expect("utf8");
    let mut child = ocm::command(
        None,
        &["token", "create", "--data-dir", data, "--ttl", "1h"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("token create");
    let stdout = common::pump(child.stdout.take().expect("stdout"));
    let stderr = common::pump(child.stderr.take().expect("stderr"));
    let mut said = Vec::new();
    wait_until("token create says it waits for cluster-info", || {
        said.extend(stderr.try_iter());
        said.iter()
            .any(|l| l.contains("waiting for") && l.contains("cluster-info"))
    });
    assert!(child.try_wait().expect("try_wait").is_none(), "it waits");

    let kubeconfig = std::fs::read_to_string(hub.kubeconfig()).expect("hub kubeconfig");
    let ca = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .expect("CA in the hub kubeconfig");
    let published = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: hub\n  cluster:\n    server: https://hub.example:6443\n    certificate-authority-data: {ca}\n"
    );
    let out = common::kubectl_run(
        &hub,
        &[
            "create",
            "configmap",
            "cluster-info",
            "-n",
            "kube-public",
            &format!("--from-literal=kubeconfig={published}"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = common::wait_exit(&mut child, std::time::Duration::from_secs(30));
    let text: Vec<String> = stdout.iter().collect();
    assert!(status.success(), "token create: {status}: {said:?}");
    let text = text.join("\n");
    assert!(text.contains("https://hub.example:6443"), "{text}");
    assert!(text.contains("--hub-ca-hash sha256:"), "{text}");
}
