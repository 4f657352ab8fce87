//! The hub's `/metrics`: Prometheus text with API requests, storage, controllers and
//! managed clusters, readable only with RBAC's permission (as kube-apiserver's: the default
//! `system:monitoring` role), never anonymously.

mod common;

use common::{Hub, client, kubectl_run, wait_until};

/// A service account's token, from `kubectl create token`.
fn token(hub: &Hub, account: &str) -> String {
    let out = kubectl_run(hub, &["create", "token", account, "-n", "default"]);
    assert!(
        out.status.success(),
        "create token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn get_metrics(hub: &Hub, bearer: Option<&str>) -> (u16, String, String) {
    let http = client(&hub.data_dir, bearer.is_none());
    let mut request = http.get(hub.url("/metrics"));
    if let Some(t) = bearer {
        request = request.bearer_auth(t);
    }
    let r = request.send().expect("GET /metrics");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, r.text().unwrap_or_default())
}

#[test]
fn metrics_are_served_to_monitoring_rbac_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    for args in [
        vec!["create", "serviceaccount", "prometheus", "-n", "default"],
        vec!["create", "serviceaccount", "nobody", "-n", "default"],
        vec![
            "create",
            "clusterrolebinding",
            "prometheus-monitoring",
            "--clusterrole=system:monitoring",
            "--serviceaccount=default:prometheus",
        ],
        vec!["get", "namespaces"],
    ] {
        let out = kubectl_run(&hub, &args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // An open watch and a managed cluster, to be counted.
    let watch = client(&hub.data_dir, true)
        .get(hub.url("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=60"))
        .send()
        .expect("watch");
    assert_eq!(watch.status(), 200);
    let cluster = serde_json::json!({"apiVersion": "cluster.open-cluster-management.io/v1",
        "kind": "ManagedCluster", "metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": false}});
    let r = client(&hub.data_dir, true)
        .post(hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters"))
        .json(&cluster)
        .send()
        .expect("create cluster");
    assert_eq!(r.status(), 201);
    wait_until("the cluster is counted", || {
        get_metrics(&hub, None)
            .2
            .contains(r#"ocm_managed_clusters{available="Unknown"} 1"#)
    });

    // The admin (system:masters) reads everything.
    let (status, content_type, text) = get_metrics(&hub, None);
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for needle in [
        r#"apiserver_request_total{verb="LIST",group="",resource="namespaces",subresource="",code="200"}"#,
        r#"apiserver_request_total{verb="POST",group="",resource="serviceaccounts",subresource="",code="201"}"#,
        "apiserver_request_duration_seconds_bucket",
        "storage_fsync_duration_seconds_count",
        "storage_batch_commit_duration_seconds_count",
        r#"workqueue_work_duration_seconds_count{name="root-ca-publisher"}"#,
        r#"apiserver_longrunning_requests{verb="WATCH",group="",resource="configmaps"} 1"#,
        r#"ocm_managed_clusters{available="True"} 0"#,
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"));
    drop(watch);
    wait_until("the closed watch is no longer counted", || {
        get_metrics(&hub, None).2.contains(
            r#"apiserver_longrunning_requests{verb="WATCH",group="",resource="configmaps"} 0"#,
        )
    });

    // A service account bound to system:monitoring may; others and anonymous may not.
    let allowed = token(&hub, "prometheus");
    wait_until("the binding takes effect", || {
        get_metrics(&hub, Some(&allowed)).0 == 200
    });
    assert_eq!(get_metrics(&hub, Some(&token(&hub, "nobody"))).0, 403);
    let anonymous = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
        .get(hub.url("/metrics"))
        .send()
        .expect("anonymous GET");
    assert_eq!(anonymous.status(), 403);
}
