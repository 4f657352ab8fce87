//! Authentication and RBAC end to end, against the real binary with real credentials:
//!
//! - an authorization matrix (identity × kind × own/other place × verb → 2xx or 403) for
//!   the admin, a user bound to `edit` in one namespace, a bootstrap token, a
//!   service-account token, anonymous, and two managed-cluster agents with the per-cluster
//!   RBAC OCM creates (`ocm-protocol.md` §2.8, created by hand here, so the hub runs
//!   without its controllers: they would make and clean up the same objects);
//! - 401 for every kind of bad credential (expired, wrong, revoked, malformed, forged),
//!   never a fallback to anonymous;
//! - impersonation over HTTP and through kubectl;
//! - the review APIs and `kubectl auth whoami` / `auth can-i`;
//! - no token, JWT, key or Secret value in the server's debug logs.
//!
//! Every test runs its own hub with `RUST_LOG=debug`. The matrix re-creates (as the admin)
//! the object each cell works on before running it, so an allowed request never meets a
//! missing object: a 404 anywhere in the matrix is a failure.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use common::{Hub, client, wait_until};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------
// Hub, HTTP callers and credentials
// ---------------------------------------------------------------------------------------

/// A hub logging at debug level (everything it prints is checked for leaks by some tests).
fn start() -> (tempfile::TempDir, Hub) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start_with_env(dir.path(), &["--no-controllers"], &[("RUST_LOG", "debug")]);
    hub.wait_ready();
    (dir, hub)
}

/// One HTTP answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The `message` of a Status body, or the start of the body.
    fn message(&self) -> String {
        match self.json().get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => self.body.chars().take(200).collect(),
        }
    }
}

/// Who sends a request: a TLS client (maybe with a client certificate) plus maybe a bearer
/// token and impersonation headers.
#[derive(Clone)]
struct Caller {
    http: Client,
    bearer: Option<String>,
    headers: Vec<(String, String)>,
}

impl Caller {
    fn new(http: Client) -> Caller {
        Caller {
            http,
            bearer: None,
            headers: Vec::new(),
        }
    }

    fn with_bearer(http: Client, token: &str) -> Caller {
        Caller {
            bearer: Some(token.to_string()),
            ..Caller::new(http)
        }
    }

    fn with_header(&self, name: &str, value: &str) -> Caller {
        let mut c = self.clone();
        c.headers.push((name.to_string(), value.to_string()));
        c
    }

    /// Sends a request; a successful watch's body (a stream) is not read.
    fn send(&self, hub: &Hub, method: Method, path: &str, body: Option<(&str, &Value)>) -> Resp {
        let mut req = self.http.request(method, hub.url(path));
        if let Some(token) = &self.bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((content_type, value)) = body {
            req = req
                .header("Content-Type", content_type)
                .body(serde_json::to_vec(value).expect("encode"));
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("request {path} failed: {e}"));
        let status = resp.status().as_u16();
        if status == 200 && path.contains("watch=true") {
            return Resp {
                status,
                body: String::new(),
            };
        }
        Resp {
            status,
            body: resp.text().unwrap_or_default(),
        }
    }

    fn get(&self, hub: &Hub, path: &str) -> Resp {
        self.send(hub, Method::GET, path, None)
    }

    fn post(&self, hub: &Hub, path: &str, body: &Value) -> Resp {
        self.send(hub, Method::POST, path, Some(("application/json", body)))
    }

    fn put(&self, hub: &Hub, path: &str, body: &Value) -> Resp {
        self.send(hub, Method::PUT, path, Some(("application/json", body)))
    }

    fn merge_patch(&self, hub: &Hub, path: &str, body: &Value) -> Resp {
        self.send(
            hub,
            Method::PATCH,
            path,
            Some(("application/merge-patch+json", body)),
        )
    }

    fn delete(&self, hub: &Hub, path: &str) -> Resp {
        self.send(hub, Method::DELETE, path, None)
    }
}

/// Asserts the status and returns the JSON body.
fn expect_status(resp: Resp, want: u16, what: &str) -> Value {
    assert_eq!(resp.status, want, "{what}: {}", resp.body);
    resp.json()
}

fn admin(hub: &Hub) -> Caller {
    Caller::new(client(&hub.data_dir, true))
}

fn anonymous(hub: &Hub) -> Caller {
    Caller::new(client(&hub.data_dir, false))
}

/// A TLS client trusting the hub CA and presenting `cert_pem`/`key_pem`.
fn cert_client(hub: &Hub, cert_pem: &str, key_pem: &str) -> Client {
    let ca = std::fs::read(hub.data_dir.join("cert/ca.crt")).expect("ca");
    let identity = reqwest::Identity::from_pem(format!("{cert_pem}\n{key_pem}").as_bytes())
        .expect("client identity");
    Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
        .identity(identity)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A client certificate (CN = user, one O per group; rcgen keeps one value per attribute
/// type, so further groups are written with organizationName's OID spelled out).
fn client_cert_params(
    cn: &str,
    groups: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    assert!(groups.len() <= 2, "at most two groups per certificate");
    for (i, group) in groups.iter().enumerate() {
        if i == 0 {
            dn.push(DnType::OrganizationName, *group);
        } else {
            // organizationName (2.5.4.10) again, under another key of rcgen's map.
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), *group);
        }
    }
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params
}

/// Issues a client certificate from the CA `ca_cert_pem`/`ca_key_pem`; returns (cert, key).
fn issue_with(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    cn: &str,
    groups: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> (String, String) {
    let ca_key = KeyPair::from_pem(ca_key_pem).expect("CA key");
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, &ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("key");
    let cert = client_cert_params(cn, groups, not_before, not_after)
        .signed_by(&key, &issuer)
        .expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// A current client certificate from the hub's own CA.
fn hub_cert(hub: &Hub, cn: &str, groups: &[&str]) -> (String, String) {
    let now = OffsetDateTime::now_utc();
    hub_cert_valid(
        hub,
        cn,
        groups,
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
    )
}

fn hub_cert_valid(
    hub: &Hub,
    cn: &str,
    groups: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> (String, String) {
    let ca_cert = std::fs::read_to_string(hub.data_dir.join("cert/ca.crt")).expect("ca.crt");
    let ca_key = std::fs::read_to_string(hub.data_dir.join("cert/ca.key")).expect("ca.key");
    issue_with(&ca_cert, &ca_key, cn, groups, not_before, not_after)
}

/// A self-signed CA that is not the hub's; returns (cert, key).
fn foreign_ca() -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // The same name as the hub CA would not help an attacker either.
    dn.push(DnType::CommonName, "multicluster-controlplane-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign");
    (cert.pem(), key.serialize_pem())
}

fn random_lower(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .expect("whole seconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

// ---------------------------------------------------------------------------------------
// Setup: namespaces, users, tokens and the RBAC they are bound with
// ---------------------------------------------------------------------------------------

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const BOOTSTRAP_GROUP: &str = "system:bootstrappers:managedcluster";

fn create_namespace(hub: &Hub, name: &str) {
    expect_status(
        admin(hub).post(
            hub,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        ),
        201,
        &format!("namespace {name}"),
    );
}

fn rbac_create(hub: &Hub, plural: &str, namespace: Option<&str>, object: Value) {
    let path = match namespace {
        Some(ns) => format!("{RBAC}/namespaces/{ns}/{plural}"),
        None => format!("{RBAC}/{plural}"),
    };
    let name = object["metadata"]["name"].clone();
    expect_status(
        admin(hub).post(hub, &path, &object),
        201,
        &format!("{plural} {name}"),
    );
}

fn subject_group(name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name})
}

fn role_ref(kind: &str, name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name})
}

/// A bootstrap-token Secret `kube-system/bootstrap-token-<id>`; returns the bearer token.
fn create_bootstrap_token(hub: &Hub, expiration: OffsetDateTime, usage: &str) -> String {
    let (id, secret) = (random_lower(6), random_lower(16));
    let body = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system",
                     "labels": {"app": "cluster-manager"}},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "token-id": id,
            "token-secret": secret,
            "usage-bootstrap-authentication": usage,
            "expiration": rfc3339(expiration),
            "auth-extra-groups": BOOTSTRAP_GROUP,
        },
    });
    expect_status(
        admin(hub).post(hub, "/api/v1/namespaces/kube-system/secrets", &body),
        201,
        "bootstrap token secret",
    );
    format!("{id}.{secret}")
}

/// OCM's bootstrap role, reduced to what a joining agent needs: create CSRs and read
/// ManagedClusters, bound to the bootstrap tokens' extra group.
fn create_bootstrap_rbac(hub: &Hub) {
    rbac_create(
        hub,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "open-cluster-management:bootstrap"},
        "rules": [
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
             "verbs": ["create"]},
            {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"],
             "verbs": ["get", "list", "watch"]},
        ]}),
    );
    rbac_create(
        hub,
        "clusterrolebindings",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "open-cluster-management:bootstrap:managedcluster"},
            "roleRef": role_ref("ClusterRole", "open-cluster-management:bootstrap"),
            "subjects": [subject_group(BOOTSTRAP_GROUP)]}),
    );
}

/// The two ClusterRoles OCM shares between clusters (§2.8, latest rule sets).
fn create_shared_cluster_roles(hub: &Hub) {
    let label = json!({"open-cluster-management.io/cluster-name": ""});
    rbac_create(
        hub,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "open-cluster-management:managedcluster:registration", "labels": label},
        "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": ["addon.open-cluster-management.io"], "resources": ["managedclusteraddons"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["addon.open-cluster-management.io"], "resources": ["managedclusteraddons/status"],
             "verbs": ["patch", "update"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        ]}),
    );
    rbac_create(
        hub,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "open-cluster-management:managedcluster:work", "labels": label},
        "rules": [
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
             "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks"],
             "verbs": ["get", "list", "watch", "update", "patch"]},
            {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks/status"],
             "verbs": ["patch", "update"]},
        ]}),
    );
}

/// The four per-cluster RBAC objects of §2.8 for `cluster`, subject group
/// `system:open-cluster-management:<cluster>`.
fn create_cluster_rbac(hub: &Hub, cluster: &str) {
    let name = format!("open-cluster-management:managedcluster:{cluster}");
    let labels = json!({"open-cluster-management.io/cluster-name": cluster});
    let subjects = json!([subject_group(&format!(
        "system:open-cluster-management:{cluster}"
    ))]);
    rbac_create(
        hub,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": [
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
             "verbs": ["create", "get", "list", "watch"]},
            {"apiGroups": ["register.open-cluster-management.io"],
             "resources": ["managedclusters/clientcertificates"], "verbs": ["renew"]},
            {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"],
             "resourceNames": [cluster], "verbs": ["get", "list", "update", "watch"]},
            {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters/status"],
             "resourceNames": [cluster], "verbs": ["patch", "update"]},
        ]}),
    );
    rbac_create(
        hub,
        "clusterrolebindings",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": role_ref("ClusterRole", &name),
            "subjects": subjects}),
    );
    rbac_create(
        hub,
        "rolebindings",
        Some(cluster),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("{name}:registration"), "namespace": cluster, "labels": labels},
            "roleRef": role_ref("ClusterRole", "open-cluster-management:managedcluster:registration"),
            "subjects": subjects}),
    );
    rbac_create(
        hub,
        "rolebindings",
        Some(cluster),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("{name}:work"), "namespace": cluster, "labels": labels,
                         "finalizers": ["cluster.open-cluster-management.io/manifest-work-cleanup"]},
            "roleRef": role_ref("ClusterRole", "open-cluster-management:managedcluster:work"),
            "subjects": subjects}),
    );
}

/// The agent identity of §2.8: CN `system:open-cluster-management:<cluster>:<agent>`,
/// groups `system:authenticated` and `system:open-cluster-management:<cluster>` (the second
/// O, so a server reading only the first O would fail the matrix).
fn agent_caller(hub: &Hub, cluster: &str, agent: &str) -> Caller {
    let (cert, key) = hub_cert(
        hub,
        &format!("system:open-cluster-management:{cluster}:{agent}"),
        &[
            "system:authenticated",
            &format!("system:open-cluster-management:{cluster}"),
        ],
    );
    Caller::new(cert_client(hub, &cert, &key))
}

/// Everything the tests share: namespaces team-a, team-b, cluster1, cluster2; alice
/// (cert CN=alice O=devs) bound to `edit` in team-a; a bootstrap token bound to the
/// bootstrap role; the per-cluster RBAC of cluster1 and cluster2.
struct World {
    alice_cert: (String, String),
    bootstrap_token: String,
}

fn setup_world(hub: &Hub) -> World {
    for ns in ["team-a", "team-b", "cluster1", "cluster2"] {
        create_namespace(hub, ns);
    }
    let alice_cert = hub_cert(hub, "alice", &["devs"]);
    rbac_create(
        hub,
        "rolebindings",
        Some("team-a"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "alice-edit", "namespace": "team-a"},
            "roleRef": role_ref("ClusterRole", "edit"),
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
    );
    let bootstrap_token = create_bootstrap_token(
        hub,
        OffsetDateTime::now_utc() + time::Duration::hours(1),
        "true",
    );
    create_bootstrap_rbac(hub);
    create_shared_cluster_roles(hub);
    create_cluster_rbac(hub, "cluster1");
    create_cluster_rbac(hub, "cluster2");
    // Bindings are effective when their create returns; make sure the aggregated `edit`
    // role has its rules before anything depends on it.
    let alice = Caller::new(cert_client(hub, &alice_cert.0, &alice_cert.1));
    wait_until("alice's edit binding", || {
        alice.get(hub, "/api/v1/namespaces/team-a/secrets").status == 200
    });
    World {
        alice_cert,
        bootstrap_token,
    }
}

/// ServiceAccount `team-a/robot` bound to `view` in team-a; returns its uid and a token
/// from the TokenRequest subresource.
fn setup_robot(hub: &Hub) -> (String, String) {
    let sa = expect_status(
        admin(hub).post(
            hub,
            "/api/v1/namespaces/team-a/serviceaccounts",
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        ),
        201,
        "service account",
    );
    let uid = sa["metadata"]["uid"].as_str().expect("uid").to_string();
    rbac_create(
        hub,
        "rolebindings",
        Some("team-a"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "robot-view", "namespace": "team-a"},
            "roleRef": role_ref("ClusterRole", "view"),
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "team-a"}]}),
    );
    let token = request_token(hub, "robot", json!({"expirationSeconds": 3600}));
    (uid, token)
}

/// `POST serviceaccounts/<name>/token` in team-a as the admin.
fn request_token(hub: &Hub, name: &str, spec: Value) -> String {
    let answer = expect_status(
        admin(hub).post(
            hub,
            &format!("/api/v1/namespaces/team-a/serviceaccounts/{name}/token"),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}),
        ),
        201,
        "TokenRequest",
    );
    assert_eq!(answer["kind"], "TokenRequest", "{answer}");
    let token = answer["status"]["token"]
        .as_str()
        .expect("status.token")
        .to_string();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {answer}");
    assert!(
        answer["status"]["expirationTimestamp"].is_string(),
        "{answer}"
    );
    token
}

// ---------------------------------------------------------------------------------------
// The authorization matrix
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    List,
    /// list with `fieldSelector=metadata.name=<object>` (authorized as that name)
    ListName,
    Watch,
    /// watch with `fieldSelector=metadata.name=<object>`, as agents' informers do
    WatchName,
    Create,
    Update,
    Patch,
    /// merge patch of the `status` subresource (only kinds that have one)
    PatchStatus,
    Delete,
    DeleteCollection,
}

use Verb::*;

const VERBS: [Verb; 11] = [
    Get,
    List,
    ListName,
    Watch,
    WatchName,
    Create,
    Update,
    Patch,
    PatchStatus,
    Delete,
    DeleteCollection,
];

const ALL: &[Verb] = &VERBS;
const READ: &[Verb] = &[Get, List, ListName, Watch, WatchName];

impl Verb {
    fn label(self) -> &'static str {
        match self {
            Get => "get",
            List => "list",
            ListName => "lst1",
            Watch => "wtch",
            WatchName => "wch1",
            Create => "crea",
            Update => "updt",
            Patch => "ptch",
            PatchStatus => "stat",
            Delete => "dele",
            DeleteCollection => "dcol",
        }
    }

    /// What a request allowed by RBAC answers (the object always exists when needed).
    fn ok_codes(self) -> &'static [u16] {
        match self {
            Create => &[201],
            Delete => &[200, 202],
            _ => &[200],
        }
    }
}

/// Where a request goes, relative to the identity: its own namespace (or, for
/// cluster-scoped kinds, the object named after it) or someone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Home,
    Away,
}

const PLACES: [Place; 2] = [Place::Home, Place::Away];
const BOTH: &[Place] = &PLACES;
const HOME: &[Place] = &[Place::Home];

/// A resource of the matrix.
struct Res {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Res {
    Res {
        group,
        version,
        plural,
        kind,
        namespaced,
    }
}

const CLUSTER: &str = "cluster.open-cluster-management.io";
const WORK: &str = "work.open-cluster-management.io";
const ADDON: &str = "addon.open-cluster-management.io";

/// Every OCM kind (checked against discovery), Secrets, plus ConfigMaps (what `view`
/// grants) and CertificateSigningRequests (what bootstrap and agents create).
const RESOURCES: &[Res] = &[
    res(CLUSTER, "v1", "managedclusters", "ManagedCluster", false),
    res(
        CLUSTER,
        "v1beta2",
        "managedclustersets",
        "ManagedClusterSet",
        false,
    ),
    res(
        CLUSTER,
        "v1beta2",
        "managedclustersetbindings",
        "ManagedClusterSetBinding",
        true,
    ),
    res(CLUSTER, "v1beta1", "placements", "Placement", true),
    res(
        CLUSTER,
        "v1beta1",
        "placementdecisions",
        "PlacementDecision",
        true,
    ),
    res(
        CLUSTER,
        "v1alpha1",
        "addonplacementscores",
        "AddOnPlacementScore",
        true,
    ),
    res(CLUSTER, "v1alpha1", "clusterclaims", "ClusterClaim", false),
    res(WORK, "v1", "manifestworks", "ManifestWork", true),
    res(
        WORK,
        "v1",
        "appliedmanifestworks",
        "AppliedManifestWork",
        false,
    ),
    res(
        WORK,
        "v1alpha1",
        "manifestworkreplicasets",
        "ManifestWorkReplicaSet",
        true,
    ),
    res(
        ADDON,
        "v1alpha1",
        "managedclusteraddons",
        "ManagedClusterAddOn",
        true,
    ),
    res(
        ADDON,
        "v1alpha1",
        "clustermanagementaddons",
        "ClusterManagementAddOn",
        false,
    ),
    res(
        ADDON,
        "v1alpha1",
        "addondeploymentconfigs",
        "AddOnDeploymentConfig",
        true,
    ),
    res(ADDON, "v1alpha1", "addontemplates", "AddOnTemplate", false),
    res("", "v1", "secrets", "Secret", true),
    res("", "v1", "configmaps", "ConfigMap", true),
    res(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
    ),
];

/// The expected matrix, as grants: (identity, resources, places, verbs). Every cell not
/// granted here must answer 403. `*` is every resource.
/// (identity, resources, places, verbs).
type Grant = (
    &'static str,
    &'static [&'static str],
    &'static [Place],
    &'static [Verb],
);

const GRANTS: &[Grant] = &[
    // system:masters bypasses RBAC.
    ("admin", &["*"], BOTH, ALL),
    // RoleBinding to `edit` in team-a: no OCM kinds (kube's edit does not aggregate them).
    ("alice", &["secrets", "configmaps"], HOME, ALL),
    // OCM's bootstrap role, bound to system:bootstrappers:managedcluster.
    ("bootstrap", &["managedclusters"], BOTH, READ),
    (
        "bootstrap",
        &["certificatesigningrequests"],
        BOTH,
        &[Create],
    ),
    // RoleBinding to `view` in team-a (no Secrets in view).
    ("robot", &["configmaps"], HOME, READ),
    // anonymous: nothing at all.
    // Per-cluster RBAC (§2.8): its own ManagedCluster by name only, CSRs, and in its
    // namespace ManifestWorks (work role) and ManagedClusterAddOns (registration role).
    (
        "agent1",
        &["managedclusters"],
        HOME,
        &[Get, ListName, WatchName, Update, PatchStatus],
    ),
    (
        "agent1",
        &["certificatesigningrequests"],
        BOTH,
        &[Create, Get, List, ListName, Watch, WatchName],
    ),
    (
        "agent1",
        &["manifestworks"],
        HOME,
        &[
            Get,
            List,
            ListName,
            Watch,
            WatchName,
            Update,
            Patch,
            PatchStatus,
        ],
    ),
    (
        "agent1",
        &["managedclusteraddons"],
        HOME,
        &[Get, List, ListName, Watch, WatchName, PatchStatus],
    ),
    (
        "agent2",
        &["managedclusters"],
        HOME,
        &[Get, ListName, WatchName, Update, PatchStatus],
    ),
    (
        "agent2",
        &["certificatesigningrequests"],
        BOTH,
        &[Create, Get, List, ListName, Watch, WatchName],
    ),
    (
        "agent2",
        &["manifestworks"],
        HOME,
        &[
            Get,
            List,
            ListName,
            Watch,
            WatchName,
            Update,
            Patch,
            PatchStatus,
        ],
    ),
    (
        "agent2",
        &["managedclusteraddons"],
        HOME,
        &[Get, List, ListName, Watch, WatchName, PatchStatus],
    ),
];

fn expected_allowed(who: &str, plural: &str, place: Place, verb: Verb) -> bool {
    GRANTS.iter().any(|(id, resources, places, verbs)| {
        *id == who
            && resources.iter().any(|r| *r == "*" || *r == plural)
            && places.contains(&place)
            && verbs.contains(&verb)
    })
}

/// A row of the matrix: who, as which caller, and where home and away are.
struct Identity {
    name: &'static str,
    describe: String,
    caller: Caller,
    home: &'static str,
    away: &'static str,
}

/// The state the matrix run needs.
struct Matrix<'a> {
    hub: &'a Hub,
    admin: Caller,
    /// `group/plural` of every resource with a `status` subresource (from discovery).
    with_status: HashSet<String>,
    /// Secret `data` values written, for the leak check.
    secret_value: String,
    csr_request: String,
    counter: std::cell::Cell<u32>,
}

/// One cell's outcome.
struct Cell {
    expected: bool,
    got: u16,
    /// The server's message when the answer was not a 2xx.
    message: String,
    /// A 403 whose body is not kube's `Forbidden` Status.
    bare_403: bool,
}

impl Cell {
    fn ok(&self, verb: Verb) -> bool {
        if self.expected {
            verb.ok_codes().contains(&self.got)
        } else {
            self.got == 403 && !self.bare_403
        }
    }
}

impl Res {
    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    fn collection(&self, namespace: &str) -> String {
        if self.namespaced {
            format!("{}/namespaces/{namespace}/{}", self.prefix(), self.plural)
        } else {
            format!("{}/{}", self.prefix(), self.plural)
        }
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl Matrix<'_> {
    /// A valid object of `res` named `name` (in `namespace` when namespaced).
    fn object(&self, res: &Res, name: &str, namespace: &str) -> Value {
        let mut metadata = json!({"name": name});
        if res.namespaced {
            metadata["namespace"] = json!(namespace);
        }
        let mut obj =
            json!({"apiVersion": res.api_version(), "kind": res.kind, "metadata": metadata});
        let fields = match res.plural {
            "managedclusters" => json!({"spec": {"hubAcceptsClient": true}}),
            "managedclustersets" => json!({"spec": {}}),
            "managedclustersetbindings" => json!({"spec": {"clusterSet": name}}),
            "placements" => json!({"spec": {}}),
            "placementdecisions" | "addonplacementscores" => json!({}),
            "clusterclaims" => json!({"spec": {"value": "v"}}),
            "manifestworks" => json!({"spec": {"workload": {"manifests": [
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "cm", "namespace": "default"}, "data": {"a": "b"}}]}}}),
            "appliedmanifestworks" => json!({"spec": {"hubHash": "hub", "manifestWorkName": name}}),
            "manifestworkreplicasets" => json!({"spec": {
                "placementRefs": [{"name": "placement"}],
                "manifestWorkTemplate": {"workload": {"manifests": []}}}}),
            "managedclusteraddons" => json!({"spec": {}}),
            "clustermanagementaddons" => json!({"spec": {}}),
            "addondeploymentconfigs" => json!({"spec": {}}),
            "addontemplates" => json!({"spec": {"addonName": name, "agentSpec": {}}}),
            "secrets" => {
                json!({"type": "Opaque", "data": {"password": B64.encode(&self.secret_value)}})
            }
            "configmaps" => json!({"data": {"k": "v"}}),
            "certificatesigningrequests" => json!({"spec": {
                "request": self.csr_request,
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["digital signature", "client auth"]}}),
            other => panic!("no object for {other}"),
        };
        for (k, v) in fields.as_object().expect("object") {
            obj[k] = v.clone();
        }
        obj
    }

    /// The object a cell works on: its name and collection path.
    fn target(&self, res: &Res, who: &Identity, place: Place) -> (String, String) {
        let place_name = match place {
            Place::Home => who.home,
            Place::Away => who.away,
        };
        let name = if res.namespaced { "obj" } else { place_name };
        (name.to_string(), res.collection(place_name))
    }

    /// Makes sure the cell's object exists (the admin re-creates what a cell deleted).
    fn ensure(&self, res: &Res, name: &str, collection: &str) {
        let path = format!("{collection}/{name}");
        let got = self.admin.get(self.hub, &path);
        if got.status == 200 {
            return;
        }
        assert_eq!(got.status, 404, "admin GET {path}: {}", got.body);
        let ns = collection
            .split("/namespaces/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        let obj = self.object(res, name, ns);
        let created = self.admin.post(self.hub, collection, &obj);
        assert_eq!(
            created.status, 201,
            "admin create {path} (fixture for the matrix): {}",
            created.body
        );
    }

    fn run_cell(&self, res: &Res, who: &Identity, place: Place, verb: Verb) -> Resp {
        let (name, collection) = self.target(res, who, place);
        let item = format!("{collection}/{name}");
        let by_name = format!("fieldSelector=metadata.name%3D{name}");
        let hub = self.hub;
        let c = &who.caller;
        match verb {
            Get => c.get(hub, &item),
            List => c.get(hub, &collection),
            ListName => c.get(hub, &format!("{collection}?{by_name}")),
            Watch => c.get(hub, &format!("{collection}?watch=true&timeoutSeconds=1")),
            WatchName => c.get(
                hub,
                &format!("{collection}?watch=true&timeoutSeconds=1&{by_name}"),
            ),
            Create => {
                let n = self.counter.get() + 1;
                self.counter.set(n);
                let ns = if res.namespaced {
                    match place {
                        Place::Home => who.home,
                        Place::Away => who.away,
                    }
                } else {
                    ""
                };
                let obj = self.object(res, &format!("new-{n}"), ns);
                c.post(hub, &collection, &obj)
            }
            Update => {
                let mut current = expect_status(
                    self.admin.get(hub, &item),
                    200,
                    &format!("admin GET {item} before update"),
                );
                current["metadata"]["labels"] = json!({"updated": "yes"});
                c.put(hub, &item, &current)
            }
            Patch => c.merge_patch(
                hub,
                &item,
                &json!({"metadata": {"labels": {"patched": "yes"}}}),
            ),
            PatchStatus => c.merge_patch(hub, &format!("{item}/status"), &json!({})),
            Delete => c.delete(hub, &item),
            DeleteCollection => c.delete(hub, &collection),
        }
    }

    fn applies(&self, res: &Res, verb: Verb) -> bool {
        verb != PatchStatus
            || self
                .with_status
                .contains(&format!("{}/{}", res.group, res.plural))
    }

    /// Runs every cell of `who`'s rows; returns them in table order.
    fn run_identity(&self, who: &Identity) -> Vec<(usize, Place, Verb, Option<Cell>)> {
        let mut cells = Vec::new();
        for (i, res) in RESOURCES.iter().enumerate() {
            for place in PLACES {
                let (name, collection) = self.target(res, who, place);
                self.ensure(res, &name, &collection);
                for verb in VERBS {
                    if !self.applies(res, verb) {
                        cells.push((i, place, verb, None));
                        continue;
                    }
                    let expected = expected_allowed(who.name, res.plural, place, verb);
                    let resp = self.run_cell(res, who, place, verb);
                    // kube's 403 is a Status with reason Forbidden, never a bare code.
                    let body = resp.json();
                    let bare_403 = resp.status == 403
                        && (body["kind"] != "Status" || body["reason"] != "Forbidden");
                    let message = if resp.status >= 300 {
                        resp.message()
                    } else {
                        String::new()
                    };
                    cells.push((
                        i,
                        place,
                        verb,
                        Some(Cell {
                            expected,
                            got: resp.status,
                            message,
                            bare_403,
                        }),
                    ));
                }
            }
        }
        cells
    }
}

/// `Y` allowed as expected, `.` denied as expected, `-` not applicable, `!NNN` wrong
/// (the code received).
fn render(who: &Identity, cells: &[(usize, Place, Verb, Option<Cell>)]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut wrong = Vec::new();
    let _ = writeln!(
        out,
        "== {} ({}); home {}, away {}",
        who.name, who.describe, who.home, who.away
    );
    let _ = write!(out, "{:<28}{:<5}", "resource", "");
    for v in VERBS {
        let _ = write!(out, "{:>5}", v.label());
    }
    out.push('\n');
    for chunk in cells.chunks(VERBS.len()) {
        let (i, place, _, _) = &chunk[0];
        let res = &RESOURCES[*i];
        let _ = write!(
            out,
            "{:<28}{:<5}",
            res.plural,
            if *place == Place::Home {
                "home"
            } else {
                "away"
            }
        );
        for (_, _, verb, cell) in chunk {
            let mark = match cell {
                None => "-".to_string(),
                Some(c) => {
                    if !c.ok(*verb) {
                        wrong.push(format!(
                            "{} {} {} {}: expected {}, got {}{}: {}",
                            who.name,
                            verb.label(),
                            res.plural,
                            if *place == Place::Home {
                                who.home
                            } else {
                                who.away
                            },
                            if c.expected {
                                format!("{:?}", verb.ok_codes())
                            } else {
                                "403".into()
                            },
                            c.got,
                            if c.bare_403 {
                                " (not a Forbidden Status)"
                            } else {
                                ""
                            },
                            c.message
                        ));
                        format!("!{}", c.got)
                    } else if c.expected {
                        "Y".into()
                    } else {
                        ".".into()
                    }
                }
            };
            let _ = write!(out, "{mark:>5}");
        }
        out.push('\n');
    }
    (out, wrong)
}

/// Fixtures every matrix run needs beyond [`setup_world`].
fn matrix<'a>(hub: &'a Hub, secret_value: &str) -> Matrix<'a> {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        "system:open-cluster-management:cluster1:agent1",
    );
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("csr pem");
    let admin = admin(hub);
    // Which resources have a status subresource, from discovery; and every OCM resource
    // discovery lists must be a row of the matrix.
    let mut with_status = HashSet::new();
    let mut ocm_served = BTreeSet::new();
    let groups = expect_status(admin.get(hub, "/apis"), 200, "/apis");
    let mut group_versions = vec![("".to_string(), "/api/v1".to_string())];
    for g in groups["groups"].as_array().expect("groups") {
        let name = g["name"].as_str().expect("group name").to_string();
        for v in g["versions"].as_array().expect("versions") {
            let gv = v["groupVersion"].as_str().expect("groupVersion");
            group_versions.push((name.clone(), format!("/apis/{gv}")));
        }
    }
    for (group, path) in group_versions {
        let list = expect_status(admin.get(hub, &path), 200, &path);
        for r in list["resources"].as_array().expect("resources") {
            let name = r["name"].as_str().expect("resource name");
            match name.split_once('/') {
                Some((plural, "status")) => {
                    with_status.insert(format!("{group}/{plural}"));
                }
                Some(_) => {}
                None if group.ends_with("open-cluster-management.io") => {
                    ocm_served.insert(format!("{group}/{name}"));
                }
                None => {}
            }
        }
    }
    let covered: BTreeSet<String> = RESOURCES
        .iter()
        .map(|r| format!("{}/{}", r.group, r.plural))
        .collect();
    let missing: Vec<&String> = ocm_served.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "OCM resources served but not in the matrix: {missing:?}"
    );
    assert!(ocm_served.len() >= 14, "{ocm_served:?}");
    Matrix {
        hub,
        admin,
        with_status,
        secret_value: secret_value.to_string(),
        csr_request: B64.encode(csr),
        counter: std::cell::Cell::new(0),
    }
}

/// Runs the rows of `identities`; panics with the whole matrix when a cell is wrong.
fn run_matrix(m: &Matrix<'_>, identities: &[Identity]) {
    let mut table = String::from(
        "authorization matrix (Y allowed, . 403, - n/a, !NNN unexpected code)\n\
         lst1/wch1 = list/watch with fieldSelector metadata.name; stat = PATCH status\n",
    );
    let mut wrong = Vec::new();
    let mut count = 0;
    for who in identities {
        let cells = m.run_identity(who);
        count += cells.iter().filter(|c| c.3.is_some()).count();
        let (text, bad) = render(who, &cells);
        table.push_str(&text);
        wrong.extend(bad);
    }
    // On failure the harness shows this (stdout of a failed test) above the panic.
    println!("{table}\n{count} cells checked");
    assert!(
        wrong.is_empty(),
        "{} of {count} cells wrong (matrix printed above):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Everything the hub printed after it became ready (it must have exited).
fn drain_logs(hub: &mut Hub) -> Vec<String> {
    common::signal(&hub.child, "TERM");
    common::wait_exit(&mut hub.child, Duration::from_secs(30));
    let mut lines: Vec<String> = hub.stderr_lines.iter().collect();
    lines.extend(hub.stdout_lines.iter());
    lines
}

/// Stops the hub and asserts none of `secrets` (nor the private keys in its data
/// directory) appears in anything it printed, while its debug logs do record decisions.
fn assert_no_leaks(hub: &mut Hub, secrets: &[String], decision_user: &str) {
    let mut needles: Vec<String> = secrets.iter().filter(|s| s.len() >= 8).cloned().collect();
    for key in ["cert/ca.key", "cert/sa.key", "cert/admin.key"] {
        let pem = std::fs::read_to_string(hub.data_dir.join(key)).unwrap_or_default();
        needles.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_string),
        );
    }
    let lines = drain_logs(hub);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("authorization") && l.contains(decision_user)),
        "no debug line records an authorization decision for {decision_user} ({} lines)",
        lines.len()
    );
    for line in &lines {
        for needle in &needles {
            assert!(
                !line.contains(needle.as_str()),
                "the server printed a secret ({}…): {line}",
                &needle[..6]
            );
        }
    }
}

#[test]
fn authorization_matrix() {
    let (_dir, mut hub) = start();
    let world = setup_world(&hub);
    let secret_value = format!("canary-{}", uuid::Uuid::new_v4());
    let m = matrix(&hub, &secret_value);
    let identities = vec![
        Identity {
            name: "admin",
            describe: "client cert system:admin, group system:masters".into(),
            caller: admin(&hub),
            home: "team-a",
            away: "team-b",
        },
        Identity {
            name: "alice",
            describe: "client cert CN=alice O=devs, edit in team-a".into(),
            caller: Caller::new(cert_client(&hub, &world.alice_cert.0, &world.alice_cert.1)),
            home: "team-a",
            away: "team-b",
        },
        Identity {
            name: "bootstrap",
            describe: format!("bootstrap token, group {BOOTSTRAP_GROUP}"),
            caller: Caller::with_bearer(client(&hub.data_dir, false), &world.bootstrap_token),
            home: "team-a",
            away: "team-b",
        },
        Identity {
            name: "anonymous",
            describe: "no credentials".into(),
            caller: anonymous(&hub),
            home: "team-a",
            away: "team-b",
        },
        Identity {
            name: "agent1",
            describe: "client cert system:open-cluster-management:cluster1:agent1".into(),
            caller: agent_caller(&hub, "cluster1", "agent1"),
            home: "cluster1",
            away: "cluster2",
        },
        Identity {
            name: "agent2",
            describe: "client cert system:open-cluster-management:cluster2:agent2".into(),
            caller: agent_caller(&hub, "cluster2", "agent2"),
            home: "cluster2",
            away: "cluster1",
        },
    ];
    run_matrix(&m, &identities);
    let token_secret = world
        .bootstrap_token
        .split_once('.')
        .expect("token")
        .1
        .to_string();
    assert_no_leaks(
        &mut hub,
        &[
            world.bootstrap_token.clone(),
            token_secret,
            secret_value.clone(),
            B64.encode(&secret_value),
        ],
        "alice",
    );
}

/// The service-account row of the matrix (a token from the TokenRequest subresource,
/// bound to `view` in team-a).
#[test]
fn authorization_matrix_service_account() {
    let (_dir, mut hub) = start();
    setup_world(&hub);
    let (_uid, token) = setup_robot(&hub);
    let secret_value = format!("canary-{}", uuid::Uuid::new_v4());
    let m = matrix(&hub, &secret_value);
    let robot = Identity {
        name: "robot",
        describe: "service-account token team-a/robot, view in team-a".into(),
        caller: Caller::with_bearer(client(&hub.data_dir, false), &token),
        home: "team-a",
        away: "team-b",
    };
    run_matrix(&m, &[robot]);
    let signature = token.rsplit('.').next().expect("signature").to_string();
    assert_no_leaks(
        &mut hub,
        &[
            token.clone(),
            signature,
            secret_value.clone(),
            B64.encode(&secret_value),
        ],
        "system:serviceaccount:team-a:robot",
    );
}

// ---------------------------------------------------------------------------------------
// 401: credentials presented but not valid, never a fallback to anonymous
// ---------------------------------------------------------------------------------------

/// Paths every test credential is tried on: one anonymous may read, one only a real user
/// may. A 401 on the first proves there is no fallback to anonymous.
const PROBES: [&str; 2] = ["/version", "/api/v1/namespaces/team-a/configmaps"];

fn assert_unauthorized(hub: &Hub, what: &str, caller: &Caller, secret: Option<&str>) {
    for path in PROBES {
        let resp = caller.get(hub, path);
        let body = resp.json();
        assert_eq!(resp.status, 401, "{what} on {path}: {}", resp.body);
        assert_eq!(body["kind"], "Status", "{what}: {}", resp.body);
        assert_eq!(body["reason"], "Unauthorized", "{what}: {}", resp.body);
        assert_eq!(body["code"], 401, "{what}: {}", resp.body);
        if let Some(secret) = secret {
            assert!(
                !resp.body.contains(secret),
                "{what}: the 401 echoes the credential"
            );
        }
    }
}

fn assert_authenticated(hub: &Hub, what: &str, caller: &Caller) {
    let resp = caller.get(hub, "/apis");
    assert_eq!(
        resp.status, 200,
        "{what} should authenticate: {}",
        resp.body
    );
}

/// A JWT with the claims of a real service-account token for `team-a/robot` (uid `uid`),
/// signed with a P-256 key that is not the hub's.
fn foreign_jwt(uid: &str) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let header = json!({"alg": "ES256", "kid": "attacker"});
    let claims = json!({
        "iss": "https://kubernetes.default.svc",
        "sub": "system:serviceaccount:team-a:robot",
        "aud": ["https://kubernetes.default.svc"],
        "exp": now + 3600, "iat": now, "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": {"namespace": "team-a", "serviceaccount": {"name": "robot", "uid": uid}},
    });
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
    let key =
        ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("key pair");
    let sig = key.sign(&rng, input.as_bytes()).expect("sign");
    format!("{input}.{}", B64URL.encode(sig.as_ref()))
}

/// `token` with its payload rewritten by `change` (the signature kept).
fn tamper(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT");
    let mut claims: Value =
        serde_json::from_slice(&B64URL.decode(parts[1]).expect("payload")).expect("claims");
    change(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(claims.to_string()),
        parts[2]
    )
}

#[test]
fn bad_tokens_and_certificates_are_unauthorized() {
    let (_dir, mut hub) = start();
    let world = setup_world(&hub);
    let anon = || client(&hub.data_dir, false);
    let now = OffsetDateTime::now_utc();
    let mut secrets = vec![world.bootstrap_token.clone()];

    // The valid bootstrap token works (the cases below are not failing for another reason).
    let good = Caller::with_bearer(anon(), &world.bootstrap_token);
    assert_authenticated(&hub, "the bootstrap token", &good);

    // Expired bootstrap token.
    let expired = create_bootstrap_token(&hub, now - time::Duration::minutes(1), "true");
    secrets.push(expired.clone());
    assert_unauthorized(
        &hub,
        "expired bootstrap token",
        &Caller::with_bearer(anon(), &expired),
        Some(&expired),
    );

    // Not for authentication.
    let signing_only = create_bootstrap_token(&hub, now + time::Duration::hours(1), "false");
    secrets.push(signing_only.clone());
    assert_unauthorized(
        &hub,
        "bootstrap token without usage-bootstrap-authentication",
        &Caller::with_bearer(anon(), &signing_only),
        Some(&signing_only),
    );

    // The right id with a wrong secret.
    let (id, secret) = world.bootstrap_token.split_once('.').expect("token");
    let mut wrong_secret: Vec<char> = secret.chars().collect();
    wrong_secret[0] = if wrong_secret[0] == 'a' { 'b' } else { 'a' };
    let wrong = format!("{id}.{}", wrong_secret.iter().collect::<String>());
    secrets.push(wrong.clone());
    assert_unauthorized(
        &hub,
        "wrong bootstrap token secret",
        &Caller::with_bearer(anon(), &wrong),
        Some(&wrong),
    );

    // A token whose Secret was deleted (it worked before the delete).
    let doomed = create_bootstrap_token(&hub, now + time::Duration::hours(1), "true");
    secrets.push(doomed.clone());
    let doomed_caller = Caller::with_bearer(anon(), &doomed);
    assert_authenticated(&hub, "a fresh bootstrap token", &doomed_caller);
    let doomed_id = doomed.split_once('.').expect("token").0;
    let deleted = admin(&hub).delete(
        &hub,
        &format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{doomed_id}"),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_unauthorized(
        &hub,
        "bootstrap token of a deleted Secret",
        &doomed_caller,
        Some(&doomed),
    );

    // Malformed Authorization headers.
    for header in [
        "Bearer",
        "Bearer ",
        "Bearer   ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "bearer not-a-token",
        "Bearer abcdef.0123456789",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        "Token abcdef.0123456789abcdef",
    ] {
        let caller = Caller::new(anon()).with_header("Authorization", header);
        assert_unauthorized(&hub, &format!("Authorization: {header:?}"), &caller, None);
    }

    // JWTs: a well-formed token signed by another key, with the claims of a real account,
    // and the same with `alg: none`.
    let sa = expect_status(
        admin(&hub).post(
            &hub,
            "/api/v1/namespaces/team-a/serviceaccounts",
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        ),
        201,
        "service account",
    );
    let uid = sa["metadata"]["uid"].as_str().expect("uid");
    let forged = foreign_jwt(uid);
    secrets.push(forged.clone());
    assert_unauthorized(
        &hub,
        "JWT signed by another key",
        &Caller::with_bearer(anon(), &forged),
        Some(&forged),
    );
    let parts: Vec<&str> = forged.split('.').collect();
    let unsigned = format!(
        "{}.{}.",
        B64URL.encode(json!({"alg": "none"}).to_string()),
        parts[1]
    );
    assert_unauthorized(
        &hub,
        "unsigned JWT (alg none)",
        &Caller::with_bearer(anon(), &unsigned),
        Some(&unsigned),
    );

    // Client certificates: signed by another CA (same subject as a real user), expired,
    // not yet valid.
    let (ca_cert, ca_key) = foreign_ca();
    let (cert, key) = issue_with(
        &ca_cert,
        &ca_key,
        "system:admin",
        &["system:masters"],
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
    );
    assert_unauthorized(
        &hub,
        "certificate from another CA",
        &Caller::new(cert_client(&hub, &cert, &key)),
        None,
    );
    let (cert, key) = hub_cert_valid(
        &hub,
        "alice",
        &["devs"],
        now - time::Duration::days(2),
        now - time::Duration::days(1),
    );
    assert_unauthorized(
        &hub,
        "expired certificate",
        &Caller::new(cert_client(&hub, &cert, &key)),
        None,
    );
    let (cert, key) = hub_cert_valid(
        &hub,
        "alice",
        &["devs"],
        now + time::Duration::days(1),
        now + time::Duration::days(2),
    );
    assert_unauthorized(
        &hub,
        "certificate not valid yet",
        &Caller::new(cert_client(&hub, &cert, &key)),
        None,
    );
    // A bad certificate is not rescued by a good token on the same request.
    let (cert, key) = issue_with(
        &ca_cert,
        &ca_key,
        "alice",
        &["devs"],
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
    );
    assert_unauthorized(
        &hub,
        "certificate from another CA plus a valid bootstrap token",
        &Caller::with_bearer(cert_client(&hub, &cert, &key), &world.bootstrap_token),
        None,
    );

    assert_no_leaks(&mut hub, &secrets, "alice");
}

#[test]
fn service_account_tokens_are_tamper_proof_and_revocable() {
    let (_dir, mut hub) = start();
    setup_world(&hub);
    let (uid, token) = setup_robot(&hub);
    let anon = || client(&hub.data_dir, false);
    let robot = Caller::with_bearer(anon(), &token);
    let mut secrets = vec![token.clone()];

    // The real token works: view in team-a, nothing in team-b.
    assert_eq!(
        robot
            .get(&hub, "/api/v1/namespaces/team-a/configmaps")
            .status,
        200
    );
    assert_eq!(
        robot
            .get(&hub, "/api/v1/namespaces/team-b/configmaps")
            .status,
        403
    );

    // Payload changes keep the header and signature but must break them.
    for (what, forged) in [
        (
            "longer expiry",
            tamper(&token, |c| {
                c["exp"] = json!(c["exp"].as_i64().unwrap_or(0) + 86_400)
            }),
        ),
        (
            "another account",
            tamper(&token, |c| {
                c["sub"] = json!("system:serviceaccount:kube-system:admin");
                c["kubernetes.io"]["namespace"] = json!("kube-system");
            }),
        ),
        (
            "another uid",
            tamper(&token, |c| {
                c["kubernetes.io"]["serviceaccount"]["uid"] =
                    json!(uuid::Uuid::new_v4().to_string())
            }),
        ),
    ] {
        assert_unauthorized(
            &hub,
            &format!("tampered JWT ({what})"),
            &Caller::with_bearer(anon(), &forged),
            Some(&forged),
        );
    }
    // Another key over the same claims.
    let forged = foreign_jwt(&uid);
    assert_unauthorized(
        &hub,
        "JWT signed by another key",
        &Caller::with_bearer(anon(), &forged),
        Some(&forged),
    );
    // A truncated signature.
    let truncated = &token[..token.len() - 4];
    assert_unauthorized(
        &hub,
        "JWT with a truncated signature",
        &Caller::with_bearer(anon(), truncated),
        Some(truncated),
    );
    // A token for another audience is not for this server.
    let vault = request_token(
        &hub,
        "robot",
        json!({"audiences": ["vault"], "expirationSeconds": 3600}),
    );
    secrets.push(vault.clone());
    assert_unauthorized(
        &hub,
        "token for another audience",
        &Caller::with_bearer(anon(), &vault),
        Some(&vault),
    );

    // Revocation: deleting the ServiceAccount invalidates its tokens, and a new account
    // with the same name (another uid) does not revive them.
    let second = request_token(&hub, "robot", json!({"expirationSeconds": 3600}));
    secrets.push(second.clone());
    let second_caller = Caller::with_bearer(anon(), &second);
    assert_authenticated(&hub, "a second token", &second_caller);
    let deleted = admin(&hub).delete(&hub, "/api/v1/namespaces/team-a/serviceaccounts/robot");
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_unauthorized(&hub, "token of a deleted account", &robot, Some(&token));
    assert_unauthorized(
        &hub,
        "second token of a deleted account",
        &second_caller,
        Some(&second),
    );
    expect_status(
        admin(&hub).post(
            &hub,
            "/api/v1/namespaces/team-a/serviceaccounts",
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        ),
        201,
        "recreated service account",
    );
    assert_unauthorized(
        &hub,
        "token of a deleted account after it was recreated",
        &robot,
        Some(&token),
    );
    // A token for an account that does not exist cannot be requested.
    let missing = admin(&hub).post(
        &hub,
        "/api/v1/namespaces/team-a/serviceaccounts/ghost/token",
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);

    assert_no_leaks(&mut hub, &secrets, "system:serviceaccount:team-a:robot");
}

// ---------------------------------------------------------------------------------------
// Impersonation
// ---------------------------------------------------------------------------------------

#[test]
fn impersonation_over_http() {
    let (_dir, hub) = start();
    let world = setup_world(&hub);
    let admin = admin(&hub);
    let alice = Caller::new(cert_client(&hub, &world.alice_cert.0, &world.alice_cert.1));
    let team_a = "/api/v1/namespaces/team-a/configmaps";
    let team_b = "/api/v1/namespaces/team-b/configmaps";

    // The admin acting as alice gets exactly alice's rights.
    let as_alice = admin.with_header("Impersonate-User", "alice");
    assert_eq!(as_alice.get(&hub, team_a).status, 200);
    let denied = as_alice.get(&hub, team_b);
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        denied.message().contains("User \"alice\""),
        "{}",
        denied.body
    );
    let as_alice_devs = as_alice.with_header("Impersonate-Group", "devs");
    assert_eq!(as_alice_devs.get(&hub, team_a).status, 200);
    assert_eq!(as_alice_devs.get(&hub, team_b).status, 403);
    let created = as_alice.post(
        &hub,
        team_a,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-alice"}}),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    // alice may not impersonate anyone (edit grants impersonation of service accounts in
    // team-a only).
    for (header, value) in [
        ("Impersonate-User", "system:admin"),
        ("Impersonate-User", "bob"),
        ("Impersonate-User", "system:serviceaccount:team-b:robot"),
    ] {
        let resp = alice.with_header(header, value).get(&hub, team_a);
        assert_eq!(resp.status, 403, "alice as {value}: {}", resp.body);
        assert_eq!(resp.json()["reason"], "Forbidden", "{}", resp.body);
        assert!(resp.message().contains("impersonate"), "{}", resp.body);
    }
    let resp = alice
        .with_header("Impersonate-User", "alice")
        .with_header("Impersonate-Group", "system:masters")
        .get(&hub, team_b);
    assert_eq!(
        resp.status, 403,
        "alice adding system:masters: {}",
        resp.body
    );
    assert!(resp.message().contains("impersonate"), "{}", resp.body);
    // Groups without a user is a malformed request.
    let resp = admin
        .with_header("Impersonate-Group", "system:masters")
        .get(&hub, team_a);
    assert_eq!(resp.status, 400, "{}", resp.body);

    // `edit` lets alice act as the service accounts of team-a, with their rights.
    setup_robot(&hub);
    let as_robot = alice.with_header("Impersonate-User", "system:serviceaccount:team-a:robot");
    assert_eq!(as_robot.get(&hub, team_a).status, 200);
    let resp = as_robot.post(
        &hub,
        team_a,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-robot"}}),
    );
    assert_eq!(resp.status, 403, "view cannot create: {}", resp.body);

    // An operator allowed to impersonate alice only (resourceNames).
    rbac_create(
        &hub,
        "clusterroles",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "impersonate-alice"},
            "rules": [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["alice"],
                       "verbs": ["impersonate"]}]}),
    );
    rbac_create(
        &hub,
        "clusterrolebindings",
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "ops-impersonate-alice"},
            "roleRef": role_ref("ClusterRole", "impersonate-alice"),
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ops"}]}),
    );
    let (cert, key) = hub_cert(&hub, "ops", &["operators"]);
    let ops = Caller::new(cert_client(&hub, &cert, &key));
    assert_eq!(ops.get(&hub, team_a).status, 403, "ops alone");
    assert_eq!(
        ops.with_header("Impersonate-User", "alice")
            .get(&hub, team_a)
            .status,
        200
    );
    assert_eq!(
        ops.with_header("Impersonate-User", "bob")
            .get(&hub, team_a)
            .status,
        403
    );
    // Impersonating a group needs `impersonate` on groups as well.
    assert_eq!(
        ops.with_header("Impersonate-User", "alice")
            .with_header("Impersonate-Group", "devs")
            .get(&hub, team_a)
            .status,
        403
    );
}

// ---------------------------------------------------------------------------------------
// Review APIs and kubectl auth
// ---------------------------------------------------------------------------------------

/// Writes a kubeconfig for this hub with `user` as the credentials.
fn kubeconfig(hub: &Hub, file: &str, user: Value) -> PathBuf {
    let ca = std::fs::read_to_string(hub.data_dir.join("cert/ca.crt")).expect("ca");
    let doc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "hub", "cluster": {
            "server": hub.url(""), "certificate-authority-data": B64.encode(ca)}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "user", "namespace": "default"}}],
        "current-context": "hub",
    });
    let path = hub.data_dir.join(file);
    std::fs::write(&path, doc.to_string()).expect("write kubeconfig");
    path
}

fn cert_kubeconfig(hub: &Hub, file: &str, cert: &(String, String)) -> PathBuf {
    kubeconfig(
        hub,
        file,
        json!({"client-certificate-data": B64.encode(&cert.0), "client-key-data": B64.encode(&cert.1)}),
    )
}

/// kubectl with a given kubeconfig (the hub's admin one when `None`).
fn kubectl(hub: &Hub, config: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = match config {
        None => common::kubectl_cmd(hub, args),
        Some(config) => {
            let mut cmd = Command::new(common::kubectl());
            cmd.arg("--kubeconfig")
                .arg(config)
                .arg("--cache-dir")
                .arg(hub.data_dir.join("kubectl-cache"))
                .args(args);
            cmd
        }
    };
    cmd.output().expect("run kubectl")
}

fn stdout_of(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl auth can-i ...`: the printed answer and whether kubectl exited 0.
fn can_i(hub: &Hub, config: Option<&Path>, args: &[&str]) -> (String, bool) {
    let mut full = vec!["auth", "can-i"];
    full.extend_from_slice(args);
    let out = kubectl(hub, config, &full);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer.starts_with("no"),
        "kubectl {full:?}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (answer, out.status.success())
}

fn assert_can(hub: &Hub, config: Option<&Path>, args: &[&str], want: bool) {
    let (answer, ok) = can_i(hub, config, args);
    assert_eq!(
        (answer == "yes", ok),
        (want, want),
        "kubectl auth can-i {args:?} answered {answer:?}"
    );
}

fn whoami(hub: &Hub, config: Option<&Path>, extra: &[&str]) -> (String, Vec<String>) {
    let mut args = vec!["auth", "whoami", "-o", "json"];
    args.extend_from_slice(extra);
    let out = stdout_of(&kubectl(hub, config, &args), "kubectl auth whoami");
    let review: Value = serde_json::from_str(&out).expect("SelfSubjectReview json");
    assert_eq!(review["kind"], "SelfSubjectReview", "{review}");
    let info = &review["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (
        info["username"].as_str().unwrap_or_default().to_string(),
        groups,
    )
}

#[test]
fn kubectl_auth_whoami() {
    let (_dir, mut hub) = start();
    let world = setup_world(&hub);

    let (user, groups) = whoami(&hub, None, &[]);
    assert_eq!(user, "system:admin");
    assert!(
        groups.contains(&"system:masters".to_string())
            && groups.contains(&"system:authenticated".to_string()),
        "{groups:?}"
    );
    // The table form prints the same.
    let table = stdout_of(
        &kubectl(&hub, None, &["auth", "whoami"]),
        "kubectl auth whoami",
    );
    assert!(
        table.contains("Username") && table.contains("system:admin"),
        "{table}"
    );
    assert!(table.contains("system:masters"), "{table}");

    let alice_config = cert_kubeconfig(&hub, "alice.kubeconfig", &world.alice_cert);
    let (user, groups) = whoami(&hub, Some(&alice_config), &[]);
    assert_eq!(user, "alice");
    assert_eq!(groups, ["devs", "system:authenticated"]);

    let (user, groups) = whoami(&hub, None, &["--as", "alice", "--as-group", "devs"]);
    assert_eq!(user, "alice");
    assert!(groups.contains(&"devs".to_string()), "{groups:?}");

    let token_config = kubeconfig(
        &hub,
        "bootstrap.kubeconfig",
        json!({"token": world.bootstrap_token}),
    );
    let (user, groups) = whoami(&hub, Some(&token_config), &[]);
    let id = world.bootstrap_token.split_once('.').expect("token").0;
    assert_eq!(user, format!("system:bootstrap:{id}"));
    for g in [
        "system:bootstrappers",
        BOOTSTRAP_GROUP,
        "system:authenticated",
    ] {
        assert!(groups.contains(&g.to_string()), "{g} missing: {groups:?}");
    }

    let agent_cert = hub_cert(
        &hub,
        "system:open-cluster-management:cluster1:agent1",
        &[
            "system:authenticated",
            "system:open-cluster-management:cluster1",
        ],
    );
    let agent_config = cert_kubeconfig(&hub, "agent1.kubeconfig", &agent_cert);
    let (user, groups) = whoami(&hub, Some(&agent_config), &[]);
    assert_eq!(user, "system:open-cluster-management:cluster1:agent1");
    assert!(
        groups.contains(&"system:open-cluster-management:cluster1".to_string()),
        "{groups:?}"
    );

    let (_uid, token) = setup_robot(&hub);
    let sa_config = kubeconfig(&hub, "robot.kubeconfig", json!({"token": token}));
    let (user, groups) = whoami(&hub, Some(&sa_config), &[]);
    assert_eq!(user, "system:serviceaccount:team-a:robot");
    for g in [
        "system:serviceaccounts",
        "system:serviceaccounts:team-a",
        "system:authenticated",
    ] {
        assert!(groups.contains(&g.to_string()), "{g} missing: {groups:?}");
    }
    assert_no_leaks(&mut hub, &[world.bootstrap_token.clone(), token], "alice");
}

#[test]
fn kubectl_auth_can_i() {
    let (_dir, hub) = start();
    let world = setup_world(&hub);

    // The admin asking on alice's behalf (SelfSubjectAccessReview, impersonated).
    assert_can(
        &hub,
        None,
        &["create", "configmaps", "-n", "team-a", "--as", "alice"],
        true,
    );
    assert_can(
        &hub,
        None,
        &["create", "configmaps", "-n", "team-b", "--as", "alice"],
        false,
    );
    assert_can(
        &hub,
        None,
        &[
            "list",
            "secrets",
            "-n",
            "team-a",
            "--as",
            "alice",
            "--as-group",
            "devs",
        ],
        true,
    );
    assert_can(
        &hub,
        None,
        &[
            "list",
            "managedclusters",
            "--as",
            "alice",
            "--as-group",
            "devs",
        ],
        false,
    );
    assert_can(&hub, None, &["*", "*"], true);

    // alice asking for herself.
    let alice_config = cert_kubeconfig(&hub, "alice.kubeconfig", &world.alice_cert);
    assert_can(
        &hub,
        Some(&alice_config),
        &["delete", "secrets", "-n", "team-a"],
        true,
    );
    assert_can(
        &hub,
        Some(&alice_config),
        &["delete", "secrets", "-n", "team-b"],
        false,
    );
    assert_can(
        &hub,
        Some(&alice_config),
        &["impersonate", "serviceaccounts", "-n", "team-a"],
        true,
    );

    // An agent: its own ManagedCluster by name, not its neighbour's.
    let agent_cert = hub_cert(
        &hub,
        "system:open-cluster-management:cluster1:agent1",
        &[
            "system:authenticated",
            "system:open-cluster-management:cluster1",
        ],
    );
    let agent_config = cert_kubeconfig(&hub, "agent1.kubeconfig", &agent_cert);
    assert_can(
        &hub,
        Some(&agent_config),
        &["update", "managedclusters/cluster1"],
        true,
    );
    assert_can(
        &hub,
        Some(&agent_config),
        &["update", "managedclusters/cluster2"],
        false,
    );
    assert_can(
        &hub,
        Some(&agent_config),
        &[
            "patch",
            "managedclusters/cluster1",
            "--subresource",
            "status",
        ],
        true,
    );
    assert_can(
        &hub,
        Some(&agent_config),
        &["list", "manifestworks", "-n", "cluster1"],
        true,
    );
    assert_can(
        &hub,
        Some(&agent_config),
        &["list", "manifestworks", "-n", "cluster2"],
        false,
    );

    // --list: SelfSubjectRulesReview.
    let listed = stdout_of(
        &kubectl(
            &hub,
            None,
            &["auth", "can-i", "--list", "-n", "team-a", "--as", "alice"],
        ),
        "kubectl auth can-i --list",
    );
    let line = |resource: &str| {
        listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .unwrap_or_else(|| panic!("no {resource} rule in:\n{listed}"))
            .to_string()
    };
    for resource in ["configmaps", "secrets"] {
        let l = line(resource);
        for verb in [
            "create", "delete", "get", "list", "watch", "update", "patch",
        ] {
            assert!(l.contains(verb), "{resource} lacks {verb}: {l}\n{listed}");
        }
    }
    assert!(
        line("selfsubjectaccessreviews.authorization.k8s.io").contains("create"),
        "{listed}"
    );
    assert!(
        listed.contains("/api/*") || listed.contains("/apis/*"),
        "non-resource rules missing:\n{listed}"
    );
    let elsewhere = stdout_of(
        &kubectl(
            &hub,
            None,
            &["auth", "can-i", "--list", "-n", "team-b", "--as", "alice"],
        ),
        "kubectl auth can-i --list -n team-b",
    );
    assert!(
        !elsewhere
            .lines()
            .any(|l| l.split_whitespace().next() == Some("secrets")),
        "alice has no rules on secrets in team-b:\n{elsewhere}"
    );
}

#[test]
fn review_apis_over_http() {
    let (_dir, mut hub) = start();
    let world = setup_world(&hub);
    let admin = admin(&hub);
    let alice = Caller::new(cert_client(&hub, &world.alice_cert.0, &world.alice_cert.1));

    // SubjectAccessReview: the admin asks about alice.
    let sar = |ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "groups": ["devs"],
                     "resourceAttributes": {"namespace": ns, "verb": "create", "resource": "configmaps"}}})
    };
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let answer = expect_status(admin.post(&hub, path, &sar("team-a")), 201, "SAR");
    assert_eq!(answer["status"]["allowed"], true, "{answer}");
    let answer = expect_status(admin.post(&hub, path, &sar("team-b")), 201, "SAR");
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    // alice may not ask about others.
    let resp = alice.post(&hub, path, &sar("team-a"));
    assert_eq!(resp.status, 403, "{}", resp.body);

    // SelfSubjectAccessReview and SelfSubjectRulesReview by alice herself.
    let ssar = |ns: &str, verb: &str, resource: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "resource": resource}}})
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let answer = expect_status(
        alice.post(&hub, path, &ssar("team-a", "delete", "secrets")),
        201,
        "SSAR",
    );
    assert_eq!(answer["status"]["allowed"], true, "{answer}");
    let answer = expect_status(
        alice.post(&hub, path, &ssar("team-b", "get", "secrets")),
        201,
        "SSAR",
    );
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    let rules = expect_status(
        alice.post(
            &hub,
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": "team-a"}}),
        ),
        201,
        "SSRR",
    );
    let resource_rules = rules["status"]["resourceRules"]
        .as_array()
        .expect("resourceRules");
    assert!(
        resource_rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|x| x.iter().any(|v| v == "secrets"))
                && r["verbs"]
                    .as_array()
                    .is_some_and(|x| x.iter().any(|v| v == "create"))
        }),
        "{rules}"
    );

    // SelfSubjectReview.
    let me = expect_status(
        alice.post(
            &hub,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        ),
        201,
        "SelfSubjectReview",
    );
    assert_eq!(me["status"]["userInfo"]["username"], "alice", "{me}");

    // TokenReview: the admin checks a bootstrap token, a wrong one, and an SA token.
    let review = |token: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}})
    };
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let answer = expect_status(
        admin.post(&hub, path, &review(&world.bootstrap_token)),
        201,
        "TokenReview",
    );
    assert_eq!(answer["status"]["authenticated"], true, "{answer}");
    let id = world.bootstrap_token.split_once('.').expect("token").0;
    assert_eq!(
        answer["status"]["user"]["username"],
        format!("system:bootstrap:{id}"),
        "{answer}"
    );
    let answer = expect_status(
        admin.post(&hub, path, &review("abcdef.0000000000000000")),
        201,
        "TokenReview of a wrong token",
    );
    assert_ne!(answer["status"]["authenticated"], true, "{answer}");
    let (_uid, token) = setup_robot(&hub);
    let answer = expect_status(admin.post(&hub, path, &review(&token)), 201, "TokenReview");
    assert_eq!(answer["status"]["authenticated"], true, "{answer}");
    assert_eq!(
        answer["status"]["user"]["username"], "system:serviceaccount:team-a:robot",
        "{answer}"
    );
    // alice may not review tokens.
    let resp = alice.post(&hub, path, &review(&token));
    assert_eq!(resp.status, 403, "{}", resp.body);
    // Tokens travelled in request bodies here; none of them may be printed.
    assert_no_leaks(&mut hub, &[world.bootstrap_token.clone(), token], "alice");
}

/// RBAC escalation prevention through every write verb: a namespace `admin` may bind
/// and write roles it holds, but not grant what it does not hold (kube's 403 naming the
/// missing rules), neither by POST, PUT nor PATCH.
#[test]
fn role_and_binding_writes_cannot_escalate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let admin = client(dir.path(), true);
    let post = |path: &str, body: serde_json::Value| {
        admin
            .post(hub.url(path))
            .json(&body)
            .send()
            .expect("post")
            .status()
    };
    assert!(post("/api/v1/namespaces", json!({"metadata": {"name": "esc"}})).is_success());
    let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/esc";
    assert!(post(&format!("{rbac}/rolebindings"), json!({"metadata": {"name": "alice-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]})).is_success());
    let as_alice =
        |method: reqwest::Method, path: &str, content_type: &str, body: serde_json::Value| {
            admin
                .request(method, hub.url(path))
                .header("Impersonate-User", "alice")
                .header("Content-Type", content_type)
                .body(body.to_string())
                .send()
                .expect("request")
        };
    let binding = |name: &str, role: &str| {
        json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]})
    };
    let json_ct = "application/json";
    // Binding a role alice holds is fine; binding cluster-admin is an escalation.
    let ok = as_alice(
        reqwest::Method::POST,
        &format!("{rbac}/rolebindings"),
        json_ct,
        binding("bob-view", "view"),
    );
    assert_eq!(ok.status(), 201);
    let denied = as_alice(
        reqwest::Method::POST,
        &format!("{rbac}/rolebindings"),
        json_ct,
        binding("bob-root", "cluster-admin"),
    );
    assert_eq!(denied.status(), 403);
    let status: serde_json::Value = denied.json().expect("status");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("attempting to grant RBAC permissions not currently held")),
        "{status}"
    );
    // A Role within alice's rights is fine; widening it by PUT or PATCH is not.
    let role = json!({"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]});
    assert_eq!(
        as_alice(
            reqwest::Method::POST,
            &format!("{rbac}/roles"),
            json_ct,
            role
        )
        .status(),
        201
    );
    let wide = json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    let patched = as_alice(
        reqwest::Method::PATCH,
        &format!("{rbac}/roles/reader"),
        "application/merge-patch+json",
        wide.clone(),
    );
    assert_eq!(patched.status(), 403);
    let mut replaced: serde_json::Value = admin
        .get(hub.url(&format!("{rbac}/roles/reader")))
        .send()
        .expect("get")
        .json()
        .expect("json");
    replaced["rules"] = wide["rules"].clone();
    assert_eq!(
        as_alice(
            reqwest::Method::PUT,
            &format!("{rbac}/roles/reader"),
            json_ct,
            replaced
        )
        .status(),
        403
    );
    // Nothing was widened.
    let stored: serde_json::Value = admin
        .get(hub.url(&format!("{rbac}/roles/reader")))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(stored["rules"][0]["resources"], json!(["configmaps"]));
}
