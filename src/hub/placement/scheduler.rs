//! The scheduling controller: one reconcile per placement key (`<namespace>/<name>`).
//! It schedules on the shared [`State`] (under its lock, so placements are scheduled one
//! after the other and each sees the decisions of those before it, as upstream's single
//! worker does), records the result as pending, writes the PlacementDecisions in the
//! order [`write::plan`] gives (outside the lock; several placements write at once), then
//! the status, then the events.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use super::Shared;
use super::events::Recorder;
use super::schedule::{self, FILTERED_CONDITION, Outcome};
use super::world::{Id, Pid};
use super::write::{self, Content, Existing, Step};
use crate::api::meta::set_status_condition;
use crate::api::ocm::cluster_conditions::{PLACEMENT_MISCONFIGURED, PLACEMENT_SATISFIED};
use crate::api::ocm::{
    ClusterDecision, DECISION_GROUP_INDEX_LABEL, DECISION_GROUP_NAME_LABEL, DecisionGroupStatus,
    PLACEMENT_LABEL, Placement, PlacementDecision, PlacementDecisionStatus, PlacementStatus,
};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::hub::objects::Objects;
use crate::registry::Target;

/// Attempts of one write against concurrent changes.
const ATTEMPTS: usize = 5;

/// The scheduling controller.
pub struct Scheduler {
    pub objects: Objects,
    pub world: Shared,
    pub recorder: Recorder,
}

/// Nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    k8s_openapi::jiff::Timestamp::now().as_nanosecond()
}

fn conflict(e: &Status) -> bool {
    e.reason == "Conflict" || e.reason == "AlreadyExists"
}

/// What happened to one PlacementDecision.
enum Done {
    Created(String),
    Updated(String),
    Deleted(String),
    Unchanged,
}

impl Scheduler {
    /// Schedules the placement `key` (`<namespace>/<name>`).
    pub async fn reconcile(&self, key: &str) -> Result<Requeue, Status> {
        let Some((ns, name)) = key.split_once('/') else {
            return Ok(None);
        };
        let now = now_nanos();
        let started = std::time::Instant::now();
        let (pid, outcome, rounds, locked) = {
            let Ok(mut state) = self.world.write() else {
                return Err(Status::internal("the placement state lock is poisoned"));
            };
            let locked = started.elapsed();
            let Some(pid) = state.pid(&(ns.to_string(), name.to_string())) else {
                return Ok(None);
            };
            let Some(outcome) = schedule::schedule(&state, pid, now) else {
                return Ok(None);
            };
            let existing: Vec<Existing> = state
                .decisions_of(pid)
                .into_iter()
                .map(|(n, d)| Existing {
                    name: n.to_string(),
                    clusters: d.clusters.clone(),
                    scores: d.scores.clone(),
                    group_name: d.group_name.clone(),
                    group_index: d.group_index.clone(),
                })
                .collect();
            let name_of = |id: Id| state.name(id).clone();
            let rounds = write::plan(
                &existing,
                &outcome.decisions,
                outcome.scores_decide,
                &name_of,
            );
            state.set_pending(pid, outcome.selected.clone());
            state.expect_writes(
                pid,
                rounds.iter().flatten().filter_map(|step| match step {
                    Step::Write { name, content, .. } => Some((
                        name.as_str(),
                        content.group_name.as_str(),
                        content.group_index,
                        content.decisions.as_slice(),
                    )),
                    Step::Delete { .. } => None,
                }),
            );
            state.set_watermark(pid, outcome.watermark.clone());
            (pid, outcome, rounds, locked)
        };
        let scheduled = started.elapsed();
        let written = self.write_decisions(ns, &outcome.placement, rounds).await;
        if let Ok(mut state) = self.world.write() {
            state.clear_pending(pid);
        }
        let done = written?;
        let decided = started.elapsed();
        self.write_status(pid, &outcome).await?;
        self.record(&outcome, &done);
        tracing::debug!(
            placement = key,
            lock_wait_us = locked.as_micros(),
            schedule_us = (scheduled - locked).as_micros(),
            decisions_us = (decided - scheduled).as_micros(),
            status_us = (started.elapsed() - decided).as_micros(),
            "scheduled"
        );
        Ok(outcome.requeue_at.map(|at| {
            let wait = at.saturating_sub(now_nanos()).max(0) as u64;
            // Just past the expiry, so the next pass sees it expired.
            Duration::from_nanos(wait) + Duration::from_millis(50)
        }))
    }

    async fn write_decisions(
        &self,
        ns: &str,
        placement: &Placement,
        rounds: Vec<Vec<Step>>,
    ) -> Result<Vec<Done>, Status> {
        let mut done = Vec::new();
        for round in rounds {
            let results = futures::future::join_all(
                round.into_iter().map(|step| self.step(ns, placement, step)),
            )
            .await;
            for r in results {
                done.push(r?);
            }
        }
        Ok(done)
    }

    async fn step(&self, ns: &str, placement: &Placement, step: Step) -> Result<Done, Status> {
        match step {
            Step::Delete { name } => {
                let rv = self
                    .world
                    .read()
                    .ok()
                    .and_then(|s| s.decision_rv(ns, &name))
                    .unwrap_or(0);
                self.objects
                    .delete_as::<PlacementDecision>(Some(ns), &name)
                    .await?;
                if let Ok(mut state) = self.world.write() {
                    state.delete_decision(ns, &name, rv);
                }
                Ok(Done::Deleted(name))
            }
            Step::Write { name, content, .. } => {
                let mut last = None;
                for attempt in 0..ATTEMPTS {
                    match self
                        .write_one(ns, placement, &name, &content, attempt == 0)
                        .await
                    {
                        Ok(done) => return Ok(done),
                        Err(e) if conflict(&e) => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                Err(last.unwrap_or_else(|| Status::internal("decision write failed")))
            }
        }
    }

    /// Makes PlacementDecision `name` hold `content`. On a `first` attempt an object the
    /// state holds is written from the state's copy of its metadata, without a read.
    async fn write_one(
        &self,
        ns: &str,
        placement: &Placement,
        name: &str,
        content: &Content,
        first: bool,
    ) -> Result<Done, Status> {
        let status = PlacementDecisionStatus {
            decisions: content
                .decisions
                .iter()
                .map(|(c, score)| ClusterDecision {
                    cluster_name: c.to_string(),
                    reason: String::new(),
                    score: *score,
                })
                .collect(),
        };
        let labels = [
            (PLACEMENT_LABEL, placement.name_any()),
            (DECISION_GROUP_NAME_LABEL, content.group_name.clone()),
            (DECISION_GROUP_INDEX_LABEL, content.group_index.to_string()),
        ];
        let known = first
            .then(|| self.world.read().ok()?.decision_meta(ns, name))
            .flatten()
            .map(|metadata| PlacementDecision {
                metadata,
                spec: Default::default(),
                status: None,
            });
        let current = match known {
            Some(known) => Some(known),
            None => {
                self.objects
                    .get_as::<PlacementDecision>(Some(ns), name)
                    .await?
            }
        };
        let Some(mut current) = current else {
            let mut decision = PlacementDecision::new(name, Default::default());
            decision.metadata.namespace = Some(ns.to_string());
            decision.metadata.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            );
            decision.metadata.owner_references = Some(vec![OwnerReference {
                api_version: Placement::api_version(&()).into_owned(),
                kind: Placement::kind(&()).into_owned(),
                name: placement.name_any(),
                uid: placement.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
            decision.status = Some(status.clone());
            let mut stored = self.objects.create_as(&decision).await?;
            if stored.status.as_ref() != Some(&status) {
                stored.status = Some(status);
                stored = self.objects.update_as(&stored, Target::Status).await?;
            }
            self.apply(&stored);
            return Ok(Done::Created(name.to_string()));
        };
        let mut changed = false;
        let have = current.labels_mut();
        if labels.iter().any(|(k, v)| have.get(*k) != Some(v)) {
            for (k, v) in &labels {
                have.insert(k.to_string(), v.clone());
            }
            current.metadata = self.objects.update_meta_as(&current, Target::Main).await?;
            changed = true;
        }
        if current.status.as_ref() != Some(&status) {
            current.status = Some(status);
            current.metadata = self
                .objects
                .update_meta_as(&current, Target::Status)
                .await?;
            changed = true;
        }
        self.apply(&current);
        Ok(if changed {
            Done::Updated(name.to_string())
        } else {
            Done::Unchanged
        })
    }

    fn apply(&self, decision: &PlacementDecision) {
        if let Ok(mut state) = self.world.write() {
            let _ = state.upsert_decision(decision);
        }
    }

    /// Writes the placement's status when it differs.
    async fn write_status(&self, _pid: Pid, outcome: &Outcome) -> Result<(), Status> {
        let mut placement: Placement = (*outcome.placement).clone();
        for attempt in 0..ATTEMPTS {
            let generation = placement.metadata.generation;
            let before = placement.status.clone();
            let status = placement
                .status
                .get_or_insert_with(PlacementStatus::default);
            status.number_of_selected_clusters =
                Some(i32::try_from(outcome.selected.len()).unwrap_or(i32::MAX));
            status.decision_groups = outcome
                .groups
                .iter()
                .map(|g| DecisionGroupStatus {
                    decision_group_index: Some(i32::try_from(g.index).unwrap_or(i32::MAX)),
                    decision_group_name: Some(g.name.clone()),
                    decisions: g.decisions.clone(),
                    clusters_count: Some(i32::try_from(g.clusters).unwrap_or(i32::MAX)),
                })
                .collect();
            let (status_, reason, message) = match &outcome.misconfigured {
                Some(m) => ("True", "Misconfigured", m.clone()),
                None => (
                    "False",
                    "Succeedconfigured",
                    "Placement configurations check pass".to_string(),
                ),
            };
            set_status_condition(
                &mut status.conditions,
                PLACEMENT_MISCONFIGURED,
                status_,
                reason,
                &message,
                generation,
            );
            let s = &outcome.satisfied;
            set_status_condition(
                &mut status.conditions,
                PLACEMENT_SATISFIED,
                s.status,
                s.reason,
                &s.message,
                generation,
            );
            let f = &outcome.filtered;
            set_status_condition(
                &mut status.conditions,
                FILTERED_CONDITION,
                f.status,
                f.reason,
                &f.message,
                generation,
            );
            if placement.status == before {
                return Ok(());
            }
            match self.objects.update_as(&placement, Target::Status).await {
                Ok(stored) => {
                    if let Ok(mut state) = self.world.write() {
                        state.placement_written(stored);
                    }
                    return Ok(());
                }
                Err(e) if conflict(&e) && attempt + 1 < ATTEMPTS => {
                    let key = (
                        placement.namespace().unwrap_or_default(),
                        placement.name_any(),
                    );
                    match self
                        .objects
                        .get_as::<Placement>(Some(&key.0), &key.1)
                        .await?
                    {
                        // A newer spec is scheduled by the reconcile its change queued.
                        Some(fresh) if fresh.metadata.generation == generation => placement = fresh,
                        _ => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn record(&self, outcome: &Outcome, done: &[Done]) {
        let p = &outcome.placement;
        let (ns, name) = (p.namespace().unwrap_or_default(), p.name_any());
        let mut first = None;
        for d in done {
            match d {
                Done::Created(decision) => {
                    first.get_or_insert(decision.clone());
                    self.recorder.record(
                        p,
                        Some(decision),
                        "Normal",
                        "DecisionCreate",
                        "DecisionCreated",
                        format!(
                            "Decision {decision} is created with placement {name} in namespace {ns}"
                        ),
                    );
                }
                Done::Updated(decision) => {
                    first.get_or_insert(decision.clone());
                    match &outcome.warning {
                        Some((message, plugin)) => self.recorder.record(p, Some(decision), "Warning", "DecisionUpdate", "DecisionUpdated",
                            format!("Decision {decision} is updated with placement {name} in namespace {ns}: {message} in plugin {plugin}")),
                        None => self.recorder.record(p, Some(decision), "Normal", "DecisionUpdate", "DecisionUpdated",
                            format!("Decision {decision} is updated with placement {name} in namespace {ns}")),
                    }
                }
                Done::Deleted(decision) => {
                    self.recorder.record(
                        p,
                        Some(decision),
                        "Normal",
                        "DecisionDelete",
                        "DecisionDeleted",
                        format!(
                            "Decision {decision} is deleted with placement {name} in namespace {ns}"
                        ),
                    );
                }
                Done::Unchanged => {}
            }
        }
        if let Some(decision) = first {
            self.recorder.record(
                p,
                Some(&decision),
                "Normal",
                "ScoreUpdate",
                "ScoreUpdated",
                outcome.scores_note.clone(),
            );
        }
    }
}

/// Starts the controller's workers on `queue` (after the state is synced).
pub fn run(scheduler: Arc<Scheduler>, queue: crate::hub::controller::Queue, workers: usize) {
    crate::hub::controller::run(
        "placement-scheduler",
        queue,
        workers,
        Arc::new(move |key: String| {
            let s = scheduler.clone();
            Box::pin(async move { s.reconcile(&key).await })
        }),
    );
}
