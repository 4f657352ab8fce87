//! Decision groups and the PlacementDecision objects that hold them, as upstream lays them
//! out: the group length is `clustersPerDecisionGroup` (a count, or a percentage of the
//! selected clusters rounded up; out of range means all); each `decisionGroups[]` entry
//! takes the selected clusters its label and claim selectors match (a cluster goes to the
//! first group that matches it) and is cut into groups of that length, then the rest form
//! groups without a name; clusters are sorted by name inside a group; there is always at
//! least one (maybe empty) group. Each group is stored in PlacementDecisions of at most
//! 100 clusters named `<placement>-decision-<N>`, N counting from 1 across groups.

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
/// in score order); `matches(spec, i)` tells whether a group's selectors match it.
pub fn groups(
    names: &[&str],
    specs: &[GroupSpec],
    length: usize,
    matches: impl Fn(&GroupSpec, usize) -> bool,
) -> Vec<Group> {
    let mut used = vec![false; names.len()];
    let mut out = Vec::new();
    let by_name = |mut members: Vec<usize>| {
        members.sort_by(|a, b| names[*a].cmp(names[*b]));
        members
    };
    for spec in specs {
        let matched: Vec<usize> = (0..names.len())
            .filter(|i| !used[*i] && matches(spec, *i))
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
        let empty = groups(&[], &[canary], 0, |_, _| true);
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
}
