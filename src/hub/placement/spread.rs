//! `spec.spreadPolicy.spreadConstraints`, which upstream's CRD accepts and its scheduler
//! ignores. The clusters of one topology are those with the same value of the
//! constraint's label (or claim); the skew of a topology is its number of selected
//! clusters minus the smallest number among all topologies of the feasible clusters.
//!
//! Selection is greedy in score order: each step takes the best-scoring cluster that
//! keeps every `DoNotSchedule` constraint within `maxSkew` (clusters without the key are
//! never taken under such a constraint), preferring among those the clusters whose
//! `ScheduleAnyway` constraints exceed `maxSkew` the least. With `DoNotSchedule`, fewer
//! clusters than wanted may be selected; `ScheduleAnyway` only reorders.

use std::collections::HashMap;

use super::filters::Spread;

/// Selects up to `wanted` of `ranked` (best first); `topology(i, term)` is the topology
/// of `ranked[i]` under `term`, if it has one. Returns the positions taken, in the order
/// they were taken.
pub fn select(
    ranked: usize,
    wanted: usize,
    terms: &[Spread],
    topology: impl Fn(usize, &Spread) -> Option<String>,
) -> Vec<usize> {
    // Per term: the topology of each cluster and the selected count per topology.
    let domains: Vec<Vec<Option<String>>> = terms
        .iter()
        .map(|t| (0..ranked).map(|i| topology(i, t)).collect())
        .collect();
    let mut counts: Vec<HashMap<&str, i64>> = domains
        .iter()
        .map(|d| d.iter().flatten().map(|v| (v.as_str(), 0)).collect())
        .collect();
    let mut taken = vec![false; ranked];
    let mut out = Vec::new();
    while out.len() < wanted {
        let mut best: Option<(i64, usize)> = None;
        for i in (0..ranked).filter(|i| !taken[*i]) {
            let mut penalty = 0i64;
            let mut allowed = true;
            for (t, term) in terms.iter().enumerate() {
                let Some(domain) = domains[t][i].as_deref() else {
                    if term.hard {
                        allowed = false;
                        break;
                    }
                    continue;
                };
                let skew = skew_after(&counts[t], domain);
                if skew > term.max_skew {
                    if term.hard {
                        allowed = false;
                        break;
                    }
                    penalty += skew - term.max_skew;
                }
            }
            if allowed && best.is_none_or(|(p, _)| penalty < p) {
                best = Some((penalty, i));
                if penalty == 0 {
                    break;
                }
            }
        }
        let Some((_, i)) = best else { break };
        taken[i] = true;
        out.push(i);
        for t in 0..terms.len() {
            if let Some(domain) = domains[t][i].as_deref()
                && let Some(n) = counts[t].get_mut(domain)
            {
                *n += 1;
            }
        }
    }
    out
}

/// The skew of `domain` after one more cluster is selected in it.
fn skew_after(counts: &HashMap<&str, i64>, domain: &str) -> i64 {
    let mut min = i64::MAX;
    let mut mine = 0;
    for (d, n) in counts {
        let n = if *d == domain { n + 1 } else { *n };
        if *d == domain {
            mine = n;
        }
        min = min.min(n);
    }
    mine - min
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(hard: bool, skew: i64) -> Spread {
        Spread {
            key: "zone".into(),
            claim: false,
            max_skew: skew,
            hard,
        }
    }

    #[test]
    fn spreads_in_score_order() {
        // Ranked clusters and their zones; the three best are all in zone a.
        let zones = ["a", "a", "a", "b", "c", "b"];
        let top = |i: usize, _: &Spread| Some(zones[i].to_string());
        assert_eq!(select(6, 3, &[term(true, 1)], top), [0, 3, 4]);
        assert_eq!(select(6, 4, &[term(true, 1)], top), [0, 3, 4, 1]);
        assert_eq!(select(6, 3, &[term(false, 1)], top), [0, 3, 4]);
        // Zone c has one cluster: with maxSkew 1 at most 2 per zone can be reached.
        assert_eq!(select(6, 6, &[term(true, 1)], top), [0, 3, 4, 1, 5]);
        // ScheduleAnyway still fills up.
        assert_eq!(select(6, 6, &[term(false, 1)], top).len(), 6);
        // A cluster without the key is never taken under DoNotSchedule.
        let partial = |i: usize, _: &Spread| (i != 0).then(|| zones[i].to_string());
        assert_eq!(select(6, 2, &[term(true, 1)], partial), [1, 3]);
    }
}
