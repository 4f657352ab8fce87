//! Placement: the scheduler, the cluster-set controllers and cluster profiles.
//!
//! - [`world`]: the shared view of clusters, sets, bindings, placements, decisions, scores
//!   and profiles, fed by [`feed`] (list, then watch) and by the controllers' own writes,
//!   with the indexes that keep a 10k-cluster hub cheap to schedule.
//! - [`scheduler`]: one reconcile per Placement: [`schedule`] (filters in [`filters`] with
//!   [`selector`] and [`cel`], scores in [`prioritize`], [`spread`], decision [`groups`]),
//!   then the PlacementDecisions written in [`write`]'s safe order, the status and
//!   [`events`].
//! - [`sets`]: `ClusterSetEmpty` on ManagedClusterSets and `Bound` on bindings.
//! - [`profiles`]: ClusterProfiles (feature gate `ClusterProfile`).
//!
//! Not for: admission of bindings (`hub::admission`) or the default cluster sets
//! (`hub::bootstrap`).
//!
//! Differences from upstream (OCM v1.2.0's placement controller and registration hub):
//! a cluster change reschedules only the placements it can affect (upstream: every
//! placement bound to the cluster's sets; a taint change only those whose taint filter
//! it changes); after the first pass a selected cluster stays in the PlacementDecision
//! holding it (upstream re-cuts the name-sorted list into slices of 100, rewriting every
//! slice after a cluster that joins); decisions are written so a selected cluster
//! never disappears from all of them; spread constraints are honoured; each decision
//! carries its score; the `ClustersFiltered` condition explains what was filtered;
//! DecisionUpdate and ScoreUpdate events are recorded when a decision changed (upstream:
//! also on passes that change nothing); a placement is scheduled again when a toleration
//! or an add-on score it uses expires (upstream: only for tolerations).

pub mod cel;
pub mod events;
pub mod feed;
pub mod filters;
pub mod groups;
pub mod prioritize;
pub mod profiles;
pub mod quantity;
pub mod schedule;
pub mod scheduler;
pub mod selector;
pub mod sets;
pub mod spread;
pub mod world;
pub mod write;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::controller::{self, Queue};
use super::objects::Objects;
use crate::api::ocm::profile::ClusterProfile;
use crate::api::ocm::{
    AddOnPlacementScore, ManagedCluster, ManagedClusterSet, ManagedClusterSetBinding, Placement,
    PlacementDecision,
};
use crate::api::status::Status;
use feed::Change;
use world::{State, Tomb, Triggers};

/// The state shared by the controllers.
pub type Shared = Arc<RwLock<State>>;

/// Scheduler workers: passes run one at a time, their writes overlap. A pass takes
/// under a millisecond and its writes tens of milliseconds under load, so many workers
/// keep the store's group commits full. Placement benchmark, p99 of a label change
/// (about 210 passes and 420 writes): 32 workers 616 ms, 96 workers 415-468 ms, 160
/// workers 561 ms (the writes' own latency grows: they then contend for the CPU).
const SCHEDULER_WORKERS: usize = 96;

/// The controllers' queues.
#[derive(Default)]
pub struct Queues {
    pub placements: Queue,
    pub sets: Queue,
    pub bindings: Queue,
    pub profile_namespaces: Queue,
    pub profile_clusters: Queue,
}

/// What every placement controller works with.
pub struct Ctx {
    pub objects: Objects,
    pub world: Shared,
    pub queues: Queues,
    /// The ClusterProfile gate.
    pub profiles: bool,
}

impl Ctx {
    /// Changes the state and queues what the change affects.
    pub fn apply(&self, change: impl FnOnce(&mut State) -> Triggers) {
        let Ok(mut state) = self.world.write() else {
            return;
        };
        let t = change(&mut state);
        self.dispatch(&state, t);
    }

    fn dispatch(&self, state: &State, t: Triggers) {
        let q = &self.queues;
        if t.everything {
            for pid in state.placement_ids() {
                let (ns, name) = state.pkey(pid);
                q.placements.add(format!("{ns}/{name}"));
            }
            for name in state.sets.keys() {
                q.sets.add(name.clone());
            }
            for (ns, name) in state.bindings.keys() {
                q.bindings.add(format!("{ns}/{name}"));
            }
            if self.profiles {
                for ns in state.binding_namespaces() {
                    q.profile_namespaces.add(ns);
                }
                for (ns, _) in state.keys(Tomb::Profile) {
                    q.profile_namespaces.add(ns);
                }
                for c in state.profiled_clusters() {
                    q.profile_clusters.add(c);
                }
            }
            return;
        }
        for pid in t.placements {
            let (ns, name) = state.pkey(pid);
            q.placements.add(format!("{ns}/{name}"));
        }
        for s in t.sets {
            q.sets.add(s);
        }
        for (ns, name) in t.bindings {
            q.bindings.add(format!("{ns}/{name}"));
        }
        if self.profiles {
            for ns in t.profile_namespaces {
                q.profile_namespaces.add(ns);
            }
            for c in t.profile_clusters {
                q.profile_clusters.add(c);
            }
        }
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "an object the placement controllers read does not decode");
            None
        }
    }
}

/// An object of a kind the state holds, decoded before the state's lock is taken (the
/// scheduler and every other feed wait on that lock; a PlacementDecision holds a hundred
/// decisions).
enum Typed {
    Cluster(Box<ManagedCluster>),
    Set(Box<ManagedClusterSet>),
    Binding(Box<ManagedClusterSetBinding>),
    Placement(Box<Placement>),
    Decision(Box<PlacementDecision>),
    Score(Box<AddOnPlacementScore>),
    Profile(Box<ClusterProfile>),
}

/// Decodes one object of `kind`; `None` (logged) when it does not decode. Its
/// `managedFields` are dropped first: no controller here reads them, a write from the
/// state's copy without them keeps the stored ones (as kube-apiserver does), and they were
/// a quarter of the placement benchmark's hub memory (77 MB of 10,000 clusters' field
/// sets).
fn typed(kind: Tomb, mut object: Value) -> Option<Typed> {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Some(match kind {
        Tomb::Cluster => Typed::Cluster(decode(object)?),
        Tomb::Set => Typed::Set(decode(object)?),
        Tomb::Binding => Typed::Binding(decode(object)?),
        Tomb::Placement => Typed::Placement(decode(object)?),
        Tomb::Decision => Typed::Decision(decode(object)?),
        Tomb::Score => Typed::Score(decode(object)?),
        Tomb::Profile => Typed::Profile(decode(object)?),
    })
}

/// Applies one object (deleted or not) to the state.
fn change(state: &mut State, object: Typed, deleted: bool, now: i128) -> Triggers {
    match object {
        Typed::Cluster(o) if deleted => state.delete_cluster(&o, now),
        Typed::Cluster(o) => state.upsert_cluster(*o, now),
        Typed::Set(o) if deleted => state.delete_set(&o),
        Typed::Set(o) => state.upsert_set(*o),
        Typed::Binding(o) if deleted => state.delete_binding(&o),
        Typed::Binding(o) => state.upsert_binding(*o),
        Typed::Placement(o) if deleted => state.delete_placement(&o),
        Typed::Placement(o) => state.upsert_placement(*o),
        Typed::Decision(o) if deleted => {
            let ns = o.metadata.namespace.clone().unwrap_or_default();
            let name = o.metadata.name.clone().unwrap_or_default();
            state.delete_decision(&ns, &name, world::rv_of(&o.metadata))
        }
        Typed::Decision(o) => state.upsert_decision(&o),
        Typed::Score(o) => state.change_score(*o, deleted),
        Typed::Profile(o) => state.change_profile(&o, deleted),
    }
}

fn merge(into: &mut Triggers, t: Triggers) {
    into.placements.extend(t.placements);
    into.sets.extend(t.sets);
    into.bindings.extend(t.bindings);
    into.profile_namespaces.extend(t.profile_namespaces);
    into.profile_clusters.extend(t.profile_clusters);
    into.everything |= t.everything;
}

fn on_change(ctx: &Ctx, kind: Tomb, c: Change) {
    let now = scheduler::now_nanos();
    match c {
        Change::Upsert(o) => {
            // The scheduler's own writes are in the state already: not decoded again.
            if kind == Tomb::Decision && ctx.world.read().is_ok_and(|s| s.holds_decision(&o)) {
                return;
            }
            if let Some(o) = typed(kind, o) {
                ctx.apply(|s| change(s, o, false, now));
            }
        }
        Change::Delete(o) => {
            if let Some(o) = typed(kind, o) {
                ctx.apply(|s| change(s, o, true, now));
            }
        }
        Change::Relist { items, first } => {
            let items: Vec<((String, String), Option<Typed>)> = items
                .into_iter()
                .map(|item| {
                    let field = |name: &str| {
                        item.pointer(&format!("/metadata/{name}"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    ((field("namespace"), field("name")), typed(kind, item))
                })
                .collect();
            ctx.apply(|s| {
                s.clear_tombs(kind);
                let mut present = HashSet::new();
                let mut t = Triggers::default();
                for (key, item) in items {
                    present.insert(key);
                    if let Some(item) = item {
                        merge(&mut t, change(s, item, false, now));
                    }
                }
                for key in s.keys(kind) {
                    if !present.contains(&key) {
                        merge(&mut t, s.delete_key(kind, &key, now));
                    }
                }
                // The first lists are followed by a pass over everything.
                if first {
                    Triggers::default()
                } else {
                    Triggers {
                        everything: true,
                        ..Triggers::default()
                    }
                }
            });
        }
    }
}

fn kind_of<T: Resource<DynamicType = ()>>(
    objects: &Objects,
) -> Result<Arc<crate::api::Kind>, Status> {
    objects.kind_of::<T>()
}

/// Starts the placement controllers; `cluster_profiles` is the `ClusterProfile` gate.
pub async fn start(objects: &Objects, cluster_profiles: bool) -> Result<(), Status> {
    let ctx = Arc::new(Ctx {
        objects: objects.clone(),
        world: Arc::new(RwLock::new(State::new())),
        queues: Queues::default(),
        profiles: cluster_profiles,
    });
    if cluster_profiles {
        profiles::install_crd(&ctx).await?;
    }
    let mut feeds = vec![
        (Tomb::Cluster, kind_of::<ManagedCluster>(objects)?),
        (Tomb::Set, kind_of::<ManagedClusterSet>(objects)?),
        (Tomb::Binding, kind_of::<ManagedClusterSetBinding>(objects)?),
        (Tomb::Placement, kind_of::<Placement>(objects)?),
        (Tomb::Decision, kind_of::<PlacementDecision>(objects)?),
        (Tomb::Score, kind_of::<AddOnPlacementScore>(objects)?),
    ];
    if cluster_profiles {
        feeds.push((Tomb::Profile, kind_of::<ClusterProfile>(objects)?));
    }
    let synced = feed::Synced::new(feeds.len());
    for (tomb, kind) in feeds {
        let c = ctx.clone();
        // The scheduler's own PlacementDecision writes are in the state already.
        let held: Option<feed::Held> = (tomb == Tomb::Decision).then(|| {
            let (world, prefix) = (ctx.world.clone(), kind.namespace_prefix(None));
            Arc::new(move |key: &str, revision: u64| {
                let Some((ns, name)) = key.strip_prefix(&prefix).and_then(|k| k.split_once('/'))
                else {
                    return false;
                };
                world
                    .read()
                    .ok()
                    .and_then(|s| s.decision_rv(ns, name))
                    .is_some_and(|rv| rv >= revision)
            }) as feed::Held
        });
        feed::run(
            &objects.registry,
            kind,
            Arc::new(move |change| on_change(&c, tomb, change)),
            held,
            synced.clone(),
        );
    }
    let scheduler = Arc::new(scheduler::Scheduler {
        objects: objects.clone(),
        world: ctx.world.clone(),
        recorder: events::Recorder::start(objects.clone(), ctx.queues.placements.clone()),
    });
    tokio::spawn(async move {
        synced.wait().await;
        tracing::info!("placement state synced; starting the placement controllers");
        scheduler::run(scheduler, ctx.queues.placements.clone(), SCHEDULER_WORKERS);
        let c = ctx.clone();
        controller::run(
            "managedclusterset",
            ctx.queues.sets.clone(),
            2,
            Arc::new(move |key: String| {
                let c = c.clone();
                Box::pin(async move { sets::reconcile_set(&c, &key).await })
            }),
        );
        let c = ctx.clone();
        controller::run(
            "managedclustersetbinding",
            ctx.queues.bindings.clone(),
            2,
            Arc::new(move |key: String| {
                let c = c.clone();
                Box::pin(async move { sets::reconcile_binding(&c, &key).await })
            }),
        );
        if ctx.profiles {
            let c = ctx.clone();
            controller::run(
                "clusterprofile-lifecycle",
                ctx.queues.profile_namespaces.clone(),
                2,
                Arc::new(move |key: String| {
                    let c = c.clone();
                    Box::pin(async move { profiles::reconcile_namespace(&c, &key).await })
                }),
            );
            let c = ctx.clone();
            controller::run(
                "clusterprofile-status",
                ctx.queues.profile_clusters.clone(),
                2,
                Arc::new(move |key: String| {
                    let c = c.clone();
                    Box::pin(async move { profiles::reconcile_cluster(&c, &key).await })
                }),
            );
        }
        ctx.apply(|_| Triggers {
            everything: true,
            ..Triggers::default()
        });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decoded_objects_keep_no_managed_fields() {
        let cluster = json!({
            "apiVersion": "cluster.open-cluster-management.io/v1",
            "kind": "ManagedCluster",
            "metadata": {"name": "c1", "labels": {"env": "prod"}, "managedFields": [
                {"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:env": {}}}}}]},
            "spec": {"hubAcceptsClient": true}
        });
        let Some(Typed::Cluster(c)) = typed(Tomb::Cluster, cluster) else {
            panic!("a ManagedCluster decodes");
        };
        assert_eq!(c.metadata.managed_fields, None);
        assert_eq!(c.metadata.name.as_deref(), Some("c1"));
        assert_eq!(
            c.metadata.labels.and_then(|l| l.get("env").cloned()),
            Some("prod".to_string())
        );
        assert!(c.spec.hub_accepts_client);
    }
}
