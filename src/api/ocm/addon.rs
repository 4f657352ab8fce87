//! `addon.open-cluster-management.io` v1alpha1: add-ons known to the hub
//! (ClusterManagementAddOn), their installation on one cluster (ManagedClusterAddOn),
//! deployment settings (AddOnDeploymentConfig) and template-defined add-ons (AddOnTemplate).
//! The first three are stored as v1beta1 ([`super::addon_v1beta1`]) and converted on the
//! way in and out ([`super::addon_conversion`]); these types are what the hub's
//! controllers and the agent read and write. AddOnTemplate is v1alpha1 only.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::api::rbac::v1::RoleRef;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::RolloutStrategy;
use super::schema::{self, DEFAULT_ADDON_INSTALL_NAMESPACE, NoDefault, Tweaks, finalize};
use super::work::ManifestWorkSpec;

/// The API group of this module's kinds.
pub const ADDON_GROUP: &str = "addon.open-cluster-management.io";

/// Label naming the add-on an object belongs to.
pub const ADDON_NAME_LABEL: &str = "open-cluster-management.io/addon-name";

/// ManagedClusterAddOn condition types.
pub mod addon_conditions {
    /// The add-on agent is healthy.
    pub const AVAILABLE: &str = "Available";
    /// The add-on agent is degraded.
    pub const DEGRADED: &str = "Degraded";
    /// The add-on's configs were applied.
    pub const CONFIGURED: &str = "Configured";
    /// The add-on is being installed or upgraded.
    pub const PROGRESSING: &str = "Progressing";
    /// The agent manifests were applied.
    pub const MANIFEST_APPLIED: &str = "ManifestApplied";
    /// The registration (certificates, permissions) was applied.
    pub const REGISTRATION_APPLIED: &str = "RegistrationApplied";
}

const SIGNER_NAME_PATTERN: &str = r"^([a-z0-9][a-z0-9-]*[a-z0-9]\.)+[a-z]+\/[a-z0-9-\.]+$";

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// Name and description of an add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnMeta {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// What the add-on does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Deprecated single configuration of an add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigCoordinates {
    /// CRD name of the config kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crd_name: Option<String>,
    /// Name of the cluster-scoped config object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cr_name: Option<String>,
    /// Generation of the config last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_generation: Option<i64>,
}

/// A config kind an add-on accepts, with an optional default object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMeta {
    /// API group of the config; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource of the config.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// The config used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_config: Option<ConfigReferent>,
}

/// A config kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigGroupResource {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource.
    #[schemars(length(min = 1))]
    pub resource: String,
}

/// A config object by namespace and name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReferent {
    /// Namespace; empty for cluster-scoped configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A config object and the hash of its spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["specHash"]))]
pub struct ConfigSpecHash {
    /// Namespace; empty for cluster-scoped configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Hash of the config's spec.
    #[serde(default)]
    pub spec_hash: String,
}

/// A config object of a given kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnConfig {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// Namespace; empty for cluster-scoped configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Identity an add-on agent's certificate carries.
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
    #[serde(
        default,
        rename = "organizationUnit",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub organization_units: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// ClusterManagementAddOn v1alpha1

/// The desired state of a ClusterManagementAddOn.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "An add-on the hub knows, and how it is installed on clusters.",
    group = "addon.open-cluster-management.io",
    version = "v1alpha1",
    kind = "ClusterManagementAddOn",
    status = "ClusterManagementAddOnStatus",
    shortname = "cma",
    shortname = "cmas",
    derive = "PartialEq",
    printcolumn = r#"{"name": "DISPLAY NAME", "type": "string", "jsonPath": ".spec.addOnMeta.displayName"}"#,
    printcolumn = r#"{"name": "CRD NAME", "type": "string", "jsonPath": ".spec.addOnConfiguration.crdName"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManagementAddOnSpec {
    /// Name and description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on_meta: Option<AddOnMeta>,
    /// Deprecated; use `supportedConfigs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on_configuration: Option<ConfigCoordinates>,
    /// Config kinds the add-on accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["group", "resource"]))]
    pub supported_configs: Vec<ConfigMeta>,
    /// Who creates the ManagedClusterAddOns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"type": "Manual"}))]
    pub install_strategy: Option<InstallStrategy>,
}

/// How an add-on gets installed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallStrategy {
    /// `Manual` (users create ManagedClusterAddOns) or `Placements`.
    #[serde(default, rename = "type")]
    pub type_: InstallStrategyType,
    /// Placements whose clusters get the add-on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["namespace", "name"]))]
    pub placements: Vec<PlacementStrategy>,
}

/// Install strategy type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum InstallStrategyType {
    // Users create the ManagedClusterAddOns.
    #[default]
    Manual,
    // The add-on manager installs it on placement clusters.
    Placements,
}

/// A placement, the configs for its clusters and the rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// Placement namespace.
    #[schemars(length(min = 1))]
    pub namespace: String,
    /// Placement name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Configs overriding the defaults on these clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<AddOnConfig>,
    /// How config changes roll out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"type": "All"}))]
    pub rollout_strategy: Option<RolloutStrategy>,
}

/// Observed state of an add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManagementAddOnStatus {
    /// The default configs in effect.
    #[serde(
        default,
        rename = "defaultconfigReferences",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub default_config_references: Vec<DefaultConfigReference>,
    /// Rollout progress per placement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install_progressions: Vec<InstallProgression>,
}

/// A default config in effect.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultConfigReference {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// The config and its spec hash.
    #[serde(default)]
    pub desired_config: Option<ConfigSpecHash>,
}

/// Rollout progress for one placement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallProgression {
    /// Placement namespace.
    #[schemars(length(min = 1))]
    pub namespace: String,
    /// Placement name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Configs being rolled out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_references: Vec<InstallConfigReference>,
    /// Progress conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
}

/// A config being rolled out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallConfigReference {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Plural resource.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// The config wanted.
    #[serde(default)]
    pub desired_config: Option<ConfigSpecHash>,
    /// The last config that rolled out successfully.
    #[serde(default)]
    pub last_known_good_config: Option<ConfigSpecHash>,
    /// The last config applied.
    #[serde(default)]
    pub last_applied_config: Option<ConfigSpecHash>,
}

// ---------------------------------------------------------------------------------------------
// ManagedClusterAddOn v1alpha1

/// The desired state of a ManagedClusterAddOn.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "An add-on installed on the cluster whose namespace holds this object.",
    group = "addon.open-cluster-management.io",
    version = "v1alpha1",
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
    /// Namespace on the managed cluster the agent is installed in (deprecated upstream in
    /// favour of AddOnDeploymentConfig `agentInstallNamespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("default" = DEFAULT_ADDON_INSTALL_NAMESPACE),
        length(max = 63),
        regex(pattern = schema::DNS_LABEL)
    )]
    pub install_namespace: Option<String>,
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
    /// Deprecated; copied from the ClusterManagementAddOn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on_configuration: Option<ConfigCoordinates>,
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
    /// How the agent gets its hub kubeconfig: `csr` or `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_client_driver: Option<KubeClientDriver>,
}

/// A hub object related to an add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// API group.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Namespace, if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
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
    /// Namespace; empty for cluster-scoped configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    #[schemars(length(min = 1))]
    pub name: String,
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

/// A certificate the agent needs, by signer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationConfig {
    /// The CSR signer.
    #[schemars(length(min = 5, max = 571), regex(pattern = SIGNER_NAME_PATTERN))]
    pub signer_name: String,
    /// The identity in the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
}

/// How add-on health is judged.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `Lease` (the agent renews a lease) or `Customized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Lease"))]
    pub mode: Option<HealthCheckMode>,
}

/// Health check mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HealthCheckMode {
    // A lease in the add-on's install namespace.
    #[default]
    Lease,
    // Judged by the add-on manager.
    Customized,
}

/// How an add-on agent obtains hub credentials.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KubeClientDriver {
    // A certificate signing request.
    #[default]
    Csr,
    // A service account token.
    Token,
}

// ---------------------------------------------------------------------------------------------
// AddOnDeploymentConfig v1alpha1

/// The desired state of an AddOnDeploymentConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Deployment settings for add-on agents, referenced as a config.",
    group = "addon.open-cluster-management.io",
    version = "v1alpha1",
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

/// Resource requirements for the containers matching an id.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerResourceRequirements {
    /// `<kind>:<name>:<container>`, `*` allowed, e.g. `deployments:*:*`.
    #[serde(rename = "containerID")]
    #[schemars(regex(
        pattern = r"^(deployments|daemonsets|statefulsets|replicasets|jobs|cronjobs|pods|\*):.+:.+$"
    ))]
    pub container_id: String,
    /// The requirements.
    #[schemars(schema_with = "schema::resource_requirements")]
    pub resources: ResourceRequirements,
}

/// A template variable.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["value"]))]
pub struct CustomizedVariable {
    /// Variable name.
    #[schemars(length(max = 255), regex(pattern = r"^[a-zA-Z_][_a-zA-Z0-9]*$"))]
    pub name: String,
    /// Variable value.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub value: String,
}

/// Where the agent may run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePlacement {
    /// Node labels the agent's nodes must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Node taints the agent tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::core_tolerations")]
    pub tolerations: Vec<Toleration>,
}

/// An image registry rewrite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["source"]))]
pub struct ImageMirror {
    /// Registry to use instead.
    pub mirror: String,
    /// Registry being replaced.
    #[serde(default)]
    pub source: String,
}

/// Proxy settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfig {
    /// HTTP proxy URL.
    #[serde(default, rename = "httpProxy", skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// HTTPS proxy URL.
    #[serde(
        default,
        rename = "httpsProxy",
        skip_serializing_if = "Option::is_none"
    )]
    pub https_proxy: Option<String>,
    /// CA bundle of the HTTPS proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::bytes")]
    pub ca_bundle: Option<ByteString>,
    /// Hosts reached without the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// AddOnTemplate v1alpha1

/// The desired state of an AddOnTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "An add-on defined by manifests and registration settings instead of code.",
    group = "addon.open-cluster-management.io",
    version = "v1alpha1",
    kind = "AddOnTemplate",
    derive = "PartialEq",
    printcolumn = r#"{"name": "ADDON NAME", "type": "string", "jsonPath": ".spec.addonName"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AddOnTemplateSpec {
    /// The add-on's name.
    pub addon_name: String,
    /// ManifestWork spec deploying the agent.
    pub agent_spec: ManifestWorkSpec,
    /// Credentials the agent needs.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub registration: Vec<RegistrationSpec>,
}

/// One registration of a template add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationSpec {
    /// `KubeClient` or `CustomSigner`.
    #[serde(rename = "type")]
    pub type_: RegistrationType,
    /// Settings for a hub kubeconfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_client: Option<KubeClientRegistrationConfig>,
    /// Settings for a certificate from a custom signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_signer: Option<CustomSignerRegistrationConfig>,
}

/// Registration type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RegistrationType {
    // A kubeconfig for the hub.
    #[default]
    KubeClient,
    // A certificate from a custom signer.
    CustomSigner,
}

/// Hub permissions of a kube-client registration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeClientRegistrationConfig {
    /// The permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hub_permissions: Vec<HubPermissionConfig>,
}

/// One grant on the hub.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HubPermissionConfig {
    /// `CurrentCluster` or `SingleNamespace`.
    #[serde(rename = "type")]
    pub type_: HubPermissionsBindingType,
    /// A cluster role bound in the cluster's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_cluster: Option<CurrentClusterBindingConfig>,
    /// A role bound in a fixed namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_namespace: Option<SingleNamespaceBindingConfig>,
}

/// Where a hub permission is bound.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HubPermissionsBindingType {
    // The managed cluster's namespace.
    #[default]
    CurrentCluster,
    // A given namespace.
    SingleNamespace,
}

/// A cluster role bound in the cluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentClusterBindingConfig {
    /// The cluster role.
    pub cluster_role_name: String,
}

/// A role bound in one namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SingleNamespaceBindingConfig {
    /// The namespace.
    pub namespace: String,
    /// The role.
    #[schemars(schema_with = "schema::role_ref")]
    pub role_ref: RoleRef,
}

/// A certificate from a custom signer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomSignerRegistrationConfig {
    /// The signer.
    #[schemars(length(min = 5, max = 571), regex(pattern = SIGNER_NAME_PATTERN))]
    pub signer_name: String,
    /// The identity in the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// Secret holding the signing CA.
    #[serde(rename = "signingCA")]
    pub signing_ca: SigningCaRef,
}

/// A secret on the hub holding a CA certificate and key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningCaRef {
    /// Secret name.
    pub name: String,
    /// Secret namespace; defaults to the add-on manager's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The CRDs of this group: three with v1alpha1 and v1beta1 (stored), AddOnTemplate with
/// v1alpha1 only.
pub fn crds() -> Vec<CustomResourceDefinition> {
    use super::addon_v1beta1 as beta;
    let required = Tweaks {
        spec_required: true,
        ..Tweaks::default()
    };
    let both = |alpha: CustomResourceDefinition, beta: CustomResourceDefinition| {
        two_versions(finalize(alpha, &required), finalize(beta, &required))
    };
    vec![
        both(
            ClusterManagementAddOn::crd(),
            beta::ClusterManagementAddOn::crd(),
        ),
        both(ManagedClusterAddOn::crd(), beta::ManagedClusterAddOn::crd()),
        both(
            AddOnDeploymentConfig::crd(),
            beta::AddOnDeploymentConfig::crd(),
        ),
        finalize(
            AddOnTemplate::crd(),
            &Tweaks {
                spec_required: true,
                empty_subresources: true,
                ..Tweaks::default()
            },
        ),
    ]
}

/// One CRD serving `alpha`'s versions (stored) and `beta`'s, v1alpha1 listed first as
/// upstream does.
fn two_versions(
    mut alpha: CustomResourceDefinition,
    beta: CustomResourceDefinition,
) -> CustomResourceDefinition {
    // Stored as v1alpha1, as upstream v1.3 does (its conversion webhook's hub version).
    alpha
        .spec
        .versions
        .extend(beta.spec.versions.into_iter().map(|mut v| {
            v.storage = false;
            v
        }));
    alpha
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::schema::testutil::{
        columns, crd, has_status_subresource, node, root, round_trip,
    };
    use serde_json::json;

    #[test]
    fn cluster_management_add_on_crd_and_round_trip() {
        let crd = crd("ClusterManagementAddOn");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["cma", "cmas"]));
        assert!(has_status_subresource(&crd));
        assert_eq!(root(&crd)["required"], json!(["spec"]));
        let cols = columns(&crd);
        assert_eq!(
            cols[0],
            (
                "DISPLAY NAME".into(),
                "string".into(),
                ".spec.addOnMeta.displayName".into()
            )
        );
        assert_eq!(cols[1].0, "CRD NAME");
        assert_eq!(
            node(&crd, "spec.installStrategy")["default"],
            json!({"type": "Manual"})
        );
        assert_eq!(
            node(&crd, "spec.installStrategy.type")["enum"],
            json!(["Manual", "Placements"])
        );
        assert_eq!(
            node(&crd, "spec.installStrategy.placements")["x-kubernetes-list-map-keys"],
            json!(["namespace", "name"])
        );
        assert_eq!(
            node(&crd, "spec.installStrategy.placements[].rolloutStrategy")["default"],
            json!({"type": "All"})
        );
        assert_eq!(
            node(
                &crd,
                "spec.installStrategy.placements[].rolloutStrategy.type"
            )["enum"],
            json!(["All", "Progressive", "ProgressivePerGroup"])
        );
        assert_eq!(node(&crd, "spec.supportedConfigs[].group")["default"], "");
        assert_eq!(
            node(&crd, "spec.supportedConfigs")["x-kubernetes-list-map-keys"],
            json!(["group", "resource"])
        );
        assert_eq!(node(&crd, "spec.addOnMeta.description")["type"], "string");
        assert_eq!(
            node(&crd, "status.installProgressions[].conditions")["x-kubernetes-list-type"],
            "map"
        );

        let addon: ClusterManagementAddOn = round_trip(json!({
            "apiVersion": "addon.open-cluster-management.io/v1alpha1",
            "kind": "ClusterManagementAddOn",
            "metadata": {"name": "application-manager"},
            "spec": {
                "addOnMeta": {"displayName": "Application Manager", "description": "Deploys applications"},
                "supportedConfigs": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                    "defaultConfig": {"namespace": "open-cluster-management", "name": "default"}}],
                "installStrategy": {"type": "Placements", "placements": [{
                    "namespace": "open-cluster-management-global-set", "name": "global",
                    "configs": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs", "namespace": "apps", "name": "tuned"}],
                    "rolloutStrategy": {"type": "ProgressivePerGroup", "progressivePerGroup": {"mandatoryDecisionGroups": [{"groupIndex": 0}], "maxFailures": "10%"}}
                }]}
            },
            "status": {
                "defaultconfigReferences": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                    "desiredConfig": {"namespace": "open-cluster-management", "name": "default", "specHash": "a1b2"}}],
                "installProgressions": [{"namespace": "open-cluster-management-global-set", "name": "global",
                    "configReferences": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                        "desiredConfig": {"namespace": "apps", "name": "tuned", "specHash": "c3d4"},
                        "lastKnownGoodConfig": null, "lastAppliedConfig": null}],
                    "conditions": [{"type": "Progressing", "status": "False", "reason": "InstallSucceed", "message": "1/1 install completed", "lastTransitionTime": "2024-05-01T10:00:00Z"}]}]
            }
        }));
        assert_eq!(
            addon.spec.install_strategy.map(|s| s.type_),
            Some(InstallStrategyType::Placements)
        );
    }

    #[test]
    fn managed_cluster_add_on_crd_and_round_trip() {
        let crd = crd("ManagedClusterAddOn");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["mca", "mcas"]));
        assert!(has_status_subresource(&crd));
        let cols = columns(&crd);
        assert_eq!(
            cols.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["Available", "Degraded", "Progressing"]
        );
        let ns = node(&crd, "spec.installNamespace");
        assert_eq!(ns["default"], DEFAULT_ADDON_INSTALL_NAMESPACE);
        assert_eq!(ns["maxLength"], 63);
        assert_eq!(node(&crd, "status.healthCheck.mode")["default"], "Lease");
        assert_eq!(
            node(&crd, "status.healthCheck.mode")["enum"],
            json!(["Lease", "Customized"])
        );
        assert_eq!(
            node(&crd, "status.kubeClientDriver")["enum"],
            json!(["csr", "token"])
        );
        assert_eq!(
            node(&crd, "status.registrations[].signerName")["minLength"],
            5
        );
        assert_eq!(
            node(&crd, "status.relatedObjects[]")["required"],
            json!(["group", "name", "resource"])
        );
        assert!(
            node(&crd, "status.configReferences[].lastObservedGeneration")
                .get("default")
                .is_none()
        );

        let addon: ManagedClusterAddOn = round_trip(json!({
            "apiVersion": "addon.open-cluster-management.io/v1alpha1",
            "kind": "ManagedClusterAddOn",
            "metadata": {"name": "application-manager", "namespace": "cluster1", "labels": {ADDON_NAME_LABEL: "application-manager"}},
            "spec": {"installNamespace": "open-cluster-management-agent-addon",
                "configs": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs", "namespace": "cluster1", "name": "c1"}]},
            "status": {
                "conditions": [{"type": "Available", "status": "True", "reason": "ManagedClusterAddOnLeaseUpdated", "message": "", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
                "relatedObjects": [{"group": "addon.open-cluster-management.io", "resource": "clustermanagementaddons", "name": "application-manager"}],
                "addOnMeta": {"displayName": "Application Manager"},
                "supportedConfigs": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs"}],
                "configReferences": [{"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs", "namespace": "cluster1", "name": "c1",
                    "lastObservedGeneration": 2, "desiredConfig": {"namespace": "cluster1", "name": "c1", "specHash": "e5"}, "lastAppliedConfig": null}],
                "namespace": "open-cluster-management-agent-addon",
                "registrations": [{"signerName": "kubernetes.io/kube-apiserver-client", "subject": {
                    "user": "system:open-cluster-management:cluster:cluster1:addon:application-manager:agent:agent1",
                    "groups": ["system:open-cluster-management:cluster:cluster1:addon:application-manager"], "organizationUnit": ["ocm"]}}],
                "healthCheck": {"mode": "Customized"},
                "kubeClientDriver": "csr"
            }
        }));
        let status = addon.status.unwrap_or_default();
        assert_eq!(status.kube_client_driver, Some(KubeClientDriver::Csr));
        assert_eq!(status.config_references[0].last_observed_generation, 2);
    }

    #[test]
    fn add_on_deployment_config_crd_and_round_trip() {
        let crd = crd("AddOnDeploymentConfig");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert!(!has_status_subresource(&crd));
        assert!(root(&crd)["properties"].get("status").is_none());
        assert_eq!(
            node(&crd, "spec.agentInstallNamespace")["default"],
            DEFAULT_ADDON_INSTALL_NAMESPACE
        );
        assert_eq!(
            node(&crd, "spec.customizedVariables")["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            node(&crd, "spec.customizedVariables[].name")["maxLength"],
            255
        );
        assert_eq!(node(&crd, "spec.proxyConfig.caBundle")["format"], "byte");
        assert_eq!(
            node(&crd, "spec.resourceRequirements")["x-kubernetes-list-map-keys"],
            json!(["containerID"])
        );
        assert_eq!(
            node(&crd, "spec.resourceRequirements[].resources.limits")["additionalProperties"]["x-kubernetes-int-or-string"],
            true
        );
        assert_eq!(
            node(&crd, "spec.nodePlacement.tolerations[].tolerationSeconds")["format"],
            "int64"
        );
        let config: AddOnDeploymentConfig = round_trip(json!({
            "apiVersion": "addon.open-cluster-management.io/v1alpha1",
            "kind": "AddOnDeploymentConfig",
            "metadata": {"name": "tuned", "namespace": "apps"},
            "spec": {
                "customizedVariables": [{"name": "LOG_LEVEL", "value": "4"}],
                "nodePlacement": {"nodeSelector": {"node-role.kubernetes.io/infra": ""},
                    "tolerations": [{"key": "node-role.kubernetes.io/infra", "operator": "Exists", "effect": "NoSchedule"}]},
                "registries": [{"mirror": "quay.example.com/ocm", "source": "quay.io/open-cluster-management"}],
                "proxyConfig": {"httpProxy": "http://proxy:3128", "httpsProxy": "https://proxy:3129", "caBundle": "LS0tLS1CRUdJTg==", "noProxy": "10.0.0.0/8"},
                "agentInstallNamespace": "addons",
                "resourceRequirements": [{"containerID": "deployments:*:*", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}}]
            }
        }));
        let reqs = &config.spec.resource_requirements[0].resources;
        assert_eq!(
            reqs.requests
                .as_ref()
                .and_then(|r| r.get("cpu"))
                .map(|q| q.0.as_str()),
            Some("100m")
        );
    }

    #[test]
    fn add_on_template_crd_and_round_trip() {
        let crd = crd("AddOnTemplate");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert!(!has_status_subresource(&crd));
        assert_eq!(crd["spec"]["versions"][0]["subresources"], json!({}));
        assert_eq!(
            columns(&crd)[0],
            (
                "ADDON NAME".into(),
                "string".into(),
                ".spec.addonName".into()
            )
        );
        assert_eq!(
            node(&crd, "spec")["required"],
            json!(["addonName", "agentSpec"])
        );
        let manifest = node(&crd, "spec.agentSpec.workload.manifests[]");
        assert_eq!(manifest["x-kubernetes-embedded-resource"], true);
        assert_eq!(manifest["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            node(&crd, "spec.agentSpec.deleteOption.propagationPolicy")["default"],
            "Foreground"
        );
        assert_eq!(
            node(&crd, "spec.registration[].type")["enum"],
            json!(["KubeClient", "CustomSigner"])
        );
        let role_ref = node(
            &crd,
            "spec.registration[].kubeClient.hubPermissions[].singleNamespace.roleRef",
        );
        assert_eq!(role_ref["required"], json!(["apiGroup", "kind", "name"]));
        assert_eq!(role_ref["x-kubernetes-map-type"], "atomic");
        assert_eq!(
            node(&crd, "spec.registration[].customSigner")["required"],
            json!(["signerName", "signingCA"])
        );

        let template: AddOnTemplate = round_trip(json!({
            "apiVersion": "addon.open-cluster-management.io/v1alpha1",
            "kind": "AddOnTemplate",
            "metadata": {"name": "hello-template"},
            "spec": {
                "addonName": "hello",
                "agentSpec": {"workload": {"manifests": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "hello-agent", "namespace": "open-cluster-management-agent-addon"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}}}}]}},
                "registration": [
                    {"type": "KubeClient", "kubeClient": {"hubPermissions": [
                        {"type": "CurrentCluster", "currentCluster": {"clusterRoleName": "hello-agent"}},
                        {"type": "SingleNamespace", "singleNamespace": {"namespace": "hello", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hello"}}}
                    ]}},
                    {"type": "CustomSigner", "customSigner": {"signerName": "example.com/hello", "subject": {"user": "hello"}, "signingCA": {"name": "hello-ca", "namespace": "hello"}}}
                ]
            }
        }));
        assert_eq!(
            template.spec.registration[1].type_,
            RegistrationType::CustomSigner
        );
    }
}
