//! Add-on fixtures shared by the add-on tests: a template add-on `hello` (a Namespace and
//! a Deployment whose args carry `{{CLUSTER_NAME}}` and `{{LEVEL}}`, a pre-delete hook
//! Job `hello-cleanup`, a hub kubeconfig registration with a `CurrentCluster` permission)
//! and its ClusterManagementAddOn.

use serde_json::{Value, json};

/// The add-on API's v1alpha1 prefix.
pub const ADDONS: &str = "/apis/addon.open-cluster-management.io/v1alpha1";

/// The path of add-on `name` on `cluster`.
pub fn mca_path(cluster: &str, name: &str) -> String {
    format!("{ADDONS}/namespaces/{cluster}/managedclusteraddons/{name}")
}

/// The AddOnTemplate `name` of add-on `hello`.
pub fn template(name: &str) -> Value {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello-agent", "namespace": "hello-ns"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
            "template": {"metadata": {"labels": {"app": "hello"}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "agent",
                    "image": "quay.io/example/hello:v1",
                    "args": ["--cluster={{CLUSTER_NAME}}", "--level={{LEVEL}}"]}]}}}});
    let hook = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "hello-cleanup", "namespace": "default",
            "annotations": {"addon.open-cluster-management.io/addon-pre-delete": ""}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "cleanup", "image": "quay.io/example/hello:v1"}]}}}});
    json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "AddOnTemplate",
        "metadata": {"name": name},
        "spec": {"addonName": "hello",
            "agentSpec": {"workload": {"manifests": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello-ns"}},
                deployment, hook]}},
            "registration": [{"type": "KubeClient", "kubeClient": {"hubPermissions": [
                {"type": "CurrentCluster", "currentCluster": {"clusterRoleName": "hello-role"}}]}}]}})
}

/// A ClusterManagementAddOn.
pub fn cma(name: &str, strategy: Value, supported: Value) -> Value {
    json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ClusterManagementAddOn",
        "metadata": {"name": name},
        "spec": {"addOnMeta": {"displayName": name}, "supportedConfigs": supported,
            "installStrategy": strategy}})
}

/// The supported configs of `hello`: its template by default, and (when given) a default
/// AddOnDeploymentConfig `namespace/name`.
pub fn hello_configs(template: &str, deployment_config: Option<(&str, &str)>) -> Value {
    let mut configs = vec![json!({"group": "addon.open-cluster-management.io",
        "resource": "addontemplates", "defaultConfig": {"name": template}})];
    if let Some((ns, name)) = deployment_config {
        configs.push(json!({"group": "addon.open-cluster-management.io",
            "resource": "addondeploymentconfigs", "defaultConfig": {"namespace": ns, "name": name}}));
    }
    Value::Array(configs)
}
