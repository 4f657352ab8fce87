//! Add-ons in our agent, end to end: our hub, our agent, and a real Kubernetes control
//! plane (`KubePeer`) as the managed cluster. An add-on whose status asks for a
//! `kubernetes.io/kube-apiserver-client` registration gets a CSR with OCM's name, labels
//! and default subject; once the CSR is approved (here by the test: the hub does not approve
//! add-on CSRs yet) the agent writes `<addon>-hub-kubeconfig` into the add-on's install
//! namespace as soon as that exists, and its kubeconfig authenticates to our hub as the
//! add-on. A subject change in the status brings a new certificate with every group; the
//! add-on's Lease on the managed cluster drives its `Available` condition (renewed, gone,
//! stale); deleting the add-on deletes its Secret.

mod common;

use base64::Engine;
use common::kube_peer::{self, KubePeer};
use common::ocm::{get, setup};
use common::{ApiServer, Hub, client, wait_until, wait_until_within};
use serde_json::{Value, json};
use x509_parser::prelude::FromDer;

const ADDONS: &str = "/apis/addon.open-cluster-management.io/v1alpha1";
const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const CLUSTER_LABEL: &str = "open-cluster-management.io/cluster-name";
const ADDON_LABEL: &str = "open-cluster-management.io/addon-name";
const NS: &str = "hello-agent";

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

fn send(hub: &Hub, method: reqwest::Method, path: &str, body: &Value) -> Value {
    let content_type = if method == reqwest::Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let response = client(&hub.data_dir, true)
        .request(method.clone(), hub.url(path))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .expect("request");
    let status = response.status();
    let text = response.text().unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn addon_path(name: &str) -> String {
    format!("{ADDONS}/namespaces/c0/managedclusteraddons/{name}")
}

/// The add-on's `(status, reason, message)` of condition `t`.
fn addon_condition(hub: &Hub, name: &str, t: &str) -> Option<(String, String, String)> {
    let a = get(hub, &addon_path(name))?;
    let c = a
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)?;
    Some((
        c["status"].as_str()?.into(),
        c["reason"].as_str()?.into(),
        c["message"].as_str().unwrap_or("").into(),
    ))
}

/// The add-on's CSRs on the hub, by the add-on label.
fn addon_csrs(hub: &Hub, addon: &str) -> Vec<Value> {
    get(
        hub,
        &format!("{CSRS}?labelSelector={ADDON_LABEL}%3D{addon}"),
    )
    .and_then(|l| l["items"].as_array().cloned())
    .unwrap_or_default()
}

/// Waits for a pending CSR of the add-on not in `seen`; returns it.
fn new_csr(hub: &Hub, addon: &str, seen: &[String]) -> Value {
    let mut found = None;
    wait_until_within("the agent creates the add-on's CSR", 60, || {
        found = addon_csrs(hub, addon)
            .into_iter()
            .find(|c| !seen.contains(&c["metadata"]["name"].as_str().unwrap_or("").to_string()));
        found.is_some()
    });
    found.expect("csr")
}

/// `(common name, organizations, DNS names)` of a CSR's request.
fn request_subject(csr: &Value) -> (String, Vec<String>, Vec<String>) {
    let pem =
        String::from_utf8(b64(csr["spec"]["request"].as_str().expect("request"))).expect("pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = b64(&body);
    let (_, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&der).expect("csr");
    let subject = &request.certification_request_info.subject;
    let text =
        |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().unwrap_or("").to_string();
    let dns = request
        .requested_extensions()
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) => Some(
                san.general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    (
        subject
            .iter_common_name()
            .next()
            .map(text)
            .unwrap_or_default(),
        subject.iter_organization().map(text).collect(),
        dns,
    )
}

/// Approves a CSR as the hub admin (the add-on here is not a template add-on, whose CSRs
/// the hub approves itself) and waits until the hub signed it.
fn approve(hub: &Hub, name: &str) {
    let out = common::kubectl_run(hub, &["certificate", "approve", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(&format!("the hub signs {name}"), || {
        get(hub, &format!("{CSRS}/{name}"))
            .and_then(|c| {
                c.pointer("/status/certificate")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .is_some_and(|c| !c.is_empty())
    });
}

/// The Secret's data on the managed cluster, decoded.
fn secret_data(spoke: &KubePeer, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let s = spoke.get_json(&format!("/api/v1/namespaces/{NS}/secrets/{name}"))?;
    Some(
        s["data"]
            .as_object()?
            .iter()
            .map(|(k, v)| {
                let bytes = b64(v.as_str().unwrap_or(""));
                (k.clone(), String::from_utf8_lossy(&bytes).into_owned())
            })
            .collect(),
    )
}

/// The user and groups our hub sees for the Secret's kubeconfig (`kubectl auth whoami`
/// with the kubeconfig, certificate and key written side by side, as a pod mounts them).
fn whoami(
    dir: &std::path::Path,
    data: &std::collections::BTreeMap<String, String>,
) -> (String, Vec<String>) {
    std::fs::create_dir_all(dir).expect("dir");
    for key in ["kubeconfig", "tls.crt", "tls.key"] {
        std::fs::write(dir.join(key), &data[key]).expect("write");
    }
    let out = std::process::Command::new(common::kubectl())
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .args(["auth", "whoami", "-o", "json"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "whoami: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review: Value = serde_json::from_slice(&out.stdout).expect("json");
    let user = &review["status"]["userInfo"];
    (
        user["username"].as_str().unwrap_or("").into(),
        user["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|g| g.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// A Lease named `hello` in the install namespace, renewed `age_seconds` ago.
fn put_lease(spoke: &KubePeer, age_seconds: i64) {
    let renewed = time::OffsetDateTime::now_utc() - time::Duration::seconds(age_seconds);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "hello", "namespace": NS},
        "spec": {"renewTime": renewed.format(&format).expect("time"), "leaseDurationSeconds": 60}});
    spoke.kubectl_stdin_ok(&["apply", "-f", "-"], &lease.to_string());
}

fn wait_available(hub: &Hub, status: &str, reason: &str, message: &str) {
    wait_until_within(
        &format!("the add-on is Available={status} ({reason})"),
        60,
        || {
            addon_condition(hub, "hello", "Available")
                .is_some_and(|c| c == (status.into(), reason.into(), message.into()))
        },
    );
}

/// The agent, whose log is printed when the test fails.
struct Logged(common::ocm::Agent);

impl Drop for Logged {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("agent log:\n{}", self.0.log().join("\n"));
        }
    }
}

#[test]
fn addon_registration_secret_and_lease_health() {
    if !kube_peer::available("addon_registration_secret_and_lease_health") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path(), 1, json!({}));
    let mut agent = Logged(s.agents.remove(0));
    let (hub, spoke) = (&s.hub, &s.spokes[0]);
    let agent_id = std::fs::read_to_string(agent.0.dir.join("agent-name"))
        .expect("agent-name")
        .trim()
        .to_string();

    send(
        hub,
        reqwest::Method::POST,
        &format!("{ADDONS}/clustermanagementaddons"),
        &json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ClusterManagementAddOn",
            "metadata": {"name": "hello"}, "spec": {"addOnMeta": {"displayName": "hello"}}}),
    );
    send(
        hub,
        reqwest::Method::POST,
        &format!("{ADDONS}/namespaces/c0/managedclusteraddons"),
        &json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
            "metadata": {"name": "hello", "namespace": "c0"}, "spec": {}}),
    );
    // Without a registration there is no CSR; without a Lease the add-on is Unknown.
    wait_available(
        hub,
        "Unknown",
        "ManagedClusterAddOnLeaseNotFound",
        "The status of hello add-on is unknown.",
    );
    assert!(addon_csrs(hub, "hello").is_empty());
    let a = get(hub, &addon_path("hello")).expect("addon");
    assert!(a.pointer("/status/kubeClientDriver").is_none(), "{a}");

    send(
        hub,
        reqwest::Method::PATCH,
        &format!("{}/status", addon_path("hello")),
        &json!({"status": {"namespace": NS, "registrations": [{"signerName": CLIENT_SIGNER}]}}),
    );
    let csr = new_csr(hub, "hello", &[]);
    let name = csr["metadata"]["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("addon-c0-hello-"), "{name}");
    assert_eq!(csr["metadata"]["labels"][CLUSTER_LABEL], "c0");
    assert_eq!(csr["metadata"]["labels"][ADDON_LABEL], "hello");
    assert_eq!(csr["spec"]["signerName"], CLIENT_SIGNER);
    assert_eq!(
        csr["spec"]["usages"],
        json!(["digital signature", "key encipherment", "client auth"])
    );
    let user = format!("system:open-cluster-management:cluster:c0:addon:hello:agent:{agent_id}");
    let group = "system:open-cluster-management:cluster:c0:addon:hello".to_string();
    assert_eq!(
        request_subject(&csr),
        (
            user.clone(),
            vec![group.clone()],
            vec!["hello.addon.open-cluster-management.io".to_string()]
        )
    );
    wait_until("kubeClientDriver is csr", || {
        get(hub, &addon_path("hello")).is_some_and(|a| a["status"]["kubeClientDriver"] == "csr")
    });

    // Approved and signed before the install namespace exists: the Secret follows the
    // namespace (the agent does not create it), from the same CSR.
    approve(hub, &name);
    assert!(secret_data(spoke, "hello-hub-kubeconfig").is_none());
    spoke.kubectl_ok(&["create", "namespace", NS]);
    let mut data = None;
    wait_until_within("the add-on's hub kubeconfig Secret appears", 60, || {
        data = secret_data(spoke, "hello-hub-kubeconfig");
        data.is_some()
    });
    let data = data.expect("secret");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["cluster-name", "kubeconfig", "tls.crt", "tls.key"]);
    assert_eq!(data["cluster-name"], "c0");
    assert!(
        data["kubeconfig"].contains(&hub.url("")),
        "{}",
        data["kubeconfig"]
    );
    assert_eq!(
        addon_csrs(hub, "hello").len(),
        1,
        "one CSR for one certificate"
    );
    let (who, groups) = whoami(&dir.path().join("as-addon"), &data);
    assert_eq!(who, user);
    assert!(groups.contains(&group), "{groups:?}");
    assert!(
        groups.iter().any(|g| g == "system:authenticated"),
        "{groups:?}"
    );
    wait_until("the rotation is recorded on the add-on", || {
        addon_condition(hub, "hello", "ClusterCertificateRotated")
            .is_some_and(|c| c.0 == "True" && c.1 == "ClientCertificateUpdated")
    });

    // Lease health: renewed, gone, stale.
    put_lease(spoke, 0);
    wait_available(
        hub,
        "True",
        "ManagedClusterAddOnLeaseUpdated",
        "hello add-on is available.",
    );
    spoke.kubectl_ok(&["delete", "lease", "hello", "-n", NS]);
    wait_available(
        hub,
        "Unknown",
        "ManagedClusterAddOnLeaseNotFound",
        "The status of hello add-on is unknown.",
    );
    put_lease(spoke, 3600);
    wait_available(
        hub,
        "False",
        "ManagedClusterAddOnLeaseUpdateStopped",
        "hello add-on is not available.",
    );

    // A new subject in the status: a new CSR with it, every group in the certificate.
    let groups_wanted = ["team-a", "team-b", "team-c"];
    send(
        hub,
        reqwest::Method::PATCH,
        &format!("{}/status", addon_path("hello")),
        &json!({"status": {"registrations": [{"signerName": CLIENT_SIGNER,
            "subject": {"user": "hello-agent", "groups": groups_wanted}}]}}),
    );
    let second = new_csr(hub, "hello", std::slice::from_ref(&name));
    let (cn, orgs, _) = request_subject(&second);
    assert_eq!((cn.as_str(), orgs.len()), ("hello-agent", 3), "{orgs:?}");
    approve(hub, second["metadata"]["name"].as_str().expect("name"));
    let mut renewed = None;
    wait_until_within("the Secret holds the new identity", 60, || {
        renewed =
            secret_data(spoke, "hello-hub-kubeconfig").filter(|d| d["tls.crt"] != data["tls.crt"]);
        renewed.is_some()
    });
    let (who, groups) = whoami(&dir.path().join("as-addon-2"), &renewed.expect("secret"));
    assert_eq!(who, "hello-agent");
    for g in groups_wanted {
        assert!(groups.iter().any(|x| x == g), "{groups:?}");
    }

    // A restarted agent keeps the valid certificate (no CSR) and takes up the lease again.
    let before = secret_data(spoke, "hello-hub-kubeconfig").expect("secret");
    agent.0.restart();
    put_lease(spoke, 0);
    wait_available(
        hub,
        "True",
        "ManagedClusterAddOnLeaseUpdated",
        "hello add-on is available.",
    );
    assert_eq!(addon_csrs(hub, "hello").len(), 2, "no CSR after a restart");
    assert_eq!(secret_data(spoke, "hello-hub-kubeconfig"), Some(before));

    // A second registration, for a custom signer: its CSR carries the default user and no
    // group; denied, it is reported on the add-on, and the first registration is untouched.
    let kept = secret_data(spoke, "hello-hub-kubeconfig").expect("secret");
    let names: Vec<String> = addon_csrs(hub, "hello")
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(String::from))
        .collect();
    send(
        hub,
        reqwest::Method::PATCH,
        &format!("{}/status", addon_path("hello")),
        &json!({"status": {"registrations": [
            {"signerName": CLIENT_SIGNER, "subject": {"user": "hello-agent", "groups": groups_wanted}},
            {"signerName": "example.com/hello-signer"}]}}),
    );
    let custom = new_csr(hub, "hello", &names);
    assert_eq!(custom["spec"]["signerName"], "example.com/hello-signer");
    assert_eq!(request_subject(&custom).0, user);
    assert!(request_subject(&custom).1.is_empty());
    let out = common::kubectl_run(
        hub,
        &[
            "certificate",
            "deny",
            custom["metadata"]["name"].as_str().expect("name"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the denial is recorded on the add-on", || {
        addon_condition(hub, "hello", "ClusterCertificateRotated").is_some_and(|c| {
            c.0 == "False" && c.1 == "ClientCertificateUpdateFailed" && c.2.contains("denied")
        })
    });
    assert_eq!(secret_data(spoke, "hello-hub-kubeconfig"), Some(kept));
    assert_eq!(addon_csrs(hub, "hello").len(), 3);

    // The add-on's deletion takes its Secret along.
    let out = common::kubectl_run(hub, &["delete", "managedclusteraddon", "hello", "-n", "c0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the add-on's Secret is deleted", || {
        secret_data(spoke, "hello-hub-kubeconfig").is_none()
    });
}
