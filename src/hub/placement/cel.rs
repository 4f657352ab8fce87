//! CEL cluster selectors (`spec.predicates[].requiredClusterSelector.celSelector`), on the
//! `cel-interpreter` crate the schema engine uses, with what upstream's placement
//! environment adds: the variable `managedCluster` (the whole ManagedCluster object but its
//! `metadata.managedFields`, which the placement state does not keep),
//! `managedCluster.scores("<AddOnPlacementScore>")` (the named scores of that object in the
//! cluster's namespace, as `[{name, value}]`; an error when it does not exist) and
//! `"<json>".parseJSON()`; kube's string library comes from `api::schema::cel`.
//!
//! Compiled and bounded by `api::schema::cel_program` (undeclared names refused; size,
//! nesting, tree depth and comprehensions limited: a hostile selector cannot exhaust a
//! worker's stack). An expression that fails or is not `true` does not select the cluster.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, FunctionContext, Value as Cel};
use serde_json::Value;

use crate::api::schema::cel::{self, Parsed};
use crate::api::schema::cel_program as program;

/// Functions an expression may call besides operators, macros and the schema engine's
/// ([`cel::FUNCTIONS`]).
const PLACEMENT_FUNCTIONS: &[&str] = &["scores", "parseJSON"];

/// One cluster's scores: AddOnPlacementScore name → `[(score name, value)]`.
type ClusterScores = HashMap<String, Arc<Vec<(String, i64)>>>;

/// The AddOnPlacementScores `scores()` reads: cluster → score name → `[(name, value)]`.
#[derive(Default)]
pub struct ScoreTable {
    by_cluster: RwLock<HashMap<String, ClusterScores>>,
}

impl ScoreTable {
    /// Records (or, with `None`, forgets) the scores of AddOnPlacementScore `name` in the
    /// namespace of `cluster`.
    pub fn set(&self, cluster: &str, name: &str, scores: Option<Vec<(String, i64)>>) {
        let Ok(mut table) = self.by_cluster.write() else {
            return;
        };
        match scores {
            Some(s) => {
                table
                    .entry(cluster.to_string())
                    .or_default()
                    .insert(name.to_string(), Arc::new(s));
            }
            None => {
                if let Some(of) = table.get_mut(cluster) {
                    of.remove(name);
                    if of.is_empty() {
                        table.remove(cluster);
                    }
                }
            }
        }
    }

    fn get(&self, cluster: &str, name: &str) -> Option<Arc<Vec<(String, i64)>>> {
        self.by_cluster
            .read()
            .ok()?
            .get(cluster)?
            .get(name)
            .cloned()
    }
}

/// The compiled expressions of one CEL selector.
#[derive(Clone)]
pub struct CelSelector {
    programs: Vec<Arc<Parsed>>,
}

impl std::fmt::Debug for CelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CelSelector({} expressions)", self.programs.len())
    }
}

impl CelSelector {
    /// Compiles every expression; the first error is upstream's `compilation failed: ...`.
    pub fn compile(expressions: &[String]) -> Result<CelSelector, String> {
        let programs = expressions
            .iter()
            .map(|e| {
                program::compile(e, &["managedCluster"], PLACEMENT_FUNCTIONS)
                    .map_err(|why| format!("compilation failed: {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CelSelector { programs })
    }

    /// True when there is nothing to evaluate.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// Whether `cluster` satisfies every expression; the failing expression and why
    /// otherwise.
    pub fn check(&self, env: &Env, cluster: &Cel) -> Result<(), String> {
        for (i, program) in self.programs.iter().enumerate() {
            let mut scope = env.context.new_inner_scope();
            scope.add_variable_from_value("managedCluster", cluster.clone());
            match cel::resolve(program, &scope) {
                Some(Ok(Cel::Bool(true))) => {}
                Some(Ok(Cel::Bool(false))) => return Err(format!("CEL expression {i} is false")),
                Some(Ok(_)) => return Err(format!("CEL expression {i} is not a bool")),
                Some(Err(e)) => {
                    return Err(format!(
                        "CEL expression {i} failed: {}",
                        program::error_text(&e)
                    ));
                }
                None => return Err(format!("CEL expression {i} failed")),
            }
        }
        Ok(())
    }
}

/// The evaluation environment: the functions, with `scores()` reading `table`.
pub struct Env {
    context: Context<'static>,
}

impl Env {
    pub fn new(table: Arc<ScoreTable>) -> Env {
        let mut context = Context::default();
        crate::api::schema::cel::register(&mut context);
        context.add_function(
            "scores",
            move |ftx: &FunctionContext, This(this): This<Cel>, name: Arc<String>| -> Result<Cel, ExecutionError> {
                let cluster = cluster_name(&this).ok_or_else(|| ftx.error("failed to get cluster name"))?;
                let scores = table.get(&cluster, &name).ok_or_else(|| {
                    ftx.error(format!(
                        "failed to get score: addonplacementscores.cluster.open-cluster-management.io {:?} not found",
                        name.as_str()
                    ))
                })?;
                Ok(Cel::List(Arc::new(
                    scores
                        .iter()
                        .map(|(n, v)| {
                            let mut m = HashMap::new();
                            m.insert(Key::from("name"), Cel::String(Arc::new(n.clone())));
                            m.insert(Key::from("value"), Cel::Int(*v));
                            Cel::Map(Map { map: Arc::new(m) })
                        })
                        .collect(),
                )))
            },
        );
        context.add_function(
            "parseJSON",
            |ftx: &FunctionContext, This(this): This<Arc<String>>| -> Result<Cel, ExecutionError> {
                serde_json::from_str::<Value>(&this)
                    .map(|v| program::to_cel(&v, true, 0))
                    .map_err(|e| ftx.error(format!("failed to parse json: {e}")))
            },
        );
        Env { context }
    }
}

fn cluster_name(cluster: &Cel) -> Option<String> {
    let Cel::Map(m) = cluster else { return None };
    let Cel::Map(meta) = m.map.get(&Key::from("metadata"))? else {
        return None;
    };
    match meta.map.get(&Key::from("name"))? {
        Cel::String(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> Cel {
        program::to_cel(
            &json!({"metadata": {"name": "c1", "labels": {"env": "prod", "version": "1.30"}},
                "status": {"clusterClaims": [{"name": "platform", "value": "AWS"}],
                           "allocatable": {"cpu": "4"}}}),
            false,
            0,
        )
    }

    fn check(expr: &str, table: Arc<ScoreTable>) -> Result<(), String> {
        let env = Env::new(table);
        let selector = CelSelector::compile(&[expr.to_string()])?;
        selector.check(&env, &cluster())
    }

    #[test]
    fn hostile_expressions_are_refused_or_evaluated_without_overflow() {
        let table = Arc::new(ScoreTable::default());
        // A 10 KiB chain of operators: deep tree, no brackets.
        let chain = format!("1{}", " + 1".repeat(2_500));
        assert!(CelSelector::compile(&[chain]).is_err());
        let ors = (0..300)
            .map(|i| format!("managedCluster.metadata.name == 'c{i}'"))
            .collect::<Vec<_>>()
            .join(" || ");
        let deep_or = ors
            .chars()
            .take(program::MAX_EXPRESSION_BYTES)
            .collect::<String>();
        let deep_or = deep_or
            .rsplit_once(" ||")
            .map_or(deep_or.clone(), |(a, _)| a.to_string());
        // Either refused at compile time or evaluated to an answer: never a crash.
        if let Ok(selector) = CelSelector::compile(&[deep_or]) {
            let _ = selector.check(&Env::new(table.clone()), &cluster());
        }
        let nested = format!("{}true{}", "[".repeat(40), "]".repeat(40));
        assert!(check(&nested, table).is_err());
    }

    #[test]
    fn expressions() {
        let table = Arc::new(ScoreTable::default());
        table.set(
            "c1",
            "res",
            Some(vec![("cpu".into(), 70), ("mem".into(), -5)]),
        );
        assert_eq!(
            check(
                "managedCluster.metadata.labels[\"env\"] == \"prod\"",
                table.clone()
            ),
            Ok(())
        );
        assert!(
            check(
                "managedCluster.metadata.labels.env == \"dev\"",
                table.clone()
            )
            .is_err()
        );
        assert_eq!(
            check(
                "managedCluster.status.clusterClaims.exists(c, c.name == \"platform\" && c.value.lowerAscii() == \"aws\")",
                table.clone()
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "managedCluster.scores(\"res\").filter(s, s.name == \"cpu\").all(s, s.value > 50)",
                table.clone()
            ),
            Ok(())
        );
        assert!(
            check(
                "managedCluster.scores(\"missing\").size() == 0",
                table.clone()
            )
            .is_err_and(|e| e.contains("not found"))
        );
        assert_eq!(
            check("'{\"a\": [1, 2]}'.parseJSON().a.size() == 2", table.clone()),
            Ok(())
        );
        assert!(
            check("other == 1", table.clone())
                .is_err_and(|e| e.contains("undeclared reference to 'other'"))
        );
        assert!(check("nope(managedCluster)", table.clone()).is_err_and(|e| e.contains("'nope'")));
        assert!(
            check("managedCluster.metadata.name ==", table.clone())
                .is_err_and(|e| e.starts_with("compilation failed"))
        );
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(check(&deep, table).is_err_and(|e| e.contains("nests deeper")));
    }
}
