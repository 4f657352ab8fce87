//! The ManifestWorkReplicaSet controller (OCM v1.3 semantics, feature gate
//! `ManifestWorkReplicaSet`): one ManifestWork from `manifestWorkTemplate` in the namespace
//! of every cluster each `placementRefs[]` Placement selects, rolled out under the
//! placement's strategy (`hub::rollout`), with the replica set's status summarised from
//! the works.
//!
//! One reconcile per replica set, in upstream's order: finalize (delete the works; with
//! `cascadeDeletionPolicy: Foreground` wait until they are gone), add the cleanup
//! finalizer, deploy (delete works of placements no longer referenced; per placement,
//! create or update the works the rollout allows now, delete those of clusters no longer
//! selected), then the status. Works are labelled with
//! `work.open-cluster-management.io/manifestworkreplicaset=<ns>.<name>` and
//! `.../placementname=<placement>`, carry the replica set's labels, and are named by the
//! server from the replica set's name (`generateName`). A work whose spec differs from the
//! template counts as not rolled out: a template change rolls out again under the same
//! strategy. A cluster's rollout state comes from its work's `Applied`, `Progressing` and
//! `Degraded` conditions at the work's current generation.
//!
//! Triggers: the replica set, its works (by the owner label), and its placements and
//! their decisions (through an index of which replica sets name which placement). A
//! progress deadline or soak time requeues the replica set when it is due.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::controller::{self, KeysOf, Queue, Requeue};
use super::objects::Objects;
use super::rollout::{self, ClusterStatus};
use crate::api::Kind;
use crate::api::meta::{find_condition, set_status_condition};
use crate::api::ocm::work_conditions::{
    APPLIED, AVAILABLE, DEGRADED, MANIFESTWORK_APPLIED, PLACEMENT_ROLLED_OUT, PLACEMENT_VERIFIED,
    PROGRESSING,
};
use crate::api::ocm::{
    CascadeDeletionPolicy, ManifestWork, ManifestWorkReplicaSet, ManifestWorkReplicaSetStatus,
    ManifestWorkReplicaSetSummary, ManifestWorkSpec, PLACEMENT_LABEL, Placement, PlacementDecision,
    PlacementSummary,
};
use crate::api::status::Status;
use crate::registry::selector::LabelSelector;
use crate::registry::{Filter, Target};

/// The label naming a work's replica set, `<namespace>.<name>`.
pub const OWNER_LABEL: &str = "work.open-cluster-management.io/manifestworkreplicaset";
/// The label naming the placement a work was created for.
pub const PLACEMENT_NAME_LABEL: &str = "work.open-cluster-management.io/placementname";
/// The replica set's cleanup finalizer.
pub const FINALIZER: &str = "work.open-cluster-management.io/manifest-work-cleanup";

/// Requeues longer than this are left to the next change (upstream's resync).
const MAX_RECHECK: Duration = Duration::from_secs(30 * 60);

struct Kinds {
    replica_sets: Arc<Kind>,
    works: Arc<Kind>,
    placements: Arc<Kind>,
    decisions: Arc<Kind>,
}

/// Which replica sets name a placement: `(namespace, placement)` → `namespace/name` keys.
type PlacementIndex = Arc<Mutex<HashMap<(String, String), HashSet<String>>>>;

pub struct ReplicaSetController {
    objects: Objects,
    kinds: Kinds,
    index: PlacementIndex,
}

/// Starts the controller.
pub async fn start(objects: &Objects) -> Result<(), Status> {
    let kinds = Kinds {
        replica_sets: objects.kind_of::<ManifestWorkReplicaSet>()?,
        works: objects.kind_of::<ManifestWork>()?,
        placements: objects.kind_of::<Placement>()?,
        decisions: objects.kind_of::<PlacementDecision>()?,
    };
    let registry = objects.registry.clone();
    let queue = Queue::default();
    let index = PlacementIndex::default();
    let this = Arc::new(ReplicaSetController {
        objects: objects.clone(),
        kinds,
        index: index.clone(),
    });
    let kinds = &this.kinds;
    let reconciler = this.clone();
    controller::run(
        "manifestworkreplicaset",
        queue.clone(),
        5,
        Arc::new(move |key: String| {
            let this = reconciler.clone();
            Box::pin(async move { this.reconcile(&key).await })
        }),
    );
    controller::feed(
        &registry,
        kinds.replica_sets.clone(),
        None,
        Filter::default(),
        queue.clone(),
        Arc::new(|o: &Value| namespaced_key(&meta_of(o)).into_iter().collect()),
    );
    let owned = labelled(OWNER_LABEL)?;
    controller::feed(
        &registry,
        kinds.works.clone(),
        None,
        owned,
        queue.clone(),
        Arc::new(|o: &Value| owner_key(&meta_of(o)).into_iter().collect()),
    );
    controller::feed(
        &registry,
        kinds.placements.clone(),
        None,
        Filter::default(),
        queue.clone(),
        placement_keys(index.clone(), |m| m.name.as_deref()),
    );
    controller::feed(
        &registry,
        kinds.decisions.clone(),
        None,
        Filter::default(),
        queue,
        placement_keys(index, |m| label(m, PLACEMENT_LABEL)),
    );
    Ok(())
}

/// A list filter by label selector.
fn labelled(selector: &str) -> Result<Filter, Status> {
    Ok(Filter {
        labels: LabelSelector::parse(selector).map_err(Status::internal)?,
        ..Filter::default()
    })
}

/// The keys of the replica sets naming the placement of an object (a placement, or a
/// decision by its placement label), from the index.
fn placement_keys(index: PlacementIndex, placement_of: fn(&ObjectMeta) -> Option<&str>) -> KeysOf {
    Arc::new(move |o: &Value| {
        let meta = meta_of(o);
        let (Some(ns), Some(placement)) = (meta.namespace.as_deref(), placement_of(&meta)) else {
            return Vec::new();
        };
        index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(ns.to_string(), placement.to_string()))
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    })
}

/// The metadata of an object a feed saw (empty when it does not decode).
fn meta_of(o: &Value) -> ObjectMeta {
    o.get("metadata")
        .and_then(|m| ObjectMeta::deserialize(m).ok())
        .unwrap_or_default()
}

/// The value of the label `key`.
fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// `namespace/name`, the queue key of a namespaced object.
fn namespaced_key(meta: &ObjectMeta) -> Option<String> {
    let ns = meta.namespace.as_deref()?;
    let name = meta.name.as_deref()?;
    Some(format!("{ns}/{name}"))
}

/// The key of a work's replica set from its owner label `<ns>.<name>`: exactly one dot, as
/// upstream maps it back.
fn owner_key(meta: &ObjectMeta) -> Option<String> {
    let parts: Vec<&str> = label(meta, OWNER_LABEL)?.split('.').collect();
    (parts.len() == 2).then(|| format!("{}/{}", parts[0], parts[1]))
}

/// A work's name (empty when it has none).
fn name_of(work: &ManifestWork) -> &str {
    work.metadata.name.as_deref().unwrap_or_default()
}

/// A work's namespace, its cluster (empty when it has none).
fn namespace_of(work: &ManifestWork) -> &str {
    work.metadata.namespace.as_deref().unwrap_or_default()
}

/// A work's conditions.
fn conditions(work: &ManifestWork) -> &[Condition] {
    work.status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default()
}

/// A stored object as its type.
fn decode<T: DeserializeOwned>(what: &str, object: Value) -> Result<T, Status> {
    serde_json::from_value(object)
        .map_err(|e| Status::internal(format!("a stored {what} does not decode: {e}")))
}

/// A cluster's rollout state from its (up-to-date) work: to apply until `Applied` is
/// True and `Progressing` reported at the work's generation; then failed (still
/// progressing and degraded), progressing, or succeeded (no longer progressing).
fn rollout_status(work: &ManifestWork) -> ClusterStatus {
    let cluster = namespace_of(work);
    let generation = work.metadata.generation;
    let conds = conditions(work);
    let current = |c: &&Condition| c.observed_generation == generation;
    let applied = find_condition(conds, APPLIED);
    let progressing = find_condition(conds, PROGRESSING);
    let degraded = find_condition(conds, DEGRADED);
    let to_apply = applied.is_none_or(|a| !current(&a) || a.status != "True")
        || progressing.is_none_or(|p| !current(&p))
        || degraded.is_some_and(|d| !current(&d));
    let (Some(progressing), false) = (progressing, to_apply) else {
        return ClusterStatus::new(cluster, rollout::Status::ToApply, None);
    };
    let since = |c: &Condition| Some(c.last_transition_time.0);
    match (progressing.status.as_str(), degraded) {
        ("True", Some(d)) if d.status == "True" => {
            ClusterStatus::new(cluster, rollout::Status::Failed, since(d))
        }
        ("False", _) => ClusterStatus::new(cluster, rollout::Status::Succeeded, since(progressing)),
        _ => ClusterStatus::new(cluster, rollout::Status::Progressing, since(progressing)),
    }
}

/// A manifest as upstream compares it: without creation timestamps.
fn normalized_manifest(manifest: &Value) -> Value {
    let mut m = manifest.clone();
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("creationTimestamp");
    }
    if let Some(meta) = m
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
    {
        meta.remove("creationTimestamp");
    }
    m
}

/// Drops nulls, empty lists and empty maps (Go's nil and empty are equal there).
fn without_empties(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) => {
            let m: Map<String, Value> = o
                .iter()
                .filter_map(|(k, v)| without_empties(v).map(|v| (k.clone(), v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => Some(Value::Array(
            a.iter()
                .map(|v| without_empties(v).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// A work spec as compared: encoded, its manifests without creation timestamps, without
/// empties.
fn normalized_spec(spec: &ManifestWorkSpec) -> Option<Value> {
    let mut spec = spec.clone();
    for m in spec
        .workload
        .iter_mut()
        .flat_map(|w| w.manifests.iter_mut())
    {
        m.0 = normalized_manifest(&m.0);
    }
    without_empties(&serde_json::to_value(spec).unwrap_or_default())
}

/// Whether a work's spec is the template (upstream's ManifestWorkEqual on the spec).
fn same_spec(template: &ManifestWorkSpec, work: &ManifestWork) -> bool {
    normalized_spec(template) == normalized_spec(&work.spec)
}

/// What deploy found, for the status.
struct Deployed {
    placement_summaries: Vec<PlacementSummary>,
    count: i64,
    /// Placements' selected clusters (upstream's `total`) and succeeded works.
    selected: i64,
    succeeded: i64,
    recheck: Option<Duration>,
}

impl ReplicaSetController {
    fn forget(&self, key: &str) {
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        for keys in index.values_mut() {
            keys.remove(key);
        }
        index.retain(|_, keys| !keys.is_empty());
    }

    fn remember(&self, key: &str, namespace: &str, placements: &[String]) {
        self.forget(key);
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        for p in placements {
            index
                .entry((namespace.to_string(), p.clone()))
                .or_default()
                .insert(key.to_string());
        }
    }

    async fn reconcile(&self, key: &str) -> Result<Requeue, Status> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(None);
        };
        let Some(raw) = self
            .objects
            .get(&self.kinds.replica_sets, Some(namespace), name)
            .await?
        else {
            self.forget(key);
            return Ok(None);
        };
        // Read as stored, not typed: the status written back keeps the summary counters
        // the stored status has (see `as_patched`).
        let stored_status = raw
            .get("status")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut rs: ManifestWorkReplicaSet = decode("ManifestWorkReplicaSet", raw)?;
        // The template as stored (with its schema defaults), which is what the works'
        // specs are compared with.
        let template = rs.spec.manifest_work_template.clone();
        let placements: Vec<String> = rs
            .spec
            .placement_refs
            .iter()
            .map(|p| p.name.clone())
            .collect();
        self.remember(key, namespace, &placements);
        let owner = format!("{namespace}.{name}");
        if rs.metadata.deletion_timestamp.is_some() {
            return self.finalize(rs, &owner).await;
        }
        let finalizers = rs.metadata.finalizers.get_or_insert_default();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            finalizers.push(FINALIZER.to_string());
            self.objects.update_as(&rs, Target::Main).await?;
            return Ok(None);
        }
        let old_status = rs.status.clone().unwrap_or_default();
        let mut status = old_status.clone();
        let outcome = self.deploy(&rs, &owner, &template, &mut status).await;
        if let Ok(Some(deployed)) = &outcome {
            self.summarise(&owner, &template, deployed, &mut status)
                .await?;
        }
        if status != old_status {
            let written = as_patched(&status, &stored_status)?;
            if written != stored_status {
                let mut object = serde_json::to_value(&rs).map_err(|e| {
                    Status::internal(format!("encoding a ManifestWorkReplicaSet: {e}"))
                })?;
                object["status"] = written;
                self.objects
                    .update(
                        &self.kinds.replica_sets,
                        Some(namespace),
                        object,
                        Target::Status,
                    )
                    .await?;
            }
        }
        let recheck = outcome?.and_then(|d| d.recheck);
        Ok(recheck.filter(|r| *r < MAX_RECHECK))
    }

    /// Deletes the works; the finalizer goes when they are gone (Foreground) or at once.
    async fn finalize(
        &self,
        mut rs: ManifestWorkReplicaSet,
        owner: &str,
    ) -> Result<Requeue, Status> {
        if !rs
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER)
        {
            return Ok(None);
        }
        let works = self.works_of(owner).await?;
        for work in &works {
            self.objects
                .delete_as::<ManifestWork>(Some(namespace_of(work)), name_of(work))
                .await?;
        }
        let foreground = matches!(
            rs.spec.cascade_deletion_policy,
            CascadeDeletionPolicy::Foreground
        );
        if foreground && !self.works_of(owner).await?.is_empty() {
            // Their deletion events bring the replica set back.
            return Ok(None);
        }
        if let Some(f) = rs.metadata.finalizers.as_mut() {
            f.retain(|f| f != FINALIZER);
        }
        match self.objects.update_as(&rs, Target::Main).await {
            Err(e) if e.reason == "NotFound" => Ok(None),
            other => other.map(|_| None),
        }
    }

    /// Every work of a replica set, in every cluster namespace.
    async fn works_of(&self, owner: &str) -> Result<Vec<ManifestWork>, Status> {
        self.objects
            .list_labelled_as(None, &format!("{OWNER_LABEL}={owner}"))
            .await
    }

    /// Creates, updates and deletes works; `Ok(None)` when the pass stopped early (a
    /// placement is missing, or the owner label would be invalid).
    async fn deploy(
        &self,
        rs: &ManifestWorkReplicaSet,
        owner: &str,
        template: &ManifestWorkSpec,
        status: &mut ManifestWorkReplicaSetStatus,
    ) -> Result<Option<Deployed>, Status> {
        let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
        if let Err(problem) = super::placement::selector::check_label_value(owner) {
            set(
                status,
                MANIFESTWORK_APPLIED,
                false,
                "InvalidManifestWorkName",
                &format!(
                    "ManifestWork owner reference \"{owner}\" (namespace.name) is not a valid label value: {problem}; recreate the ManifestWorkReplicaSet with a shorter namespace and/or name so the combined length is at most 63 characters"
                ),
            );
            return Ok(None);
        }
        let works = self.works_of(owner).await?;
        let refs: BTreeSet<&str> = rs
            .spec
            .placement_refs
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        // Works of placements no longer referenced go.
        let mut by_cluster: BTreeMap<String, ManifestWork> = BTreeMap::new();
        let mut by_placement: BTreeMap<String, Vec<ManifestWork>> = BTreeMap::new();
        for work in works {
            match label(&work.metadata, PLACEMENT_NAME_LABEL) {
                Some(p) if refs.contains(p) => {
                    by_placement
                        .entry(p.to_string())
                        .or_default()
                        .push(work.clone());
                    by_cluster.insert(namespace_of(&work).to_string(), work);
                }
                _ => {
                    self.objects
                        .delete_as::<ManifestWork>(Some(namespace_of(&work)), name_of(&work))
                        .await?;
                }
            }
        }
        let mut errors = Vec::new();
        let mut out = Deployed {
            placement_summaries: Vec::new(),
            count: 0,
            selected: 0,
            succeeded: 0,
            recheck: None,
        };
        let now = Timestamp::now();
        for pref in &rs.spec.placement_refs {
            let Some(placement) = self
                .objects
                .get_as::<Placement>(Some(namespace), &pref.name)
                .await?
            else {
                set(
                    status,
                    PLACEMENT_VERIFIED,
                    false,
                    "PlacementDecisionNotFound",
                    "",
                );
                return Ok(None);
            };
            let mine = by_placement.get(&pref.name).cloned().unwrap_or_default();
            let mut existing = Vec::new();
            let mut clusters: BTreeSet<String> = BTreeSet::new();
            let mut succeeded = 0i64;
            for work in mine.iter().filter(|w| same_spec(template, w)) {
                let s = rollout_status(work);
                clusters.insert(s.cluster.clone());
                if s.status == rollout::Status::Succeeded {
                    succeeded += 1;
                }
                existing.push(s);
            }
            let groups = match rollout::placement_groups(&self.objects, namespace, &pref.name).await
            {
                Ok(g) => g,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let result =
                match rollout::rollout(pref.rollout_strategy.as_ref(), &groups, &existing, now) {
                    Ok(r) => r,
                    Err(e) => {
                        set(status, PLACEMENT_VERIFIED, false, "NotAsExpected", "");
                        errors.push(Status::bad_request(e.0));
                        continue;
                    }
                };
            if let Some(r) = result.recheck_after {
                out.recheck = Some(out.recheck.map_or(r, |o| o.min(r)));
            }
            for s in result
                .to_rollout
                .iter()
                .filter(|s| s.status == rollout::Status::ToApply)
            {
                let reuse = by_cluster.get(&s.cluster).filter(|w| {
                    label(&w.metadata, PLACEMENT_NAME_LABEL) == Some(pref.name.as_str())
                });
                match self
                    .apply_work(rs, owner, &pref.name, &s.cluster, reuse, template)
                    .await
                {
                    Ok(()) => {
                        clusters.insert(s.cluster.clone());
                    }
                    Err(e) => errors.push(e),
                }
            }
            for s in &result.removed {
                for work in mine.iter().filter(|w| namespace_of(w) == s.cluster) {
                    if let Err(e) = self
                        .objects
                        .delete_as::<ManifestWork>(Some(&s.cluster), name_of(work))
                        .await
                    {
                        errors.push(e);
                    }
                }
                clusters.remove(&s.cluster);
            }
            let placement_status = placement.status.as_ref();
            let selected = placement_status
                .and_then(|s| s.number_of_selected_clusters)
                .map_or(0, i64::from);
            let decision_groups = placement_status.map_or(0, |s| s.decision_groups.len());
            out.selected += selected;
            let total = i64::try_from(clusters.len()).unwrap_or(i64::MAX);
            out.placement_summaries.push(PlacementSummary {
                name: Some(pref.name.clone()),
                available_decision_groups: Some(format!(
                    "{decision_groups} ({total} / {selected} clusters applied)"
                )),
                summary: Some(ManifestWorkReplicaSetSummary {
                    total,
                    ..Default::default()
                }),
            });
            out.count += total;
            out.succeeded += succeeded;
        }
        status.placements_summary = out.placement_summaries.clone();
        let summary = status.summary.get_or_insert_default();
        summary.total = out.count;
        if out.count == 0 {
            summary.applied = 0;
            summary.available = 0;
            summary.degraded = 0;
            summary.progressing = 0;
            set(
                status,
                PLACEMENT_VERIFIED,
                false,
                "PlacementDecisionEmpty",
                "",
            );
        } else {
            set(status, PLACEMENT_VERIFIED, true, "AsExpected", "");
        }
        if out.selected == out.succeeded {
            set(status, PLACEMENT_ROLLED_OUT, true, "Complete", "");
        } else {
            set(status, PLACEMENT_ROLLED_OUT, false, "Progressing", "");
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(Some(out)),
        }
    }

    /// Creates the work of one cluster, or makes the existing one the template (labels
    /// replaced, annotations dropped, spec replaced).
    async fn apply_work(
        &self,
        rs: &ManifestWorkReplicaSet,
        owner: &str,
        placement: &str,
        cluster: &str,
        existing: Option<&ManifestWork>,
        template: &ManifestWorkSpec,
    ) -> Result<(), Status> {
        let mut labels = rs.metadata.labels.clone().unwrap_or_default();
        labels.insert(OWNER_LABEL.into(), owner.into());
        labels.insert(PLACEMENT_NAME_LABEL.into(), placement.into());
        let Some(current) = existing else {
            let work = ManifestWork {
                metadata: ObjectMeta {
                    generate_name: Some(rs.metadata.name.clone().unwrap_or_default()),
                    namespace: Some(cluster.to_string()),
                    labels: Some(labels),
                    ..ObjectMeta::default()
                },
                spec: template.clone(),
                status: None,
            };
            return match self.objects.create_as(&work).await {
                Ok(_) => Ok(()),
                Err(e) if e.reason == "AlreadyExists" => Ok(()),
                Err(e) => Err(e),
            };
        };
        let mut next = current.clone();
        next.metadata.labels = Some(labels);
        next.metadata.annotations = None;
        next.spec = template.clone();
        if &next == current {
            return Ok(());
        }
        self.objects
            .update_as(&next, Target::Main)
            .await
            .map(|_| ())
    }

    /// The counts of each placement's up-to-date works by their conditions, and the
    /// ManifestworkApplied condition.
    async fn summarise(
        &self,
        owner: &str,
        template: &ManifestWorkSpec,
        deployed: &Deployed,
        status: &mut ManifestWorkReplicaSetStatus,
    ) -> Result<(), Status> {
        let total = deployed.count;
        if total > 0 {
            let works = self.works_of(owner).await?;
            let mut sums = ManifestWorkReplicaSetSummary {
                total,
                ..Default::default()
            };
            for entry in status.placements_summary.iter_mut() {
                let name = entry.name.clone().unwrap_or_default();
                let s = entry.summary.get_or_insert_default();
                for work in works.iter().filter(|w| {
                    label(&w.metadata, PLACEMENT_NAME_LABEL) == Some(name.as_str())
                        && w.metadata.deletion_timestamp.is_none()
                        && same_spec(template, w)
                }) {
                    let conds = conditions(work);
                    for (type_, counter) in [
                        (APPLIED, &mut s.applied),
                        (PROGRESSING, &mut s.progressing),
                        (AVAILABLE, &mut s.available),
                        (DEGRADED, &mut s.degraded),
                    ] {
                        if find_condition(conds, type_).is_some_and(|c| c.status == "True") {
                            *counter += 1;
                        }
                    }
                }
                sums.applied += s.applied;
                sums.progressing += s.progressing;
                sums.available += s.available;
                sums.degraded += s.degraded;
            }
            let summary = status.summary.get_or_insert_default();
            summary.applied = sums.applied;
            summary.progressing = sums.progressing;
            summary.available = sums.available;
            summary.degraded = sums.degraded;
        }
        let s = status.summary.clone().unwrap_or_default();
        let verified_empty = find_condition(&status.conditions, PLACEMENT_VERIFIED)
            .is_some_and(|c| c.reason == "PlacementDecisionEmpty");
        let (ok, reason) = if total == 0 {
            if verified_empty {
                (false, "PlacementDecisionEmpty")
            } else {
                (false, "NotAsExpected")
            }
        } else if s.available == total && s.progressing == 0 && s.degraded == 0 {
            (true, "AsExpected")
        } else if s.progressing > 0 && s.degraded == 0 {
            (false, "Processing")
        } else {
            (false, "NotAsExpected")
        };
        set(status, MANIFESTWORK_APPLIED, ok, reason, "");
        Ok(())
    }
}

/// The status as upstream's merge patch of the changed fields leaves it: a summary
/// counter that is 0 and was never written stays absent.
fn as_patched(status: &ManifestWorkReplicaSetStatus, stored: &Value) -> Result<Value, Status> {
    let mut written = serde_json::to_value(status)
        .map_err(|e| Status::internal(format!("encoding a replica set status: {e}")))?;
    if let Some(summary) = written.get_mut("summary").and_then(Value::as_object_mut) {
        let before = stored.get("summary");
        summary.retain(|k, v| *v != 0 || before.and_then(|b| b.get(k)).is_some());
    }
    Ok(written)
}

/// Sets a replica set condition (no observedGeneration, as upstream).
fn set(
    status: &mut ManifestWorkReplicaSetStatus,
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
) {
    set_status_condition(
        &mut status.conditions,
        type_,
        if ok { "True" } else { "False" },
        reason,
        message,
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn work(generation: i64, conditions: Value) -> ManifestWork {
        decode_work(
            json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"namespace": "c1", "generation": generation},
            "spec": {}, "status": {"conditions": conditions}}),
        )
    }

    fn decode_work(work: Value) -> ManifestWork {
        serde_json::from_value(work).expect("a ManifestWork")
    }

    fn cond(type_: &str, status: &str, generation: i64) -> Value {
        json!({"type": type_, "status": status, "reason": "R", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation})
    }

    #[test]
    fn rollout_state_follows_the_current_generation() {
        let s = |w: &ManifestWork| rollout_status(w).status;
        assert_eq!(s(&work(2, json!([]))), rollout::Status::ToApply);
        assert_eq!(
            s(&work(2, json!([cond(APPLIED, "True", 2)]))),
            rollout::Status::ToApply
        );
        assert_eq!(
            s(&work(
                2,
                json!([cond(APPLIED, "True", 1), cond(PROGRESSING, "False", 1)])
            )),
            rollout::Status::ToApply
        );
        assert_eq!(
            s(&work(
                2,
                json!([cond(APPLIED, "True", 2), cond(PROGRESSING, "True", 2)])
            )),
            rollout::Status::Progressing
        );
        assert_eq!(
            s(&work(
                2,
                json!([
                    cond(APPLIED, "True", 2),
                    cond(PROGRESSING, "True", 2),
                    cond(DEGRADED, "True", 2)
                ])
            )),
            rollout::Status::Failed
        );
        assert_eq!(
            s(&work(
                2,
                json!([
                    cond(APPLIED, "True", 2),
                    cond(PROGRESSING, "False", 2),
                    cond(DEGRADED, "False", 2)
                ])
            )),
            rollout::Status::Succeeded
        );
    }

    #[test]
    fn specs_compare_without_timestamps_and_empties() {
        let template: ManifestWorkSpec = serde_json::from_value(json!({"workload": {"manifests": [{"kind": "ConfigMap", "metadata": {"name": "a"}}]}, "manifestConfigs": []})).expect("a spec");
        let stored = |spec: Value| {
            decode_work(json!({"apiVersion": "work.open-cluster-management.io/v1",
                "kind": "ManifestWork", "metadata": {}, "spec": spec}))
        };
        let same = stored(
            json!({"workload": {"manifests": [{"kind": "ConfigMap", "metadata": {"name": "a", "creationTimestamp": null}}]}}),
        );
        assert!(same_spec(&template, &same));
        let changed = stored(
            json!({"workload": {"manifests": [{"kind": "ConfigMap", "metadata": {"name": "b"}}]}}),
        );
        assert!(!same_spec(&template, &changed));
    }
}
