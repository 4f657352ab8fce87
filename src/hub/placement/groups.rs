//! Decision groups and the PlacementDecision objects that hold them, as upstream lays them
//! out: the group length is `clustersPerDecisionGroup` (a count, or a percentage of the
//! selected clusters rounded up; out of range means all); each `decisionGroups[]` entry
//! takes the selected clusters its label and claim selectors match (a cluster goes to the
//! first group that matches it) and is cut into groups of that length, then the rest form
//! groups without a name; clusters are sorted by name inside a group; there is always at
//! least one (maybe empty) group. Each group is stored in PlacementDecisions of at most
//! 100 clusters named `<placement>-decision-<N>`, N counting from 1 across groups; after
//! the first pass, clusters stay in the object that holds them ([`layout_keeping`]).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::filters::GroupSpec;

/// The most clusters one PlacementDecision holds.
pub const MAX_DECISIONS_PER_OBJECT: usize = 100;

/// A decision group: its name and its clusters (positions into the selected list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<usize>,
}

/// A PlacementDecision as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub name: String,
    pub group_name: String,
    pub group_index: usize,
    /// Positions into the selected list, in the object's order.
    pub members: Vec<usize>,
}

/// A decision group in the placement's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    pub index: usize,
    pub name: String,
    pub decisions: Vec<String>,
    pub clusters: usize,
}

/// The group length, or upstream's misconfiguration message.
pub fn group_length(per_group: Option<&IntOrString>, total: usize) -> Result<usize, String> {
    let length = match per_group {
        None => 0i64,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => {
            let percent = s
                .strip_suffix('%')
                .and_then(|p| p.parse::<f64>().ok())
                .ok_or_else(|| format!("{s} invalid type: string is not a percentage"))?;
            (percent / 100.0 * total as f64).ceil() as i64
        }
    };
    Ok(match usize::try_from(length) {
        Ok(n) if n > 0 && n <= total => n,
        _ => total,
    })
}

/// Groups the selected clusters. `names[i]` is the name of selected cluster `i` (selected
/// in score order), or anything ordered as the names are; `matches(k, i)` tells whether
/// the selectors of `specs[k]` match it.
pub fn groups<K: Ord>(
    names: &[K],
    specs: &[GroupSpec],
    length: usize,
    matches: impl Fn(usize, usize) -> bool,
) -> Vec<Group> {
    let mut used = vec![false; names.len()];
    let mut out = Vec::new();
    let by_name = |mut members: Vec<usize>| {
        members.sort_by(|a, b| names[*a].cmp(&names[*b]));
        members
    };
    for (k, spec) in specs.iter().enumerate() {
        let matched: Vec<usize> = (0..names.len())
            .filter(|i| !used[*i] && matches(k, *i))
            .collect();
        for i in &matched {
            used[*i] = true;
        }
        divide(&spec.name, by_name(matched), length, &mut out);
    }
    let rest: Vec<usize> = (0..names.len()).filter(|i| !used[*i]).collect();
    divide("", by_name(rest), length, &mut out);
    if out.is_empty() {
        out.push(Group {
            name: String::new(),
            members: Vec::new(),
        });
    }
    out
}

fn divide(name: &str, members: Vec<usize>, length: usize, out: &mut Vec<Group>) {
    for chunk in members.chunks(length.max(1)) {
        out.push(Group {
            name: name.to_string(),
            members: chunk.to_vec(),
        });
    }
}

/// The PlacementDecisions of `groups` and the placement's group status.
pub fn layout(placement: &str, groups: &[Group]) -> (Vec<Layout>, Vec<GroupStatus>) {
    let mut objects = Vec::new();
    let mut status = Vec::new();
    let mut next = 1usize;
    for (index, group) in groups.iter().enumerate() {
        let mut names = Vec::new();
        let chunks: Vec<&[usize]> = if group.members.is_empty() {
            vec![&[]]
        } else {
            group.members.chunks(MAX_DECISIONS_PER_OBJECT).collect()
        };
        for chunk in chunks {
            let name = format!("{placement}-decision-{next}");
            next += 1;
            names.push(name.clone());
            objects.push(Layout {
                name,
                group_name: group.name.clone(),
                group_index: index,
                members: chunk.to_vec(),
            });
        }
        status.push(GroupStatus {
            index,
            name: group.name.clone(),
            decisions: names,
            clusters: group.members.len(),
        });
    }
    (objects, status)
}

/// A PlacementDecision the placement already has, for [`layout_keeping`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<'a> {
    pub name: &'a str,
    pub group_name: &'a str,
    pub group_index: &'a str,
    /// Positions into the selected list of its clusters that are still selected.
    pub members: Vec<usize>,
}

/// Like [`layout`], but a selected cluster stays in the PlacementDecision that holds it
/// while its group keeps its objects: a cluster joining a group goes into the first of the
/// group's objects with room (or a new one), a cluster leaving is removed from its object,
/// and no other object is written. Upstream re-cuts the name-sorted group into slices of
/// 100, so one cluster entering a large placement rewrites every later slice. The layout
/// falls back to upstream's when an object belongs to no current group or a group would
/// keep more objects than its clusters need (so shrinking compacts), and on the first pass.
/// `names[i]` names selected cluster `i`.
pub fn layout_keeping(
    placement: &str,
    groups: &[Group],
    held: &[Held],
    names: &[&str],
) -> (Vec<Layout>, Vec<GroupStatus>) {
    let mut per_group: Vec<Vec<&Held>> = vec![Vec::new(); groups.len()];
    for h in held {
        let Some(gi) = h
            .group_index
            .parse::<usize>()
            .ok()
            .filter(|gi| groups.get(*gi).is_some_and(|g| g.name == h.group_name))
        else {
            return layout(placement, groups);
        };
        per_group[gi].push(h);
    }
    let needed = |g: &Group| g.members.len().div_ceil(MAX_DECISIONS_PER_OBJECT).max(1);
    if groups
        .iter()
        .zip(&per_group)
        .any(|(g, h)| h.is_empty() || h.len() > needed(g))
    {
        return layout(placement, groups);
    }
    let number = |name: &str| {
        name.rsplit('-')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    let mut taken: std::collections::BTreeSet<usize> =
        held.iter().map(|h| number(h.name)).collect();
    let mut fresh_name = || {
        let n = (1..).find(|n| !taken.contains(n)).unwrap_or(usize::MAX);
        taken.insert(n);
        format!("{placement}-decision-{n}")
    };
    let by_name = |a: &usize, b: &usize| names[*a].cmp(names[*b]);
    let mut placed = vec![false; names.len()];
    let mut objects = Vec::new();
    let mut status = Vec::new();
    for (index, (group, held)) in groups.iter().zip(per_group.iter_mut()).enumerate() {
        held.sort_by_key(|h| (number(h.name), h.name));
        let mut in_group = vec![false; names.len()];
        for m in &group.members {
            in_group[*m] = true;
        }
        let mut kept: Vec<(String, Vec<usize>)> = held
            .iter()
            .map(|h| {
                let members: Vec<usize> = h
                    .members
                    .iter()
                    .copied()
                    .filter(|m| in_group[*m] && !std::mem::replace(&mut placed[*m], true))
                    .collect();
                (h.name.to_string(), members)
            })
            .collect();
        let mut joining = group.members.iter().copied().filter(|m| !placed[*m]);
        for (_, members) in kept.iter_mut() {
            while members.len() < MAX_DECISIONS_PER_OBJECT {
                let Some(m) = joining.next() else { break };
                members.push(m);
            }
        }
        let rest: Vec<usize> = joining.collect();
        for chunk in rest.chunks(MAX_DECISIONS_PER_OBJECT) {
            kept.push((fresh_name(), chunk.to_vec()));
        }
        let mut decisions = Vec::new();
        for (name, mut members) in kept {
            members.sort_by(by_name);
            decisions.push(name.clone());
            objects.push(Layout {
                name,
                group_name: group.name.clone(),
                group_index: index,
                members,
            });
        }
        status.push(GroupStatus {
            index,
            name: group.name.clone(),
            decisions,
            clusters: group.members.len(),
        });
    }
    (objects, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::placement::selector::Selector;

    #[test]
    fn lengths() {
        assert_eq!(group_length(None, 7), Ok(7));
        assert_eq!(group_length(Some(&IntOrString::Int(3)), 7), Ok(3));
        assert_eq!(group_length(Some(&IntOrString::Int(30)), 7), Ok(7));
        assert_eq!(
            group_length(Some(&IntOrString::String("25%".into())), 7),
            Ok(2)
        );
        assert_eq!(
            group_length(Some(&IntOrString::String("100%".into())), 0),
            Ok(0)
        );
        assert!(group_length(Some(&IntOrString::String("3".into())), 7).is_err());
    }

    #[test]
    fn groups_then_rest_sorted_by_name_and_split() {
        // Selected in score order.
        let names = ["c5", "c1", "c4", "c2", "c3"];
        let canary = GroupSpec {
            name: "canary".into(),
            labels: Selector::everything(),
            claims: Selector::everything(),
        };
        let g = groups(&names, std::slice::from_ref(&canary), 2, |_, i| {
            names[i] == "c4" || names[i] == "c5"
        });
        assert_eq!(
            g.iter()
                .map(|g| (
                    g.name.as_str(),
                    g.members.iter().map(|i| names[*i]).collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>(),
            [
                ("canary", vec!["c4", "c5"]),
                ("", vec!["c1", "c2"]),
                ("", vec!["c3"])
            ]
        );
        let (objects, status) = layout("p", &g);
        assert_eq!(
            objects
                .iter()
                .map(|o| (o.name.as_str(), o.group_index))
                .collect::<Vec<_>>(),
            [
                ("p-decision-1", 0),
                ("p-decision-2", 1),
                ("p-decision-3", 2)
            ]
        );
        assert_eq!(status[2].decisions, ["p-decision-3"]);
        let empty = groups::<&str>(&[], &[canary], 0, |_, _| true);
        let (objects, status) = layout("p", &empty);
        assert_eq!(objects.len(), 1);
        assert_eq!(status[0].clusters, 0);
        // 250 clusters in one group: three objects.
        let many: Vec<String> = (0..250).map(|i| format!("c{i:03}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let (objects, status) = layout("p", &groups(&refs, &[], 250, |_, _| false));
        assert_eq!(
            objects.iter().map(|o| o.members.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert_eq!(status.len(), 1);
    }

    /// The clusters of each object, by name.
    fn held_names(objects: &[Layout], names: &[&str]) -> Vec<(String, Vec<String>)> {
        objects
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    o.members.iter().map(|m| names[*m].to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn clusters_stay_in_their_objects() {
        let all: Vec<String> = (0..301).map(|i| format!("c{i:03}")).collect();
        let names_of = |range: std::ops::Range<usize>| -> Vec<&str> {
            all[range].iter().map(String::as_str).collect()
        };
        // 250 clusters (c001..c250) laid out as upstream: 100, 100, 50.
        let names = names_of(1..251);
        let one = |names: &[&str]| groups(names, &[], names.len(), |_, _| false);
        let (first, _) = layout_keeping("p", &one(&names), &[], &names);
        assert_eq!(first, layout("p", &one(&names)).0);
        let held_of =
            |objects: &[Layout], old: &[&str], new: &[&str]| -> Vec<(String, Vec<usize>)> {
                objects
                    .iter()
                    .map(|o| {
                        let members = o
                            .members
                            .iter()
                            .filter_map(|m| new.iter().position(|n| *n == old[*m]))
                            .collect();
                        (o.name.clone(), members)
                    })
                    .collect()
            };
        let relayout = |objects: &[Layout], old: &[&str], new: &[&str]| {
            let held = held_of(objects, old, new);
            let held: Vec<Held> = held
                .iter()
                .map(|(name, members)| Held {
                    name,
                    group_name: "",
                    group_index: "0",
                    members: members.clone(),
                })
                .collect();
            layout_keeping("p", &one(new), &held, new)
        };
        // c000 sorts first: it joins the last object, the others are not touched.
        let grown = names_of(0..251);
        let (objects, status) = relayout(&first, &names, &grown);
        let got = held_names(&objects, &grown);
        let before = held_names(&first, &names);
        assert_eq!(got[..2], before[..2]);
        assert_eq!(got[2].1.len(), 51);
        assert_eq!(got[2].1[0], "c000");
        assert_eq!(status[0].clusters, 251);
        // c050 leaves: only the first object changes.
        let shrunk: Vec<&str> = grown.iter().copied().filter(|n| *n != "c050").collect();
        let (objects2, _) = relayout(&objects, &grown, &shrunk);
        let got2 = held_names(&objects2, &shrunk);
        assert_eq!(got2[0].1.len(), 99);
        assert_eq!(got2[1..], got[1..]);
        // Three full objects and one more cluster: a fourth object for it alone.
        let full = names_of(0..300);
        let (objects, _) = layout_keeping("p", &one(&full), &[], &full);
        let more = names_of(0..301);
        let (objects, status) = relayout(&objects, &full, &more);
        assert_eq!(objects.len(), 4);
        assert_eq!(objects[3].name, "p-decision-4");
        assert_eq!(held_names(&objects, &more)[3].1, ["c300"]);
        assert_eq!(status[0].decisions.len(), 4);
        // Fewer clusters than the objects need: laid out as upstream again.
        let few = names_of(0..150);
        let (objects, _) = relayout(&objects, &more, &few);
        assert_eq!(objects, layout("p", &one(&few)).0);
        // An object of a group that no longer exists: as upstream.
        let held = [Held {
            name: "p-decision-1",
            group_name: "canary",
            group_index: "0",
            members: vec![0],
        }];
        let (objects, _) = layout_keeping("p", &one(&few), &held, &few);
        assert_eq!(objects, layout("p", &one(&few)).0);
    }
}
