//! Prioritizers and their weights, as upstream resolves them: in `Additive` mode (the
//! default) Balance and Steady start at weight 1 and the configurations override or add;
//! in `Exact` mode only the configurations count; weight 0 turns a prioritizer off. Each
//! prioritizer scores a cluster from -100 to 100 and the total is the weighted sum.
//!
//! Upstream keys its weight table by the score coordinate, whose `addOn` is a pointer: two
//! AddOn configurations are two prioritizers even when they name the same score, while a
//! built-in named twice keeps its last weight. That is reproduced here.

use crate::api::ocm::{PrioritizerPolicy, ScoreCoordinateType};

/// A built-in prioritizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltIn {
    /// Fewer decisions of other placements is better.
    Balance,
    /// Being in this placement's decisions already is better.
    Steady,
    /// More allocatable CPU is better.
    Cpu,
    /// More allocatable memory is better.
    Memory,
}

/// What a prioritizer scores by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    BuiltIn(BuiltIn),
    /// `AddOnPlacementScore` `resource` (in each cluster's namespace), score `score`.
    AddOn {
        resource: String,
        score: String,
    },
}

/// A prioritizer with a non-zero weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted {
    pub source: Source,
    pub weight: i32,
}

impl Weighted {
    /// Upstream's plugin name (`Balance`, `ResourceAllocatableCPU`, `AddOn/<resource>/<score>`).
    pub fn name(&self) -> String {
        match &self.source {
            Source::BuiltIn(BuiltIn::Balance) => "Balance".into(),
            Source::BuiltIn(BuiltIn::Steady) => "Steady".into(),
            Source::BuiltIn(BuiltIn::Cpu) => "ResourceAllocatableCPU".into(),
            Source::BuiltIn(BuiltIn::Memory) => "ResourceAllocatableMemory".into(),
            Source::AddOn { resource, score } => format!("AddOn/{resource}/{score}"),
        }
    }

    /// The AddOnPlacementScore this prioritizer reads.
    pub fn add_on_resource(&self) -> Option<&str> {
        match &self.source {
            Source::AddOn { resource, .. } => Some(resource),
            Source::BuiltIn(_) => None,
        }
    }

    /// True for the allocatable-resource prioritizers.
    pub fn reads_resources(&self) -> bool {
        matches!(self.source, Source::BuiltIn(BuiltIn::Cpu | BuiltIn::Memory))
    }

    /// True for Steady.
    pub fn is_steady(&self) -> bool {
        self.source == Source::BuiltIn(BuiltIn::Steady)
    }
}

/// The weight table key: type, built-in name, and for AddOn coordinates the position of
/// the configuration (upstream's pointer identity).
#[derive(PartialEq, Eq)]
struct Key {
    add_on: bool,
    built_in: String,
    add_on_at: Option<usize>,
}

/// The prioritizers of a policy with non-zero weights, in a stable order; upstream's
/// misconfiguration message otherwise.
pub fn weights(policy: Option<&PrioritizerPolicy>) -> Result<Vec<Weighted>, String> {
    let mode = policy.and_then(|p| p.mode.as_deref()).unwrap_or("");
    let configurations = policy
        .map(|p| p.configurations.as_slice())
        .unwrap_or_default();
    type Row = (Key, i32, Option<(String, String)>);
    let mut table: Vec<Row> = match mode {
        "Exact" => Vec::new(),
        "Additive" | "" => vec![
            (
                Key {
                    add_on: false,
                    built_in: "Balance".into(),
                    add_on_at: None,
                },
                1,
                None,
            ),
            (
                Key {
                    add_on: false,
                    built_in: "Steady".into(),
                    add_on_at: None,
                },
                1,
                None,
            ),
        ],
        other => return Err(format!("incorrect prioritizer policy mode: {other}")),
    };
    for (i, config) in configurations.iter().enumerate() {
        let Some(coordinate) = &config.score_coordinate else {
            return Err("scoreCoordinate field is required".into());
        };
        let key = Key {
            add_on: coordinate.type_ == ScoreCoordinateType::AddOn,
            built_in: coordinate.built_in.clone().unwrap_or_default(),
            add_on_at: coordinate.add_on.as_ref().map(|_| i),
        };
        let add_on = coordinate
            .add_on
            .as_ref()
            .map(|a| (a.resource_name.clone(), a.score_name.clone()));
        let weight = config.weight.unwrap_or(1);
        match table.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry.1 = weight,
            None => table.push((key, weight, add_on)),
        }
    }
    let mut out = Vec::new();
    for (key, weight, add_on) in table {
        if weight == 0 {
            continue;
        }
        let source = if key.add_on {
            match add_on {
                Some((resource, score)) => Source::AddOn { resource, score },
                None => return Err("addOn should not be empty".into()),
            }
        } else {
            Source::BuiltIn(match key.built_in.as_str() {
                "Balance" => BuiltIn::Balance,
                "Steady" => BuiltIn::Steady,
                "ResourceAllocatableCPU" => BuiltIn::Cpu,
                "ResourceAllocatableMemory" => BuiltIn::Memory,
                other => return Err(format!("incorrect builtin prioritizer: {other}")),
            })
        };
        out.push(Weighted { source, weight });
    }
    Ok(out)
}

/// Balance's score of a cluster in `count` decisions of other placements when the busiest
/// cluster is in `max` of them (`2 * int64(100 * (0.5 - count/max))`, 100 when in none).
pub fn balance(count: u32, max: u32) -> i64 {
    if count == 0 || max == 0 {
        return 100;
    }
    let usage = f64::from(count) / f64::from(max);
    2 * ((100.0 * (0.5 - usage)) as i64)
}

/// The resource prioritizers' score: allocatable between the smallest and the largest
/// among the clusters mapped to -100..100 (100 when they are all equal).
pub fn resource(value: f64, min: f64, max: f64) -> i64 {
    if max - min != 0.0 {
        let ratio = (value - min) / (max - min);
        ((ratio - 0.5) * 2.0 * 100.0) as i64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> PrioritizerPolicy {
        serde_json::from_value(v).expect("policy")
    }

    #[test]
    fn additive_exact_and_errors() {
        let names = |w: Vec<Weighted>| w.iter().map(|w| (w.name(), w.weight)).collect::<Vec<_>>();
        assert_eq!(
            names(weights(None).expect("default")),
            [("Balance".to_string(), 1), ("Steady".to_string(), 1)]
        );
        let p = policy(json!({"mode": "Additive", "configurations": [
            {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Steady"}, "weight": 0},
            {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "ResourceAllocatableCPU"}, "weight": 3},
            {"scoreCoordinate": {"type": "AddOn", "addOn": {"resourceName": "r", "scoreName": "s"}}, "weight": -2},
            {"scoreCoordinate": {"type": "AddOn", "addOn": {"resourceName": "r", "scoreName": "s"}}, "weight": 1}]}));
        assert_eq!(
            names(weights(Some(&p)).expect("additive")),
            [
                ("Balance".to_string(), 1),
                ("ResourceAllocatableCPU".to_string(), 3),
                ("AddOn/r/s".to_string(), -2),
                ("AddOn/r/s".to_string(), 1)
            ]
        );
        let p = policy(json!({"mode": "Exact", "configurations": [
            {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Balance"}, "weight": 2}]}));
        assert_eq!(
            names(weights(Some(&p)).expect("exact")),
            [("Balance".to_string(), 2)]
        );
        let p = policy(json!({"mode": "Exact", "configurations": [
            {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Nope"}, "weight": 1}]}));
        assert_eq!(
            weights(Some(&p)),
            Err("incorrect builtin prioritizer: Nope".into())
        );
        let p = policy(json!({"mode": "Exact", "configurations": [
            {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Nope"}, "weight": 0}]}));
        assert_eq!(weights(Some(&p)), Ok(vec![]), "weight 0 is never looked at");
        let p = policy(
            json!({"mode": "Exact", "configurations": [{"scoreCoordinate": {"type": "AddOn"}, "weight": 1}]}),
        );
        assert_eq!(weights(Some(&p)), Err("addOn should not be empty".into()));
    }

    #[test]
    fn scores() {
        assert_eq!(balance(0, 5), 100);
        assert_eq!(balance(5, 5), -100);
        assert_eq!(balance(1, 3), 2 * ((100.0f64 * (0.5 - 1.0 / 3.0)) as i64));
        assert_eq!(balance(1, 2), 0);
        assert_eq!(resource(4.0, 2.0, 6.0), 0);
        assert_eq!(resource(6.0, 2.0, 6.0), 100);
        assert_eq!(resource(2.0, 2.0, 6.0), -100);
        assert_eq!(resource(3.0, 3.0, 3.0), 100);
    }
}
