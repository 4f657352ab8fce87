//! Writing a placement's decisions without losing a cluster on the way (beyond upstream,
//! which updates its PlacementDecisions one by one, so a cluster moving between two of
//! them is in neither for a moment and consumers such as the add-on manager react to its
//! disappearance: ocm#1346).
//!
//! The rule: a cluster that stays selected never leaves every PlacementDecision. A
//! PlacementDecision from which a selected cluster moves away is written only after the
//! one it moves to. Writes are made in rounds; a round holds every write whose
//! destinations are done, and its writes run concurrently. When moves form a cycle, one
//! object of the cycle is first written with its new clusters *and* the ones leaving it
//! (for that moment it may hold more than 100), which unblocks the others; its final
//! content is written last. Stale PlacementDecisions are deleted the same way.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::schedule::Desired;
use super::world::Id;

/// A PlacementDecision as stored (from the world).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub clusters: Vec<Id>,
    pub scores: Vec<Option<i64>>,
    pub group_name: String,
    pub group_index: String,
}

/// The content to write into one PlacementDecision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub group_name: String,
    pub group_index: usize,
    /// Cluster names and scores, in order.
    pub decisions: Vec<(Arc<str>, Option<i64>)>,
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make the object hold `content` (creating it when missing). `transit` marks the
    /// temporary content of a cycle breaker.
    Write {
        name: String,
        content: Content,
        transit: bool,
    },
    /// Delete a stale object.
    Delete { name: String },
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Write { name, .. } | Step::Delete { name } => name,
        }
    }
}

struct Node<'a> {
    /// The desired content (None: delete).
    desired: Option<&'a Desired>,
    /// Destinations that must hold this object's leaving clusters first.
    deps: BTreeSet<&'a str>,
    /// Selected clusters leaving this object, with their old scores.
    leaving: Vec<(Id, Option<i64>)>,
}

/// The writes that turn `existing` into `desired`, round by round. `name_of` names a
/// cluster id. Without `refresh_scores`, an object whose clusters and group are as
/// desired is not written for its scores alone (they are refreshed whenever it is
/// written for another reason).
pub fn plan(
    existing: &[Existing],
    desired: &[Desired],
    refresh_scores: bool,
    name_of: &dyn Fn(Id) -> Arc<str>,
) -> Vec<Vec<Step>> {
    let by_name: HashMap<&str, &Desired> = desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut home: HashMap<Id, &str> = HashMap::new();
    for d in desired {
        for (id, _) in &d.clusters {
            home.entry(*id).or_insert(d.name.as_str());
        }
    }
    let same = |e: &Existing, d: &Desired| {
        e.group_name == d.group_name
            && e.group_index == d.group_index.to_string()
            && e.clusters.len() == d.clusters.len()
            && e.clusters
                .iter()
                .zip(e.scores.iter())
                .zip(d.clusters.iter())
                .all(|((id, score), (want, want_score))| {
                    id == want && (!refresh_scores || *score == Some(*want_score))
                })
    };
    let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
    for e in existing {
        let want = by_name.get(e.name.as_str()).copied();
        if want.is_some_and(|d| same(e, d)) {
            continue;
        }
        let mut node = Node {
            desired: want,
            deps: BTreeSet::new(),
            leaving: Vec::new(),
        };
        for (i, id) in e.clusters.iter().enumerate() {
            if let Some(h) = home.get(id)
                && *h != e.name
            {
                node.deps.insert(*h);
                node.leaving.push((*id, e.scores.get(i).copied().flatten()));
            }
        }
        nodes.insert(e.name.as_str(), node);
    }
    for d in desired {
        if !existing.iter().any(|e| e.name == d.name) {
            nodes.insert(
                d.name.as_str(),
                Node {
                    desired: Some(d),
                    deps: BTreeSet::new(),
                    leaving: Vec::new(),
                },
            );
        }
    }
    // A destination that needs no write already holds its clusters.
    let writing: BTreeSet<&str> = nodes.keys().copied().collect();
    for node in nodes.values_mut() {
        node.deps.retain(|d| writing.contains(d));
    }

    let content = |d: &Desired, extra: &[(Id, Option<i64>)]| Content {
        group_name: d.group_name.clone(),
        group_index: d.group_index,
        decisions: d
            .clusters
            .iter()
            .map(|(id, s)| (name_of(*id), Some(*s)))
            .chain(extra.iter().map(|(id, s)| (name_of(*id), *s)))
            .collect(),
    };
    let mut rounds = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut transit: BTreeSet<&str> = BTreeSet::new();
    while done.len() < nodes.len() {
        let ready: Vec<&str> = nodes
            .iter()
            .filter(|(name, node)| {
                !done.contains(*name)
                    && node
                        .deps
                        .iter()
                        .all(|d| done.contains(d) || transit.contains(d) || d == *name)
            })
            .map(|(name, _)| *name)
            .collect();
        if !ready.is_empty() {
            let round = ready
                .iter()
                .map(|name| match nodes[name].desired {
                    Some(d) => Step::Write {
                        name: name.to_string(),
                        content: content(d, &[]),
                        transit: false,
                    },
                    None => Step::Delete {
                        name: name.to_string(),
                    },
                })
                .collect();
            done.extend(ready);
            rounds.push(round);
            continue;
        }
        // A cycle: hold the leaving clusters in one of its objects for a moment.
        let Some((name, node)) = nodes.iter().find(|(name, node)| {
            !done.contains(*name) && !transit.contains(*name) && node.desired.is_some()
        }) else {
            break;
        };
        let Some(d) = node.desired else { break };
        rounds.push(vec![Step::Write {
            name: name.to_string(),
            content: content(d, &node.leaving),
            transit: true,
        }]);
        transit.insert(name);
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(name: &str, clusters: &[Id]) -> Existing {
        Existing {
            name: name.into(),
            clusters: clusters.to_vec(),
            scores: clusters.iter().map(|_| Some(0)).collect(),
            group_name: String::new(),
            group_index: "0".into(),
        }
    }

    fn desired(name: &str, index: usize, clusters: &[Id]) -> Desired {
        Desired {
            name: name.into(),
            group_name: String::new(),
            group_index: index,
            clusters: clusters.iter().map(|c| (*c, 0)).collect(),
        }
    }

    fn name_of(id: Id) -> Arc<str> {
        Arc::from(format!("c{id}"))
    }

    fn names(rounds: &[Vec<Step>]) -> Vec<Vec<String>> {
        rounds
            .iter()
            .map(|r| {
                r.iter()
                    .map(|s| match s {
                        Step::Write {
                            name,
                            transit: true,
                            ..
                        } => format!("{name}*"),
                        Step::Delete { name } => format!("-{name}"),
                        s => s.name().to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    /// Replays the rounds on `existing` and checks that every cluster selected before and
    /// after is in some object after every single write.
    fn check_never_lost(
        existing_objs: &[Existing],
        desired_objs: &[Desired],
        rounds: &[Vec<Step>],
    ) {
        let mut state: BTreeMap<String, Vec<Arc<str>>> = existing_objs
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.clusters.iter().map(|c| name_of(*c)).collect(),
                )
            })
            .collect();
        let kept: BTreeSet<Arc<str>> = desired_objs
            .iter()
            .flat_map(|d| d.clusters.iter().map(|c| name_of(c.0)))
            .filter(|c| state.values().any(|v| v.contains(c)))
            .collect();
        for round in rounds {
            // Any order inside a round.
            for step in round {
                match step {
                    Step::Write { name, content, .. } => {
                        state.insert(
                            name.clone(),
                            content.decisions.iter().map(|d| d.0.clone()).collect(),
                        );
                    }
                    Step::Delete { name } => {
                        state.remove(name);
                    }
                }
                for c in &kept {
                    assert!(
                        state.values().any(|v| v.contains(c)),
                        "{c} lost after {step:?}"
                    );
                }
            }
        }
        let end: BTreeMap<String, Vec<Arc<str>>> = desired_objs
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    d.clusters.iter().map(|c| name_of(c.0)).collect(),
                )
            })
            .collect();
        assert_eq!(state, end);
    }

    #[test]
    fn creates_in_one_round_and_skips_unchanged() {
        let want = [desired("p-1", 0, &[1, 2]), desired("p-2", 1, &[3])];
        let rounds = plan(&[], &want, true, &name_of);
        assert_eq!(names(&rounds), [["p-1", "p-2"]]);
        let have = [existing("p-1", &[1, 2])];
        let rounds = plan(&have, &want[..1], true, &name_of);
        assert!(rounds.is_empty());
    }

    #[test]
    fn scores_alone_rewrite_only_when_asked() {
        let have = [existing("p-1", &[1, 2])];
        let mut want = [desired("p-1", 0, &[1, 2])];
        want[0].clusters[1].1 = 7;
        assert!(plan(&have, &want, false, &name_of).is_empty());
        let rounds = plan(&have, &want, true, &name_of);
        assert_eq!(names(&rounds), [["p-1"]]);
        // Written for another reason, every score is refreshed.
        let want = [desired("p-1", 0, &[1, 2, 3])];
        let rounds = plan(&have, &want, false, &name_of);
        let Some(Step::Write { content, .. }) = rounds.first().and_then(|r| r.first()) else {
            panic!("one write expected: {rounds:?}");
        };
        assert!(content.decisions.iter().all(|(_, s)| *s == Some(0)));
    }

    #[test]
    fn a_shift_writes_destinations_first() {
        // A new cluster 0 sorts first: 2 moves from p-1 to p-2, 4 from p-2 to p-3.
        let have = [existing("p-1", &[1, 2]), existing("p-2", &[3, 4])];
        let want = [
            desired("p-1", 0, &[0, 1]),
            desired("p-2", 0, &[2, 3]),
            desired("p-3", 0, &[4]),
        ];
        let rounds = plan(&have, &want, true, &name_of);
        assert_eq!(names(&rounds), [vec!["p-3"], vec!["p-2"], vec!["p-1"]]);
        check_never_lost(&have, &want, &rounds);
        // Cluster 1 goes: 3 moves back from p-2 to p-1, and p-2 is deleted after.
        let have = [existing("p-1", &[1, 2]), existing("p-2", &[3])];
        let want = [desired("p-1", 0, &[2, 3])];
        let rounds = plan(&have, &want, true, &name_of);
        assert_eq!(names(&rounds), [vec!["p-1"], vec!["-p-2"]]);
        check_never_lost(&have, &want, &rounds);
    }

    #[test]
    fn a_swap_goes_through_a_transit_write() {
        // Clusters 1 and 2 trade groups.
        let have = [existing("p-1", &[1]), existing("p-2", &[2])];
        let want = [desired("p-1", 0, &[2]), desired("p-2", 1, &[1])];
        let rounds = plan(&have, &want, true, &name_of);
        assert_eq!(names(&rounds), [vec!["p-1*"], vec!["p-2"], vec!["p-1"]]);
        check_never_lost(&have, &want, &rounds);
    }
}
