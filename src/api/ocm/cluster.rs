//! `cluster.open-cluster-management.io`: managed clusters, cluster sets and their bindings,
//! placements and their decisions, add-on placement scores and cluster claims.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    Condition, LabelSelector, LabelSelectorRequirement, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::schema::{self, NoDefault, Require, Tweaks, finalize};

/// The API group of this module's kinds.
pub const CLUSTER_GROUP: &str = "cluster.open-cluster-management.io";

/// Label putting a ManagedCluster into the cluster set it names.
pub const CLUSTER_SET_LABEL: &str = "cluster.open-cluster-management.io/clusterset";
/// Taint key set while a cluster's Available condition is False.
pub const TAINT_UNAVAILABLE: &str = "cluster.open-cluster-management.io/unavailable";
/// Taint key set while a cluster's Available condition is Unknown or missing.
pub const TAINT_UNREACHABLE: &str = "cluster.open-cluster-management.io/unreachable";
/// Label on a PlacementDecision naming its Placement.
pub const PLACEMENT_LABEL: &str = "cluster.open-cluster-management.io/placement";
/// Label on a PlacementDecision naming its decision group.
pub const DECISION_GROUP_NAME_LABEL: &str =
    "cluster.open-cluster-management.io/decision-group-name";
/// Label on a PlacementDecision giving its decision group index.
pub const DECISION_GROUP_INDEX_LABEL: &str =
    "cluster.open-cluster-management.io/decision-group-index";

/// The lease period of a ManagedCluster whose `spec.leaseDurationSeconds` is unset or 0.
pub const DEFAULT_LEASE_SECONDS: u64 = 60;

/// ManagedCluster condition types.
pub mod cluster_conditions {
    /// The hub accepted the cluster.
    pub const HUB_ACCEPTED: &str = "HubAcceptedManagedCluster";
    /// The hub denied the cluster (defined upstream, unused).
    pub const HUB_DENIED: &str = "HubDeniedManagedCluster";
    /// The agent has joined.
    pub const JOINED: &str = "ManagedClusterJoined";
    /// The agent keeps its lease fresh.
    pub const AVAILABLE: &str = "ManagedClusterConditionAvailable";
    /// Hub and agent clocks agree.
    pub const CLOCK_SYNCED: &str = "ManagedClusterConditionClockSynced";
    /// The cluster is being removed.
    pub const DELETING: &str = "Deleting";
    /// ManagedClusterSet: whether it selects no cluster.
    pub const CLUSTER_SET_EMPTY: &str = "ClusterSetEmpty";
    /// ManagedClusterSetBinding: whether the set exists.
    pub const BOUND: &str = "Bound";
    /// Placement: whether enough clusters were selected.
    pub const PLACEMENT_SATISFIED: &str = "PlacementSatisfied";
    /// Placement: whether the spec is usable.
    pub const PLACEMENT_MISCONFIGURED: &str = "PlacementMisconfigured";
}

// ---------------------------------------------------------------------------------------------
// ManagedCluster v1

/// The desired state of a ManagedCluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "A cluster registered with the hub. Its name is also the name of its namespace on the hub.",
    group = "cluster.open-cluster-management.io",
    version = "v1",
    kind = "ManagedCluster",
    status = "ManagedClusterStatus",
    shortname = "mcl",
    shortname = "mcls",
    derive = "PartialEq",
    printcolumn = r#"{"name": "Hub Accepted", "type": "boolean", "jsonPath": ".spec.hubAcceptsClient"}"#,
    printcolumn = r#"{"name": "Managed Cluster URLs", "type": "string", "jsonPath": ".spec.managedClusterClientConfigs[*].url"}"#,
    printcolumn = r#"{"name": "Joined", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ManagedClusterJoined\")].status"}"#,
    printcolumn = r#"{"name": "Available", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ManagedClusterConditionAvailable\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["hubAcceptsClient"]))]
pub struct ManagedClusterSpec {
    /// How the hub may reach the cluster's API server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_cluster_client_configs: Vec<ClientConfig>,
    /// Set by a hub admin to accept the cluster's agent.
    #[serde(default)]
    pub hub_accepts_client: bool,
    /// How often the agent renews its lease; the hub defaults it to 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 60))]
    pub lease_duration_seconds: Option<i32>,
    /// Taints keep placements away from the cluster unless tolerated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// The address of a managed cluster's API server.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// An https URL.
    pub url: String,
    /// PEM CA bundle to trust for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::bytes")]
    pub ca_bundle: Option<ByteString>,
}

/// A taint on a managed cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// The taint key, a qualified name.
    #[schemars(length(max = 316), regex(pattern = schema::QUALIFIED_NAME))]
    pub key: String,
    /// Optional value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub value: Option<String>,
    /// What the taint does to placements.
    pub effect: TaintEffect,
    /// When the taint was added; `null` until set.
    #[serde(default)]
    pub time_added: Option<Time>,
}

/// The effect of a taint on scheduling.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TaintEffect {
    // Not selected by new placements; existing selections are dropped.
    #[default]
    NoSelect,
    // Selected only when nothing else fits.
    PreferNoSelect,
    // Not newly selected; existing selections stay.
    NoSelectIfNew,
}

/// What the agent reports about a managed cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterStatus {
    /// Conditions such as `ManagedClusterJoined` and `ManagedClusterConditionAvailable`.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Total resources of the cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resources available for scheduling.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub allocatable: BTreeMap<String, Quantity>,
    /// Versions of the cluster's components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<ManagedClusterVersion>,
    /// Cluster claims synced from the managed cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_claims: Vec<ManagedClusterClaim>,
    /// Namespaces the cluster sets this cluster belongs to ask it to manage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["clusterSet", "name"]))]
    pub managed_namespaces: Vec<ClusterSetManagedNamespaceConfig>,
}

/// Versions of a managed cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterVersion {
    /// The Kubernetes version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
}

/// One cluster claim as reported in ManagedCluster status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterClaim {
    /// The claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// The claim value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub value: Option<String>,
}

/// A namespace a cluster set asks its member clusters to manage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedNamespaceConfig {
    /// The namespace name.
    #[schemars(length(max = 63), regex(pattern = schema::DNS_LABEL))]
    pub name: String,
}

/// A managed namespace as seen by one cluster, with the set that asked for it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSetManagedNamespaceConfig {
    /// The namespace name.
    #[schemars(length(max = 63), regex(pattern = schema::DNS_LABEL))]
    pub name: String,
    /// The cluster set that asked for the namespace.
    pub cluster_set: String,
    /// State of the namespace on the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
}

// ---------------------------------------------------------------------------------------------
// ManagedClusterSet v1beta2

/// The desired state of a ManagedClusterSet.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "A group of managed clusters, selected by label or by the cluster-set label.",
    group = "cluster.open-cluster-management.io",
    version = "v1beta2",
    kind = "ManagedClusterSet",
    status = "ManagedClusterSetStatus",
    shortname = "mclset",
    shortname = "mclsets",
    derive = "PartialEq",
    printcolumn = r#"{"name": "Empty", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ClusterSetEmpty\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterSetSpec {
    /// How member clusters are chosen; defaults to the exclusive cluster-set label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"selectorType": "ExclusiveClusterSetLabel"}))]
    pub cluster_selector: Option<ManagedClusterSelector>,
    /// Namespaces every member cluster should manage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub managed_namespaces: Vec<ManagedNamespaceConfig>,
}

/// How a cluster set selects its clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["selectorType"]))]
pub struct ManagedClusterSelector {
    /// Which selection mechanism applies.
    #[serde(default)]
    pub selector_type: SelectorType,
    /// Used when `selectorType` is `LabelSelector`; empty selects every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::label_selector")]
    pub label_selector: Option<LabelSelector>,
}

/// Cluster set membership mechanism.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SelectorType {
    // Clusters labelled `cluster.open-cluster-management.io/clusterset=<set>`.
    #[default]
    ExclusiveClusterSetLabel,
    // Clusters matching `labelSelector`.
    LabelSelector,
}

/// Observed state of a cluster set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterSetStatus {
    /// Conditions, e.g. `ClusterSetEmpty`.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "schema::conditions_plain")]
    pub conditions: Vec<Condition>,
}

// ---------------------------------------------------------------------------------------------
// ManagedClusterSetBinding v1beta2

/// The desired state of a ManagedClusterSetBinding.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Makes a cluster set usable by placements in the binding's namespace.",
    group = "cluster.open-cluster-management.io",
    version = "v1beta2",
    kind = "ManagedClusterSetBinding",
    namespaced,
    status = "ManagedClusterSetBindingStatus",
    shortname = "mclsetbinding",
    shortname = "mclsetbindings",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["clusterSet"]))]
pub struct ManagedClusterSetBindingSpec {
    /// The bound set; must equal the binding's name.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cluster_set: String,
}

/// Observed state of a binding.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterSetBindingStatus {
    /// Conditions, e.g. `Bound`.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "schema::conditions_plain")]
    pub conditions: Vec<Condition>,
}

// ---------------------------------------------------------------------------------------------
// Placement v1beta1

/// The desired state of a Placement.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Selects managed clusters from the cluster sets bound to its namespace.",
    group = "cluster.open-cluster-management.io",
    version = "v1beta1",
    kind = "Placement",
    namespaced,
    status = "PlacementStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name": "Succeeded", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"PlacementSatisfied\")].status"}"#,
    printcolumn = r#"{"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"PlacementSatisfied\")].reason"}"#,
    printcolumn = r#"{"name": "SelectedClusters", "type": "integer", "jsonPath": ".status.numberOfSelectedClusters"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// Cluster sets to select from; empty means every bound set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_sets: Vec<String>,
    /// How many clusters to select; unset selects all that match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_clusters: Option<i32>,
    /// Alternatives (ORed) a cluster must satisfy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicates: Vec<ClusterPredicate>,
    /// How clusters are scored when more match than needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prioritizer_policy: Option<PrioritizerPolicy>,
    /// How selected clusters spread over topologies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_policy: Option<SpreadPolicy>,
    /// Taints this placement tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// How decisions are split into groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_strategy: Option<DecisionStrategy>,
    /// Order of clusters across decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ClusterName"))]
    pub sort_by: Option<PlacementSortBy>,
    /// Least time between re-schedules caused by score changes, e.g. `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "1m"), regex(pattern = r"^[0-9]+[hms]$"))]
    pub score_rate_limit: Option<String>,
}

/// Cluster ordering across placement decisions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PlacementSortBy {
    // By name.
    #[default]
    ClusterName,
    // By descending score.
    Score,
}

/// One way a cluster can qualify.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPredicate {
    /// Selectors that must all match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_cluster_selector: Option<ClusterSelector>,
}

/// Label, claim and CEL selectors, ANDed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSelector {
    /// Selects by cluster labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::label_selector")]
    pub label_selector: Option<LabelSelector>,
    /// Selects by cluster claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_selector: Option<ClusterClaimSelector>,
    /// Selects by CEL expressions over the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel_selector: Option<ClusterCelSelector>,
}

/// Requirements on cluster claims.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterClaimSelector {
    /// Requirements that are ANDed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::claim_requirements")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// CEL expressions a cluster must all satisfy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCelSelector {
    /// The expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cel_expressions: Vec<String>,
}

/// Scoring of clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrioritizerPolicy {
    /// `Additive` (default prioritizers plus `configurations`) or `Exact` (only those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Additive"))]
    pub mode: Option<String>,
    /// Prioritizers and their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<PrioritizerConfig>,
}

/// One prioritizer and its weight.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["scoreCoordinate"]))]
pub struct PrioritizerConfig {
    /// Which score to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_coordinate: Option<ScoreCoordinate>,
    /// Weight from -10 to 10; 0 disables the prioritizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1), range(min = -10, max = 10))]
    pub weight: Option<i32>,
}

/// Names a built-in prioritizer or an add-on score.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["type"]))]
pub struct ScoreCoordinate {
    /// `BuiltIn` or `AddOn`.
    #[serde(default, rename = "type")]
    pub type_: ScoreCoordinateType,
    /// Built-in prioritizer: Balance, Steady, ResourceAllocatableCPU or ResourceAllocatableMemory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_in: Option<String>,
    /// The AddOnPlacementScore to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on: Option<AddOnScore>,
}

/// Kind of score coordinate.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ScoreCoordinateType {
    // A prioritizer built into the scheduler.
    #[default]
    BuiltIn,
    // A score published by an add-on.
    AddOn,
}

/// A score in an AddOnPlacementScore.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnScore {
    /// The AddOnPlacementScore name.
    pub resource_name: String,
    /// The score's name within it.
    pub score_name: String,
}

/// Spread of selected clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpreadPolicy {
    /// Up to eight spread constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub spread_constraints: Vec<SpreadConstraintsTerm>,
}

/// One spread constraint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpreadConstraintsTerm {
    /// A label or claim key defining the topology.
    #[schemars(
        length(max = 316),
        regex(
            pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
        )
    )]
    pub topology_key: String,
    /// Whether `topologyKey` is a label or a claim.
    pub topology_key_type: TopologyKeyType,
    /// Largest allowed difference between topologies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1), range(min = 1))]
    pub max_skew: Option<i32>,
    /// What to do when `maxSkew` cannot be met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ScheduleAnyway"))]
    pub when_unsatisfiable: Option<UnsatisfiableMaxSkewAction>,
}

/// Source of a topology key.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TopologyKeyType {
    // A cluster label.
    #[default]
    Label,
    // A cluster claim.
    Claim,
}

/// Reaction to an unsatisfiable spread constraint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UnsatisfiableMaxSkewAction {
    // Select fewer clusters.
    DoNotSchedule,
    // Select anyway, preferring less skew.
    #[default]
    ScheduleAnyway,
}

/// Tolerates a matching taint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// Taint key; empty with `Exists` matches every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 316), regex(pattern = schema::QUALIFIED_NAME))]
    pub key: Option<String>,
    /// `Exists` or `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Equal"))]
    pub operator: Option<String>,
    /// Taint value to match with `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub value: Option<String>,
    /// Taint effect to match; empty matches every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// How long a NoSelect taint is tolerated after it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// How decisions are divided.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionStrategy {
    /// Decision group settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_strategy: Option<GroupStrategy>,
}

/// Decision groups and their size.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStrategy {
    /// Named groups chosen by selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decision_groups: Vec<DecisionGroup>,
    /// Size of each group: a count or a percentage of the selected clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::int_or_string",
        extend("default" = "100%", "pattern" = "^((100|[1-9][0-9]{0,1})%|[1-9][0-9]*)$")
    )]
    pub clusters_per_decision_group: Option<IntOrString>,
}

/// A named group of decisions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionGroup {
    /// The group name.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][-A-Za-z0-9_.]{0,61}[a-zA-Z0-9]$"))]
    pub group_name: String,
    /// Clusters of the group.
    pub group_cluster_selector: GroupClusterSelector,
}

/// Label and claim selectors of a decision group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupClusterSelector {
    /// Selects by cluster labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::label_selector")]
    pub label_selector: Option<LabelSelector>,
    /// Selects by cluster claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_selector: Option<ClusterClaimSelector>,
}

/// Scheduling result of a placement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStatus {
    /// How many clusters are selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_selected_clusters: Option<i32>,
    /// The decision groups.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub decision_groups: Vec<DecisionGroupStatus>,
    /// Conditions, e.g. `PlacementSatisfied`.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// When add-on scores were last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_score_update_time: Option<Time>,
}

/// One decision group in placement status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionGroupStatus {
    /// Index of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_group_index: Option<i32>,
    /// Name of the group, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_group_name: Option<String>,
    /// Names of the PlacementDecisions of the group.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub decisions: Vec<String>,
    /// Clusters in the group.
    #[serde(
        default,
        rename = "clusterCount",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = 0))]
    pub clusters_count: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// PlacementDecision v1beta1

/// Empty: a PlacementDecision has no spec, only status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Clusters chosen by a placement (at most 100 per object); it has status only.",
    group = "cluster.open-cluster-management.io",
    version = "v1beta1",
    kind = "PlacementDecision",
    namespaced,
    no_spec,
    status = "PlacementDecisionStatus",
    derive = "PartialEq"
)]
pub struct PlacementDecisionSpec {}

/// The chosen clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["decisions"]), transform = NoDefault(&["decisions"]))]
pub struct PlacementDecisionStatus {
    /// One entry per chosen cluster.
    #[serde(default, deserialize_with = "schema::null_as_default")]
    pub decisions: Vec<ClusterDecision>,
}

/// One chosen cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDecision {
    /// The managed cluster name.
    pub cluster_name: String,
    /// Why it was chosen.
    pub reason: String,
    /// The cluster's score, when scores were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// AddOnPlacementScore v1alpha1

/// Empty: an AddOnPlacementScore has no spec, only status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Scores an add-on publishes for its cluster; it has status only.",
    group = "cluster.open-cluster-management.io",
    version = "v1alpha1",
    kind = "AddOnPlacementScore",
    namespaced,
    no_spec,
    status = "AddOnPlacementScoreStatus",
    derive = "PartialEq"
)]
pub struct AddOnPlacementScoreSpec {}

/// The scores.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnPlacementScoreStatus {
    /// State of the scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Named scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub scores: Vec<AddOnPlacementScoreItem>,
    /// When the scores go stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Time>,
}

/// One named score.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnPlacementScoreItem {
    /// The score name.
    pub name: String,
    /// The score, -100 to 100.
    #[schemars(range(min = -100, max = 100))]
    pub value: i32,
}

// ---------------------------------------------------------------------------------------------
// ClusterClaim v1alpha1

/// The desired state of a ClusterClaim.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "A fact about a managed cluster, created on that cluster and synced to the hub.",
    group = "cluster.open-cluster-management.io",
    version = "v1alpha1",
    kind = "ClusterClaim",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterClaimSpec {
    /// The claimed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub value: Option<String>,
}

fn managed_cluster_set_patch(root: &mut Value) {
    if let Some(Value::Object(spec)) = root.pointer_mut("/properties/spec") {
        spec.insert(
            "default".into(),
            json!({"clusterSelector": {"selectorType": "ExclusiveClusterSetLabel"}}),
        );
    }
}

/// The CRDs of this group.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        finalize(
            ManagedCluster::crd(),
            &Tweaks {
                nullable: &["spec.taints[].timeAdded"],
                ..Tweaks::default()
            },
        ),
        finalize(
            ManagedClusterSet::crd(),
            &Tweaks {
                patch: Some(managed_cluster_set_patch),
                ..Tweaks::default()
            },
        ),
        finalize(ManagedClusterSetBinding::crd(), &Tweaks::default()),
        finalize(
            Placement::crd(),
            &Tweaks {
                spec_required: true,
                ..Tweaks::default()
            },
        ),
        finalize(PlacementDecision::crd(), &Tweaks::default()),
        finalize(AddOnPlacementScore::crd(), &Tweaks::default()),
        finalize(ClusterClaim::crd(), &Tweaks::default()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Rollout strategy (cluster.open-cluster-management.io/v1alpha1, used by work and add-on kinds)

/// How a change is rolled out over the clusters of a placement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// `All`, `Progressive` or `ProgressivePerGroup`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "All"))]
    pub type_: Option<RolloutType>,
    /// Settings for `All`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<RolloutAll>,
    /// Settings for `Progressive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressive: Option<RolloutProgressive>,
    /// Settings for `ProgressivePerGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressive_per_group: Option<RolloutProgressivePerGroup>,
}

/// Rollout type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RolloutType {
    // Every cluster at once.
    #[default]
    All,
    // A bounded number of clusters at a time.
    Progressive,
    // One decision group at a time.
    ProgressivePerGroup,
}

/// Rollout to all clusters at once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAll {
    /// How long a cluster must stay successful before it counts (a duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "0"))]
    pub min_success_time: Option<String>,
    /// How long to wait for a cluster before it counts as failed (`None`, or e.g. `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "None"), regex(pattern = r"^(([0-9])+[h|m|s])|None$"))]
    pub progress_deadline: Option<String>,
    /// Failures (count or percentage) tolerated before the rollout stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::int_or_string",
        extend("default" = 0, "pattern" = "^((100|[0-9]{1,2})%|[0-9]+)$")
    )]
    pub max_failures: Option<IntOrString>,
}

/// Progressive rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgressive {
    /// How long a cluster must stay successful before it counts (a duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "0"))]
    pub min_success_time: Option<String>,
    /// How long to wait for a cluster before it counts as failed (`None`, or e.g. `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "None"), regex(pattern = r"^(([0-9])+[h|m|s])|None$"))]
    pub progress_deadline: Option<String>,
    /// Failures (count or percentage) tolerated before the rollout stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::int_or_string",
        extend("default" = 0, "pattern" = "^((100|[0-9]{1,2})%|[0-9]+)$")
    )]
    pub max_failures: Option<IntOrString>,
    /// Groups that must be rolled out first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mandatory_decision_groups: Vec<MandatoryDecisionGroup>,
    /// Clusters (count or percentage) updated at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::int_or_string",
        extend("pattern" = "^((100|[0-9]{1,2})%|[0-9]+)$")
    )]
    pub max_concurrency: Option<IntOrString>,
}

/// Rollout one decision group at a time.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgressivePerGroup {
    /// How long a cluster must stay successful before it counts (a duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "0"))]
    pub min_success_time: Option<String>,
    /// How long to wait for a cluster before it counts as failed (`None`, or e.g. `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "None"), regex(pattern = r"^(([0-9])+[h|m|s])|None$"))]
    pub progress_deadline: Option<String>,
    /// Failures (count or percentage) tolerated before the rollout stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::int_or_string",
        extend("default" = 0, "pattern" = "^((100|[0-9]{1,2})%|[0-9]+)$")
    )]
    pub max_failures: Option<IntOrString>,
    /// Groups that must be rolled out first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mandatory_decision_groups: Vec<MandatoryDecisionGroup>,
}

/// A decision group named or indexed for a rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MandatoryDecisionGroup {
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Group index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_index: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::schema::testutil::{
        columns, crd, has_status_subresource, node, root, round_trip,
    };

    #[test]
    fn managed_cluster_crd() {
        let crd = crd("ManagedCluster");
        assert_eq!(
            crd["metadata"]["name"],
            "managedclusters.cluster.open-cluster-management.io"
        );
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["mcl", "mcls"]));
        assert_eq!(crd["spec"]["names"]["listKind"], "ManagedClusterList");
        assert_eq!(crd["spec"]["names"]["singular"], "managedcluster");
        assert_eq!(crd["spec"]["preserveUnknownFields"], false);
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1");
        assert!(has_status_subresource(&crd));
        let cols = columns(&crd);
        let names: Vec<_> = cols.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "Hub Accepted",
                "Managed Cluster URLs",
                "Joined",
                "Available",
                "Age"
            ]
        );
        assert_eq!(cols[0].1, "boolean");
        assert_eq!(
            cols[3].2,
            r#".status.conditions[?(@.type=="ManagedClusterConditionAvailable")].status"#
        );
        assert_eq!(
            cols[4],
            (
                "Age".into(),
                "date".into(),
                ".metadata.creationTimestamp".into()
            )
        );

        assert!(
            root(&crd).get("required").is_none(),
            "spec is optional upstream"
        );
        assert_eq!(node(&crd, "spec.leaseDurationSeconds")["default"], 60);
        assert_eq!(node(&crd, "spec.leaseDurationSeconds")["format"], "int32");
        assert!(node(&crd, "spec.hubAcceptsClient").get("default").is_none());
        assert_eq!(
            node(&crd, "spec.managedClusterClientConfigs[].caBundle")["format"],
            "byte"
        );
        assert_eq!(
            node(&crd, "spec.managedClusterClientConfigs[]")["required"],
            json!(["url"])
        );
        let taint = node(&crd, "spec.taints[]");
        assert_eq!(taint["required"], json!(["effect", "key"]));
        assert_eq!(
            node(&crd, "spec.taints[].effect")["enum"],
            json!(["NoSelect", "PreferNoSelect", "NoSelectIfNew"])
        );
        assert_eq!(node(&crd, "spec.taints[].key")["maxLength"], 316);
        assert_eq!(node(&crd, "spec.taints[].timeAdded")["nullable"], true);
        assert!(node(&crd, "spec.taints[].value").get("nullable").is_none());

        let conditions = node(&crd, "status.conditions");
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        assert_eq!(
            node(&crd, "status.conditions[].status")["enum"],
            json!(["True", "False", "Unknown"])
        );
        assert_eq!(node(&crd, "status.conditions[].reason")["maxLength"], 1024);
        let capacity = &node(&crd, "status.capacity")["additionalProperties"];
        assert_eq!(capacity["x-kubernetes-int-or-string"], true);
        assert_eq!(
            capacity["anyOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(node(&crd, "status.clusterClaims[].name")["maxLength"], 253);
        assert_eq!(
            node(&crd, "status.managedNamespaces")["x-kubernetes-list-map-keys"],
            json!(["clusterSet", "name"])
        );
        assert_eq!(
            node(&crd, "status.managedNamespaces[]")["required"],
            json!(["clusterSet", "name"])
        );
    }

    #[test]
    fn managed_cluster_round_trip() {
        let cluster: ManagedCluster = round_trip(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1",
            "kind": "ManagedCluster",
            "metadata": {
                "name": "cluster1",
                "labels": {"cluster.open-cluster-management.io/clusterset": "default"},
                "finalizers": ["cluster.open-cluster-management.io/api-resource-cleanup"]
            },
            "spec": {
                "managedClusterClientConfigs": [{"url": "https://10.0.0.1:6443", "caBundle": "LS0tLS1CRUdJTg=="}],
                "hubAcceptsClient": true,
                "leaseDurationSeconds": 60,
                "taints": [
                    {"key": TAINT_UNREACHABLE, "effect": "NoSelect", "timeAdded": "2024-05-01T10:00:00Z"},
                    {"key": "example.com/gpu", "value": "none", "effect": "PreferNoSelect", "timeAdded": null}
                ]
            },
            "status": {
                "conditions": [{
                    "type": "ManagedClusterJoined",
                    "status": "True",
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                    "reason": "ManagedClusterJoined",
                    "message": "Managed cluster joined",
                    "observedGeneration": 2
                }],
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "allocatable": {"cpu": "7500m", "memory": "30Gi"},
                "version": {"kubernetes": "v1.30.2"},
                "clusterClaims": [
                    {"name": "id.k8s.io", "value": "6c9b3c3e"},
                    {"name": "platform.open-cluster-management.io", "value": "Other"}
                ],
                "managedNamespaces": [{"name": "apps", "clusterSet": "default"}]
            }
        }));
        assert!(cluster.spec.hub_accepts_client);
        assert_eq!(cluster.spec.taints[1].effect, TaintEffect::PreferNoSelect);
        assert!(cluster.spec.taints[1].time_added.is_none());
        let status = cluster.status.unwrap_or_default();
        assert_eq!(status.capacity["memory"].0, "32Gi");
        assert_eq!(status.conditions[0].type_, cluster_conditions::JOINED);

        // Go emits `"conditions": null` for a nil slice.
        let nulls: ManagedClusterStatus =
            serde_json::from_value(json!({"conditions": null})).expect("null conditions");
        assert!(nulls.conditions.is_empty());
    }

    #[test]
    fn managed_cluster_set_crd_and_round_trip() {
        let crd = crd("ManagedClusterSet");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1beta2");
        assert_eq!(
            crd["spec"]["names"]["shortNames"],
            json!(["mclset", "mclsets"])
        );
        assert!(has_status_subresource(&crd));
        assert_eq!(columns(&crd)[0].0, "Empty");
        let spec_default = json!({"clusterSelector": {"selectorType": "ExclusiveClusterSetLabel"}});
        assert_eq!(node(&crd, "spec")["default"], spec_default);
        assert_eq!(
            node(&crd, "spec.clusterSelector")["default"],
            spec_default["clusterSelector"]
        );
        assert_eq!(
            node(&crd, "spec.clusterSelector")["required"],
            json!(["selectorType"])
        );
        let selector_type = node(&crd, "spec.clusterSelector.selectorType");
        assert_eq!(selector_type["default"], "ExclusiveClusterSetLabel");
        assert_eq!(
            selector_type["enum"],
            json!(["ExclusiveClusterSetLabel", "LabelSelector"])
        );
        let label_selector = node(&crd, "spec.clusterSelector.labelSelector");
        assert_eq!(label_selector["x-kubernetes-map-type"], "atomic");
        assert_eq!(
            node(&crd, "spec.clusterSelector.labelSelector.matchExpressions")["x-kubernetes-list-type"],
            "atomic"
        );
        assert!(
            node(&crd, "status.conditions")
                .get("x-kubernetes-list-type")
                .is_none()
        );

        let set: ManagedClusterSet = round_trip(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1beta2",
            "kind": "ManagedClusterSet",
            "metadata": {"name": "prod"},
            "spec": {
                "clusterSelector": {
                    "selectorType": "LabelSelector",
                    "labelSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}
                },
                "managedNamespaces": [{"name": "apps"}]
            },
            "status": {"conditions": [{
                "type": "ClusterSetEmpty", "status": "False", "reason": "ClustersSelected",
                "message": "2 ManagedClusters selected", "lastTransitionTime": "2024-05-01T10:00:00Z"
            }]}
        }));
        assert_eq!(
            set.spec.cluster_selector.map(|s| s.selector_type),
            Some(SelectorType::LabelSelector)
        );

        // A selector without a type deserializes to the schema default.
        let selector: ManagedClusterSelector =
            serde_json::from_value(json!({})).expect("empty selector");
        assert_eq!(
            selector.selector_type,
            SelectorType::ExclusiveClusterSetLabel
        );
    }

    #[test]
    fn managed_cluster_set_binding_crd_and_round_trip() {
        let crd = crd("ManagedClusterSetBinding");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(
            crd["spec"]["names"]["shortNames"],
            json!(["mclsetbinding", "mclsetbindings"])
        );
        assert!(has_status_subresource(&crd));
        assert_eq!(node(&crd, "spec.clusterSet")["minLength"], 1);
        assert!(node(&crd, "spec").get("required").is_none());
        assert!(columns(&crd).is_empty());
        round_trip::<ManagedClusterSetBinding>(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1beta2",
            "kind": "ManagedClusterSetBinding",
            "metadata": {"name": "prod", "namespace": "apps"},
            "spec": {"clusterSet": "prod"},
            "status": {"conditions": [{
                "type": "Bound", "status": "True", "reason": "ClusterSetBound",
                "message": "", "lastTransitionTime": "2024-05-01T10:00:00Z"
            }]}
        }));
    }

    #[test]
    fn placement_crd() {
        let crd = crd("Placement");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1beta1");
        assert!(crd["spec"]["names"].get("shortNames").is_none());
        assert!(has_status_subresource(&crd));
        assert_eq!(root(&crd)["required"], json!(["spec"]));
        let cols = columns(&crd);
        assert_eq!(
            cols.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["Succeeded", "Reason", "SelectedClusters"]
        );
        assert_eq!(cols[2].1, "integer");

        assert_eq!(
            node(&crd, "spec.prioritizerPolicy.mode")["default"],
            "Additive"
        );
        let weight = node(&crd, "spec.prioritizerPolicy.configurations[].weight");
        assert_eq!(
            (
                weight["default"].as_f64(),
                weight["minimum"].as_f64(),
                weight["maximum"].as_f64()
            ),
            (Some(1.0), Some(-10.0), Some(10.0))
        );
        assert_eq!(
            node(&crd, "spec.prioritizerPolicy.configurations[]")["required"],
            json!(["scoreCoordinate"])
        );
        let coordinate = node(
            &crd,
            "spec.prioritizerPolicy.configurations[].scoreCoordinate",
        );
        assert_eq!(coordinate["required"], json!(["type"]));
        assert_eq!(coordinate["properties"]["type"]["default"], "BuiltIn");
        assert_eq!(
            coordinate["properties"]["type"]["enum"],
            json!(["BuiltIn", "AddOn"])
        );
        assert_eq!(
            node(&crd, "spec.tolerations[].operator")["default"],
            "Equal"
        );
        let per_group = node(
            &crd,
            "spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup",
        );
        assert_eq!(per_group["default"], "100%");
        assert_eq!(per_group["x-kubernetes-int-or-string"], true);
        assert_eq!(
            per_group["pattern"],
            "^((100|[1-9][0-9]{0,1})%|[1-9][0-9]*)$"
        );
        assert_eq!(
            node(&crd, "spec.spreadPolicy.spreadConstraints")["maxItems"],
            8
        );
        assert_eq!(
            node(&crd, "spec.spreadPolicy.spreadConstraints[].maxSkew")["default"],
            1
        );
        assert_eq!(
            node(
                &crd,
                "spec.spreadPolicy.spreadConstraints[].whenUnsatisfiable"
            )["default"],
            "ScheduleAnyway"
        );
        assert_eq!(
            node(&crd, "spec.sortBy")["enum"],
            json!(["ClusterName", "Score"])
        );
        assert_eq!(node(&crd, "spec.scoreRateLimit")["default"], "1m");
        let claims = node(
            &crd,
            "spec.predicates[].requiredClusterSelector.claimSelector.matchExpressions",
        );
        assert!(claims.get("x-kubernetes-list-type").is_none());
        assert_eq!(
            claims["items"]["properties"]["values"]["x-kubernetes-list-type"],
            "atomic"
        );
        assert_eq!(
            node(&crd, "status.decisionGroups[].clusterCount")["default"],
            0
        );
        assert_eq!(
            node(&crd, "status.conditions")["x-kubernetes-list-type"],
            "map"
        );
    }

    #[test]
    fn placement_round_trip() {
        let placement: Placement = round_trip(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "Placement",
            "metadata": {"name": "web", "namespace": "apps", "generation": 3},
            "spec": {
                "clusterSets": ["prod"],
                "numberOfClusters": 3,
                "predicates": [{"requiredClusterSelector": {
                    "labelSelector": {"matchLabels": {"region": "eu"}},
                    "claimSelector": {"matchExpressions": [{"key": "platform.open-cluster-management.io", "operator": "In", "values": ["AWS"]}]},
                    "celSelector": {"celExpressions": ["managedCluster.metadata.labels[\"env\"] == \"prod\""]}
                }}],
                "prioritizerPolicy": {"mode": "Exact", "configurations": [
                    {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "ResourceAllocatableMemory"}, "weight": 2},
                    {"scoreCoordinate": {"type": "AddOn", "addOn": {"resourceName": "default", "scoreName": "cpuratio"}}, "weight": -1}
                ]},
                "spreadPolicy": {"spreadConstraints": [{"topologyKey": "zone", "topologyKeyType": "Label", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]},
                "tolerations": [{"key": TAINT_UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300}],
                "decisionStrategy": {"groupStrategy": {
                    "clustersPerDecisionGroup": "25%",
                    "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"labelSelector": {"matchLabels": {"canary": "true"}}}}]
                }},
                "sortBy": "Score",
                "scoreRateLimit": "30s"
            },
            "status": {
                "numberOfSelectedClusters": 3,
                "decisionGroups": [{"decisionGroupIndex": 0, "decisionGroupName": "canary", "decisions": ["web-decision-1"], "clusterCount": 1}],
                "conditions": [{
                    "type": "PlacementSatisfied", "status": "True", "reason": "AllDecisionsScheduled",
                    "message": "All cluster decisions scheduled", "lastTransitionTime": "2024-05-01T10:00:00Z", "observedGeneration": 3
                }],
                "lastScoreUpdateTime": "2024-05-01T10:00:00Z"
            }
        }));
        let strategy = placement
            .spec
            .decision_strategy
            .and_then(|d| d.group_strategy);
        assert_eq!(
            strategy.and_then(|g| g.clusters_per_decision_group),
            Some(IntOrString::String("25%".into()))
        );
        let configs = placement
            .spec
            .prioritizer_policy
            .map(|p| p.configurations)
            .unwrap_or_default();
        assert_eq!(
            configs[1].score_coordinate.as_ref().map(|c| c.type_),
            Some(ScoreCoordinateType::AddOn)
        );

        let count: GroupStrategy =
            serde_json::from_value(json!({"clustersPerDecisionGroup": 10})).expect("integer form");
        assert_eq!(
            count.clusters_per_decision_group,
            Some(IntOrString::Int(10))
        );
    }

    #[test]
    fn placement_decision_crd_and_round_trip() {
        let crd = crd("PlacementDecision");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert!(has_status_subresource(&crd));
        assert!(
            root(&crd)["properties"].get("spec").is_none(),
            "no spec upstream"
        );
        assert!(root(&crd).get("required").is_none());
        assert_eq!(node(&crd, "status")["required"], json!(["decisions"]));
        assert!(node(&crd, "status.decisions").get("default").is_none());
        assert_eq!(
            node(&crd, "status.decisions[]")["required"],
            json!(["clusterName", "reason"])
        );
        assert_eq!(node(&crd, "status.decisions[].score")["format"], "int64");
        let decision: PlacementDecision = round_trip(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "PlacementDecision",
            "metadata": {"name": "web-decision-1", "namespace": "apps", "labels": {
                PLACEMENT_LABEL: "web", DECISION_GROUP_INDEX_LABEL: "0", DECISION_GROUP_NAME_LABEL: "canary"
            }},
            "status": {"decisions": [{"clusterName": "cluster1", "reason": ""}, {"clusterName": "cluster2", "reason": "", "score": 87}]}
        }));
        assert_eq!(decision.status.map(|s| s.decisions.len()), Some(2));
    }

    #[test]
    fn add_on_placement_score_crd_and_round_trip() {
        let crd = crd("AddOnPlacementScore");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
        assert!(has_status_subresource(&crd));
        assert!(root(&crd)["properties"].get("spec").is_none());
        let value = node(&crd, "status.scores[].value");
        assert_eq!(
            (value["minimum"].as_f64(), value["maximum"].as_f64()),
            (Some(-100.0), Some(100.0))
        );
        assert_eq!(
            node(&crd, "status.scores")["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        round_trip::<AddOnPlacementScore>(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1alpha1",
            "kind": "AddOnPlacementScore",
            "metadata": {"name": "default", "namespace": "cluster1"},
            "status": {
                "conditions": [{"type": "AddOnPlacementScoreUpdated", "status": "True", "reason": "Updated", "message": "", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
                "scores": [{"name": "cpuratio", "value": -20}, {"name": "memratio", "value": 75}],
                "validUntil": "2024-05-01T11:00:00Z"
            }
        }));
    }

    #[test]
    fn cluster_claim_crd_and_round_trip() {
        let crd = crd("ClusterClaim");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert!(!has_status_subresource(&crd));
        assert!(crd["spec"]["versions"][0].get("subresources").is_none());
        assert!(root(&crd)["properties"].get("status").is_none());
        let value = node(&crd, "spec.value");
        assert_eq!(
            (value["minLength"].as_u64(), value["maxLength"].as_u64()),
            (Some(1), Some(1024))
        );
        round_trip::<ClusterClaim>(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1alpha1",
            "kind": "ClusterClaim",
            "metadata": {"name": "id.k8s.io", "labels": {"open-cluster-management.io/spoke-only": "true"}},
            "spec": {"value": "6c9b3c3e-0d6a-4a59-9f4c-0e8e3f5c2f11"}
        }));
    }
}
