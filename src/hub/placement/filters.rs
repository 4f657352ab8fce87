//! A Placement compiled once per change of its spec, and the two filters upstream runs in
//! order: `Predicate` (the predicates are ORed; within one, the label selector, the claim
//! selector and the CEL expressions are ANDed; no predicate selects everything) and
//! `TaintToleration` (`PreferNoSelect` is always tolerated, `NoSelectIfNew` is tolerated
//! for clusters already in the placement's decisions, any other taint needs a matching
//! toleration that has not expired: `tolerationSeconds` counts from the taint's
//! `timeAdded`).
//!
//! A bad selector, CEL expression or toleration makes the placement misconfigured with
//! upstream's message; like upstream, that is only noticed when there is a cluster to
//! filter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::cel::{CelSelector, Env};
use super::prioritize::{self, Weighted};
use super::selector::Selector;
use crate::api::ocm::{
    ManagedCluster, Placement, SpreadConstraintsTerm, Taint, TaintEffect, Toleration,
    TopologyKeyType, UnsatisfiableMaxSkewAction,
};

/// The annotation that stops the scheduler from touching a placement.
pub const DISABLE_ANNOTATION: &str =
    "cluster.open-cluster-management.io/experimental-scheduling-disable";

/// One predicate: selectors that must all match.
#[derive(Debug, Clone)]
pub struct Predicate {
    pub labels: Selector,
    pub claims: Selector,
    pub cel: Option<CelSelector>,
}

/// A decision group of the spec, with its selectors.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    pub labels: Selector,
    pub claims: Selector,
}

/// One spread constraint (beyond upstream, whose scheduler ignores them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spread {
    pub key: String,
    pub claim: bool,
    pub max_skew: i64,
    /// `DoNotSchedule`: never exceed `max_skew`; else prefer not to.
    pub hard: bool,
}

/// What the scheduler needs of a placement, checked once per spec.
#[derive(Debug)]
pub struct Compiled {
    /// The predicates, or the misconfiguration message (plugin `Predicate`).
    pub predicates: Result<Vec<Predicate>, String>,
    /// The tolerations, or the misconfiguration message (plugin `TaintToleration`).
    pub tolerations: Result<Vec<Toleration>, String>,
    /// Prioritizers with their non-zero weights, or the misconfiguration message.
    pub weights: Result<Vec<Weighted>, String>,
    /// Decision groups, or the misconfiguration message of their selectors.
    pub groups: Result<Vec<GroupSpec>, String>,
    pub clusters_per_group: Option<IntOrString>,
    pub spread: Vec<Spread>,
    pub number_of_clusters: Option<i32>,
    pub cluster_sets: BTreeSet<String>,
    pub disabled: bool,
    pub deleting: bool,
    /// The predicates use CEL (which may read any field of a cluster).
    pub uses_cel: bool,
    /// AddOnPlacementScore names read (by AddOn prioritizers or, when `uses_cel`, maybe by
    /// `scores()`).
    pub score_names: BTreeSet<String>,
    /// A `ResourceAllocatable*` prioritizer is on (allocatable and capacity matter).
    pub uses_resources: bool,
    /// The weight of Steady (0 when off).
    pub steady_weight: i64,
}

impl Compiled {
    pub fn new(placement: &Placement) -> Compiled {
        let spec = &placement.spec;
        let predicates = spec
            .predicates
            .iter()
            .map(|p| {
                let selector = p.required_cluster_selector.clone().unwrap_or_default();
                let labels =
                    Selector::compile(Some(&selector.label_selector.clone().unwrap_or_default()))?;
                let claims = Selector::from_expressions(
                    &selector
                        .claim_selector
                        .map(|c| c.match_expressions)
                        .unwrap_or_default(),
                )?;
                let expressions = selector
                    .cel_selector
                    .map(|c| c.cel_expressions)
                    .unwrap_or_default();
                let cel = match expressions.is_empty() {
                    true => None,
                    false => Some(CelSelector::compile(&expressions)?),
                };
                Ok(Predicate {
                    labels,
                    claims,
                    cel,
                })
            })
            .collect::<Result<Vec<_>, String>>();
        let uses_cel = predicates
            .as_ref()
            .map(|p| p.iter().any(|p| p.cel.is_some()))
            .unwrap_or(false);
        let weights = prioritize::weights(spec.prioritizer_policy.as_ref());
        let mut score_names: BTreeSet<String> = weights
            .as_ref()
            .map(|w| {
                w.iter()
                    .filter_map(|w| w.add_on_resource().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if uses_cel {
            // Which score objects an expression reads is known only when it runs.
            score_names.insert(String::new());
        }
        let uses_resources = weights
            .as_ref()
            .map(|w| w.iter().any(Weighted::reads_resources))
            .unwrap_or(false);
        let steady_weight = weights
            .as_ref()
            .map(|w| {
                w.iter()
                    .filter(|w| w.is_steady())
                    .map(|w| i64::from(w.weight))
                    .sum()
            })
            .unwrap_or(0);
        let strategy = spec
            .decision_strategy
            .as_ref()
            .and_then(|d| d.group_strategy.clone())
            .unwrap_or_default();
        let groups = strategy
            .decision_groups
            .iter()
            .map(|g| {
                Ok(GroupSpec {
                    name: g.group_name.clone(),
                    labels: Selector::compile(Some(
                        &g.group_cluster_selector
                            .label_selector
                            .clone()
                            .unwrap_or_default(),
                    ))?,
                    claims: Selector::from_expressions(
                        &g.group_cluster_selector
                            .claim_selector
                            .clone()
                            .map(|c| c.match_expressions)
                            .unwrap_or_default(),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, String>>();
        let spread = spec
            .spread_policy
            .as_ref()
            .map(|s| s.spread_constraints.iter().map(spread_term).collect())
            .unwrap_or_default();
        let annotations = placement.metadata.annotations.as_ref();
        Compiled {
            predicates,
            tolerations: check_tolerations(&spec.tolerations),
            weights,
            groups,
            clusters_per_group: strategy.clusters_per_decision_group,
            spread,
            number_of_clusters: spec.number_of_clusters,
            cluster_sets: spec.cluster_sets.iter().cloned().collect(),
            disabled: annotations
                .and_then(|a| a.get(DISABLE_ANNOTATION))
                .is_some_and(|v| v == "true"),
            deleting: placement.metadata.deletion_timestamp.is_some(),
            uses_cel,
            score_names,
            uses_resources,
            steady_weight,
        }
    }

    /// Whether the predicate filter lets `cluster` through; why not otherwise. A
    /// misconfigured placement lets nothing through.
    pub fn predicate(&self, env: &Env, cluster: &dyn ClusterFacts) -> Result<(), String> {
        let predicates = match &self.predicates {
            Ok(p) => p,
            Err(_) => return Err("the placement is misconfigured".into()),
        };
        if predicates.is_empty() {
            return Ok(());
        }
        let mut first = None;
        for predicate in predicates {
            let why = if !predicate.labels.matches(cluster.labels()) {
                "its labels do not match".to_string()
            } else if !predicate.claims.matches(cluster.claims()) {
                "its claims do not match".to_string()
            } else if let Some(cel) = &predicate.cel {
                match cel.check(env, cluster.cel()) {
                    Ok(()) => return Ok(()),
                    Err(why) => why,
                }
            } else {
                return Ok(());
            };
            first.get_or_insert(why);
        }
        Err(match (predicates.len(), first) {
            (1, Some(why)) => why,
            (n, _) => format!("it matches none of the {n} predicates"),
        })
    }

    /// Whether the taint filter lets `cluster` through, and until when (the earliest
    /// toleration expiry among its taints); why not otherwise.
    pub fn tolerated(
        &self,
        taints: &[Taint],
        in_decisions: bool,
        now_nanos: i128,
    ) -> Result<Option<i128>, String> {
        let tolerations = match &self.tolerations {
            Ok(t) => t,
            Err(_) => return Err("the placement is misconfigured".into()),
        };
        let mut until: Option<i128> = None;
        for taint in taints {
            match taint_tolerated(taint, tolerations, in_decisions, now_nanos) {
                Tolerance::Yes(expiry) => {
                    if let Some(e) = expiry {
                        until = Some(until.map_or(e, |u| u.min(e)));
                    }
                }
                Tolerance::Expired => {
                    return Err(format!(
                        "the toleration of taint {} expired",
                        show_taint(taint)
                    ));
                }
                Tolerance::No => {
                    return Err(format!("taint {} is not tolerated", show_taint(taint)));
                }
            }
        }
        Ok(until)
    }
}

/// What the filters read of a cluster.
pub trait ClusterFacts {
    fn labels(&self) -> &BTreeMap<String, String>;
    fn claims(&self) -> &BTreeMap<String, String>;
    /// The whole cluster as a CEL value (built when first asked for).
    fn cel(&self) -> &cel_interpreter::Value;
}

fn spread_term(t: &SpreadConstraintsTerm) -> Spread {
    Spread {
        key: t.topology_key.clone(),
        claim: t.topology_key_type == TopologyKeyType::Claim,
        max_skew: i64::from(t.max_skew.unwrap_or(1).max(1)),
        hard: t.when_unsatisfiable == Some(UnsatisfiableMaxSkewAction::DoNotSchedule),
    }
}

/// Upstream's checks of the tolerations, in order.
fn check_tolerations(tolerations: &[Toleration]) -> Result<Vec<Toleration>, String> {
    for t in tolerations {
        let exists = t.operator.as_deref() == Some("Exists");
        if t.key.as_deref().unwrap_or("").is_empty() && !exists {
            return Err("If the key is empty, operator must be Exists.".into());
        }
        if exists && !t.value.as_deref().unwrap_or("").is_empty() {
            return Err("If the operator is Exists, the value should be empty.".into());
        }
    }
    Ok(tolerations.to_vec())
}

enum Tolerance {
    /// Tolerated, until the given time (nanoseconds since the epoch) if it expires.
    Yes(Option<i128>),
    /// A toleration matched, but its time is up.
    Expired,
    No,
}

fn taint_tolerated(
    taint: &Taint,
    tolerations: &[Toleration],
    in_decisions: bool,
    now: i128,
) -> Tolerance {
    if taint.effect == TaintEffect::PreferNoSelect {
        return Tolerance::Yes(None);
    }
    if taint.effect == TaintEffect::NoSelectIfNew && in_decisions {
        return Tolerance::Yes(None);
    }
    let mut expired = false;
    for t in tolerations {
        if t.effect.is_some_and(|e| e != taint.effect) {
            continue;
        }
        if t.key
            .as_deref()
            .is_some_and(|k| !k.is_empty() && k != taint.key)
        {
            continue;
        }
        let matched = match t.operator.as_deref() {
            None | Some("") | Some("Equal") => {
                t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
            Some("Exists") => true,
            Some(_) => false,
        };
        if !matched {
            continue;
        }
        let Some(seconds) = t.toleration_seconds else {
            return Tolerance::Yes(None);
        };
        let added = taint.time_added.as_ref().map_or(0, |t| t.0.as_nanosecond());
        let until = added.saturating_add(i128::from(seconds).saturating_mul(1_000_000_000));
        if now < until {
            return Tolerance::Yes(Some(until));
        }
        expired = true;
    }
    if expired {
        Tolerance::Expired
    } else {
        Tolerance::No
    }
}

fn show_taint(taint: &Taint) -> String {
    let effect = match taint.effect {
        TaintEffect::NoSelect => "NoSelect",
        TaintEffect::PreferNoSelect => "PreferNoSelect",
        TaintEffect::NoSelectIfNew => "NoSelectIfNew",
    };
    match taint.value.as_deref() {
        Some(v) if !v.is_empty() => format!("{}={v}:{effect}", taint.key),
        _ => format!("{}:{effect}", taint.key),
    }
}

/// The claims of a cluster as a map (`status.clusterClaims`).
pub fn claims_of(cluster: &ManagedCluster) -> BTreeMap<String, String> {
    cluster
        .status
        .as_ref()
        .map(|s| {
            s.cluster_claims
                .iter()
                .map(|c| {
                    (
                        c.name.clone().unwrap_or_default(),
                        c.value.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Shared compiled placements.
pub type CompiledRef = Arc<Compiled>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(v: serde_json::Value) -> Taint {
        serde_json::from_value(v).expect("taint")
    }

    fn compiled(spec: serde_json::Value) -> Compiled {
        let p: Placement = serde_json::from_value(
            json!({"apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "Placement", "metadata": {"name": "p", "namespace": "n"}, "spec": spec}),
        )
        .expect("placement");
        Compiled::new(&p)
    }

    #[test]
    fn tolerations_follow_upstream() {
        let now = 1_000_000_000_000_000_000i128;
        let c = compiled(json!({"tolerations": [
            {"key": "gpu", "operator": "Equal", "value": "a"},
            {"key": "flaky", "operator": "Exists", "tolerationSeconds": 10}]}));
        assert!(
            c.tolerated(
                &[taint(
                    json!({"key": "gpu", "value": "a", "effect": "NoSelect", "timeAdded": null})
                )],
                false,
                now
            )
            .is_ok()
        );
        assert!(
            c.tolerated(
                &[taint(
                    json!({"key": "gpu", "value": "b", "effect": "NoSelect", "timeAdded": null})
                )],
                false,
                now
            )
            .is_err()
        );
        assert!(
            c.tolerated(
                &[taint(
                    json!({"key": "x", "effect": "PreferNoSelect", "timeAdded": null})
                )],
                false,
                now
            )
            .is_ok()
        );
        let new_only = taint(json!({"key": "x", "effect": "NoSelectIfNew", "timeAdded": null}));
        assert!(
            c.tolerated(std::slice::from_ref(&new_only), true, now)
                .is_ok()
        );
        assert!(c.tolerated(&[new_only], false, now).is_err());
        // Added 5 s ago: tolerated for 5 more; added 20 s ago: expired.
        let at = |secs_ago: i64| {
            let t = k8s_openapi::jiff::Timestamp::from_nanosecond(
                now - i128::from(secs_ago) * 1_000_000_000,
            )
            .expect("ts");
            taint(json!({"key": "flaky", "effect": "NoSelect", "timeAdded": t.to_string()}))
        };
        assert_eq!(
            c.tolerated(&[at(5)], false, now),
            Ok(Some(now + 5_000_000_000))
        );
        assert!(
            c.tolerated(&[at(20)], false, now)
                .is_err_and(|e| e.contains("expired"))
        );
        // No timeAdded counts from the epoch: expired.
        assert!(
            c.tolerated(
                &[taint(
                    json!({"key": "flaky", "effect": "NoSelect", "timeAdded": null})
                )],
                false,
                now
            )
            .is_err()
        );
        let bad = compiled(json!({"tolerations": [{"operator": "Equal", "value": "x"}]}));
        assert_eq!(
            bad.tolerations.err().as_deref(),
            Some("If the key is empty, operator must be Exists.")
        );
        let bad =
            compiled(json!({"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]}));
        assert_eq!(
            bad.tolerations.err().as_deref(),
            Some("If the operator is Exists, the value should be empty.")
        );
    }
}
