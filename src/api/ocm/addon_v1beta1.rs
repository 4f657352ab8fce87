//! `addon.open-cluster-management.io` v1beta1 of ClusterManagementAddOn, ManagedClusterAddOn
//! and AddOnDeploymentConfig, served beside v1alpha1, which is stored as upstream does
//! (AddOnTemplate is v1alpha1 only). The
//! v1alpha1 types in [`super::addon`] stay what the hub's controllers and the agent use;
//! [`super::addon_conversion`] converts objects between the two versions.
//!
//! What changed from v1alpha1: a ClusterManagementAddOn lists `defaultConfigs` instead of
//! `supportedConfigs[].defaultConfig` and drops the deprecated `addOnConfiguration`; a
//! ManagedClusterAddOn has no `spec.installNamespace`, its registrations say their
//! `type` (`kubeClient` with the driver, or `customSigner`) instead of a signer name, and
//! its config references name their config only through `desiredConfig`.
//! AddOnDeploymentConfig is unchanged.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::addon::{
    AddOnConfig, AddOnMeta, ConfigGroupResource, ConfigSpecHash, ContainerResourceRequirements,
    CustomizedVariable, DefaultConfigReference, HealthCheck, ImageMirror, InstallProgression,
    InstallStrategy, KubeClientDriver, NodePlacement, ObjectReference, ProxyConfig,
};
use super::schema::{self, DEFAULT_ADDON_INSTALL_NAMESPACE, NoDefault};

const SIGNER_NAME_PATTERN: &str = r"^([a-z0-9][a-z0-9-]*[a-z0-9]\.)+[a-z]+\/[a-z0-9-\.]+$";

// ---------------------------------------------------------------------------------------------
// ClusterManagementAddOn v1beta1

/// The desired state of a ClusterManagementAddOn.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "An add-on the hub knows, and how it is installed on clusters.",
    group = "addon.open-cluster-management.io",
    version = "v1beta1",
    kind = "ClusterManagementAddOn",
    status = "ClusterManagementAddOnStatus",
    shortname = "cma",
    shortname = "cmas",
    derive = "PartialEq",
    printcolumn = r#"{"name": "DISPLAY NAME", "type": "string", "jsonPath": ".spec.addOnMeta.displayName"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManagementAddOnSpec {
    /// Name and description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on_meta: Option<AddOnMeta>,
    /// The config used for each config kind when a cluster names none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["group", "resource"]))]
    pub default_configs: Vec<AddOnConfig>,
    /// Who creates the ManagedClusterAddOns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"type": "Manual"}))]
    pub install_strategy: Option<InstallStrategy>,
}

/// Observed state of an add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManagementAddOnStatus {
    /// The default configs in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_config_references: Vec<DefaultConfigReference>,
    /// Rollout progress per placement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install_progressions: Vec<InstallProgression>,
}

// ---------------------------------------------------------------------------------------------
// ManagedClusterAddOn v1beta1

/// The desired state of a ManagedClusterAddOn.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "An add-on installed on the cluster whose namespace holds this object.",
    group = "addon.open-cluster-management.io",
    version = "v1beta1",
    kind = "ManagedClusterAddOn",
    namespaced,
    status = "ManagedClusterAddOnStatus",
    shortname = "mca",
    shortname = "mcas",
    derive = "PartialEq",
    printcolumn = r#"{"name": "Available", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name": "Degraded", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Degraded\")].status"}"#,
    printcolumn = r#"{"name": "Progressing", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Progressing\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterAddOnSpec {
    /// Configs for this cluster, overriding the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<AddOnConfig>,
}

/// Observed state of an add-on on one cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterAddOnStatus {
    /// Conditions such as Available, Degraded, Progressing, Configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Objects on the hub related to the add-on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_objects: Vec<ObjectReference>,
    /// Copied from the ClusterManagementAddOn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on_meta: Option<AddOnMeta>,
    /// Config kinds the add-on accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["group", "resource"]))]
    pub supported_configs: Vec<ConfigGroupResource>,
    /// Configs in effect for this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_references: Vec<ConfigReference>,
    /// Namespace the agent runs in on the managed cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Credentials the agent needs from the hub.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registrations: Vec<RegistrationConfig>,
    /// How the add-on's health is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// A config in effect for one cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["lastObservedGeneration"]))]
pub struct ConfigReference {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// Deprecated: generation of the config last seen.
    #[serde(default)]
    pub last_observed_generation: i64,
    /// The config wanted.
    #[serde(default)]
    pub desired_config: Option<ConfigSpecHash>,
    /// The config last applied.
    #[serde(default)]
    pub last_applied_config: Option<ConfigSpecHash>,
}

/// A credential the agent needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationConfig {
    /// `kubeClient` (a hub kubeconfig) or `customSigner`.
    #[serde(rename = "type")]
    pub type_: RegistrationType,
    /// The kubeconfig's identity and how it is obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_client: Option<KubeClientConfig>,
    /// The signer and identity of a custom certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_signer: Option<CustomSignerConfig>,
}

/// Registration type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RegistrationType {
    // A kubeconfig for the hub.
    #[default]
    KubeClient,
    // A certificate from a custom signer.
    CustomSigner,
}

/// A hub kubeconfig registration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeClientConfig {
    /// The identity of the kubeconfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<KubeClientSubject>,
    /// How the kubeconfig is obtained: `csr` or `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<KubeClientDriver>,
}

/// The identity of a hub kubeconfig.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeClientSubject {
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A certificate from a custom signer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomSignerConfig {
    /// The signer.
    #[schemars(length(min = 5, max = 571), regex(pattern = SIGNER_NAME_PATTERN))]
    pub signer_name: String,
    /// The identity in the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
}

/// The identity in a custom signer's certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Organizational units.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_units: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// AddOnDeploymentConfig v1beta1 (the same fields as v1alpha1)

/// The desired state of an AddOnDeploymentConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Deployment settings for add-on agents, referenced as a config.",
    group = "addon.open-cluster-management.io",
    version = "v1beta1",
    kind = "AddOnDeploymentConfig",
    namespaced,
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct AddOnDeploymentConfigSpec {
    /// Name/value pairs for the add-on's manifest templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub customized_variables: Vec<CustomizedVariable>,
    /// Node selector and tolerations for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_placement: Option<NodePlacement>,
    /// Image registry rewrites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<ImageMirror>,
    /// Proxy settings for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_config: Option<ProxyConfig>,
    /// Namespace the agent is installed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("default" = DEFAULT_ADDON_INSTALL_NAMESPACE),
        length(max = 63),
        regex(pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")
    )]
    pub agent_install_namespace: Option<String>,
    /// Resource requests and limits per container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["containerID"]))]
    pub resource_requirements: Vec<ContainerResourceRequirements>,
}

#[cfg(test)]
mod tests {
    use crate::api::ocm::schema::testutil::crd;
    use serde_json::{Value, json};

    /// The v1beta1 version of a CRD.
    fn beta(crd: &Value) -> &Value {
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        versions
            .iter()
            .find(|v| v["name"] == "v1beta1")
            .expect("v1beta1 served")
    }

    /// A schema node of the v1beta1 version by dotted path; `[]` steps into items.
    fn node<'a>(crd: &'a Value, path: &str) -> &'a Value {
        let mut node = &beta(crd)["schema"]["openAPIV3Schema"];
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
    fn three_kinds_store_v1beta1_and_serve_both() {
        for kind in [
            "ClusterManagementAddOn",
            "ManagedClusterAddOn",
            "AddOnDeploymentConfig",
        ] {
            let crd = crd(kind);
            let versions: Vec<_> = crd["spec"]["versions"]
                .as_array()
                .expect("versions")
                .iter()
                .map(|v| (v["name"].clone(), v["served"].clone(), v["storage"].clone()))
                .collect();
            assert_eq!(
                versions,
                [
                    (json!("v1alpha1"), json!(true), json!(true)),
                    (json!("v1beta1"), json!(true), json!(false))
                ],
                "{kind}"
            );
            assert_eq!(
                beta(&crd)["schema"]["openAPIV3Schema"]["required"],
                json!(["spec"]),
                "{kind}"
            );
        }
        assert_eq!(
            crd("AddOnTemplate")["spec"]["versions"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        // AddOnDeploymentConfig's versions have the same schema.
        let adc = crd("AddOnDeploymentConfig");
        assert_eq!(
            adc["spec"]["versions"][0]["schema"],
            adc["spec"]["versions"][1]["schema"]
        );
    }

    #[test]
    fn cluster_management_add_on_v1beta1_schema() {
        let crd = crd("ClusterManagementAddOn");
        assert!(!beta(&crd)["subresources"]["status"].is_null());
        assert_eq!(
            beta(&crd)["additionalPrinterColumns"],
            json!([{"name": "DISPLAY NAME", "type": "string", "jsonPath": ".spec.addOnMeta.displayName"}])
        );
        let defaults = node(&crd, "spec.defaultConfigs");
        assert_eq!(
            defaults["x-kubernetes-list-map-keys"],
            json!(["group", "resource"])
        );
        assert_eq!(defaults["x-kubernetes-list-type"], "map");
        assert_eq!(
            node(&crd, "spec.defaultConfigs[]")["required"],
            json!(["name", "resource"])
        );
        assert_eq!(node(&crd, "spec.defaultConfigs[].group")["default"], "");
        assert_eq!(node(&crd, "spec.defaultConfigs[].name")["minLength"], 1);
        assert_eq!(
            node(&crd, "spec.installStrategy")["default"],
            json!({"type": "Manual"})
        );
        assert!(
            beta(&crd)["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                .get("supportedConfigs")
                .is_none()
        );
        assert_eq!(
            node(&crd, "status.defaultConfigReferences[].desiredConfig")["required"],
            json!(["name"])
        );
        assert_eq!(
            node(&crd, "status.installProgressions[].conditions")["x-kubernetes-list-type"],
            "map"
        );
    }

    #[test]
    fn managed_cluster_add_on_v1beta1_schema() {
        let crd = crd("ManagedClusterAddOn");
        let columns: Vec<_> = beta(&crd)["additionalPrinterColumns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(
            columns,
            [json!("Available"), json!("Degraded"), json!("Progressing")]
        );
        assert!(
            beta(&crd)["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                .get("installNamespace")
                .is_none()
        );
        assert_eq!(
            node(&crd, "spec.configs[]")["required"],
            json!(["name", "resource"])
        );
        assert_eq!(
            node(&crd, "status.registrations[]")["required"],
            json!(["type"])
        );
        assert_eq!(
            node(&crd, "status.registrations[].type")["enum"],
            json!(["kubeClient", "customSigner"])
        );
        assert_eq!(
            node(&crd, "status.registrations[].kubeClient.driver")["enum"],
            json!(["csr", "token"])
        );
        assert_eq!(
            node(&crd, "status.registrations[].customSigner")["required"],
            json!(["signerName"])
        );
        assert_eq!(
            node(&crd, "status.registrations[].customSigner.signerName")["maxLength"],
            571
        );
        assert_eq!(
            node(
                &crd,
                "status.registrations[].customSigner.subject.organizationUnits"
            )["type"],
            "array"
        );
        assert!(
            node(&crd, "status.registrations[].kubeClient.subject")["properties"]
                .get("organizationUnits")
                .is_none()
        );
        assert_eq!(
            node(&crd, "status.configReferences[]")["required"],
            json!(["resource"])
        );
        assert!(
            node(&crd, "status.configReferences[].lastObservedGeneration")
                .get("default")
                .is_none()
        );
        assert_eq!(node(&crd, "status.healthCheck.mode")["default"], "Lease");
        assert_eq!(
            node(&crd, "status.supportedConfigs")["x-kubernetes-list-map-keys"],
            json!(["group", "resource"])
        );
        assert!(
            node(&crd, "status")["properties"]
                .get("kubeClientDriver")
                .is_none()
        );
    }
}
