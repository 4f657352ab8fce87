//! One scheduling pass over a placement, on the [`State`]: which clusters are eligible,
//! which pass the filters, how they score, which are selected, how they are grouped and
//! laid out into PlacementDecisions, and what the placement's status says. Pure: the
//! caller writes the result.
//!
//! Upstream's order and semantics (v1.2.0 `schedule.go`, `scheduling_controller.go`):
//! eligible clusters are the non-deleting members of the bound sets (a binding counts when
//! a set of its name exists) intersected with `spec.clusterSets`; `Predicate` then
//! `TaintToleration` filter; the prioritizers' weighted sum ranks them (ties by name);
//! the first `numberOfClusters` are selected. Beyond upstream: spread constraints choose
//! among the ranked clusters, each decision carries its score (refreshed for scores alone
//! only where scores chose the clusters, see [`Outcome::scores_decide`]), and a
//! `ClustersFiltered` condition says which eligible clusters were filtered out and why.

use std::collections::HashSet;
use std::sync::Arc;

use super::filters::{Compiled, Predicate};
use super::groups::{self, GroupStatus};
use super::prioritize::{self, BuiltIn, Source};
use super::spread;
use super::world::{Id, Pid, State, Watermark};
use crate::api::ocm::Placement;

/// How many filtered clusters the `ClustersFiltered` condition names.
pub const FILTERED_LISTED: usize = 10;
/// The longest `ClustersFiltered` message.
pub const FILTERED_MESSAGE_LIMIT: usize = 1000;
/// Upstream's limit of a `ScoreUpdate` event message.
pub const SCORE_MESSAGE_LIMIT: usize = 1000;

/// The condition type of the filtered-clusters explanation (beyond upstream).
pub const FILTERED_CONDITION: &str = "ClustersFiltered";

/// A condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// A PlacementDecision as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub group_name: String,
    pub group_index: usize,
    /// Clusters and their scores, in order.
    pub clusters: Vec<(Id, i64)>,
}

/// The result of one pass.
#[derive(Debug)]
pub struct Outcome {
    pub placement: Arc<Placement>,
    pub decisions: Vec<Desired>,
    pub groups: Vec<GroupStatus>,
    /// Selected clusters, best first.
    pub selected: Vec<Id>,
    /// `<plugin>:<message>` when misconfigured.
    pub misconfigured: Option<String>,
    /// A prioritizer's warning (`<message>`, `<plugin>`), e.g. expired add-on scores.
    pub warning: Option<(String, String)>,
    pub satisfied: Cond,
    pub filtered: Cond,
    pub watermark: Watermark,
    /// When to schedule again (nanoseconds since the epoch): a toleration or a score expires.
    pub requeue_at: Option<i128>,
    /// `name:score ` of the feasible clusters, for the ScoreUpdate event.
    pub scores_note: String,
    /// Whether the scores chose the clusters (`numberOfClusters` or spread constraints).
    /// When they did not (every feasible cluster is selected), a change of scores alone
    /// does not rewrite the decisions: Balance moves with every other placement's
    /// decisions, and would make each rescheduling rewrite all of them.
    pub scores_decide: bool,
}

/// Schedules placement `pid` at `now` (nanoseconds since the epoch); `None` when it is
/// gone, being deleted or has scheduling disabled.
pub fn schedule(state: &State, pid: Pid, now: i128) -> Option<Outcome> {
    let entry = state.placement(pid)?;
    let c: &Compiled = &entry.compiled;
    if c.deleting || c.disabled {
        return None;
    }
    let placement = entry.obj.clone();
    let (ns, name) = state.pkey(pid).clone();
    let (bindings, sets) = state.eligible_sets(&ns, &c.cluster_sets);
    let eligible_count = eligible_count(state, &sets);

    let own = own_decisions(state, pid);
    let decides = |id: Id| flag(&own, id);
    let mut misconfigured: Option<(String, String)> = None;
    let mut warning = None;
    let mut feasible: Vec<Id> = Vec::new();
    let mut requeue_at: Option<i128> = None;
    let predicates_given = !placement.spec.predicates.is_empty();
    if eligible_count > 0 {
        match &c.predicates {
            Err(msg) if predicates_given => misconfigured = Some(("Predicate".into(), msg.clone())),
            Err(_) => {}
            Ok(predicates) => {
                let passes = |id: Id| {
                    state
                        .cluster(id)
                        .is_some_and(|cl| c.predicate(&state.env, cl).is_ok())
                };
                let compute = || {
                    candidates(state, &sets, predicates)
                        .into_iter()
                        .filter(|id| passes(*id))
                        .collect()
                };
                let eligible_passes = |id: Id| eligible(state, &sets, id) && passes(id);
                let passed = state.passing(pid, &entry.compiled, &sets, compute, eligible_passes);
                if !passed.is_empty() {
                    match &c.tolerations {
                        Err(msg) => misconfigured = Some(("TaintToleration".into(), msg.clone())),
                        Ok(_) => {
                            for id in passed {
                                // Every placement tolerates no taints: the cluster's entry
                                // is not even read (a pass runs over thousands).
                                if state.untainted(id) {
                                    feasible.push(id);
                                    continue;
                                }
                                let Some(cl) = state.cluster(id) else {
                                    continue;
                                };
                                if let Ok(until) =
                                    c.tolerated(&cl.obj.spec.taints, decides(id), now)
                                {
                                    if let Some(t) = until {
                                        earliest(t, &mut requeue_at);
                                    }
                                    feasible.push(id);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if misconfigured.is_some() {
        feasible.clear();
        requeue_at = None;
    }

    // Prioritize, sort, select.
    let ranks = state.name_ranks();
    let rank = |id: Id| ranks.get(id as usize).copied().unwrap_or(u32::MAX);
    // Per-cluster tables are dense vectors indexed by id: a pass looks up thousands.
    let ids = state.id_count();
    let mut totals = vec![0i64; ids];
    let mut selected: Vec<Id> = Vec::new();
    let mut unscheduled: i64 = 0;
    if misconfigured.is_none() {
        match &c.weights {
            Err(msg) => misconfigured = Some((String::new(), msg.clone())),
            Ok(weights) => {
                for w in weights {
                    let scores = score(
                        state,
                        pid,
                        &own,
                        w,
                        &feasible,
                        now,
                        &mut warning,
                        &mut requeue_at,
                    );
                    for (id, s) in scores {
                        if let Some(t) = totals.get_mut(id as usize) {
                            *t += s * i64::from(w.weight);
                        }
                    }
                }
                // Highest total first, then by name (its rank); keyed once rather than
                // looked up in every comparison (a pass sorts thousands of clusters).
                let mut keyed: Vec<(i64, u32, Id)> = feasible
                    .iter()
                    .map(|id| (total(&totals, *id), rank(*id), *id))
                    .collect();
                keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                feasible = keyed.into_iter().map(|(_, _, id)| id).collect();
                let wanted = c
                    .number_of_clusters
                    .map(|n| usize::try_from(n).unwrap_or(0));
                selected = if c.spread.is_empty() {
                    feasible
                        .iter()
                        .take(wanted.unwrap_or(usize::MAX))
                        .copied()
                        .collect()
                } else {
                    spread::select(
                        feasible.len(),
                        wanted.unwrap_or(feasible.len()),
                        &c.spread,
                        |i, term| {
                            let cl = state.cluster(feasible[i])?;
                            let source = if term.claim {
                                &cl.claims
                            } else {
                                cl.label_map()
                            };
                            source.get(&term.key).cloned()
                        },
                    )
                    .into_iter()
                    .map(|i| feasible[i])
                    .collect()
                };
                if let Some(n) = c.number_of_clusters {
                    unscheduled = i64::from(n) - selected.len() as i64;
                }
            }
        }
    }
    if misconfigured.is_some() {
        feasible.clear();
        selected.clear();
        requeue_at = None;
    }

    // Groups and decisions.
    let names: Vec<&str> = selected.iter().map(|id| state.name(*id).as_ref()).collect();
    let length = groups::group_length(c.clusters_per_group.as_ref(), selected.len());
    let order: Vec<u32> = selected.iter().map(|id| rank(*id)).collect();
    let grouped = match (&c.groups, &length) {
        (Ok(specs), Ok(length)) => {
            let first = if specs.is_empty() {
                Vec::new()
            } else {
                state.first_groups(pid, &entry.compiled, &selected)
            };
            groups::groups(&order, specs, *length, |k, i| {
                first.get(i) == Some(&Some(k))
            })
        }
        (Err(msg), _) | (_, Err(msg)) => {
            misconfigured = Some((String::new(), msg.clone()));
            groups::groups::<u32>(&[], &[], 0, |_, _| false)
        }
    };
    let steady_now = |id: Id| if decides(id) { 100 } else { 0 };
    let written_score = |id: Id| total(&totals, id) + c.steady_weight * (100 - steady_now(id));
    let mut position = vec![usize::MAX; ids];
    for (i, id) in selected.iter().enumerate() {
        if let Some(p) = position.get_mut(*id as usize) {
            *p = i;
        }
    }
    let held: Vec<groups::Held> = state
        .decisions_of(pid)
        .into_iter()
        .map(|(object, d)| groups::Held {
            name: object,
            group_name: &d.group_name,
            group_index: &d.group_index,
            members: d
                .clusters
                .iter()
                .filter_map(|id| {
                    position
                        .get(*id as usize)
                        .copied()
                        .filter(|p| *p != usize::MAX)
                })
                .collect(),
        })
        .collect();
    let (layout, group_status) = groups::layout_keeping(&name, &grouped, &held, &names);
    let decisions = layout
        .into_iter()
        .map(|l| Desired {
            name: l.name,
            group_name: l.group_name,
            group_index: l.group_index,
            clusters: l
                .members
                .iter()
                .map(|i| (selected[*i], written_score(selected[*i])))
                .collect(),
        })
        .collect();

    let satisfied = satisfied(
        &placement,
        bindings,
        &sets,
        eligible_count,
        selected.len(),
        unscheduled,
    );
    let (filtered, watermark) = explain(
        state,
        pid,
        c,
        &sets,
        eligible_count,
        &feasible,
        selected.len(),
        misconfigured.is_some(),
        now,
    );
    let mut scores_note = String::new();
    for id in &feasible {
        let item = format!("{}:{} ", state.name(*id), total(&totals, *id));
        if scores_note.len() + item.len() > SCORE_MESSAGE_LIMIT {
            scores_note.push_str("......");
            break;
        }
        scores_note.push_str(&item);
    }
    Some(Outcome {
        placement,
        decisions,
        groups: group_status,
        selected,
        misconfigured: misconfigured.map(|(plugin, msg)| format!("{plugin}:{msg}")),
        warning,
        satisfied,
        filtered,
        watermark,
        requeue_at,
        scores_note,
        scores_decide: c.number_of_clusters.is_some() || !c.spread.is_empty(),
    })
}

/// Placement `pid`'s decisions as a table by id (a pass asks about each cluster it looks
/// at; a table is one read where each cluster's list of placements is a search).
fn own_decisions(state: &State, pid: Pid) -> Vec<bool> {
    let mut own = vec![false; state.id_count()];
    for id in state.decided(pid) {
        if let Some(o) = own.get_mut(*id as usize) {
            *o = true;
        }
    }
    own
}

/// A cluster's entry in a dense table of flags (false when it has none).
fn flag(table: &[bool], id: Id) -> bool {
    table.get(id as usize).copied().unwrap_or(false)
}

/// A cluster's total score in a dense table (0 when it has none).
fn total(totals: &[i64], id: Id) -> i64 {
    totals.get(id as usize).copied().unwrap_or(0)
}

/// Keeps the earlier of two times.
fn earliest(t: i128, at: &mut Option<i128>) {
    *at = Some(at.map_or(t, |a| a.min(t)));
}

/// The non-deleting members of `sets`.
fn eligible_count(state: &State, sets: &[String]) -> usize {
    match sets {
        [] => 0,
        [one] => {
            let Some(set) = state.sets.get(one) else {
                return 0;
            };
            let deleting = state
                .deleting()
                .iter()
                .filter(|id| set.members.contains(id))
                .count();
            set.members.len() - deleting
        }
        many => {
            let mut all: HashSet<Id> = HashSet::new();
            for s in many {
                if let Some(set) = state.sets.get(s) {
                    all.extend(set.members.iter().copied());
                }
            }
            all.iter()
                .filter(|id| !state.deleting().contains(id))
                .count()
        }
    }
}

/// The eligible clusters the predicates may select: through the label and claim indexes
/// when every predicate has a requirement only clusters carrying some key can meet, else
/// every eligible cluster.
/// In one of `sets` and not being deleted.
fn eligible(state: &State, sets: &[String], id: Id) -> bool {
    !state.deleting().contains(&id) && state.in_sets(sets, id)
}

fn candidates(state: &State, sets: &[String], predicates: &[Predicate]) -> Vec<Id> {
    let eligible = |id: &Id| eligible(state, sets, *id);
    type Hint<'a> = (bool, &'a str, Option<&'a [String]>);
    let hints: Option<Vec<Hint>> = if predicates.is_empty() {
        None
    } else {
        predicates
            .iter()
            .map(|p| {
                let label = p.labels.positive().map(|(k, v)| (false, k, v));
                let claim = p.claims.positive().map(|(k, v)| (true, k, v));
                match (label, claim) {
                    (Some(l), Some(c)) => {
                        if state.indexed_count(l.0, l.1, l.2) <= state.indexed_count(c.0, c.1, c.2)
                        {
                            Some(l)
                        } else {
                            Some(c)
                        }
                    }
                    (l, c) => l.or(c),
                }
            })
            .collect()
    };
    match hints {
        Some(hints) => {
            let mut out: HashSet<Id> = HashSet::new();
            for (claims, key, values) in hints {
                out.extend(state.indexed(claims, key, values));
            }
            out.into_iter().filter(eligible).collect()
        }
        None => match sets {
            [one] => state
                .sets
                .get(one)
                .map(|s| {
                    s.members
                        .iter()
                        .filter(|id| !state.deleting().contains(id))
                        .copied()
                        .collect()
                })
                .unwrap_or_default(),
            many => {
                let mut all: HashSet<Id> = HashSet::new();
                for s in many {
                    if let Some(set) = state.sets.get(s) {
                        all.extend(set.members.iter().copied());
                    }
                }
                all.into_iter()
                    .filter(|id| !state.deleting().contains(id))
                    .collect()
            }
        },
    }
}

/// One prioritizer's scores of the feasible clusters (clusters it has no score for count
/// 0, as upstream's sum does).
#[allow(clippy::too_many_arguments)]
fn score(
    state: &State,
    pid: Pid,
    own: &[bool],
    w: &prioritize::Weighted,
    feasible: &[Id],
    now: i128,
    warning: &mut Option<(String, String)>,
    requeue_at: &mut Option<i128>,
) -> Vec<(Id, i64)> {
    let decides = |id: Id| flag(own, id);
    match &w.source {
        Source::BuiltIn(BuiltIn::Steady) => feasible
            .iter()
            .map(|id| (*id, if decides(*id) { 100 } else { 0 }))
            .collect(),
        Source::BuiltIn(BuiltIn::Balance) => {
            if feasible.is_empty() {
                return Vec::new();
            }
            let others = |id: Id| {
                let n = state.deciders(id).len() as u32;
                n - u32::from(decides(id))
            };
            let max = state.most_other_deciders(pid) as u32;
            feasible
                .iter()
                .map(|id| (*id, prioritize::balance(others(*id), max)))
                .collect()
        }
        Source::BuiltIn(b @ (BuiltIn::Cpu | BuiltIn::Memory)) => {
            let resource = usize::from(*b != BuiltIn::Cpu);
            let values: Vec<(Id, f64)> = feasible
                .iter()
                .filter_map(|id| Some((*id, state.cluster(*id)?.allocatable[resource]?)))
                .collect();
            let min = values.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
            let max = values.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max);
            values
                .into_iter()
                .map(|(id, v)| (id, prioritize::resource(v, min, max)))
                .collect()
        }
        Source::AddOn { resource, score } => {
            let mut expired = String::new();
            let out = feasible
                .iter()
                .map(|id| {
                    let cluster = state.name(*id);
                    let Some(obj) = state.score(cluster, resource) else {
                        return (*id, 0);
                    };
                    let status = obj.status.clone().unwrap_or_default();
                    if let Some(until) = &status.valid_until {
                        let until = until.0.as_nanosecond();
                        if now > until {
                            expired.push_str(&format!(" {cluster}/{resource}"));
                            return (*id, 0);
                        }
                        earliest(until, requeue_at);
                    }
                    let value = status
                        .scores
                        .iter()
                        .filter(|s| s.name == *score)
                        .map(|s| i64::from(s.value))
                        .next_back()
                        .unwrap_or(0);
                    (*id, value)
                })
                .collect();
            if !expired.is_empty() {
                *warning = Some((format!("AddOnPlacementScores{expired} expired"), w.name()));
            }
            out
        }
    }
}

/// `PlacementSatisfied`, as upstream's `newSatisfiedCondition`.
fn satisfied(
    placement: &Placement,
    bindings: usize,
    sets: &[String],
    eligible: usize,
    selected: usize,
    unscheduled: i64,
) -> Cond {
    let cond = |status, reason, message: String| Cond {
        status,
        reason,
        message,
    };
    if bindings == 0 {
        cond(
            "False",
            "NoManagedClusterSetBindings",
            "No valid ManagedClusterSetBindings found in placement namespace".into(),
        )
    } else if sets.is_empty() {
        cond(
            "False",
            "NoIntersection",
            format!(
                "None of ManagedClusterSets [{}] is bound to placement namespace",
                placement.spec.cluster_sets.join(",")
            ),
        )
    } else if eligible == 0 {
        cond(
            "False",
            "AllManagedClusterSetsEmpty",
            format!(
                "All ManagedClusterSets [{}] have no member ManagedCluster",
                sets.join(",")
            ),
        )
    } else if selected == 0 {
        cond(
            "False",
            "NoManagedClusterMatched",
            "No ManagedCluster matches any of the cluster predicate".into(),
        )
    } else if unscheduled == 0 {
        cond(
            "True",
            "AllDecisionsScheduled",
            "All cluster decisions scheduled".into(),
        )
    } else {
        cond(
            "False",
            "NotAllDecisionsScheduled",
            format!("{unscheduled} cluster decisions unscheduled"),
        )
    }
}

/// The `ClustersFiltered` condition: how many eligible clusters the filters removed, the
/// first of them by name with the reason, and how many feasible ones were not selected;
/// and how far the listed names reach.
#[allow(clippy::too_many_arguments)]
fn explain(
    state: &State,
    pid: Pid,
    c: &Compiled,
    sets: &[String],
    eligible: usize,
    feasible: &[Id],
    selected: usize,
    misconfigured: bool,
    now: i128,
) -> (Cond, Watermark) {
    if misconfigured {
        return (
            Cond {
                status: "Unknown",
                reason: "NotEvaluated",
                message: "The placement is misconfigured; no cluster was filtered".into(),
            },
            Watermark::Complete,
        );
    }
    if eligible == 0 {
        return (
            Cond {
                status: "False",
                reason: "NoClusterFilteredOut",
                message: "No ManagedCluster in the bound ManagedClusterSets to filter".into(),
            },
            Watermark::Complete,
        );
    }
    let mut is_feasible = vec![false; state.id_count()];
    for id in feasible {
        if let Some(f) = is_feasible.get_mut(*id as usize) {
            *f = true;
        }
    }
    let filtered = eligible.saturating_sub(feasible.len());
    let mut listed = Vec::new();
    let mut watermark = Watermark::Complete;
    if filtered > 0 {
        for (name, id) in state.clusters_by_name() {
            if is_feasible.get(id as usize).copied().unwrap_or(false)
                || state.deleting().contains(&id)
                || !state.in_sets(sets, id)
            {
                continue;
            }
            let Some(cl) = state.cluster(id) else {
                continue;
            };
            let why = match c.predicate(&state.env, cl) {
                Err(why) => why,
                Ok(()) => match c.tolerated(&cl.obj.spec.taints, state.decides(pid, id), now) {
                    Err(why) => why,
                    Ok(_) => "filtered".into(),
                },
            };
            listed.push(format!("{name} ({why})"));
            if listed.len() == FILTERED_LISTED {
                watermark = Watermark::UpTo(name.clone());
                break;
            }
        }
    }
    let mut message = match filtered {
        0 => format!(
            "None of the {eligible} ManagedClusters in the bound ManagedClusterSets was filtered out"
        ),
        n => format!(
            "{n} of {eligible} ManagedClusters in the bound ManagedClusterSets were filtered out"
        ),
    };
    if !listed.is_empty() {
        message.push_str(": ");
        let mut shown = 0;
        for (i, item) in listed.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            if message.len() + sep.len() + item.len() > FILTERED_MESSAGE_LIMIT - 120 {
                break;
            }
            message.push_str(sep);
            message.push_str(item);
            shown += 1;
        }
        if filtered > shown {
            message.push_str(&format!("; and {} more", filtered - shown));
        }
    }
    message.push('.');
    let unchosen = feasible.len().saturating_sub(selected);
    if unchosen > 0 {
        let why = if c.spread.is_empty() {
            "numberOfClusters"
        } else {
            "numberOfClusters and spread constraints"
        };
        message.push_str(&format!(
            " {unchosen} more passed the filters but were not selected ({why})."
        ));
    }
    let (status, reason) = if filtered > 0 {
        ("True", "ClustersFilteredOut")
    } else {
        ("False", "NoClusterFilteredOut")
    };
    (
        Cond {
            status,
            reason,
            message,
        },
        watermark,
    )
}
