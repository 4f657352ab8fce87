//! Rollout strategies over the clusters of a placement (cluster.open-cluster-management.io
//! v1alpha1 `RolloutStrategy`), with the semantics of OCM's rollout helper (sdk-go v1.3):
//! given what each cluster's copy of a change is doing (to apply, progressing, succeeded,
//! failed) and the placement's decision groups, which clusters get the change now, which
//! timed out, which left the placement, whether too many failed, and when to look again.
//!
//! `All` rolls every cluster at once; `Progressive` at most `maxConcurrency` clusters at a
//! time (clusters in name order, after the mandatory decision groups); `ProgressivePerGroup`
//! one decision group at a time. A cluster progressing or failed past `progressDeadline`
//! times out; a succeeded cluster counts only after `minSuccessTime`; the rollout stops
//! when more than `maxFailures` failed. Upstream's quirks are kept on purpose (a size
//! larger than the total falls back to the default; per-cluster order ignores groups), so
//! rollouts advance exactly as upstream's controllers would on the same state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use crate::api::ocm::{MandatoryDecisionGroup, RolloutStrategy, RolloutType};

/// What a cluster's copy of the change is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    ToApply,
    Progressing,
    Succeeded,
    Failed,
    TimeOut,
    Skip,
}

/// A decision group: its name (may be empty) and index.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub name: String,
    pub index: i32,
}

/// One cluster's rollout state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub cluster: String,
    pub group: GroupKey,
    pub status: Status,
    /// When `status` last changed (the start of a deadline or of the soak time).
    pub since: Option<Timestamp>,
    /// When this cluster should be looked at again.
    pub recheck: Option<Timestamp>,
}

impl ClusterStatus {
    pub fn new(cluster: &str, status: Status, since: Option<Timestamp>) -> Self {
        ClusterStatus {
            cluster: cluster.to_string(),
            group: GroupKey::default(),
            status,
            since,
            recheck: None,
        }
    }
}

/// A placement's decision groups: index → (name, clusters).
#[derive(Debug, Clone, Default)]
pub struct Groups {
    pub groups: BTreeMap<i32, (String, BTreeSet<String>)>,
}

impl Groups {
    /// Adds the clusters of one PlacementDecision of group `index` named `name`.
    pub fn add(&mut self, index: i32, name: &str, clusters: impl IntoIterator<Item = String>) {
        let entry = self
            .groups
            .entry(index)
            .or_insert_with(|| (name.to_string(), BTreeSet::new()));
        entry.1.extend(clusters);
    }

    pub fn all_clusters(&self) -> BTreeSet<&str> {
        self.groups
            .values()
            .flat_map(|(_, c)| c.iter().map(String::as_str))
            .collect()
    }

    fn key_of(&self, cluster: &str) -> GroupKey {
        self.groups
            .iter()
            .find(|(_, (_, c))| c.contains(cluster))
            .map(|(i, (n, _))| GroupKey {
                name: n.clone(),
                index: *i,
            })
            .unwrap_or_default()
    }

    /// The indexes the mandatory groups name: a name selects every group of that name,
    /// otherwise the index selects one group.
    fn mandatory(&self, wanted: &[MandatoryDecisionGroup]) -> BTreeSet<i32> {
        let mut out = BTreeSet::new();
        for w in wanted {
            match w.group_name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => out.extend(
                    self.groups
                        .iter()
                        .filter(|(_, (n, _))| n == name)
                        .map(|(i, _)| *i),
                ),
                None => {
                    let index = w.group_index.unwrap_or(0);
                    if self.groups.contains_key(&index) {
                        out.insert(index);
                    }
                }
            }
        }
        out
    }

    /// Upstream iterates the indexes 0..count, so indexes past the count are skipped.
    fn others(&self, mandatory: &BTreeSet<i32>) -> BTreeSet<i32> {
        let count = i32::try_from(self.groups.len()).unwrap_or(i32::MAX);
        (0..count)
            .filter(|i| !mandatory.contains(i) && self.groups.contains_key(i))
            .collect()
    }

    fn clusters_of(&self, indexes: &BTreeSet<i32>) -> Vec<(String, GroupKey)> {
        let mut out = Vec::new();
        for i in indexes {
            if let Some((name, clusters)) = self.groups.get(i) {
                for c in clusters {
                    out.push((
                        c.clone(),
                        GroupKey {
                            name: name.clone(),
                            index: *i,
                        },
                    ));
                }
            }
        }
        out
    }
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutResult {
    /// Clusters to roll out to now (status ToApply), or still being watched.
    pub to_rollout: Vec<ClusterStatus>,
    pub timed_out: Vec<ClusterStatus>,
    /// Clusters with a copy that the placement no longer selects.
    pub removed: Vec<ClusterStatus>,
    pub max_failure_breach: bool,
    /// When to look again (a deadline or the end of a soak time).
    pub recheck_after: Option<Duration>,
}

/// A strategy that cannot be followed, in upstream's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidStrategy(pub String);

struct Params {
    min_success: Option<i128>,
    deadline: Option<i128>,
}

/// `progressDeadline`: `None` (or empty) is no deadline; otherwise a Go duration.
fn deadline(text: Option<&str>) -> Result<Option<i128>, InvalidStrategy> {
    let text = text.unwrap_or("");
    if text.is_empty() || text == "None" {
        return Ok(None);
    }
    // Upstream's pattern `^(([0-9])+[h|m|s])|None$`: digits then h, m, s or |, or a text
    // ending in None.
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let matches = (digits > 0
        && matches!(text.as_bytes().get(digits), Some(b'h' | b'm' | b's' | b'|')))
        || text.ends_with("None");
    if !matches {
        return Err(InvalidStrategy("invalid timeout format".into()));
    }
    crate::api::schema::golang::go_duration_nanos(text)
        .map(Some)
        .ok_or_else(|| InvalidStrategy(format!("time: invalid duration \"{text}\"")))
}

fn min_success(text: Option<&str>) -> Result<Option<i128>, InvalidStrategy> {
    match text.unwrap_or("0") {
        "" | "0" => Ok(None),
        t => crate::api::schema::golang::go_duration_nanos(t)
            .map(|n| (n > 0).then_some(n))
            .ok_or_else(|| InvalidStrategy(format!("time: invalid duration \"{t}\""))),
    }
}

/// A count or a percentage of `total` (rounded up); outside 1..=total, `default`.
fn size(
    value: Option<&IntOrString>,
    total: usize,
    default: usize,
) -> Result<usize, InvalidStrategy> {
    let n = match value {
        None => return Ok(default),
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => {
            let pct = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .ok_or_else(|| {
                    InvalidStrategy(format!(
                        "'{s}' is an invalid maximum threshold value: string is not a percentage"
                    ))
                })?;
            (pct / 100.0 * total as f64).ceil() as i64
        }
    };
    Ok(if n <= 0 || n as u128 > total as u128 {
        default
    } else {
        n as usize
    })
}

fn add_nanos(t: Timestamp, nanos: i128) -> Timestamp {
    let ns = t.as_nanosecond().saturating_add(nanos);
    Timestamp::from_nanosecond(ns).unwrap_or(t)
}

/// Where a cluster goes: to roll out (ToApply, within its deadline, or soaking), timed
/// out, or done (returns false).
fn determine(
    mut s: ClusterStatus,
    p: &Params,
    now: Timestamp,
    rollout: &mut Vec<ClusterStatus>,
    timed_out: &mut Vec<ClusterStatus>,
) -> ClusterStatus {
    match s.status {
        Status::ToApply => rollout.push(s.clone()),
        Status::Succeeded => {
            if let (Some(min), Some(since)) = (p.min_success, s.since) {
                let until = add_nanos(since, min);
                if now < until {
                    s.recheck = Some(until);
                    rollout.push(s.clone());
                }
            }
        }
        Status::TimeOut | Status::Skip => {}
        Status::Progressing | Status::Failed => {
            let start = s.since.unwrap_or(now);
            let deadline = p.deadline.map(|d| add_nanos(start, d));
            s.recheck = deadline;
            match deadline {
                Some(d) if now >= d => {
                    s.status = Status::TimeOut;
                    timed_out.push(s.clone());
                }
                _ => rollout.push(s.clone()),
            }
        }
    }
    s
}

struct Partial {
    rollout: Vec<ClusterStatus>,
    timed_out: Vec<ClusterStatus>,
    breach: bool,
}

fn per_cluster(
    groups: &Groups,
    indexes: &BTreeSet<i32>,
    rollout_size: usize,
    max_failures: usize,
    p: &Params,
    current: &[ClusterStatus],
    now: Timestamp,
) -> Partial {
    let mut out = Partial {
        rollout: Vec::new(),
        timed_out: Vec::new(),
        breach: false,
    };
    let mut sorted: Vec<&ClusterStatus> = current.iter().collect();
    sorted.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut seen = BTreeSet::new();
    let mut failures = 0usize;
    for s in sorted {
        if s.cluster.is_empty() {
            continue;
        }
        seen.insert(s.cluster.clone());
        let mut status = s.status;
        if !out.breach || s.status != Status::ToApply {
            status = determine(s.clone(), p, now, &mut out.rollout, &mut out.timed_out).status;
        }
        if matches!(status, Status::TimeOut | Status::Failed) {
            failures += 1;
            out.breach = failures > max_failures;
        }
        if out.rollout.len() >= rollout_size {
            return out;
        }
    }
    if out.breach {
        return out;
    }
    let mut candidates = groups.clusters_of(indexes);
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    for (cluster, key) in candidates {
        if seen.insert(cluster.clone()) {
            out.rollout.push(ClusterStatus {
                cluster,
                group: key,
                status: Status::ToApply,
                since: None,
                recheck: None,
            });
            if out.rollout.len() >= rollout_size {
                return out;
            }
        }
    }
    out
}

fn per_group(
    groups: &Groups,
    indexes: &BTreeSet<i32>,
    max_failures: Option<&IntOrString>,
    p: &Params,
    current: &[ClusterStatus],
    now: Timestamp,
) -> Result<Partial, InvalidStrategy> {
    let mut out = Partial {
        rollout: Vec::new(),
        timed_out: Vec::new(),
        breach: false,
    };
    let mut recorded: BTreeMap<String, Status> = BTreeMap::new();
    for s in current.iter().filter(|s| s.status != Status::ToApply) {
        let status = determine(s.clone(), p, now, &mut out.rollout, &mut out.timed_out).status;
        recorded.insert(s.cluster.clone(), status);
    }
    let mut total_failures = 0usize;
    for index in indexes {
        let Some((name, clusters)) = groups.groups.get(index) else {
            continue;
        };
        let max_group_failures = size(max_failures, clusters.len(), 0)?;
        let mut group_failures = 0usize;
        for cluster in clusters {
            match recorded.get(cluster) {
                Some(Status::TimeOut | Status::Failed) => {
                    group_failures += 1;
                    out.breach = group_failures > max_group_failures;
                }
                Some(_) => {}
                None => out.rollout.push(ClusterStatus {
                    cluster: cluster.clone(),
                    group: GroupKey {
                        name: name.clone(),
                        index: *index,
                    },
                    status: Status::ToApply,
                    since: None,
                    recheck: None,
                }),
            }
        }
        total_failures += group_failures;
        if out.rollout.len() > total_failures || out.breach {
            return Ok(out);
        }
    }
    Ok(out)
}

/// The rollout of `strategy` over `groups`, given each existing copy's state.
pub fn rollout(
    strategy: Option<&RolloutStrategy>,
    groups: &Groups,
    existing: &[ClusterStatus],
    now: Timestamp,
) -> Result<RolloutResult, InvalidStrategy> {
    let default = RolloutStrategy::default();
    let strategy = strategy.unwrap_or(&default);
    let selected = groups.all_clusters();
    let (removed, mut current): (Vec<ClusterStatus>, Vec<ClusterStatus>) = existing
        .iter()
        .cloned()
        .partition(|s| !selected.contains(s.cluster.as_str()));
    for s in &mut current {
        s.group = groups.key_of(&s.cluster);
    }
    let all: BTreeSet<i32> = groups.groups.keys().copied().collect();
    let total = selected.len();
    let partial = match strategy.type_.unwrap_or_default() {
        RolloutType::All => {
            let all_of = strategy.all.clone().unwrap_or_default();
            let p = Params {
                min_success: None,
                deadline: deadline(all_of.progress_deadline.as_deref())?,
            };
            per_cluster(groups, &all, total, total, &p, &current, now)
        }
        RolloutType::Progressive => {
            let prog = strategy.progressive.clone().unwrap_or_default();
            let p = Params {
                min_success: min_success(prog.min_success_time.as_deref())?,
                deadline: deadline(prog.progress_deadline.as_deref())?,
            };
            let max_failures = size(prog.max_failures.as_ref(), total, 0)?;
            let mandatory = groups.mandatory(&prog.mandatory_decision_groups);
            match mandatory_phase(groups, &mandatory, &p, &current, now)? {
                Some(partial) => partial,
                None => {
                    let others = groups.others(&mandatory);
                    let remaining = groups.clusters_of(&others).len();
                    let rollout_size = size(prog.max_concurrency.as_ref(), remaining, remaining)?;
                    per_cluster(
                        groups,
                        &others,
                        rollout_size,
                        max_failures,
                        &p,
                        &current,
                        now,
                    )
                }
            }
        }
        RolloutType::ProgressivePerGroup => {
            let prog = strategy.progressive_per_group.clone().unwrap_or_default();
            let p = Params {
                min_success: min_success(prog.min_success_time.as_deref())?,
                deadline: deadline(prog.progress_deadline.as_deref())?,
            };
            size(prog.max_failures.as_ref(), total, 0)?;
            let mandatory = groups.mandatory(&prog.mandatory_decision_groups);
            match mandatory_phase(groups, &mandatory, &p, &current, now)? {
                Some(partial) => partial,
                None => per_group(
                    groups,
                    &groups.others(&mandatory),
                    prog.max_failures.as_ref(),
                    &p,
                    &current,
                    now,
                )?,
            }
        }
    };
    let recheck_after = partial
        .rollout
        .iter()
        .filter_map(|s| s.recheck)
        .filter_map(|t| {
            let ns = t.as_nanosecond() - now.as_nanosecond();
            (ns > 0).then(|| Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
        })
        .min();
    Ok(RolloutResult {
        to_rollout: partial.rollout,
        timed_out: partial.timed_out,
        removed,
        max_failure_breach: partial.breach,
        recheck_after,
    })
}

/// The mandatory decision groups first, tolerating no failure: `Some` while they still
/// have clusters to roll out or timed out.
fn mandatory_phase(
    groups: &Groups,
    mandatory: &BTreeSet<i32>,
    p: &Params,
    current: &[ClusterStatus],
    now: Timestamp,
) -> Result<Option<Partial>, InvalidStrategy> {
    if mandatory.is_empty() {
        return Ok(None);
    }
    let partial = per_group(
        groups,
        mandatory,
        Some(&IntOrString::Int(0)),
        p,
        current,
        now,
    )?;
    Ok((!partial.rollout.is_empty() || !partial.timed_out.is_empty()).then_some(partial))
}

/// A placement's decision groups, from its PlacementDecisions.
pub async fn placement_groups(
    objects: &super::objects::Objects,
    namespace: &str,
    placement: &str,
) -> Result<Groups, crate::api::status::Status> {
    use crate::api::ocm::{
        DECISION_GROUP_INDEX_LABEL, DECISION_GROUP_NAME_LABEL, PLACEMENT_LABEL, PlacementDecision,
    };
    use crate::api::status::Status;
    let decisions: Vec<PlacementDecision> = objects
        .list_labelled_as(Some(namespace), &format!("{PLACEMENT_LABEL}={placement}"))
        .await?;
    let mut groups = Groups::default();
    for d in &decisions {
        let label = |key: &str| d.metadata.labels.as_ref().and_then(|l| l.get(key));
        let index_label = label(DECISION_GROUP_INDEX_LABEL);
        let index = index_label
            .map_or("", String::as_str)
            .parse::<i32>()
            .map_err(|_| Status::internal(format!("incorrect group index: {index_label:?}")))?;
        let name = label(DECISION_GROUP_NAME_LABEL)
            .cloned()
            .unwrap_or_default();
        let clusters = d
            .status
            .iter()
            .flat_map(|s| &s.decisions)
            .map(|c| c.cluster_name.clone());
        groups.add(index, &name, clusters);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::{RolloutAll, RolloutProgressive, RolloutProgressivePerGroup};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("time")
    }

    fn groups(spec: &[(i32, &str, &[&str])]) -> Groups {
        let mut g = Groups::default();
        for (i, name, clusters) in spec {
            g.add(*i, name, clusters.iter().map(|c| c.to_string()));
        }
        g
    }

    fn names(list: &[ClusterStatus]) -> Vec<&str> {
        list.iter().map(|s| s.cluster.as_str()).collect()
    }

    fn progressive(max_concurrency: Option<IntOrString>) -> RolloutStrategy {
        RolloutStrategy {
            type_: Some(RolloutType::Progressive),
            progressive: Some(RolloutProgressive {
                max_concurrency,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn all_rolls_every_unfinished_cluster_and_drops_removed_ones() {
        let g = groups(&[(0, "", &["a", "b", "c"])]);
        let existing = [
            ClusterStatus::new("a", Status::Succeeded, Some(now())),
            ClusterStatus::new("gone", Status::Succeeded, Some(now())),
        ];
        let r = rollout(None, &g, &existing, now()).expect("rollout");
        assert_eq!(names(&r.to_rollout), ["b", "c"]);
        assert_eq!(names(&r.removed), ["gone"]);
        assert_eq!(r.recheck_after, None);
    }

    #[test]
    fn progressive_is_bounded_by_max_concurrency_and_percentages_round_up() {
        let g = groups(&[(0, "", &["a", "b", "c", "d", "e"])]);
        let r = rollout(
            Some(&progressive(Some(IntOrString::Int(2)))),
            &g,
            &[],
            now(),
        )
        .expect("rollout");
        assert_eq!(names(&r.to_rollout), ["a", "b"]);
        let r = rollout(
            Some(&progressive(Some(IntOrString::String("30%".into())))),
            &g,
            &[],
            now(),
        )
        .expect("rollout");
        assert_eq!(names(&r.to_rollout), ["a", "b"]);
        // Progressing clusters hold their slots; a succeeded one frees its slot.
        let existing = [
            ClusterStatus::new("a", Status::Succeeded, Some(now())),
            ClusterStatus::new("b", Status::Progressing, Some(now())),
        ];
        let r = rollout(
            Some(&progressive(Some(IntOrString::Int(2)))),
            &g,
            &existing,
            now(),
        )
        .expect("rollout");
        assert_eq!(names(&r.to_rollout), ["b", "c"]);
        // Larger than the total: upstream falls back to the default (everything).
        let r = rollout(
            Some(&progressive(Some(IntOrString::Int(9)))),
            &g,
            &[],
            now(),
        )
        .expect("rollout");
        assert_eq!(r.to_rollout.len(), 5);
        assert!(
            rollout(
                Some(&progressive(Some(IntOrString::String("x".into())))),
                &g,
                &[],
                now()
            )
            .is_err()
        );
    }

    #[test]
    fn failures_past_the_limit_stop_a_progressive_rollout() {
        let g = groups(&[(0, "", &["a", "b", "c", "d"])]);
        let existing = [
            ClusterStatus::new("a", Status::Failed, Some(now())),
            ClusterStatus::new("b", Status::Failed, Some(now())),
        ];
        let mut s = progressive(Some(IntOrString::Int(2)));
        s.progressive.as_mut().expect("set").max_failures = Some(IntOrString::Int(1));
        let r = rollout(Some(&s), &g, &existing, now()).expect("rollout");
        assert!(r.max_failure_breach);
        assert_eq!(names(&r.to_rollout), ["a", "b"]);
    }

    #[test]
    fn deadlines_time_out_and_soak_times_hold_then_release() {
        let g = groups(&[(0, "", &["a", "b"])]);
        let early = add_nanos(now(), -120_000_000_000);
        let s = RolloutStrategy {
            type_: Some(RolloutType::All),
            all: Some(RolloutAll {
                progress_deadline: Some("1m".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let existing = [
            ClusterStatus::new("a", Status::Progressing, Some(early)),
            ClusterStatus::new("b", Status::Progressing, Some(now())),
        ];
        let r = rollout(Some(&s), &g, &existing, now()).expect("rollout");
        assert_eq!(names(&r.timed_out), ["a"]);
        assert_eq!(names(&r.to_rollout), ["b"]);
        assert_eq!(r.recheck_after, Some(Duration::from_secs(60)));
        let mut soak = progressive(None);
        soak.progressive.as_mut().expect("set").min_success_time = Some("5m".into());
        let existing = [ClusterStatus::new("a", Status::Succeeded, Some(now()))];
        let r = rollout(Some(&soak), &g, &existing, now()).expect("rollout");
        assert_eq!(names(&r.to_rollout), ["a", "b"]);
        assert_eq!(r.recheck_after, Some(Duration::from_secs(300)));
        assert_eq!(
            deadline(Some("soon")).expect_err("bad").0,
            "invalid timeout format"
        );
    }

    #[test]
    fn per_group_goes_one_group_at_a_time_after_the_mandatory_ones() {
        let g = groups(&[
            (0, "canary", &["c1"]),
            (1, "", &["a", "b"]),
            (2, "", &["d"]),
        ]);
        let s = RolloutStrategy {
            type_: Some(RolloutType::ProgressivePerGroup),
            progressive_per_group: Some(RolloutProgressivePerGroup {
                mandatory_decision_groups: vec![MandatoryDecisionGroup {
                    group_name: Some("canary".into()),
                    group_index: None,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = rollout(Some(&s), &g, &[], now()).expect("rollout");
        assert_eq!(names(&r.to_rollout), ["c1"]);
        let done = [ClusterStatus::new("c1", Status::Succeeded, Some(now()))];
        let r = rollout(Some(&s), &g, &done, now()).expect("rollout");
        assert_eq!(names(&r.to_rollout), ["a", "b"]);
        let more = [
            ClusterStatus::new("c1", Status::Succeeded, Some(now())),
            ClusterStatus::new("a", Status::Succeeded, Some(now())),
            ClusterStatus::new("b", Status::Succeeded, Some(now())),
        ];
        let r = rollout(Some(&s), &g, &more, now()).expect("rollout");
        assert_eq!(names(&r.to_rollout), ["d"]);
    }
}
