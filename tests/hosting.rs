//! The hub and the cluster hosting it, with a real Kubernetes control plane (`KubePeer`)
//! as that cluster: delegated authentication (the peer's service-account tokens and
//! client certificates accepted, forged ones refused, the hub's own RBAC deciding) and
//! self-management (the peer registered as the hub's own managed cluster, its agent in the
//! hub's process, a ManifestWork landing on the peer).

mod common;

use std::path::Path;
use std::process::Output;

use base64::Engine;
use common::kube_peer::{self, KubePeer};
use common::ocm::{cluster_path, get, has_condition};
use common::{ApiServer, Hub, client, kubectl, wait_until, wait_until_within};
use serde_json::{Value, json};

fn hub_with(dir: &Path, config: Value) -> Hub {
    let path = dir.join("hub.json");
    std::fs::write(&path, config.to_string()).expect("config");
    let mut hub = Hub::start(&dir.join("hub"), &["-c", path.to_str().expect("utf8")]);
    hub.wait_ready();
    hub
}

/// kubectl against the hub with the given credential flags instead of the admin's.
fn kubectl_as_user(hub: &Hub, credential: &[&str], args: &[&str]) -> Output {
    let ca = hub.data_dir.join("cert/ca.crt");
    std::process::Command::new(kubectl())
        .arg("--kubeconfig=/dev/null")
        .arg(format!("--server={}", hub.url("")))
        .arg(format!("--certificate-authority={}", ca.display()))
        .args(credential)
        .args(args)
        .output()
        .expect("kubectl")
}

fn whoami(hub: &Hub, credential: &[&str]) -> (bool, String) {
    let out = kubectl_as_user(hub, credential, &["auth", "whoami", "-o", "json"]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A client certificate issued by the peer's own signer through a CSR it approves.
fn peer_client_cert(peer: &KubePeer, dir: &Path, user: &str, group: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, user);
    dn.push(rcgen::DnType::OrganizationName, group);
    params.distinguished_name = dn;
    let request = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .expect("csr");
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": user},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"],
            "request": base64::engine::general_purpose::STANDARD.encode(request)}});
    peer.kubectl_stdin_ok(&["create", "-f", "-"], &csr.to_string());
    peer.kubectl_ok(&["certificate", "approve", user]);
    let mut cert = String::new();
    wait_until_within("the peer signs the CSR", 60, || {
        let out = peer.kubectl(&["get", "csr", user, "-o", "jsonpath={.status.certificate}"]);
        cert = String::from_utf8_lossy(&out.stdout).trim().to_string();
        !cert.is_empty()
    });
    let pem = base64::engine::general_purpose::STANDARD
        .decode(&cert)
        .expect("base64");
    let (crt, key_path) = (
        dir.join(format!("{user}.crt")),
        dir.join(format!("{user}.key")),
    );
    std::fs::write(&crt, pem).expect("write crt");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (
        crt.to_string_lossy().into_owned(),
        key_path.to_string_lossy().into_owned(),
    )
}

#[test]
fn delegated_authentication_accepts_the_hosting_clusters_identities() {
    let test = "delegated_authentication_accepts_the_hosting_clusters_identities";
    if !kube_peer::available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = KubePeer::start(&dir.path().join("peer"));
    let hub = hub_with(
        dir.path(),
        json!({"apiserver": {"delegatingAuthentication": {"enabled": true,
            "kubeconfig": peer.kubeconfig(), "cacheTTLSeconds": 1}}}),
    );
    // kube:admin is the hosting cluster's administrator, as in the Go project.
    let binding = get(
        &hub,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kube-admin",
    )
    .expect("kube-admin binding");
    assert_eq!(binding["subjects"][0]["name"], "kube:admin");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");

    // A service-account token of the hosting cluster: who it is comes from there...
    peer.kubectl_ok(&["create", "serviceaccount", "alice", "-n", "default"]);
    let token = peer.kubectl_ok(&["create", "token", "alice", "-n", "default"]);
    let token_flag = format!("--token={}", token.trim());
    let (ok, who) = whoami(&hub, &[&token_flag]);
    assert!(ok, "{who}");
    assert!(who.contains("system:serviceaccount:default:alice"), "{who}");
    // ...what it may do, from the hub's RBAC.
    let denied = kubectl_as_user(&hub, &[&token_flag], &["get", "managedclusters"]);
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("forbidden") && stderr.contains("system:serviceaccount:default:alice"),
        "{stderr}"
    );
    let out = common::kubectl_run(
        &hub,
        &[
            "create",
            "clusterrolebinding",
            "alice-view",
            "--clusterrole=view",
            "--serviceaccount=default:alice",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let allowed = kubectl_as_user(&hub, &[&token_flag], &["get", "namespaces"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );

    // A forged token is refused (401), not treated as anonymous.
    let forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl";
    let (ok, who) = whoami(&hub, &[&format!("--token={forged}")]);
    assert!(!ok, "{who}");
    assert!(who.contains("Unauthorized"), "{who}");

    // A client certificate the hosting cluster's CA signed.
    let (crt, key) = peer_client_cert(&peer, dir.path(), "bob", "devs");
    let cert_flags = [
        format!("--client-certificate={crt}"),
        format!("--client-key={key}"),
    ];
    let flags: Vec<&str> = cert_flags.iter().map(String::as_str).collect();
    let (ok, who) = whoami(&hub, &flags);
    assert!(ok, "{who}");
    assert!(who.contains("\"bob\"") && who.contains("devs"), "{who}");

    // A certificate from an unknown CA is refused.
    let rogue_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "kube:admin");
    params.distinguished_name = dn;
    let rogue = params.self_signed(&rogue_key).expect("self-signed");
    std::fs::write(dir.path().join("rogue.crt"), rogue.pem()).expect("write");
    std::fs::write(dir.path().join("rogue.key"), rogue_key.serialize_pem()).expect("write");
    let rogue_flags = [
        format!(
            "--client-certificate={}",
            dir.path().join("rogue.crt").display()
        ),
        format!("--client-key={}", dir.path().join("rogue.key").display()),
    ];
    let flags: Vec<&str> = rogue_flags.iter().map(String::as_str).collect();
    let (ok, who) = whoami(&hub, &flags);
    assert!(
        !ok,
        "a self-signed kube:admin certificate must not log in: {who}"
    );
}

#[test]
fn self_management_applies_work_to_the_hosting_cluster() {
    let test = "self_management_applies_work_to_the_hosting_cluster";
    if !kube_peer::available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = KubePeer::start(&dir.path().join("peer"));
    let hub = hub_with(
        dir.path(),
        json!({"controllers": {"selfManagement": {"enabled": true,
            "clusterName": "local-cluster", "kubeconfig": peer.kubeconfig()}},
            "agent": {"leaseDurationSeconds": 5, "statusSyncSeconds": 1}}),
    );
    wait_until_within("the hosting cluster is Available", 90, || {
        has_condition(
            &hub,
            "local-cluster",
            "ManagedClusterConditionAvailable",
            "True",
        )
    });
    let mc = get(&hub, &cluster_path("local-cluster")).expect("cluster");
    assert!(
        mc["metadata"]["labels"]
            .get("multicluster-controlplane.open-cluster-management.io/selfmanagement")
            .is_some(),
        "{mc}"
    );
    assert_eq!(mc["spec"]["hubAcceptsClient"], true);
    assert_eq!(
        mc["spec"]["managedClusterClientConfigs"][0]["url"]
            .as_str()
            .map(|u| u.trim_end_matches('/')),
        Some(peer.url())
    );
    assert_eq!(
        mc["status"]["capacity"]["cpu"], "16",
        "the peer's two nodes"
    );

    let work = json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": "to-self", "namespace": "local-cluster"},
        "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "from-hub", "namespace": "default"}, "data": {"via": "self-management"}}]}}});
    let r =
        client(&hub.data_dir, true)
            .post(hub.url(
                "/apis/work.open-cluster-management.io/v1/namespaces/local-cluster/manifestworks",
            ))
            .json(&work)
            .send()
            .expect("create work");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    wait_until("the ConfigMap lands on the hosting cluster", || {
        peer.get_json("/api/v1/namespaces/default/configmaps/from-hub")
            .is_some_and(|cm| cm["data"]["via"] == "self-management")
    });
}
