//! Authentication and authorization benchmark.
//!
//! 1. Requests/s of a cheap GET (one ConfigMap) over HTTPS with each kind of credential:
//!    the admin client certificate (the reference: no token to check), a bootstrap token
//!    (a Secret read per request) and a service-account token (an ES256 signature check
//!    and a ServiceAccount read per request), 16 concurrent clients, 3 s each.
//! 2. Authorization latency in process, p50/p99 over 20,000 checks, with the default
//!    policy alone (reference) and with 10,000 RoleBindings across 1,000 namespaces.
//!
//! Run: `cargo bench --bench auth`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use multicluster_controlplane::api::user::UserInfo;
use multicluster_controlplane::auth::authz::Authorizer;
use multicluster_controlplane::auth::request::Attributes;
use serde_json::{Value, json};

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = common::Hub::start(&dir.path().join("hub"), &[]);
    hub.wait_ready();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(requests(&hub, &dir.path().join("hub")));
    authorization();
}

fn tls(data: &std::path::Path, admin: bool) -> reqwest::Client {
    common::async_client(data, admin, false)
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let r = http.post(url).json(&body).send().await.expect("post");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.expect("json")
}

async fn requests(hub: &common::Hub, data: &std::path::Path) {
    let admin = tls(data, true);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    post(
        &admin,
        &hub.url("/api/v1/namespaces/default/configmaps"),
        json!({"metadata": {"name": "target"}, "data": {"k": "v"}}),
    )
    .await;
    post(&admin, &hub.url("/api/v1/namespaces/kube-system/secrets"), json!({
        "metadata": {"name": "bootstrap-token-abcdef"}, "type": "bootstrap.kubernetes.io/token",
        "data": {"token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
                 "usage-bootstrap-authentication": b64("true"), "expiration": b64("2099-01-01T00:00:00Z")}})).await;
    post(
        &admin,
        &hub.url("/api/v1/namespaces/default/serviceaccounts"),
        json!({"metadata": {"name": "robot"}}),
    )
    .await;
    let token = post(
        &admin,
        &hub.url("/api/v1/namespaces/default/serviceaccounts/robot/token"),
        json!({"spec": {}}),
    )
    .await;
    let sa_token = token["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    // Both token users may read ConfigMaps in default.
    post(&admin, &hub.url("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"), json!({
        "metadata": {"name": "readers"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": "system:bootstrappers"},
                     {"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]})).await;
    let url = hub.url("/api/v1/namespaces/default/configmaps/target");
    println!("cheap GET over HTTPS, 16 clients, 3 s per credential");
    let mut reference = 0.0;
    for (name, client, bearer) in [
        ("client certificate (reference)", admin.clone(), None),
        (
            "bootstrap token",
            tls(data, false),
            Some("abcdef.0123456789abcdef".to_string()),
        ),
        ("service-account token", tls(data, false), Some(sa_token)),
    ] {
        let deadline = Instant::now() + Duration::from_secs(3);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (client, bearer, url) = (client.clone(), bearer.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut r = client.get(&url);
                    if let Some(t) = &bearer {
                        r = r.bearer_auth(t);
                    }
                    let status = common::read_status(r.send().await.expect("get")).await;
                    assert_eq!(status, 200, "authenticated GET");
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("client");
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        if reference == 0.0 {
            reference = rate;
        }
        println!(
            "{name:<32} {rate:>8.0} req/s  ({:.0}% of the client-certificate rate)",
            100.0 * rate / reference
        );
    }
}

fn authorization() {
    let authz = Authorizer::new();
    let (p50_empty, p99_empty) = measure(&authz);
    for i in 0..10_000 {
        let ns = format!("ns-{}", i % 1_000);
        authz.observe(
            "RoleBinding",
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("rb-{i}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": if i % 2 == 0 { "edit" } else { "view" }},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": format!("user-{}", i % 5_000)},
                             {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": format!("team-{}", i % 100)}]}),
            false,
        );
    }
    let (p50, p99) = measure(&authz);
    println!("authorization in process, 20,000 checks");
    println!("default policy only (reference)    p50 {p50_empty:>6.2} µs  p99 {p99_empty:>6.2} µs");
    println!(
        "with 10,000 RoleBindings            p50 {p50:>6.2} µs  p99 {p99:>6.2} µs  ({:.1}x the reference at p99)",
        p99 / p99_empty.max(0.001)
    );
}

/// p50 and p99 in microseconds of a mix of allowed and denied checks.
fn measure(authz: &Authorizer) -> (f64, f64) {
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..20_000usize {
        let user = UserInfo {
            name: format!("user-{}", (i * 7_919) % 5_000),
            groups: vec!["system:authenticated".into(), format!("team-{}", i % 100)],
            ..UserInfo::default()
        };
        let attrs = Attributes {
            user,
            verb: ["get", "list", "update", "delete"][i % 4].into(),
            namespace: format!("ns-{}", (i * 31) % 1_000),
            resource: "configmaps".into(),
            name: "c".into(),
            resource_request: true,
            ..Attributes::default()
        };
        let t = Instant::now();
        let decision = authz.authorize(&attrs);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(decision);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}
