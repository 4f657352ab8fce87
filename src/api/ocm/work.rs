//! `work.open-cluster-management.io`: ManifestWork (manifests the hub asks an agent to
//! apply), AppliedManifestWork (the agent's record of what it applied) and
//! ManifestWorkReplicaSet (one ManifestWork per cluster of a placement).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::cluster::RolloutStrategy;
use super::schema::{self, NoDefault, Require, Tweaks, finalize};

/// The API group of this module's kinds.
pub const WORK_GROUP: &str = "work.open-cluster-management.io";

/// ManifestWork, manifest and ManifestWorkReplicaSet condition types and reasons.
pub mod work_conditions {
    /// The work or manifest is being applied.
    pub const PROGRESSING: &str = "Progressing";
    /// The manifests were applied.
    pub const APPLIED: &str = "Applied";
    /// The applied resources exist.
    pub const AVAILABLE: &str = "Available";
    /// The resources are degraded.
    pub const DEGRADED: &str = "Degraded";
    /// The work is complete.
    pub const COMPLETE: &str = "Complete";
    /// Every manifest is complete.
    pub const MANIFESTS_COMPLETE: &str = "ManifestsComplete";
    /// ManifestWorkReplicaSet: the placements exist.
    pub const PLACEMENT_VERIFIED: &str = "PlacementVerified";
    /// ManifestWorkReplicaSet: the rollout over the placements finished.
    pub const PLACEMENT_ROLLED_OUT: &str = "PlacementRolledOut";
    /// ManifestWorkReplicaSet: the ManifestWorks were applied.
    pub const MANIFESTWORK_APPLIED: &str = "ManifestworkApplied";
}

// ---------------------------------------------------------------------------------------------
// ManifestWork v1

/// The desired state of a ManifestWork.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Kubernetes objects for the agent of the cluster whose namespace holds the work.",
    group = "work.open-cluster-management.io",
    version = "v1",
    kind = "ManifestWork",
    namespaced,
    status = "ManifestWorkStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkSpec {
    /// The manifests to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<ManifestsTemplate>,
    /// What happens to applied resources when the work is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
    /// Per-resource settings: feedback, update strategy, condition rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest_configs: Vec<ManifestConfigOption>,
    /// The identity the agent applies the manifests as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ManifestWorkExecutor>,
}

/// The manifests of a work.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestsTemplate {
    /// Whole Kubernetes objects, each with apiVersion and kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Manifest>,
}

/// One embedded Kubernetes object, kept verbatim (unknown fields included).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct Manifest(pub serde_json::Value);

impl JsonSchema for Manifest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Manifest".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        schema::embedded_resource(generator)
    }
}

/// Deletion behaviour of a work.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOption {
    /// `Foreground` deletes applied resources, `Orphan` keeps them all,
    /// `SelectivelyOrphan` keeps those listed.
    #[serde(default)]
    pub propagation_policy: DeletePropagationPolicyType,
    /// The resources kept with `SelectivelyOrphan`.
    #[serde(
        default,
        rename = "selectivelyOrphans",
        skip_serializing_if = "Option::is_none"
    )]
    pub selectively_orphan: Option<SelectivelyOrphan>,
    /// Delete the work this many seconds after it is Complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// Deletion propagation of a work.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletePropagationPolicyType {
    // Delete the applied resources with the work.
    #[default]
    Foreground,
    // Keep every applied resource.
    Orphan,
    // Keep the resources matched by the orphaning rules.
    SelectivelyOrphan,
}

/// Resources kept when the work is deleted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectivelyOrphan {
    /// The resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphaning_rules: Vec<ResourceIdentifier>,
}

/// Identifies one resource on the managed cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["group", "namespace"]))]
pub struct ResourceIdentifier {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Object name.
    pub name: String,
    /// Object namespace; empty for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
}

/// Settings for one resource of the work.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestConfigOption {
    /// The resource the settings apply to.
    pub resource_identifier: ResourceIdentifier,
    /// Status fields to report back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback_rules: Vec<FeedbackRule>,
    /// How the agent updates the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    /// Rules deriving conditions from the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["condition"]))]
    pub condition_rules: Vec<ConditionRule>,
    /// Whether feedback is polled or watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Poll"))]
    pub feedback_scrape_type: Option<FeedbackScrapeType>,
}

/// A rule producing a condition for a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type != 'CEL' || self.condition != \"\"",
    "message": "Condition is required for CEL rules"
}]))]
pub struct ConditionRule {
    /// The condition type to set.
    pub condition: String,
    /// `WellKnownConditions` or `CEL`.
    #[serde(rename = "type")]
    pub type_: ConditionRuleType,
    /// CEL expressions that must all be true for the condition to be True.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cel_expressions: Vec<String>,
    /// Message of the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// CEL expression producing the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expression: Option<String>,
}

/// Kind of condition rule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConditionRuleType {
    // Conditions the agent knows for common kinds.
    #[default]
    WellKnownConditions,
    // Conditions from CEL expressions.
    #[serde(rename = "CEL")]
    Cel,
}

/// How feedback is collected.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FeedbackScrapeType {
    // Periodically.
    #[default]
    Poll,
    // On every change.
    Watch,
}

/// How the agent writes a resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["type"]))]
pub struct UpdateStrategy {
    /// `Update`, `CreateOnly`, `ServerSideApply` or `ReadOnly`.
    #[serde(default, rename = "type")]
    pub type_: UpdateStrategyType,
    /// Server-side apply settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<ServerSideApplyConfig>,
}

/// Update strategy type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyType {
    // Replace the resource.
    #[default]
    Update,
    // Create it once, never update.
    CreateOnly,
    // Server-side apply.
    ServerSideApply,
    // Only read it (for feedback).
    ReadOnly,
}

/// Server-side apply settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["force"]))]
pub struct ServerSideApplyConfig {
    /// Take over conflicting fields.
    #[serde(default)]
    pub force: bool,
    /// Field manager name; must start with `work-agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "work-agent"), regex(pattern = "^work-agent"))]
    pub field_manager: Option<String>,
    /// Fields the agent leaves alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["condition"]))]
    pub ignore_fields: Vec<IgnoreField>,
}

/// Fields ignored under a condition.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["condition"]))]
pub struct IgnoreField {
    /// When the fields are ignored.
    #[serde(default)]
    pub condition: IgnoreFieldsCondition,
    /// JSON paths of the fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_paths: Vec<String>,
    /// JSON pointers to the fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions for the fields.
    #[serde(
        default,
        rename = "jqPathExpressions",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub jq_path_expressions: Vec<String>,
}

/// When ignored fields apply.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IgnoreFieldsCondition {
    // Whenever the field exists on the managed cluster.
    #[default]
    OnSpokePresent,
    // Only when it was changed on the managed cluster.
    OnSpokeChange,
}

/// Which status to report for a resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRule {
    /// `WellKnownStatus` or `JSONPaths`.
    #[serde(rename = "type")]
    pub type_: FeedbackType,
    /// The paths for `JSONPaths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub json_paths: Vec<JsonPath>,
}

/// Kind of feedback rule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FeedbackType {
    // Status fields the agent knows for common kinds.
    #[default]
    WellKnownStatus,
    // The listed JSON paths.
    #[serde(rename = "JSONPaths")]
    JsonPaths,
}

/// A named JSON path into a resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonPath {
    /// Name of the reported value.
    pub name: String,
    /// API version to read the resource as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The path.
    pub path: String,
}

/// The identity manifests are applied as.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkExecutor {
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<ManifestWorkExecutorSubject>,
}

/// An executor subject.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkExecutorSubject {
    /// Only `ServiceAccount`.
    #[serde(rename = "type")]
    pub type_: ManifestWorkExecutorSubjectType,
    /// The service account, for type `ServiceAccount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ManifestWorkSubjectServiceAccount>,
}

/// Kind of executor subject.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManifestWorkExecutorSubjectType {
    // A service account on the managed cluster.
    #[default]
    ServiceAccount,
}

/// A service account on the managed cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkSubjectServiceAccount {
    /// Its namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub namespace: String,
    /// Its name.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub name: String,
}

/// What the agent reports about a work.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkStatus {
    /// Conditions of the whole work: Applied, Available, Progressing, Degraded, Complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Per-manifest state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_status: Option<ManifestResourceStatus>,
}

/// Per-manifest state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestResourceStatus {
    /// One entry per manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<ManifestCondition>,
}

/// State of one manifest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["conditions"]), transform = NoDefault(&["conditions"]))]
pub struct ManifestCondition {
    /// Which manifest this is.
    pub resource_meta: ManifestResourceMeta,
    /// Values read by the feedback rules.
    #[serde(
        default,
        rename = "statusFeedback",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_feedbacks: Option<StatusFeedbackResult>,
    /// Conditions of the manifest.
    #[serde(default, deserialize_with = "schema::null_as_default")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
}

/// Identifies a manifest and the resource it became.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["group", "version", "kind", "resource", "name", "namespace"]))]
pub struct ManifestResourceMeta {
    /// Index of the manifest in the workload.
    pub ordinal: i32,
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Plural resource name.
    #[serde(default)]
    pub resource: String,
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Object namespace.
    #[serde(default)]
    pub namespace: String,
}

/// Feedback values of a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusFeedbackResult {
    /// The values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub values: Vec<FeedbackValue>,
}

/// One named feedback value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackValue {
    /// Name from the feedback rule.
    pub name: String,
    /// The value.
    #[serde(rename = "fieldValue")]
    pub value: FieldValue,
}

/// A typed feedback value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldValue {
    /// Which of the other fields is set.
    #[serde(rename = "type")]
    pub type_: ValueType,
    /// An integer value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<i64>,
    /// A string value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// A boolean value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean: Option<bool>,
    /// Raw JSON, at most 1 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub json_raw: Option<String>,
}

/// Type of a feedback value.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ValueType {
    // `integer`.
    Integer,
    // `string`.
    #[default]
    String,
    // `boolean`.
    Boolean,
    // `jsonRaw`.
    JsonRaw,
}

// ---------------------------------------------------------------------------------------------
// AppliedManifestWork v1

/// The desired state of an AppliedManifestWork.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "The agent's record, on the managed cluster, of the resources a ManifestWork applied. Named `<hubHash>-<manifestWorkName>`.",
    group = "work.open-cluster-management.io",
    version = "v1",
    kind = "AppliedManifestWork",
    status = "AppliedManifestWorkStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["agentID"]))]
pub struct AppliedManifestWorkSpec {
    /// Hash of the hub's API server URL.
    pub hub_hash: String,
    /// The agent that owns the record.
    #[serde(default, rename = "agentID")]
    pub agent_id: String,
    /// The ManifestWork's name on the hub.
    pub manifest_work_name: String,
}

/// Resources applied for a work.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedManifestWorkStatus {
    /// The applied resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_resources: Vec<AppliedManifestResourceMeta>,
    /// When the agent started waiting to evict the resources of a vanished work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_start_time: Option<Time>,
}

/// One applied resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&["group", "namespace"]))]
pub struct AppliedManifestResourceMeta {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Object name.
    pub name: String,
    /// Object namespace.
    #[serde(default)]
    pub namespace: String,
    /// API version.
    pub version: String,
    /// The object's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// ManifestWorkReplicaSet v1alpha1

/// The desired state of a ManifestWorkReplicaSet.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    doc = "Creates a ManifestWork from one template in every cluster a placement selects.",
    group = "work.open-cluster-management.io",
    version = "v1alpha1",
    kind = "ManifestWorkReplicaSet",
    namespaced,
    status = "ManifestWorkReplicaSetStatus",
    shortname = "mwrs",
    derive = "PartialEq",
    printcolumn = r#"{"name": "Placement", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"PlacementVerified\")].reason"}"#,
    printcolumn = r#"{"name": "Found", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"PlacementVerified\")].status"}"#,
    printcolumn = r#"{"name": "ManifestWorks", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ManifestworkApplied\")].reason"}"#,
    printcolumn = r#"{"name": "Applied", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ManifestworkApplied\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = Require(&["cascadeDeletionPolicy"]), transform = NoDefault(&["manifestWorkTemplate"]))]
pub struct ManifestWorkReplicaSetSpec {
    /// The spec of every created ManifestWork.
    #[serde(default)]
    pub manifest_work_template: ManifestWorkSpec,
    /// Placements choosing the clusters, at least one.
    #[schemars(length(min = 1))]
    pub placement_refs: Vec<LocalPlacementReference>,
    /// How the created works are deleted with the replica set.
    #[serde(default)]
    pub cascade_deletion_policy: CascadeDeletionPolicy,
}

/// Deletion propagation from a replica set to its works.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CascadeDeletionPolicy {
    // Delete the works in the background.
    #[default]
    Background,
    // Wait for the works to be gone.
    Foreground,
}

/// A placement in the replica set's namespace and its rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalPlacementReference {
    /// The placement name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// How changes roll out over its clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"all": {"progressDeadline": "None"}, "type": "All"}))]
    pub rollout_strategy: Option<RolloutStrategy>,
}

/// Observed state of a replica set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkReplicaSetStatus {
    /// Conditions: PlacementVerified, PlacementRolledOut, ManifestworkApplied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Totals over all works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ManifestWorkReplicaSetSummary>,
    /// Totals per placement.
    #[serde(
        default,
        rename = "placementSummary",
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub placements_summary: Vec<PlacementSummary>,
}

/// Totals for one placement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSummary {
    /// The placement name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Decision groups done so far, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_decision_groups: Option<String>,
    /// The totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ManifestWorkReplicaSetSummary>,
}

/// Counts of works by state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefault(&[
    "total", "progressing", "available", "degraded", "applied", "desiredTotal", "updated"
]))]
pub struct ManifestWorkReplicaSetSummary {
    /// Works created.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub total: i64,
    /// Works progressing.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub progressing: i64,
    /// Works available.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub available: i64,
    /// Works degraded.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub degraded: i64,
    /// Works applied.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub applied: i64,
    /// Works that should exist.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub desired_total: i64,
    /// Works with the latest template.
    #[serde(default)]
    #[schemars(schema_with = "schema::plain_integer")]
    pub updated: i64,
}

/// The CRDs of this group.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        finalize(ManifestWork::crd(), &Tweaks::default()),
        finalize(AppliedManifestWork::crd(), &Tweaks::default()),
        finalize(ManifestWorkReplicaSet::crd(), &Tweaks::default()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::schema::testutil::{
        columns, crd, has_status_subresource, node, root, round_trip,
    };
    use serde_json::json;

    #[test]
    fn manifest_work_crd() {
        let crd = crd("ManifestWork");
        assert_eq!(
            crd["metadata"]["name"],
            "manifestworks.work.open-cluster-management.io"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["listKind"], "ManifestWorkList");
        assert!(crd["spec"]["names"].get("shortNames").is_none());
        assert!(columns(&crd).is_empty());
        assert!(has_status_subresource(&crd));
        assert!(root(&crd).get("required").is_none());

        let manifest = node(&crd, "spec.workload.manifests[]");
        assert_eq!(manifest["type"], "object");
        assert_eq!(manifest["x-kubernetes-embedded-resource"], true);
        assert_eq!(manifest["x-kubernetes-preserve-unknown-fields"], true);
        assert!(manifest.get("properties").is_none());

        let policy = node(&crd, "spec.deleteOption.propagationPolicy");
        assert_eq!(policy["default"], "Foreground");
        assert_eq!(
            policy["enum"],
            json!(["Foreground", "Orphan", "SelectivelyOrphan"])
        );
        assert_eq!(
            node(
                &crd,
                "spec.deleteOption.selectivelyOrphans.orphaningRules[]"
            )["required"],
            json!(["name", "resource"])
        );
        assert_eq!(
            node(&crd, "spec.manifestConfigs[]")["required"],
            json!(["resourceIdentifier"])
        );
        let strategy = node(&crd, "spec.manifestConfigs[].updateStrategy");
        assert_eq!(strategy["required"], json!(["type"]));
        assert_eq!(strategy["properties"]["type"]["default"], "Update");
        assert_eq!(
            strategy["properties"]["type"]["enum"],
            json!(["Update", "CreateOnly", "ServerSideApply", "ReadOnly"])
        );
        let manager = node(
            &crd,
            "spec.manifestConfigs[].updateStrategy.serverSideApply.fieldManager",
        );
        assert_eq!(
            (manager["default"].as_str(), manager["pattern"].as_str()),
            (Some("work-agent"), Some("^work-agent"))
        );
        assert!(
            node(
                &crd,
                "spec.manifestConfigs[].updateStrategy.serverSideApply.force"
            )
            .get("default")
            .is_none()
        );
        assert_eq!(
            node(
                &crd,
                "spec.manifestConfigs[].updateStrategy.serverSideApply.ignoreFields[].condition"
            )["default"],
            "OnSpokePresent"
        );
        assert_eq!(
            node(&crd, "spec.manifestConfigs[].feedbackScrapeType")["default"],
            "Poll"
        );
        assert_eq!(
            node(&crd, "spec.manifestConfigs[].feedbackRules[].type")["enum"],
            json!(["WellKnownStatus", "JSONPaths"])
        );
        assert_eq!(
            node(&crd, "spec.manifestConfigs[].feedbackRules[].jsonPaths")["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        let rules = node(&crd, "spec.manifestConfigs[].conditionRules");
        assert_eq!(rules["x-kubernetes-list-map-keys"], json!(["condition"]));
        assert_eq!(
            rules["items"]["x-kubernetes-validations"][0]["message"],
            "Condition is required for CEL rules"
        );
        assert_eq!(
            node(&crd, "spec.manifestConfigs[].conditionRules[].type")["enum"],
            json!(["WellKnownConditions", "CEL"])
        );
        assert_eq!(
            node(&crd, "spec.executor.subject.type")["enum"],
            json!(["ServiceAccount"])
        );
        assert_eq!(
            node(&crd, "spec.executor.subject.serviceAccount.name")["maxLength"],
            253
        );

        assert_eq!(
            node(&crd, "status.resourceStatus.manifests[]")["required"],
            json!(["conditions", "resourceMeta"])
        );
        assert_eq!(
            node(&crd, "status.resourceStatus.manifests[].resourceMeta")["required"],
            json!(["ordinal"])
        );
        let value = node(
            &crd,
            "status.resourceStatus.manifests[].statusFeedback.values[].fieldValue",
        );
        assert_eq!(
            value["properties"]["type"]["enum"],
            json!(["Integer", "String", "Boolean", "JsonRaw"])
        );
        assert_eq!(value["properties"]["jsonRaw"]["maxLength"], 1024);
    }

    #[test]
    fn manifest_work_round_trip() {
        let work: ManifestWork = round_trip(json!({
            "apiVersion": "work.open-cluster-management.io/v1",
            "kind": "ManifestWork",
            "metadata": {"name": "web", "namespace": "cluster1", "finalizers": ["cluster.open-cluster-management.io/manifest-work-cleanup"]},
            "spec": {
                "workload": {"manifests": [
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}},
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
                     "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx", "x-unknown": {"a": 1}}]}}}}
                ]},
                "deleteOption": {
                    "propagationPolicy": "SelectivelyOrphan",
                    "selectivelyOrphans": {"orphaningRules": [{"group": "", "resource": "namespaces", "name": "web", "namespace": ""}]},
                    "ttlSecondsAfterFinished": 600
                },
                "manifestConfigs": [{
                    "resourceIdentifier": {"group": "apps", "resource": "deployments", "name": "web", "namespace": "web"},
                    "feedbackRules": [
                        {"type": "WellKnownStatus"},
                        {"type": "JSONPaths", "jsonPaths": [{"name": "replicas", "path": ".status.replicas"}, {"name": "image", "path": ".spec.template.spec.containers[0].image", "version": "v1"}]}
                    ],
                    "updateStrategy": {"type": "ServerSideApply", "serverSideApply": {
                        "force": false, "fieldManager": "work-agent-web",
                        "ignoreFields": [{"condition": "OnSpokeChange", "jsonPaths": [".spec.replicas"]}]
                    }},
                    "conditionRules": [{"condition": "Ready", "type": "CEL", "celExpressions": ["object.status.readyReplicas == object.spec.replicas"], "message": "", "messageExpression": ""}],
                    "feedbackScrapeType": "Watch"
                }],
                "executor": {"subject": {"type": "ServiceAccount", "serviceAccount": {"namespace": "web", "name": "deployer"}}}
            },
            "status": {
                "conditions": [
                    {"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete", "message": "Apply manifest work complete", "lastTransitionTime": "2024-05-01T10:00:00Z", "observedGeneration": 1},
                    {"type": "Available", "status": "True", "reason": "ResourcesAvailable", "message": "All resources are available", "lastTransitionTime": "2024-05-01T10:00:00Z", "observedGeneration": 1}
                ],
                "resourceStatus": {"manifests": [
                    {"resourceMeta": {"ordinal": 0, "group": "", "version": "v1", "kind": "Namespace", "resource": "namespaces", "name": "web", "namespace": ""},
                     "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestComplete", "message": "Apply manifest complete", "lastTransitionTime": "2024-05-01T10:00:00Z"}]},
                    {"resourceMeta": {"ordinal": 1, "group": "apps", "version": "v1", "kind": "Deployment", "resource": "deployments", "name": "web", "namespace": "web"},
                     "statusFeedback": {"values": [
                         {"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 2}},
                         {"name": "image", "fieldValue": {"type": "String", "string": "nginx"}},
                         {"name": "paused", "fieldValue": {"type": "Boolean", "boolean": false}},
                         {"name": "selector", "fieldValue": {"type": "JsonRaw", "jsonRaw": "{\"app\":\"web\"}"}}
                     ]},
                     "conditions": [{"type": "Available", "status": "True", "reason": "ResourceAvailable", "message": "Resource is available", "lastTransitionTime": "2024-05-01T10:00:00Z"}]}
                ]}
            }
        }));
        let manifests = work.spec.workload.map(|w| w.manifests).unwrap_or_default();
        assert_eq!(
            manifests[1].0["spec"]["template"]["spec"]["containers"][0]["x-unknown"]["a"],
            1
        );
        let status = work.status.unwrap_or_default();
        let feedback = status
            .resource_status
            .map(|r| r.manifests)
            .unwrap_or_default();
        let values = feedback[1]
            .status_feedbacks
            .clone()
            .map(|f| f.values)
            .unwrap_or_default();
        assert_eq!(values[0].value.integer, Some(2));
        assert_eq!(values[3].value.type_, ValueType::JsonRaw);

        // Defaulted-and-required enums deserialize when absent.
        let strategy: UpdateStrategy = serde_json::from_value(json!({})).expect("empty strategy");
        assert_eq!(strategy.type_, UpdateStrategyType::Update);
        let option: DeleteOption = serde_json::from_value(json!({})).expect("empty delete option");
        assert_eq!(
            option.propagation_policy,
            DeletePropagationPolicyType::Foreground
        );
    }

    #[test]
    fn applied_manifest_work_crd_and_round_trip() {
        let crd = crd("AppliedManifestWork");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert!(has_status_subresource(&crd));
        assert_eq!(
            node(&crd, "spec")["required"],
            json!(["hubHash", "manifestWorkName"])
        );
        assert_eq!(
            node(&crd, "status.appliedResources[]")["required"],
            json!(["name", "resource", "version"])
        );
        assert_eq!(
            node(&crd, "status.evictionStartTime")["format"],
            "date-time"
        );
        let applied: AppliedManifestWork = round_trip(json!({
            "apiVersion": "work.open-cluster-management.io/v1",
            "kind": "AppliedManifestWork",
            "metadata": {"name": "3f2a9c-web", "finalizers": ["cluster.open-cluster-management.io/applied-manifest-work-cleanup"]},
            "spec": {"hubHash": "3f2a9c", "agentID": "4e1d0b7a", "manifestWorkName": "web"},
            "status": {"appliedResources": [
                {"group": "", "resource": "namespaces", "name": "web", "namespace": "", "version": "v1", "uid": "5b0c7a3e"},
                {"group": "apps", "resource": "deployments", "name": "web", "namespace": "web", "version": "v1", "uid": "9d8e7f6a"}
            ], "evictionStartTime": "2024-05-01T10:00:00Z"}
        }));
        assert_eq!(applied.spec.agent_id, "4e1d0b7a");
    }

    #[test]
    fn manifest_work_replica_set_crd_and_round_trip() {
        let crd = crd("ManifestWorkReplicaSet");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["mwrs"]));
        assert!(has_status_subresource(&crd));
        let cols = columns(&crd);
        assert_eq!(
            cols.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["Placement", "Found", "ManifestWorks", "Applied"]
        );
        assert_eq!(
            node(&crd, "spec")["required"],
            json!(["cascadeDeletionPolicy", "placementRefs"])
        );
        assert_eq!(
            node(&crd, "spec.cascadeDeletionPolicy")["default"],
            "Background"
        );
        assert_eq!(node(&crd, "spec.placementRefs")["minItems"], 1);
        assert_eq!(
            node(&crd, "spec.placementRefs[].rolloutStrategy")["default"],
            json!({"all": {"progressDeadline": "None"}, "type": "All"})
        );
        assert_eq!(
            node(&crd, "spec.placementRefs[].rolloutStrategy.all.maxFailures")["default"],
            0
        );
        assert_eq!(
            node(
                &crd,
                "spec.placementRefs[].rolloutStrategy.progressive.maxConcurrency"
            )["x-kubernetes-int-or-string"],
            true
        );
        assert_eq!(
            node(&crd, "status.summary.total"),
            &json!({"type": "integer", "description": "Works created."})
        );
        // The template carries the same schema as a ManifestWork spec, manifests included.
        let template = node(&crd, "spec.manifestWorkTemplate");
        let work = crd_spec_without_description("ManifestWork");
        assert_eq!(strip_descriptions(template.clone()), work);

        let set: ManifestWorkReplicaSet = round_trip(json!({
            "apiVersion": "work.open-cluster-management.io/v1alpha1",
            "kind": "ManifestWorkReplicaSet",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "manifestWorkTemplate": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}]}},
                "placementRefs": [{"name": "web", "rolloutStrategy": {"type": "Progressive", "progressive": {
                    "maxConcurrency": "25%", "minSuccessTime": "1m", "progressDeadline": "10m", "maxFailures": 1,
                    "mandatoryDecisionGroups": [{"groupName": "canary"}, {"groupIndex": 1}]
                }}}],
                "cascadeDeletionPolicy": "Foreground"
            },
            "status": {
                "conditions": [{"type": "PlacementVerified", "status": "True", "reason": "AsExpected", "message": "", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
                "summary": {"total": 3, "progressing": 1, "available": 2, "degraded": 0, "applied": 3, "desiredTotal": 3, "updated": 3},
                "placementSummary": [{"name": "web", "availableDecisionGroups": "1 (1 / 2 clusters applied)",
                    "summary": {"total": 3, "progressing": 1, "available": 2, "degraded": 0, "applied": 3, "desiredTotal": 3, "updated": 3}}]
            }
        }));
        assert_eq!(
            set.spec.cascade_deletion_policy,
            CascadeDeletionPolicy::Foreground
        );
    }

    fn strip_descriptions(mut value: serde_json::Value) -> serde_json::Value {
        fn walk(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(o) => {
                    if matches!(o.get("description"), Some(serde_json::Value::String(_))) {
                        o.remove("description");
                    }
                    o.values_mut().for_each(walk);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
                _ => {}
            }
        }
        walk(&mut value);
        value
    }

    fn crd_spec_without_description(kind: &str) -> serde_json::Value {
        strip_descriptions(node(&crd(kind), "spec").clone())
    }
}
