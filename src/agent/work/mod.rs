//! The work half of the agent: ManifestWorks in the cluster's namespace on the hub are
//! applied to the managed cluster and reported back.
//!
//! - A `kube::runtime` controller watches the cluster's ManifestWorks (typed
//!   `api::ocm::ManifestWork`) and reconciles them with bounded concurrency, one reconcile
//!   per work at a time, each work again every `resync` (status feedback).
//! - Each work gets the cleanup finalizer (`kube::runtime::finalizer`), and an
//!   AppliedManifestWork `<sha256(hub URL)>-<work>` on the managed cluster (with its own
//!   finalizer) that owns the applied resources (per `deleteOption`) and lists them.
//! - Manifests are applied in dependency order with their update strategy; kinds are found
//!   by discovery (refreshed when a kind is missing, e.g. after a CRD).
//! - `executor`: each resource must be allowed for the executor's service account on the
//!   managed cluster (a SubjectAccessReview there).
//! - Status: per-manifest `Applied`, `Available`, `StatusFeedbackSynced` and feedback
//!   values; work `Applied`, `Available`, `Progressing`, `Degraded` with
//!   `observedGeneration` (progressing while a workload rolls out, see `progress`); written with uid and resourceVersion preconditions, only when
//!   it changed. A work that cannot be reconciled at all says why in `Applied`.
//! - Resources dropped from a work are deleted unless orphaned; a deleted work is
//!   cleaned up before its finalizer goes; this agent's AppliedManifestWorks whose work is
//!   gone are evicted after a grace period.

pub mod apply;
pub mod feedback;
pub mod ignore;
pub mod progress;
pub mod rules;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex as AsyncMutex;

use crate::api::meta::{now_time, set_status_condition};
use crate::api::ocm::names::{APPLIED_FINALIZER, WORK_FINALIZER};
use crate::api::ocm::work_conditions::{APPLIED, AVAILABLE, DEGRADED, PROGRESSING};
use crate::api::ocm::{
    AppliedManifestResourceMeta, AppliedManifestWork, AppliedManifestWorkSpec, ConditionRule,
    DeleteOption, DeletePropagationPolicyType, FeedbackRule, ManifestCondition,
    ManifestResourceStatus, ManifestWork, ManifestWorkStatus, StatusFeedbackResult,
};
use apply::{Strategy, Target, describe};

/// Works reconciled at once (each work is only ever reconciled by one worker at a time).
const WORKERS: u16 = 4;

/// How soon a work with a failed manifest is looked at again.
const RETRY_FAILED_MANIFESTS: Duration = Duration::from_secs(2);

/// What the work agent runs with.
pub struct WorkAgent {
    pub hub: kube::Client,
    pub spoke: kube::Client,
    pub cluster: String,
    pub agent_id: String,
    /// Lowercase hex SHA-256 of the hub URL.
    pub hub_hash: String,
    pub resync: Duration,
    pub eviction_grace: Duration,
    discovery: AsyncMutex<Option<Arc<kube::Discovery>>>,
    failing: Mutex<BTreeMap<String, Failing>>,
}

/// Why a work was not reconciled.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The work could not be applied or cleaned up; said on the hub and retried.
    #[error("{0}")]
    Failed(String),
    /// A deleted work's resources are still being deleted; looked at again shortly.
    #[error("waiting for the applied resources to be deleted")]
    CleanupPending,
}

/// The hub hash of a hub URL.
pub fn hub_hash(server: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(server.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The identity of an applied resource, version left out.
fn resource_key(r: &AppliedManifestResourceMeta) -> (String, String, String, String) {
    (
        r.group.clone(),
        r.resource.clone(),
        r.namespace.clone(),
        r.name.clone(),
    )
}

impl WorkAgent {
    pub fn new(
        hub: kube::Client,
        spoke: kube::Client,
        cluster: String,
        agent_id: String,
        hub_url: &str,
        resync: Duration,
        eviction_grace: Duration,
    ) -> WorkAgent {
        WorkAgent {
            hub,
            spoke,
            cluster,
            agent_id,
            hub_hash: hub_hash(hub_url),
            resync,
            eviction_grace,
            discovery: AsyncMutex::default(),
            failing: Mutex::default(),
        }
    }

    fn works(&self) -> Api<ManifestWork> {
        Api::namespaced(self.hub.clone(), &self.cluster)
    }

    fn applied_works(&self) -> Api<AppliedManifestWork> {
        Api::all(self.spoke.clone())
    }

    fn applied_name(&self, work: &str) -> String {
        format!("{}-{work}", self.hub_hash)
    }

    async fn discovery(&self, refresh: bool) -> Result<Arc<kube::Discovery>, String> {
        let mut cached = self.discovery.lock().await;
        if let (Some(d), false) = (cached.as_ref(), refresh) {
            return Ok(d.clone());
        }
        let d = Arc::new(
            kube::Discovery::new(self.spoke.clone())
                .run()
                .await
                .map_err(describe)?,
        );
        *cached = Some(d.clone());
        Ok(d)
    }

    /// Runs until aborted: the controller over the cluster's works, and the eviction of
    /// AppliedManifestWorks whose work is gone, every `resync`.
    pub async fn run(self) {
        let agent = Arc::new(self);
        let _evictor = AbortOnDrop(tokio::spawn(evict_periodically(agent.clone())));
        Controller::new(agent.works(), watcher::Config::default())
            .with_config(controller::Config::default().concurrency(WORKERS))
            .run(reconcile, error_policy, agent)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "work controller");
                }
            })
            .await;
    }

    /// A work that could not be reconciled at all (no AppliedManifestWork, an unreadable
    /// managed cluster) says why on the hub: `Applied=False` with the error, so the failure
    /// is visible with kubectl and not only in the agent's log.
    async fn report_failure(&self, work: &ManifestWork, error: &str) {
        if work.meta().deletion_timestamp.is_some() {
            return;
        }
        let mut status = work.status.clone().unwrap_or_default();
        let changed = set_status_condition(
            &mut status.conditions,
            APPLIED,
            "False",
            "AppliedManifestWorkFailed",
            &format!("Failed to apply manifest work: {error}"),
            work.meta().generation,
        );
        if changed && let Err(e) = self.write_status(work, &status).await {
            tracing::debug!(work = work.name_any(), error = %e, "recording the failure on the hub");
        }
    }

    /// A merge patch of the status with the work's uid and resourceVersion as
    /// preconditions (a newer work is reconciled again anyway).
    async fn write_status(
        &self,
        work: &ManifestWork,
        status: &ManifestWorkStatus,
    ) -> Result<(), String> {
        let patch = json!({
            "metadata": {"uid": work.meta().uid, "resourceVersion": work.meta().resource_version},
            "status": status,
        });
        self.works()
            .patch_status(
                &work.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .map(|_| ())
            .map_err(describe)
    }

    /// Applies a work and reports it.
    async fn apply_work(&self, work: &ManifestWork) -> Result<Action, WorkError> {
        let name = work.name_any();
        let amw = self
            .ensure_applied(&name)
            .await
            .map_err(WorkError::Failed)?;
        let outcome = self
            .apply_all(work, &amw)
            .await
            .map_err(WorkError::Failed)?;
        self.record_applied(&amw, work, &outcome)
            .await
            .map_err(WorkError::Failed)?;
        let current = work.status.clone().unwrap_or_default();
        let next = next_status(&current, &outcome, work.meta().generation.unwrap_or(0));
        if next != current {
            self.write_status(work, &next)
                .await
                .map_err(WorkError::Failed)?;
        }
        // A workload still rolling out is looked at again soon, so the rollout that waits
        // on its Progressing condition advances promptly.
        let rolling = crate::api::meta::is_condition_true(&next.conditions, PROGRESSING);
        Ok(Action::requeue(if outcome.retry {
            RETRY_FAILED_MANIFESTS
        } else if rolling {
            self.resync.min(RETRY_FAILED_MANIFESTS)
        } else {
            self.resync
        }))
    }

    async fn ensure_applied(&self, work: &str) -> Result<AppliedManifestWork, String> {
        let api = self.applied_works();
        let name = self.applied_name(work);
        if let Some(existing) = api.get_opt(&name).await.map_err(describe)? {
            return Ok(existing);
        }
        let mut amw = AppliedManifestWork::new(
            &name,
            AppliedManifestWorkSpec {
                hub_hash: self.hub_hash.clone(),
                agent_id: self.agent_id.clone(),
                manifest_work_name: work.to_string(),
            },
        );
        amw.meta_mut().finalizers = Some(vec![APPLIED_FINALIZER.to_string()]);
        api.create(&PostParams::default(), &amw)
            .await
            .map_err(describe)
    }

    /// Applies every manifest of a work in dependency order.
    async fn apply_all(
        &self,
        work: &ManifestWork,
        amw: &AppliedManifestWork,
    ) -> Result<Outcome, String> {
        let manifests: Vec<&Value> = work
            .spec
            .workload
            .iter()
            .flat_map(|w| w.manifests.iter().map(|m| &m.0))
            .collect();
        let owner = amw
            .controller_owner_ref(&())
            .map(|mut r| {
                r.controller = None;
                r.block_owner_deletion = None;
                serde_json::to_value(r).unwrap_or(Value::Null)
            })
            .unwrap_or(Value::Null);
        let executor = work
            .spec
            .executor
            .as_ref()
            .and_then(|e| e.subject.as_ref())
            .and_then(|s| s.service_account.as_ref());
        let mut order: Vec<usize> = (0..manifests.len()).collect();
        order.sort_by_key(|i| apply_rank(manifests[*i].get("kind").and_then(Value::as_str)));
        let mut discovery = self.discovery(false).await?;
        let mut outcome = Outcome::default();
        let mut results: BTreeMap<usize, ManifestResult> = BTreeMap::new();
        for i in order {
            let manifest = manifests[i];
            let mut target = apply::resolve(&discovery, manifest);
            if target.is_err() {
                // A kind a CRD in this work (or elsewhere) just added: look again once.
                discovery = self.discovery(true).await?;
                target = apply::resolve(&discovery, manifest);
            }
            let result = match target {
                Err(e) => ManifestResult::failed(None, e),
                Ok(target) => {
                    let config = work
                        .spec
                        .manifest_configs
                        .iter()
                        .find(|c| target.is(&c.resource_identifier));
                    let strategy = Strategy::from_config(config);
                    let owned = owned(work.spec.delete_option.as_ref(), &target);
                    let checked = match executor {
                        Some(sa) => self.executor_allows(&sa.namespace, &sa.name, &target).await,
                        None => Ok(()),
                    };
                    let applied = match checked {
                        Err(e) => Err(e),
                        Ok(()) => {
                            apply::apply(
                                &self.spoke,
                                &target,
                                manifest.clone(),
                                &strategy,
                                owned.then_some(&owner),
                            )
                            .await
                        }
                    };
                    let m = crate::metrics::get();
                    match &applied {
                        Ok(_) => m.works_applied.inc(),
                        Err(_) => m.apply_errors.inc(),
                    };
                    match applied {
                        Ok(object) => {
                            let value = serde_json::to_value(&object).unwrap_or(Value::Null);
                            let rules =
                                config.map(|c| c.feedback_rules.clone()).unwrap_or_default();
                            let condition_rules = config
                                .map(|c| c.condition_rules.clone())
                                .unwrap_or_default();
                            ManifestResult::applied(target, value, rules, condition_rules)
                        }
                        Err(e) => {
                            outcome.retry = true;
                            ManifestResult::failed(Some(target), e)
                        }
                    }
                }
            };
            results.insert(i, result);
        }
        outcome.manifests = results.into_values().collect();
        Ok(outcome)
    }

    /// `executor`: may the service account write this resource on the managed cluster?
    async fn executor_allows(
        &self,
        namespace: &str,
        name: &str,
        target: &Target,
    ) -> Result<(), String> {
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let reviews: Api<SubjectAccessReview> = Api::all(self.spoke.clone());
        for verb in ["create", "update", "patch", "get"] {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.clone()),
                    groups: Some(vec![
                        "system:serviceaccounts".into(),
                        format!("system:serviceaccounts:{namespace}"),
                        "system:authenticated".into(),
                    ]),
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(target.resource.group.clone()),
                        resource: Some(target.resource.plural.clone()),
                        namespace: Some(target.namespace.clone()),
                        name: Some(target.name.clone()),
                        verb: Some(verb.into()),
                        ..ResourceAttributes::default()
                    }),
                    ..SubjectAccessReviewSpec::default()
                },
                ..SubjectAccessReview::default()
            };
            let answer = reviews
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| format!("checking the executor's permissions: {}", describe(e)))?;
            if !answer.status.is_some_and(|s| s.allowed) {
                return Err(format!(
                    "not allowed to apply the resource {} {}/{} by executor {user}: it may not {verb} it",
                    target.resource.kind, target.namespace, target.name
                ));
            }
        }
        Ok(())
    }

    /// Records what is applied in the AppliedManifestWork and deletes what the work no
    /// longer has (unless orphaned).
    async fn record_applied(
        &self,
        amw: &AppliedManifestWork,
        work: &ManifestWork,
        outcome: &Outcome,
    ) -> Result<(), String> {
        let previous = amw
            .status
            .as_ref()
            .map(|s| s.applied_resources.clone())
            .unwrap_or_default();
        let mut now: Vec<AppliedManifestResourceMeta> = outcome
            .manifests
            .iter()
            .filter(|m| m.applied)
            .filter_map(|m| {
                let t = m.target.as_ref()?;
                let uid = m
                    .object
                    .as_ref()
                    .and_then(|o| o.pointer("/metadata/uid"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some(AppliedManifestResourceMeta {
                    group: t.resource.group.clone(),
                    version: t.resource.version.clone(),
                    resource: t.resource.plural.clone(),
                    namespace: t.namespace.clone(),
                    name: t.name.clone(),
                    uid,
                })
            })
            .collect();
        let current: HashSet<_> = now.iter().map(resource_key).collect();
        // Failed manifests keep their previous record (nothing is deleted for a transient error).
        let failed: HashSet<_> = outcome
            .manifests
            .iter()
            .filter(|m| !m.applied)
            .filter_map(|m| m.target.as_ref())
            .map(|t| {
                (
                    t.resource.group.clone(),
                    t.resource.plural.clone(),
                    t.namespace.clone(),
                    t.name.clone(),
                )
            })
            .collect();
        for old in previous {
            let key = resource_key(&old);
            if current.contains(&key) {
                continue;
            }
            if failed.contains(&key) {
                now.push(old);
                continue;
            }
            if !self
                .delete_applied(&old, work.spec.delete_option.as_ref())
                .await?
            {
                now.push(old); // still being deleted
            }
        }
        now.sort_by_key(resource_key);
        self.set_applied_resources(amw, now).await
    }

    /// Writes `appliedResources` of an AppliedManifestWork when it changed.
    async fn set_applied_resources(
        &self,
        amw: &AppliedManifestWork,
        resources: Vec<AppliedManifestResourceMeta>,
    ) -> Result<(), String> {
        let current = amw.status.as_ref().map(|s| &s.applied_resources);
        if current == Some(&resources) || (current.is_none() && resources.is_empty()) {
            return Ok(());
        }
        self.applied_works()
            .patch_status(
                &amw.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"appliedResources": resources}})),
            )
            .await
            .map(|_| ())
            .map_err(describe)
    }

    /// Deletes one applied resource unless the delete option orphans it. True when it is
    /// gone (or left alone).
    async fn delete_applied(
        &self,
        r: &AppliedManifestResourceMeta,
        delete_option: Option<&DeleteOption>,
    ) -> Result<bool, String> {
        if orphaned(delete_option, r) {
            return Ok(true);
        }
        let discovery = self.discovery(false).await?;
        let Some((ar, caps)) = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.group == r.group && ar.plural == r.resource)
        else {
            return Ok(true); // the kind is gone, so is the object
        };
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(self.spoke.clone(), &r.namespace, &ar)
        } else {
            Api::all_with(self.spoke.clone(), &ar)
        };
        let uid = r.uid.clone().unwrap_or_default();
        // Any 404 means gone: the object, or its whole kind when its CRD went first (then
        // the answer is kube's plain-text "404 page not found", which `get_opt` does not
        // take for NotFound, and the cleanup would never finish).
        let found = match api.get(&r.name).await {
            Ok(o) => Some(o),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => return Err(describe(e)),
        };
        match found {
            None => Ok(true),
            Some(o) if !uid.is_empty() && o.metadata.uid.as_deref() != Some(uid.as_str()) => {
                Ok(true)
            } // replaced by someone else
            Some(o) if o.metadata.deletion_timestamp.is_some() => Ok(false),
            Some(_) => {
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    preconditions: (!uid.is_empty()).then_some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&r.name, &params).await {
                    Ok(either) => Ok(either.is_right()),
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(true),
                    Err(e) => Err(describe(e)),
                }
            }
        }
    }

    /// Deletes what a work applied and its AppliedManifestWork (named for `hub_hash`).
    /// True when done.
    async fn clean_up(
        &self,
        hub_hash: &str,
        work: &str,
        delete_option: Option<&DeleteOption>,
    ) -> Result<bool, String> {
        let api = self.applied_works();
        let name = format!("{hub_hash}-{work}");
        let Some(amw) = api.get_opt(&name).await.map_err(describe)? else {
            return Ok(true);
        };
        let mut left = Vec::new();
        for r in amw
            .status
            .as_ref()
            .map(|s| s.applied_resources.clone())
            .unwrap_or_default()
        {
            if !self.delete_applied(&r, delete_option).await? {
                left.push(r);
            }
        }
        if !left.is_empty() {
            let _ = self.set_applied_resources(&amw, left).await;
            return Ok(false);
        }
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .map_err(describe)?;
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
            Err(e) => Err(describe(e)),
        }
    }

    /// This agent's AppliedManifestWorks (by `spec.agentID`: other agents on the same
    /// managed cluster, of this hub or another, keep theirs) whose work is gone from the
    /// hub, or that were made for another hub this agent was joined to before, are cleaned
    /// up after the grace period; the clock stops if the work comes back.
    async fn evict(&self, works: &HashSet<String>) {
        let api = self.applied_works();
        let Ok(list) = api.list(&ListParams::default()).await else {
            return;
        };
        let now = k8s_openapi::jiff::Timestamp::now();
        for amw in list
            .items
            .into_iter()
            .filter(|a| a.spec.agent_id == self.agent_id)
        {
            let name = amw.name_any();
            let work = amw.spec.manifest_work_name.clone();
            let ours = name == self.applied_name(&work);
            let started = amw
                .status
                .as_ref()
                .and_then(|s| s.eviction_start_time.clone());
            let set_start =
                |start: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
                    let api = api.clone();
                    let name = name.clone();
                    async move {
                        let _ = api
                            .patch_status(
                                &name,
                                &PatchParams::default(),
                                &Patch::Merge(json!({"status": {"evictionStartTime": start}})),
                            )
                            .await;
                    }
                };
            if ours && works.contains(&work) {
                if started.is_some() {
                    set_start(None).await;
                }
                continue;
            }
            match started {
                None => {
                    set_start(Some(now_time())).await;
                    tracing::info!(
                        applied = name,
                        "its ManifestWork is gone; evicting after the grace period"
                    );
                }
                Some(t) if now.duration_since(t.0).unsigned_abs() >= self.eviction_grace => {
                    match self.clean_up(&amw.spec.hub_hash, &work, None).await {
                        Ok(true) => tracing::info!(applied = name, "evicted"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(applied = name, error = %e, "eviction failed"),
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// One reconcile of a work: the finalizer, then apply (or clean up a deleted work).
async fn reconcile(work: Arc<ManifestWork>, agent: Arc<WorkAgent>) -> Result<Action, WorkError> {
    let name = work.name_any();
    let api = agent.works();
    let seen = work.clone();
    let result = finalizer(&api, WORK_FINALIZER, work, |event| async {
        match event {
            Event::Apply(w) => agent.apply_work(&w).await,
            Event::Cleanup(w) => {
                let delete_option = w.spec.delete_option.as_ref();
                match agent.clean_up(&agent.hub_hash, &name, delete_option).await {
                    Ok(true) => {
                        tracing::info!(work = name, "ManifestWork cleaned up");
                        Ok(Action::await_change())
                    }
                    Ok(false) => Err(WorkError::CleanupPending),
                    Err(e) => Err(WorkError::Failed(e)),
                }
            }
        }
    })
    .await;
    match result {
        Ok(action) => {
            agent
                .failing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&name);
            Ok(action)
        }
        Err(kube::runtime::finalizer::Error::ApplyFailed(e))
        | Err(kube::runtime::finalizer::Error::CleanupFailed(e)) => {
            if let WorkError::Failed(message) = &e {
                agent.report_failure(&seen, message).await;
            }
            Err(e)
        }
        Err(other) => {
            // The hub's finalizer could not be added or removed: say so on the work too,
            // in case the hub takes the status write that refused the finalizer.
            let message = other.to_string();
            agent.report_failure(&seen, &message).await;
            Err(WorkError::Failed(message))
        }
    }
}

/// When to try a failed work again (see [`Failing`]).
fn error_policy(work: Arc<ManifestWork>, error: &WorkError, agent: Arc<WorkAgent>) -> Action {
    if let WorkError::CleanupPending = error {
        return Action::requeue(Duration::from_millis(500));
    }
    let name = work.name_any();
    let delay = agent
        .failing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.clone())
        .or_default()
        .failed(&name, &error.to_string());
    Action::requeue(delay)
}

/// Every `resync`: the names of the cluster's works, then [`WorkAgent::evict`].
async fn evict_periodically(agent: Arc<WorkAgent>) {
    let mut every = tokio::time::interval(agent.resync);
    loop {
        every.tick().await;
        match agent.works().list_metadata(&ListParams::default()).await {
            Ok(list) => {
                let names: HashSet<String> = list.items.iter().map(ResourceExt::name_any).collect();
                agent.evict(&names).await;
            }
            Err(e) => tracing::debug!(error = %e, "listing ManifestWorks"),
        }
    }
}

/// The order manifests are applied in, whatever their order in the work: what others
/// depend on first (namespaces and CRDs, then identities and policies, configuration,
/// services), workloads after them, then admission webhooks and API services (which may
/// need the workloads running), and kinds not named last, in their order in the work (as
/// upstream's agent orders them).
fn apply_rank(kind: Option<&str>) -> u8 {
    match kind.unwrap_or("") {
        "Namespace"
        | "CustomResourceDefinition"
        | "PriorityClass"
        | "StorageClass"
        | "PersistentVolume" => 0,
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => 1,
        "NetworkPolicy"
        | "ResourceQuota"
        | "LimitRange"
        | "PodDisruptionBudget"
        | "ServiceAccount" => 2,
        "Secret" | "ConfigMap" | "PersistentVolumeClaim" => 3,
        "Service" | "Ingress" => 4,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job"
        | "CronJob"
        | "Pod"
        | "HorizontalPodAutoscaler" => 5,
        "APIService"
        | "MutatingWebhookConfiguration"
        | "ValidatingWebhookConfiguration"
        | "ValidatingAdmissionPolicy"
        | "ValidatingAdmissionPolicyBinding" => 6,
        _ => 7,
    }
}

/// Whether the AppliedManifestWork owns `target` under the work's delete option.
fn owned(delete_option: Option<&DeleteOption>, target: &Target) -> bool {
    match delete_option.map(|d| &d.propagation_policy) {
        Some(DeletePropagationPolicyType::Orphan) => false,
        Some(DeletePropagationPolicyType::SelectivelyOrphan) => !delete_option
            .and_then(|d| d.selectively_orphan.as_ref())
            .is_some_and(|s| s.orphaning_rules.iter().any(|rule| target.is(rule))),
        _ => true,
    }
}

/// Whether the delete option keeps an applied resource when its work lets go of it.
fn orphaned(delete_option: Option<&DeleteOption>, r: &AppliedManifestResourceMeta) -> bool {
    match delete_option.map(|d| &d.propagation_policy) {
        Some(DeletePropagationPolicyType::Orphan) => true,
        Some(DeletePropagationPolicyType::SelectivelyOrphan) => delete_option
            .and_then(|d| d.selectively_orphan.as_ref())
            .is_some_and(|s| {
                s.orphaning_rules.iter().any(|rule| {
                    rule.group == r.group
                        && rule.resource == r.resource
                        && rule.namespace == r.namespace
                        && rule.name == r.name
                })
            }),
        _ => false,
    }
}

/// A work whose reconcile keeps failing: when to try again, and when it was last reported
/// at WARN (at most once a minute per work; the first failures only at DEBUG, since most
/// are conflicts or outages that the next try resolves).
#[derive(Default)]
struct Failing {
    count: u32,
    warned: Option<std::time::Instant>,
}

impl Failing {
    const WARN_AFTER: u32 = 3;
    const WARN_EVERY: Duration = Duration::from_secs(60);

    /// Records one more failure; returns the delay before the next try (0.5 s doubling to
    /// 30 s).
    fn failed(&mut self, work: &str, error: &str) -> Duration {
        self.count = self.count.saturating_add(1);
        let due = self
            .warned
            .is_none_or(|at| at.elapsed() >= Self::WARN_EVERY);
        if self.count >= Self::WARN_AFTER && due {
            self.warned = Some(std::time::Instant::now());
            tracing::warn!(
                work,
                failures = self.count,
                error,
                "ManifestWork keeps failing to apply"
            );
        } else {
            tracing::debug!(
                work,
                failures = self.count,
                error,
                "reconcile failed; retrying"
            );
        }
        Duration::from_millis(500u64 << (self.count - 1).min(6)).min(Duration::from_secs(30))
    }
}

/// The result of one manifest.
struct ManifestResult {
    target: Option<Target>,
    applied: bool,
    error: Option<String>,
    object: Option<Value>,
    rules: Vec<FeedbackRule>,
    condition_rules: Vec<ConditionRule>,
}

impl ManifestResult {
    fn failed(target: Option<Target>, error: String) -> ManifestResult {
        ManifestResult {
            target,
            applied: false,
            error: Some(error),
            object: None,
            rules: Vec::new(),
            condition_rules: Vec::new(),
        }
    }
    fn applied(
        target: Target,
        object: Value,
        rules: Vec<FeedbackRule>,
        condition_rules: Vec<ConditionRule>,
    ) -> ManifestResult {
        ManifestResult {
            target: Some(target),
            applied: true,
            error: None,
            object: Some(object),
            rules,
            condition_rules,
        }
    }
}

#[derive(Default)]
struct Outcome {
    manifests: Vec<ManifestResult>,
    /// Something failed: look again soon.
    retry: bool,
}

/// The work's status from what applying found, keeping transition times of conditions
/// that did not change.
fn next_status(old: &ManifestWorkStatus, outcome: &Outcome, generation: i64) -> ManifestWorkStatus {
    let previous = old
        .resource_status
        .as_ref()
        .map(|r| r.manifests.as_slice())
        .unwrap_or_default();
    let mut manifests = Vec::new();
    let (mut applied, mut available) = (0, 0);
    // Resources still rolling out, and those that cannot (see `progress`).
    let (mut rolling, mut stuck) = (Vec::new(), Vec::new());
    // Each manifest's condition-rule results (see `rules`).
    let mut ruled = Vec::new();
    for (ordinal, m) in outcome.manifests.iter().enumerate() {
        let meta = m.target.as_ref().map_or_else(
            || crate::api::ocm::ManifestResourceMeta {
                ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
                ..Default::default()
            },
            |t| t.meta(ordinal),
        );
        // Keep transition times: start from this manifest's previous entry.
        let mut entry = previous
            .iter()
            .find(|o| o.resource_meta == meta)
            .cloned()
            .unwrap_or_else(|| ManifestCondition {
                resource_meta: meta.clone(),
                ..ManifestCondition::default()
            });
        let mut results = Vec::new();
        let conditions = &mut entry.conditions;
        match &m.error {
            None => {
                applied += 1;
                set_status_condition(
                    conditions,
                    APPLIED,
                    "True",
                    "AppliedManifestComplete",
                    "Apply manifest complete",
                    None,
                );
            }
            Some(e) => {
                set_status_condition(
                    conditions,
                    APPLIED,
                    "False",
                    "AppliedManifestFailed",
                    &format!("Failed to apply manifest: {e}"),
                    None,
                );
            }
        }
        match (&m.object, &m.target) {
            (Some(object), Some(t)) => {
                available += 1;
                results = rules::evaluate(
                    &m.condition_rules,
                    &t.resource.group,
                    &t.resource.kind,
                    object,
                );
                match progress::progress(&t.resource.group, &t.resource.kind, object) {
                    progress::Progress::Done => {}
                    progress::Progress::Progressing(why) => rolling.push(why),
                    progress::Progress::Degraded(why) => stuck.push(why),
                }
                set_status_condition(
                    conditions,
                    AVAILABLE,
                    "True",
                    "ResourceAvailable",
                    "Resource is available",
                    None,
                );
                let (values, error) =
                    feedback::evaluate(&m.rules, &t.resource.group, &t.resource.kind, object);
                entry.status_feedbacks = Some(StatusFeedbackResult { values });
                if !m.rules.is_empty() {
                    match error {
                        None => set_status_condition(
                            &mut entry.conditions,
                            "StatusFeedbackSynced",
                            "True",
                            "StatusFeedbackSynced",
                            "All values are synced",
                            None,
                        ),
                        Some(e) => set_status_condition(
                            &mut entry.conditions,
                            "StatusFeedbackSynced",
                            "False",
                            "StatusFeedbackSyncFailed",
                            &e,
                            None,
                        ),
                    };
                }
            }
            (_, None) => {
                set_status_condition(
                    conditions,
                    AVAILABLE,
                    "Unknown",
                    "IncompletedResourceMeta",
                    "Resource meta is incompleted",
                    None,
                );
            }
            _ => {
                set_status_condition(
                    conditions,
                    AVAILABLE,
                    "Unknown",
                    "FetchingResourceFailed",
                    "Failed to fetch the resource",
                    None,
                );
            }
        }
        // Rule conditions at this generation; those no rule gives any more go.
        entry.conditions.retain(|c| {
            !c.reason.starts_with(rules::PREFIX) || results.iter().any(|r| r.condition == c.type_)
        });
        for r in &results {
            set_status_condition(
                &mut entry.conditions,
                &r.condition,
                r.status,
                r.reason,
                &r.message,
                Some(generation),
            );
        }
        ruled.push(results);
        manifests.push(entry);
    }
    let mut status = old.clone();
    status.resource_status = Some(ManifestResourceStatus { manifests });
    let total = outcome.manifests.len();
    let failed = total - applied;
    let generation = Some(generation);
    let conditions = &mut status.conditions;
    // (status, reason, message) of Applied, Progressing and Degraded.
    let failed_message = format!("{failed} of {total} manifests failed to apply");
    let applied_message =
        format!("Failed to apply manifest work: {failed} of {total} manifests failed");
    let not_degraded = ("False", "Completed", "No manifest failed");
    let [applied, progressing, degraded] = if failed > 0 {
        [
            (
                "False",
                "AppliedManifestWorkFailed",
                applied_message.as_str(),
            ),
            ("True", "Applying", "Some manifests are not applied yet"),
            ("True", "Failed", failed_message.as_str()),
        ]
    } else {
        let applied = (
            "True",
            "AppliedManifestWorkComplete",
            "Apply manifest work complete",
        );
        match (rolling.first(), stuck.first()) {
            (_, Some(why)) => [
                applied,
                ("True", "Rollout", why.as_str()),
                ("True", "RolloutFailed", why.as_str()),
            ],
            (Some(why), None) => [applied, ("True", "Rollout", why.as_str()), not_degraded],
            (None, None) => [
                applied,
                ("False", "Completed", "All manifests are applied"),
                not_degraded,
            ],
        }
    };
    for (type_, (status, reason, message)) in [
        (APPLIED, applied),
        (PROGRESSING, progressing),
        (DEGRADED, degraded),
    ] {
        set_status_condition(conditions, type_, status, reason, message, generation);
    }
    // Conditions from rules, aggregated, take precedence over the defaults above.
    let aggregated = rules::aggregate(&ruled);
    conditions
        .retain(|c| !c.reason.starts_with(rules::PREFIX) || aggregated.contains_key(&c.type_));
    for (type_, (status, message)) in &aggregated {
        set_status_condition(
            conditions,
            type_,
            status,
            rules::AGGREGATED,
            message,
            generation,
        );
    }
    if available == total {
        set_status_condition(
            conditions,
            AVAILABLE,
            "True",
            "ResourcesAvailable",
            "All resources are available",
            generation,
        );
    } else {
        set_status_condition(
            conditions,
            AVAILABLE,
            "False",
            "ResourcesNotAvailable",
            &format!(
                "{} of {total} resources are not available",
                total - available
            ),
            generation,
        );
    }
    status
}

/// Stops a task when dropped (with the future that owns it).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_apply_in_dependency_order_unknown_kinds_last() {
        let kinds = [
            "Widget",
            "ValidatingWebhookConfiguration",
            "Deployment",
            "Service",
            "ConfigMap",
            "ServiceAccount",
            "RoleBinding",
            "CustomResourceDefinition",
            "Namespace",
        ];
        let mut sorted = kinds.to_vec();
        sorted.sort_by_key(|k| apply_rank(Some(k)));
        assert_eq!(
            sorted,
            [
                "CustomResourceDefinition",
                "Namespace",
                "RoleBinding",
                "ServiceAccount",
                "ConfigMap",
                "Service",
                "Deployment",
                "ValidatingWebhookConfiguration",
                "Widget",
            ]
        );
        assert_eq!(apply_rank(None), apply_rank(Some("Widget")));
    }

    #[test]
    fn failing_work_backs_off_to_thirty_seconds() {
        let mut f = Failing::default();
        let delays: Vec<u64> = (0..9)
            .map(|_| f.failed("w", "boom").as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert!(f.warned.is_some(), "warned once it kept failing");
    }

    #[test]
    fn a_failing_work_warns_from_the_third_failure_at_most_once_a_minute() {
        let mut f = Failing::default();
        f.failed("w", "boom");
        f.failed("w", "boom");
        assert!(f.warned.is_none(), "two failures are not worth a warning");
        f.failed("w", "boom");
        let first = f.warned.expect("the third failure warns");
        f.failed("w", "boom");
        assert_eq!(f.warned, Some(first), "no second warning within a minute");
        // A minute later the next failure warns again.
        let earlier = first.checked_sub(Failing::WARN_EVERY);
        f.warned = earlier;
        f.failed("w", "boom");
        assert!(f.warned.is_some_and(|at| Some(at) != earlier));
    }
}
