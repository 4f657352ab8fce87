//! The work half of the agent: ManifestWorks in the cluster's namespace on the hub are
//! applied to the managed cluster and reported back.
//!
//! - Each work gets the cleanup finalizer, and an AppliedManifestWork
//!   `<sha256(hub URL)>-<work>` on the managed cluster (with its own finalizer) that owns
//!   the applied resources (per `deleteOption`) and lists them in its status.
//! - Manifests are applied Namespaces and CRDs first, with their update strategy; kinds
//!   are found by discovery (refreshed when a kind is missing, e.g. after a CRD).
//! - `executor`: each resource must be allowed for the executor's service account on the
//!   managed cluster (a SubjectAccessReview there).
//! - Status: per-manifest `Applied`, `Available`, `StatusFeedbackSynced` and feedback
//!   values; work `Applied`, `Available`, `Progressing`, `Degraded` with
//!   `observedGeneration`; written with uid and resourceVersion preconditions, only when
//!   it changed.
//! - Resources dropped from a work are deleted unless orphaned; a deleted work is
//!   cleaned up before its finalizer goes; AppliedManifestWorks whose work is gone are
//!   evicted after a grace period.
//!
//! Event-driven through a watch on the works, with a periodic resync of every work.

pub mod apply;
pub mod feedback;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::rest::{Rest, RestError, query};
use crate::api::meta::set_condition;
use crate::api::ocm::names::{APPLIED_FINALIZER, WORK_FINALIZER};
use apply::{Strategy, Target, describe};

const AMW_API: &str = "work.open-cluster-management.io/v1";

/// What the work agent runs with.
#[derive(Clone)]
pub struct WorkAgent {
    pub hub: Rest,
    pub spoke: kube::Client,
    pub cluster: String,
    pub agent_id: String,
    /// Lowercase hex SHA-256 of the hub URL.
    pub hub_hash: String,
    pub resync: Duration,
    pub eviction_grace: Duration,
    discovery: Arc<Mutex<Option<Arc<kube::Discovery>>>>,
}

/// The hub hash of a hub URL.
pub fn hub_hash(server: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(server.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn works_path(cluster: &str) -> String {
    format!("/apis/work.open-cluster-management.io/v1/namespaces/{cluster}/manifestworks")
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The identity of an applied resource, version left out.
fn resource_key(r: &Value) -> (String, String, String, String) {
    let t = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    (t("group"), t("resource"), t("namespace"), t("name"))
}

impl WorkAgent {
    pub fn new(
        hub: Rest,
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
            discovery: Arc::default(),
        }
    }

    fn amw_api(&self) -> Api<DynamicObject> {
        let ar = kube::discovery::ApiResource {
            group: "work.open-cluster-management.io".into(),
            version: "v1".into(),
            api_version: AMW_API.into(),
            kind: "AppliedManifestWork".into(),
            plural: "appliedmanifestworks".into(),
        };
        Api::all_with(self.spoke.clone(), &ar)
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

    /// Runs until aborted: watch-driven reconciles plus a resync of every work.
    pub async fn run(self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let _watcher = AbortOnDrop(tokio::spawn(watch_works(
            self.hub.clone(),
            self.cluster.clone(),
            tx.clone(),
        )));
        let mut resync = tokio::time::interval(self.resync);
        let mut pending: HashSet<String> = HashSet::new();
        let mut failing: BTreeMap<String, Failing> = BTreeMap::new();
        loop {
            tokio::select! {
                Some(name) = rx.recv() => { pending.insert(name); }
                _ = resync.tick() => {
                    match self.hub.get(&works_path(&self.cluster)).await {
                        Ok(list) => {
                            let names: Vec<String> = list["items"].as_array().into_iter().flatten()
                                .map(|w| text(w, "/metadata/name").to_string()).collect();
                            pending.extend(names.iter().cloned());
                            self.evict(&names).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "listing ManifestWorks"),
                    }
                }
            }
            while let Ok(name) = rx.try_recv() {
                pending.insert(name);
            }
            for name in std::mem::take(&mut pending) {
                let delay = match self.reconcile(&name).await {
                    Ok(delay) => {
                        failing.remove(&name);
                        delay
                    }
                    Err(e) => {
                        let state = failing.entry(name.clone()).or_default();
                        let delay = state.failed(&name, &e);
                        self.report_failure(&name, &e).await;
                        Some(delay)
                    }
                };
                if let Some(delay) = delay {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(name);
                    });
                }
            }
        }
    }

    /// One work: returns when to look again.
    async fn reconcile(&self, name: &str) -> Result<Option<Duration>, String> {
        let path = format!("{}/{name}", works_path(&self.cluster));
        let Some(work) = self.hub.get_opt(&path).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let finalizers: Vec<Value> = work
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_finalizer = finalizers.iter().any(|f| f == WORK_FINALIZER);
        if work.pointer("/metadata/deletionTimestamp").is_some() {
            if !has_finalizer {
                return Ok(None);
            }
            if !self.clean_up(name).await? {
                return Ok(Some(Duration::from_millis(500)));
            }
            let kept: Vec<Value> = finalizers
                .into_iter()
                .filter(|f| f != WORK_FINALIZER)
                .collect();
            self.patch_work(&path, &work, json!({"metadata": {"finalizers": kept}}))
                .await?;
            tracing::info!(work = name, "ManifestWork cleaned up");
            return Ok(None);
        }
        if !has_finalizer {
            let mut all = finalizers;
            all.push(json!(WORK_FINALIZER));
            self.patch_work(&path, &work, json!({"metadata": {"finalizers": all}}))
                .await?;
            return Ok(None); // the update comes back through the watch
        }
        let amw = self.ensure_applied(name).await?;
        let owner = json!({"apiVersion": AMW_API, "kind": "AppliedManifestWork",
            "name": amw.metadata.name, "uid": amw.metadata.uid});
        let outcome = self.apply_all(&work, &owner).await?;
        self.record_applied(&amw, &work, &outcome).await?;
        let mut next = work.clone();
        write_status(&mut next, &outcome);
        if next.get("status") != work.get("status") {
            self.patch_work(
                &format!("{path}/status"),
                &work,
                json!({"status": next["status"]}),
            )
            .await?;
        }
        Ok(outcome.retry.then_some(Duration::from_secs(2)))
    }

    /// A work that could not be reconciled at all (no AppliedManifestWork, an unreadable
    /// managed cluster) says why on the hub: `Applied=False` with the error, so the failure
    /// is visible with kubectl and not only in the agent's log.
    async fn report_failure(&self, name: &str, error: &str) {
        let path = format!("{}/{name}", works_path(&self.cluster));
        let Ok(Some(work)) = self.hub.get_opt(&path).await else {
            return;
        };
        if work.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let mut next = work.clone();
        set_condition(
            &mut next,
            "Applied",
            "False",
            "AppliedManifestWorkFailed",
            &format!("Failed to apply manifest work: {error}"),
        );
        let generation = work.pointer("/metadata/generation").cloned();
        if let Some(c) = next
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
            .and_then(|cs| cs.iter_mut().find(|c| c["type"] == "Applied"))
        {
            c["observedGeneration"] = generation.unwrap_or(json!(0));
        }
        if next.get("status") == work.get("status") {
            return;
        }
        let patch = json!({"status": {"conditions": next["status"]["conditions"]}});
        if let Err(e) = self
            .patch_work(&format!("{path}/status"), &work, patch)
            .await
        {
            tracing::debug!(work = name, error = %e, "recording the failure on the hub");
        }
    }

    /// A merge patch with the object's uid and resourceVersion as preconditions.
    async fn patch_work(&self, path: &str, work: &Value, mut patch: Value) -> Result<(), String> {
        if !patch.get("metadata").is_some_and(Value::is_object) {
            patch["metadata"] = json!({});
        }
        patch["metadata"]["uid"] = work["metadata"]["uid"].clone();
        patch["metadata"]["resourceVersion"] = work["metadata"]["resourceVersion"].clone();
        self.hub
            .merge_patch(path, &patch)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn ensure_applied(&self, work: &str) -> Result<DynamicObject, String> {
        let api = self.amw_api();
        let name = format!("{}-{work}", self.hub_hash);
        if let Some(existing) = api.get_opt(&name).await.map_err(describe)? {
            return Ok(existing);
        }
        let amw: DynamicObject = serde_json::from_value(json!({"apiVersion": AMW_API, "kind": "AppliedManifestWork",
            "metadata": {"name": name, "finalizers": [APPLIED_FINALIZER]},
            "spec": {"hubHash": self.hub_hash, "agentID": self.agent_id, "manifestWorkName": work}}))
        .map_err(|e| e.to_string())?;
        api.create(&PostParams::default(), &amw)
            .await
            .map_err(describe)
    }

    /// Applies every manifest of a work, Namespaces and CRDs first.
    async fn apply_all(&self, work: &Value, owner: &Value) -> Result<Outcome, String> {
        let manifests: Vec<Value> = work
            .pointer("/spec/workload/manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let configs: Vec<Value> = work
            .pointer("/spec/manifestConfigs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let delete_option = work
            .pointer("/spec/deleteOption")
            .cloned()
            .unwrap_or(Value::Null);
        let executor = work
            .pointer("/spec/executor/subject/serviceAccount")
            .cloned();
        let mut order: Vec<usize> = (0..manifests.len()).collect();
        order.sort_by_key(|i| apply_rank(manifests[*i].get("kind").and_then(Value::as_str)));
        let mut discovery = self.discovery(false).await?;
        let mut outcome = Outcome {
            generation: work
                .pointer("/metadata/generation")
                .cloned()
                .unwrap_or(json!(0)),
            ..Outcome::default()
        };
        let mut results: BTreeMap<usize, ManifestResult> = BTreeMap::new();
        for i in order {
            let manifest = &manifests[i];
            let mut target = apply::resolve(&discovery, manifest);
            if target.is_err() {
                // A kind a CRD in this work (or elsewhere) just added: look again once.
                discovery = self.discovery(true).await?;
                target = apply::resolve(&discovery, manifest);
            }
            let result = match target {
                Err(e) => ManifestResult::failed(None, e),
                Ok(target) => {
                    let config = configs.iter().find(|c| matches_config(c, &target));
                    let strategy = Strategy::from_config(config);
                    let owned = owned(&delete_option, &target);
                    if let Err(e) = self.executor_allows(executor.as_ref(), &target).await {
                        outcome.retry = true;
                        ManifestResult::failed(Some(target), e)
                    } else {
                        match apply::apply(
                            &self.spoke,
                            &target,
                            manifest.clone(),
                            &strategy,
                            owned.then_some(owner),
                        )
                        .await
                        {
                            Ok(object) => {
                                let value = serde_json::to_value(&object).unwrap_or(Value::Null);
                                let rules: Vec<Value> = config
                                    .and_then(|c| c.get("feedbackRules"))
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default();
                                ManifestResult::applied(target, value, rules)
                            }
                            Err(e) => {
                                outcome.retry = true;
                                ManifestResult::failed(Some(target), e)
                            }
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
        executor: Option<&Value>,
        target: &Target,
    ) -> Result<(), String> {
        let Some(sa) = executor else {
            return Ok(());
        };
        let user = format!(
            "system:serviceaccount:{}:{}",
            text(sa, "/namespace"),
            text(sa, "/name")
        );
        let rest = Rest::new(self.spoke.clone());
        for verb in ["create", "update", "patch", "get"] {
            let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", text(sa, "/namespace")), "system:authenticated"],
                    "resourceAttributes": {"group": target.resource.group, "resource": target.resource.plural,
                        "namespace": target.namespace, "name": target.name, "verb": verb}}});
            let answer = rest
                .post(
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    &review,
                )
                .await
                .map_err(|e| format!("checking the executor's permissions: {e}"))?;
            if answer.pointer("/status/allowed").and_then(Value::as_bool) != Some(true) {
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
        amw: &DynamicObject,
        work: &Value,
        outcome: &Outcome,
    ) -> Result<(), String> {
        let api = self.amw_api();
        let previous: Vec<Value> = amw
            .data
            .pointer("/status/appliedResources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut now: Vec<Value> = outcome
            .manifests
            .iter()
            .filter_map(|m| {
                let t = m.target.as_ref()?;
                let uid = m.object.as_ref().map(|o| text(o, "/metadata/uid").to_string()).unwrap_or_default();
                m.applied.then(|| json!({"group": t.resource.group, "version": t.resource.version, "resource": t.resource.plural,
                    "namespace": t.namespace, "name": t.name, "uid": uid}))
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
        let delete_option = work
            .pointer("/spec/deleteOption")
            .cloned()
            .unwrap_or(Value::Null);
        for old in previous {
            let key = resource_key(&old);
            if current.contains(&key) {
                continue;
            }
            if failed.contains(&key) {
                now.push(old);
                continue;
            }
            if !self.delete_applied(&old, &delete_option).await? {
                now.push(old); // still being deleted
            }
        }
        now.sort_by_key(resource_key);
        if amw.data.pointer("/status/appliedResources") == Some(&Value::Array(now.clone())) {
            return Ok(());
        }
        let name = amw.metadata.name.clone().unwrap_or_default();
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"appliedResources": now}})),
        )
        .await
        .map(|_| ())
        .map_err(describe)
    }

    /// Deletes one applied resource unless the delete option orphans it. True when it is
    /// gone (or left alone).
    async fn delete_applied(&self, r: &Value, delete_option: &Value) -> Result<bool, String> {
        let policy = text(delete_option, "/propagationPolicy");
        let (group, resource, namespace, name) = resource_key(r);
        let orphaned = policy == "Orphan"
            || (policy == "SelectivelyOrphan"
                && delete_option
                    .pointer("/selectivelyOrphans/orphaningRules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        text(rule, "/group") == group
                            && text(rule, "/resource") == resource
                            && text(rule, "/namespace") == namespace
                            && text(rule, "/name") == name
                    }));
        if orphaned {
            return Ok(true);
        }
        let discovery = self.discovery(false).await?;
        let Some((ar, caps)) = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.group == group && ar.plural == resource)
        else {
            return Ok(true); // the kind is gone, so is the object
        };
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(self.spoke.clone(), &namespace, &ar)
        } else {
            Api::all_with(self.spoke.clone(), &ar)
        };
        let uid = text(r, "/uid").to_string();
        match api.get_opt(&name).await.map_err(describe)? {
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
                match api.delete(&name, &params).await {
                    Ok(either) => Ok(either.is_right()),
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(true),
                    Err(e) => Err(describe(e)),
                }
            }
        }
    }

    /// Deletes what a deleted work applied and its AppliedManifestWork. True when done.
    async fn clean_up(&self, work: &str) -> Result<bool, String> {
        let api = self.amw_api();
        let name = format!("{}-{work}", self.hub_hash);
        let Some(amw) = api.get_opt(&name).await.map_err(describe)? else {
            return Ok(true);
        };
        let hub_work = self
            .hub
            .get_opt(&format!("{}/{work}", works_path(&self.cluster)))
            .await
            .ok()
            .flatten();
        let delete_option = hub_work
            .as_ref()
            .and_then(|w| w.pointer("/spec/deleteOption").cloned())
            .unwrap_or(Value::Null);
        let applied: Vec<Value> = amw
            .data
            .pointer("/status/appliedResources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut left = Vec::new();
        for r in applied {
            if !self.delete_applied(&r, &delete_option).await? {
                left.push(r);
            }
        }
        if !left.is_empty() {
            let _ = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"appliedResources": left}})),
                )
                .await;
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
    async fn evict(&self, works: &[String]) {
        let api = self.amw_api();
        let Ok(list) = api.list(&Default::default()).await else {
            return;
        };
        let now = time::OffsetDateTime::now_utc();
        for amw in list
            .items
            .into_iter()
            .filter(|a| text(&a.data, "/spec/agentID") == self.agent_id)
        {
            let name = amw.metadata.name.clone().unwrap_or_default();
            let work = text(&amw.data, "/spec/manifestWorkName").to_string();
            let ours = name == format!("{}-{work}", self.hub_hash);
            let started = amw
                .data
                .pointer("/status/evictionStartTime")
                .and_then(Value::as_str)
                .and_then(crate::api::meta::parse_time);
            if ours && works.contains(&work) {
                if started.is_some() {
                    let _ = api
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": {"evictionStartTime": null}})),
                        )
                        .await;
                }
                continue;
            }
            match started {
                None => {
                    let stamp = crate::api::meta::now_rfc3339();
                    let _ = api
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": {"evictionStartTime": stamp}})),
                        )
                        .await;
                    tracing::info!(
                        applied = name,
                        "its ManifestWork is gone; evicting after the grace period"
                    );
                }
                Some(t) if (now - t).unsigned_abs() >= self.eviction_grace => {
                    let hash = text(&amw.data, "/spec/hubHash").to_string();
                    let evictor = WorkAgent {
                        hub_hash: hash,
                        ..self.clone()
                    };
                    match evictor.clean_up(&work).await {
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

/// Whether a manifestConfig's resourceIdentifier names `target`.
fn matches_config(config: &Value, target: &Target) -> bool {
    let id = config
        .get("resourceIdentifier")
        .cloned()
        .unwrap_or(Value::Null);
    text(&id, "/group") == target.resource.group
        && text(&id, "/resource") == target.resource.plural
        && text(&id, "/namespace") == target.namespace
        && text(&id, "/name") == target.name
}

/// Whether the AppliedManifestWork owns `target` under the work's delete option.
fn owned(delete_option: &Value, target: &Target) -> bool {
    match text(delete_option, "/propagationPolicy") {
        "Orphan" => false,
        "SelectivelyOrphan" => !delete_option
            .pointer("/selectivelyOrphans/orphaningRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|rule| {
                text(rule, "/group") == target.resource.group
                    && text(rule, "/resource") == target.resource.plural
                    && text(rule, "/namespace") == target.namespace
                    && text(rule, "/name") == target.name
            }),
        _ => true,
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
    rules: Vec<Value>,
}

impl ManifestResult {
    fn failed(target: Option<Target>, error: String) -> ManifestResult {
        ManifestResult {
            target,
            applied: false,
            error: Some(error),
            object: None,
            rules: Vec::new(),
        }
    }
    fn applied(target: Target, object: Value, rules: Vec<Value>) -> ManifestResult {
        ManifestResult {
            target: Some(target),
            applied: true,
            error: None,
            object: Some(object),
            rules,
        }
    }
}

#[derive(Default)]
struct Outcome {
    manifests: Vec<ManifestResult>,
    generation: Value,
    /// Something failed: look again soon.
    retry: bool,
}

/// Writes the work's status from what applying found.
fn write_status(work: &mut Value, outcome: &Outcome) {
    let old: Vec<Value> = work
        .pointer("/status/resourceStatus/manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut manifests = Vec::new();
    let (mut applied, mut available) = (0, 0);
    for (ordinal, m) in outcome.manifests.iter().enumerate() {
        let meta = m
            .target
            .as_ref()
            .map_or_else(|| json!({"ordinal": ordinal}), |t| t.meta(ordinal));
        // Keep transition times: start from this manifest's previous entry.
        let mut entry = old
            .iter()
            .find(|o| o.get("resourceMeta") == Some(&meta))
            .cloned()
            .unwrap_or_else(|| json!({"resourceMeta": meta, "conditions": []}));
        entry["resourceMeta"] = meta;
        let mut holder = json!({"status": {"conditions": entry["conditions"].clone()}});
        match &m.error {
            None => {
                applied += 1;
                set_condition(
                    &mut holder,
                    "Applied",
                    "True",
                    "AppliedManifestComplete",
                    "Apply manifest complete",
                );
            }
            Some(e) => {
                set_condition(
                    &mut holder,
                    "Applied",
                    "False",
                    "AppliedManifestFailed",
                    &format!("Failed to apply manifest: {e}"),
                );
            }
        }
        match (&m.object, &m.target) {
            (Some(object), Some(t)) => {
                available += 1;
                set_condition(
                    &mut holder,
                    "Available",
                    "True",
                    "ResourceAvailable",
                    "Resource is available",
                );
                let (values, error) =
                    feedback::evaluate(&m.rules, &t.resource.group, &t.resource.kind, object);
                entry["statusFeedback"] = json!({"values": values});
                if !m.rules.is_empty() {
                    match error {
                        None => set_condition(
                            &mut holder,
                            "StatusFeedbackSynced",
                            "True",
                            "StatusFeedbackSynced",
                            "All values are synced",
                        ),
                        Some(e) => set_condition(
                            &mut holder,
                            "StatusFeedbackSynced",
                            "False",
                            "StatusFeedbackSyncFailed",
                            &e,
                        ),
                    };
                }
            }
            (_, None) => {
                set_condition(
                    &mut holder,
                    "Available",
                    "Unknown",
                    "IncompletedResourceMeta",
                    "Resource meta is incompleted",
                );
            }
            _ => {
                set_condition(
                    &mut holder,
                    "Available",
                    "Unknown",
                    "FetchingResourceFailed",
                    "Failed to fetch the resource",
                );
            }
        }
        entry["conditions"] = holder["status"]["conditions"].take();
        manifests.push(entry);
    }
    if !work.get("status").is_some_and(Value::is_object) {
        work["status"] = json!({});
    }
    work["status"]["resourceStatus"] = json!({"manifests": manifests});
    let total = outcome.manifests.len();
    let all_applied = applied == total;
    if all_applied {
        set_condition(
            work,
            "Applied",
            "True",
            "AppliedManifestWorkComplete",
            "Apply manifest work complete",
        );
    } else {
        set_condition(
            work,
            "Applied",
            "False",
            "AppliedManifestWorkFailed",
            &format!(
                "Failed to apply manifest work: {} of {total} manifests failed",
                total - applied
            ),
        );
    }
    if available == total {
        set_condition(
            work,
            "Available",
            "True",
            "ResourcesAvailable",
            "All resources are available",
        );
    } else {
        set_condition(
            work,
            "Available",
            "False",
            "ResourcesNotAvailable",
            &format!(
                "{} of {total} resources are not available",
                total - available
            ),
        );
    }
    if all_applied {
        set_condition(
            work,
            "Progressing",
            "False",
            "Completed",
            "All manifests are applied",
        );
        set_condition(work, "Degraded", "False", "Completed", "No manifest failed");
    } else {
        set_condition(
            work,
            "Progressing",
            "True",
            "Applying",
            "Some manifests are not applied yet",
        );
        set_condition(
            work,
            "Degraded",
            "True",
            "Failed",
            &format!("{} of {total} manifests failed to apply", total - applied),
        );
    }
    let generation = outcome.generation.clone();
    if let Some(list) = work
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in list.iter_mut().filter(|c| {
            matches!(
                c["type"].as_str(),
                Some("Applied" | "Available" | "Progressing" | "Degraded")
            )
        }) {
            c["observedGeneration"] = generation.clone();
        }
    }
}

/// Stops a task when dropped (with the future that owns it).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends the name of every ManifestWork that changes.
async fn watch_works(hub: Rest, cluster: String, tx: tokio::sync::mpsc::UnboundedSender<String>) {
    let base = works_path(&cluster);
    loop {
        let rv = match hub.get(&base).await {
            Ok(list) => {
                for w in list["items"].as_array().into_iter().flatten() {
                    let _ = tx.send(text(w, "/metadata/name").to_string());
                }
                text(&list, "/metadata/resourceVersion").to_string()
            }
            Err(e) => {
                tracing::debug!(error = %e, "listing ManifestWorks");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let path = format!(
            "{base}?watch=1&resourceVersion={}&timeoutSeconds=300&allowWatchBookmarks=true",
            query(&rv)
        );
        match hub.watch(&path).await {
            Ok(events) => {
                let mut events = Box::pin(events);
                while let Some(event) = events.next().await {
                    match event {
                        Ok((kind, o)) if kind != "BOOKMARK" => {
                            let _ = tx.send(text(&o, "/metadata/name").to_string());
                        }
                        Ok(_) => {}
                        Err(RestError::Api { .. }) | Err(RestError::Transport(_)) => break,
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "watching ManifestWorks"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
}
