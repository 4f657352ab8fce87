//! `multicluster.x-k8s.io/v1alpha1` ClusterProfile: SIG Multicluster's cluster inventory
//! API (`sigs.k8s.io/cluster-inventory-api`), which an OCM hub fills for its managed
//! clusters when the `ClusterProfile` feature gate is on.
//!
//! Unlike the OCM kinds, this CRD is not one every hub serves: upstream's cluster-manager
//! installs it only with the gate on (and never removes it), so [`crd`] is not part of
//! [`super::crds`]; the hub stores it at start when the gate is on.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::{self, Tweaks, finalize};

/// The API group of ClusterProfile.
pub const PROFILE_GROUP: &str = "multicluster.x-k8s.io";
/// Label naming the cluster manager that owns a profile.
pub const LABEL_CLUSTER_MANAGER: &str = "x-k8s.io/cluster-manager";
/// Label naming the cluster set of the profile's cluster.
pub const LABEL_CLUSTER_SET: &str = "multicluster.x-k8s.io/clusterset";
/// The cluster manager name OCM writes into the label and `spec.clusterManager.name`.
pub const OCM_CLUSTER_MANAGER: &str = "open-cluster-management";
/// Condition: the cluster's control plane is healthy (OCM copies `Available` into it).
pub const CONTROL_PLANE_HEALTHY: &str = "ControlPlaneHealthy";
/// Condition: the cluster has joined (OCM copies `ManagedClusterJoined` into it).
pub const JOINED: &str = "Joined";

/// The desired state of a ClusterProfile.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "ClusterProfile represents a single cluster in a multi-cluster deployment.",
    group = "multicluster.x-k8s.io",
    version = "v1alpha1",
    kind = "ClusterProfile",
    namespaced,
    status = "ClusterProfileStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProfileSpec {
    /// A human-readable name of the ClusterProfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Which cluster manager owns this ClusterProfile.
    #[schemars(extend("x-kubernetes-validations" = [{"message": "ClusterManager is immutable", "rule": "self == oldSelf"}]))]
    pub cluster_manager: ProfileClusterManager,
}

/// The cluster manager of a profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileClusterManager {
    /// The name of the cluster manager.
    pub name: String,
}

/// The observed state of a ClusterProfile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProfileStatus {
    /// The different condition statuses of this cluster.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "plain_conditions")]
    pub conditions: Vec<Condition>,
    /// The version information of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<ProfileVersion>,
    /// Cluster characteristics (OCM copies the cluster claims here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<ProfileProperty>,
    /// Deprecated: use `accessProviders`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_providers: Vec<AccessProvider>,
    /// Providers of access information for the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_providers: Vec<AccessProvider>,
}

/// Versions of a profiled cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileVersion {
    /// The Kubernetes version of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
}

/// One property of a cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileProperty {
    /// A well-known or custom property name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The property's value.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
    /// When the property was last observed on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<Time>,
}

/// How to reach the cluster, by provider name (such as `kubeconfig` or `oidc`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessProvider {
    /// The provider name.
    pub name: String,
    /// Connection details of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<AccessCluster>,
}

/// A kubeconfig `cluster` entry (client-go's `clientcmd/api/v1.Cluster`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AccessCluster {
    /// The address of the Kubernetes API server (`https://hostname:port`).
    pub server: String,
    /// The name the server certificate is checked against.
    #[serde(
        rename = "tls-server-name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_server_name: Option<String>,
    /// Skip the server certificate check.
    #[serde(
        rename = "insecure-skip-tls-verify",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Path to a CA certificate file.
    #[serde(
        rename = "certificate-authority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    /// PEM CA certificates, base64.
    #[serde(
        rename = "certificate-authority-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::bytes")]
    pub certificate_authority_data: Option<k8s_openapi::ByteString>,
    /// A proxy for every request (`http`, `https` or `socks5`).
    #[serde(rename = "proxy-url", default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Ask the server not to compress responses.
    #[serde(
        rename = "disable-compression",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_compression: Option<bool>,
    /// Additional information for extenders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// A named extension of a kubeconfig entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NamedExtension {
    /// The nickname of the extension.
    pub name: String,
    /// The extension, any object.
    #[schemars(schema_with = "any_object")]
    pub extension: Value,
}

fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Conditions without list markers, as the upstream CRD has them.
fn plain_conditions(generator: &mut SchemaGenerator) -> Schema {
    schema::conditions_plain(generator)
}

/// The ClusterProfile CRD, as upstream's `clusterprofiles.multicluster.x-k8s.io`.
pub fn crd() -> CustomResourceDefinition {
    finalize(
        ClusterProfile::crd(),
        &Tweaks {
            spec_required: true,
            ..Tweaks::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::schema::testutil::round_trip;
    use serde_json::json;

    fn node<'a>(crd: &'a Value, path: &str) -> &'a Value {
        let mut node = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        for segment in path.split('.') {
            let (name, items) = match segment.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (segment, false),
            };
            node = &node["properties"][name];
            assert!(!node.is_null(), "no schema node {segment} in {path}");
            if items {
                node = &node["items"];
            }
        }
        node
    }

    #[test]
    fn crd_matches_upstream() {
        let crd = serde_json::to_value(crd()).expect("CRD serializes");
        assert_eq!(
            crd["metadata"]["name"],
            "clusterprofiles.multicluster.x-k8s.io"
        );
        assert_eq!(crd["spec"]["group"], PROFILE_GROUP);
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["listKind"], "ClusterProfileList");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(!version["subresources"]["status"].is_null());
        let root = &version["schema"]["openAPIV3Schema"];
        assert_eq!(root["required"], json!(["spec"]));
        assert_eq!(node(&crd, "spec")["required"], json!(["clusterManager"]));
        assert_eq!(
            node(&crd, "spec.clusterManager")["x-kubernetes-validations"],
            json!([{"message": "ClusterManager is immutable", "rule": "self == oldSelf"}])
        );
        assert_eq!(
            node(&crd, "spec.clusterManager")["required"],
            json!(["name"])
        );
        let name = node(&crd, "status.properties[].name");
        assert_eq!(
            (name["minLength"].as_u64(), name["maxLength"].as_u64()),
            (Some(1), Some(253))
        );
        assert_eq!(
            node(&crd, "status.properties[]")["required"],
            json!(["name", "value"])
        );
        assert_eq!(
            node(&crd, "status.accessProviders[].cluster")["required"],
            json!(["server"])
        );
        assert_eq!(
            node(
                &crd,
                "status.accessProviders[].cluster.certificate-authority-data"
            )["format"],
            "byte"
        );
        let extension = node(
            &crd,
            "status.credentialProviders[].cluster.extensions[].extension",
        );
        assert_eq!(extension["x-kubernetes-preserve-unknown-fields"], true);
        assert!(
            node(&crd, "status.conditions")
                .get("x-kubernetes-list-type")
                .is_none()
        );
        assert!(root.to_string().find("nullable").is_none());
    }

    #[test]
    fn round_trips() {
        let profile: ClusterProfile = round_trip(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1",
            "kind": "ClusterProfile",
            "metadata": {"name": "c1", "namespace": "apps", "labels": {
                LABEL_CLUSTER_MANAGER: OCM_CLUSTER_MANAGER, LABEL_CLUSTER_SET: "prod"}},
            "spec": {"displayName": "c1", "clusterManager": {"name": OCM_CLUSTER_MANAGER}},
            "status": {
                "conditions": [{"type": CONTROL_PLANE_HEALTHY, "status": "True", "reason": "ManagedClusterAvailable",
                    "message": "", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
                "version": {"kubernetes": "v1.30.2"},
                "properties": [{"name": "id.k8s.io", "value": "abc"}],
                "accessProviders": [{"name": "kubeconfig", "cluster": {"server": "https://c1:6443",
                    "certificate-authority-data": "Y2E=", "extensions": [{"name": "x", "extension": {"a": 1}}]}}]
            }
        }));
        assert_eq!(profile.spec.cluster_manager.name, OCM_CLUSTER_MANAGER);
    }
}
