//! The add-on kinds served at two versions, end to end on the real binary: objects written
//! through v1alpha1 (stored as v1beta1) read back unchanged and read through v1beta1, and
//! the other way round, with kubectl (create, get at a named version, client-side and
//! server-side apply, JSON patch) and raw HTTP (status, watches, selectors, discovery).

mod common;

use std::process::Output;

use common::{Hub, client, kubectl_run};
use serde_json::{Value, json};

const GROUP: &str = "addon.open-cluster-management.io";
const INSTALL_NAMESPACE: &str = "addon.open-cluster-management.io/v1alpha1-install-namespace";

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl_json(hub: &Hub, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&stdout(&kubectl_run(hub, &all))).expect("kubectl prints JSON")
}

/// `kubectl <verb> -f` of a manifest written to the hub's directory.
fn kubectl_file(hub: &Hub, dir: &std::path::Path, verb: &[&str], manifest: &str) -> String {
    let path = dir.join("manifest.yaml");
    std::fs::write(&path, manifest).expect("write manifest");
    let mut args = verb.to_vec();
    args.extend(["-f", path.to_str().expect("utf8")]);
    stdout(&kubectl_run(hub, &args))
}

/// Reads watch events (one JSON object per line) from a streaming response.
fn events(response: reqwest::blocking::Response) -> std::sync::mpsc::Receiver<Value> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(response).lines() {
            let Ok(line) = line else { break };
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                break;
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

fn next(rx: &std::sync::mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("watch event within 30 s")
}

#[test]
fn add_ons_are_served_as_v1alpha1_and_v1beta1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let http = client(dir.path(), true);
    let get = |path: &str| -> Value {
        let response = http.get(hub.url(path)).send().expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().expect("json")
    };

    // Discovery: both versions, v1beta1 preferred; OpenAPI documents for both.
    let group = get(&format!("/apis/{GROUP}"));
    assert_eq!(group["preferredVersion"]["version"], "v1beta1");
    assert_eq!(
        group["versions"],
        json!([{"groupVersion": format!("{GROUP}/v1beta1"), "version": "v1beta1"},
               {"groupVersion": format!("{GROUP}/v1alpha1"), "version": "v1alpha1"}])
    );
    let beta_resources = get(&format!("/apis/{GROUP}/v1beta1"));
    let mut names: Vec<_> = beta_resources["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "addondeploymentconfigs",
            "clustermanagementaddons",
            "clustermanagementaddons/status",
            "managedclusteraddons",
            "managedclusteraddons/status"
        ]
    );
    let openapi = get("/openapi/v3");
    for version in ["v1alpha1", "v1beta1"] {
        assert!(
            openapi["paths"]
                .get(format!("apis/{GROUP}/{version}"))
                .is_some(),
            "{openapi}"
        );
    }
    let versions = stdout(&kubectl_run(&hub, &["api-versions"]));
    assert!(
        versions.contains(&format!("{GROUP}/v1alpha1")),
        "{versions}"
    );
    assert!(versions.contains(&format!("{GROUP}/v1beta1")), "{versions}");

    stdout(&kubectl_run(&hub, &["create", "namespace", "cluster1"]));

    // Written through v1alpha1 with kubectl.
    kubectl_file(
        &hub,
        dir.path(),
        &["create"],
        &format!(
            "apiVersion: {GROUP}/v1alpha1\nkind: ManagedClusterAddOn\nmetadata:\n  name: hello\n  namespace: cluster1\n  labels:\n    app: hello\nspec:\n  installNamespace: agents\n  configs:\n  - group: {GROUP}\n    resource: addondeploymentconfigs\n    namespace: cluster1\n    name: tuned\n"
        ),
    );
    let alpha_name = format!("managedclusteraddons.v1alpha1.{GROUP}");
    let beta_name = format!("managedclusteraddons.v1beta1.{GROUP}");
    let alpha = kubectl_json(&hub, &["get", &alpha_name, "hello", "-n", "cluster1"]);
    assert_eq!(alpha["apiVersion"], format!("{GROUP}/v1alpha1"));
    assert_eq!(alpha["spec"]["installNamespace"], "agents");
    assert!(alpha["metadata"].get("annotations").is_none(), "{alpha}");
    let beta = kubectl_json(&hub, &["get", &beta_name, "hello", "-n", "cluster1"]);
    assert_eq!(beta["apiVersion"], format!("{GROUP}/v1beta1"));
    assert_eq!(beta["metadata"]["annotations"][INSTALL_NAMESPACE], "agents");
    assert!(beta["spec"].get("installNamespace").is_none(), "{beta}");
    assert_eq!(beta["spec"]["configs"], alpha["spec"]["configs"]);
    // The short name follows discovery's preferred version.
    let short = kubectl_json(&hub, &["get", "mca", "hello", "-n", "cluster1"]);
    assert_eq!(short["apiVersion"], format!("{GROUP}/v1beta1"));
    // Tables at both versions.
    for resource in [alpha_name.as_str(), beta_name.as_str()] {
        let table = stdout(&kubectl_run(&hub, &["get", resource, "-n", "cluster1"]));
        assert!(table.starts_with("NAME"), "{table}");
        assert!(table.contains("AVAILABLE"), "{table}");
        assert!(table.contains("hello"), "{table}");
    }

    // Status written through v1alpha1, read through v1beta1.
    let alpha_path = format!("/apis/{GROUP}/v1alpha1/namespaces/cluster1/managedclusteraddons");
    let beta_path = format!("/apis/{GROUP}/v1beta1/namespaces/cluster1/managedclusteraddons");
    let mut with_status = get(&format!("{alpha_path}/hello"));
    with_status["status"] = json!({
        "kubeClientDriver": "csr",
        "namespace": "agents",
        "registrations": [
            {"signerName": "kubernetes.io/kube-apiserver-client", "subject": {"user": "hello-agent", "groups": ["addons"]}},
            {"signerName": "example.com/hello", "subject": {"user": "hello", "organizationUnit": ["ou"]}}
        ],
        "configReferences": [{"group": GROUP, "resource": "addondeploymentconfigs", "namespace": "cluster1", "name": "tuned",
            "lastObservedGeneration": 0, "desiredConfig": {"namespace": "cluster1", "name": "tuned", "specHash": "h1"}}]
    });
    let response = http
        .put(hub.url(&format!("{alpha_path}/hello/status")))
        .json(&with_status)
        .send()
        .expect("PUT status");
    assert_eq!(response.status(), 200);
    let written: Value = response.json().expect("json");
    assert_eq!(written["status"], with_status["status"]);
    let beta = get(&format!("{beta_path}/hello"));
    assert_eq!(
        beta["status"]["registrations"],
        json!([
            {"type": "kubeClient", "kubeClient": {"driver": "csr", "subject": {"user": "hello-agent", "groups": ["addons"]}}},
            {"type": "customSigner", "customSigner": {"signerName": "example.com/hello", "subject": {"user": "hello", "organizationUnits": ["ou"]}}}
        ])
    );
    assert!(beta["status"]["configReferences"][0].get("name").is_none());
    assert!(beta["status"].get("kubeClientDriver").is_none());
    // Lossless: v1alpha1 reads back exactly what it wrote.
    let alpha = get(&format!("{alpha_path}/hello"));
    assert_eq!(alpha, written);

    // Selectors and lists on both versions.
    for (path, version) in [(&alpha_path, "v1alpha1"), (&beta_path, "v1beta1")] {
        for query in [
            "fieldSelector=metadata.name%3Dhello",
            "labelSelector=app%3Dhello",
            "",
        ] {
            let list = get(&format!("{path}?{query}"));
            assert_eq!(list["apiVersion"], format!("{GROUP}/{version}"));
            let items = list["items"].as_array().expect("items");
            assert_eq!(items.len(), 1, "{query}");
            assert_eq!(items[0]["apiVersion"], format!("{GROUP}/{version}"));
        }
        let none = get(&format!("{path}?fieldSelector=metadata.name%3Dother"));
        assert_eq!(none["items"], json!([]));
    }

    // Watches of both versions see a change made through either.
    let rv = get(&alpha_path)["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let watch = |path: &str| {
        events(
            http.get(hub.url(&format!("{path}?watch=true&resourceVersion={rv}")))
                .send()
                .expect("watch"),
        )
    };
    let (alpha_events, beta_events) = (watch(&alpha_path), watch(&beta_path));
    stdout(&kubectl_run(
        &hub,
        &[
            "patch",
            &alpha_name,
            "hello",
            "-n",
            "cluster1",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/installNamespace", "value": "patched"}]"#,
        ],
    ));
    let e = next(&alpha_events);
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["apiVersion"], format!("{GROUP}/v1alpha1"));
    assert_eq!(e["object"]["spec"]["installNamespace"], "patched");
    let e = next(&beta_events);
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["apiVersion"], format!("{GROUP}/v1beta1"));
    assert_eq!(
        e["object"]["metadata"]["annotations"][INSTALL_NAMESPACE],
        "patched"
    );
    // A merge patch through v1beta1 of the annotation is v1alpha1's field.
    stdout(&kubectl_run(
        &hub,
        &[
            "patch",
            &beta_name,
            "hello",
            "-n",
            "cluster1",
            "--type=merge",
            "-p",
            &json!({"metadata": {"annotations": {INSTALL_NAMESPACE: "from-beta"}}}).to_string(),
        ],
    ));
    let e = next(&alpha_events);
    assert_eq!(e["object"]["spec"]["installNamespace"], "from-beta");
    assert_eq!(
        next(&beta_events)["object"]["apiVersion"],
        format!("{GROUP}/v1beta1")
    );

    // Server-side apply through v1alpha1 owns v1alpha1's fields.
    let applied = kubectl_file(
        &hub,
        dir.path(),
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=tester",
        ],
        &format!(
            "apiVersion: {GROUP}/v1alpha1\nkind: ManagedClusterAddOn\nmetadata:\n  name: hello\n  namespace: cluster1\nspec:\n  installNamespace: applied\n"
        ),
    );
    assert!(applied.contains("serverside-applied"), "{applied}");
    let beta = kubectl_json(&hub, &["get", &beta_name, "hello", "-n", "cluster1"]);
    assert_eq!(
        beta["metadata"]["annotations"][INSTALL_NAMESPACE],
        "applied"
    );

    // The other direction: a ClusterManagementAddOn written through v1beta1.
    kubectl_file(
        &hub,
        dir.path(),
        &["create"],
        &format!(
            "apiVersion: {GROUP}/v1beta1\nkind: ClusterManagementAddOn\nmetadata:\n  name: hello\nspec:\n  addOnMeta:\n    displayName: Hello\n  defaultConfigs:\n  - group: {GROUP}\n    resource: addondeploymentconfigs\n    namespace: open-cluster-management\n    name: default\n"
        ),
    );
    let cma_alpha = kubectl_json(
        &hub,
        &[
            "get",
            &format!("clustermanagementaddons.v1alpha1.{GROUP}"),
            "hello",
        ],
    );
    assert_eq!(cma_alpha["apiVersion"], format!("{GROUP}/v1alpha1"));
    assert_eq!(
        cma_alpha["spec"]["supportedConfigs"],
        json!([{"group": GROUP, "resource": "addondeploymentconfigs",
            "defaultConfig": {"namespace": "open-cluster-management", "name": "default"}}])
    );
    assert_eq!(
        cma_alpha["spec"]["installStrategy"],
        json!({"type": "Manual"})
    );
    // Client-side apply through v1alpha1 (a supported config without a default added).
    kubectl_file(
        &hub,
        dir.path(),
        &["apply"],
        &format!(
            "apiVersion: {GROUP}/v1alpha1\nkind: ClusterManagementAddOn\nmetadata:\n  name: hello\nspec:\n  addOnMeta:\n    displayName: Hello again\n  supportedConfigs:\n  - group: {GROUP}\n    resource: addondeploymentconfigs\n    defaultConfig:\n      namespace: open-cluster-management\n      name: default\n  - group: \"\"\n    resource: configmaps\n"
        ),
    );
    let cma_beta = kubectl_json(
        &hub,
        &[
            "get",
            &format!("clustermanagementaddons.v1beta1.{GROUP}"),
            "hello",
        ],
    );
    assert_eq!(cma_beta["spec"]["addOnMeta"]["displayName"], "Hello again");
    assert_eq!(
        cma_beta["spec"]["defaultConfigs"],
        json!([
            {"group": GROUP, "resource": "addondeploymentconfigs", "namespace": "open-cluster-management", "name": "default"},
            {"group": "", "resource": "configmaps", "name": "__reserved_no_default__"}
        ])
    );
    let cma_alpha = kubectl_json(
        &hub,
        &[
            "get",
            &format!("clustermanagementaddons.v1alpha1.{GROUP}"),
            "hello",
        ],
    );
    assert_eq!(
        cma_alpha["spec"]["supportedConfigs"][1],
        json!({"group": "", "resource": "configmaps"})
    );

    // AddOnDeploymentConfig: the same object at both versions.
    kubectl_file(
        &hub,
        dir.path(),
        &["create"],
        &format!(
            "apiVersion: {GROUP}/v1alpha1\nkind: AddOnDeploymentConfig\nmetadata:\n  name: tuned\n  namespace: cluster1\nspec:\n  customizedVariables:\n  - name: LOG_LEVEL\n    value: \"4\"\n"
        ),
    );
    let adc_alpha = get(&format!(
        "/apis/{GROUP}/v1alpha1/namespaces/cluster1/addondeploymentconfigs/tuned"
    ));
    let mut adc_beta = get(&format!(
        "/apis/{GROUP}/v1beta1/namespaces/cluster1/addondeploymentconfigs/tuned"
    ));
    assert_eq!(adc_beta["apiVersion"], format!("{GROUP}/v1beta1"));
    adc_beta["apiVersion"] = adc_alpha["apiVersion"].clone();
    assert_eq!(adc_beta, adc_alpha);
}
