//! Condition rules (`manifestConfigs[].conditionRules`): conditions of a manifest computed
//! from the applied resource, then aggregated into the work's conditions, as upstream's
//! agent does.
//!
//! - `CEL`: every expression of `celExpressions` (variable `object`, the resource as it is
//!   on the managed cluster; upstream's `hasConditions(map)` besides kube's libraries)
//!   must be true for `True` (reason `ConditionRuleEvaluated`); an expression that fails
//!   or is not a bool gives `False` with reason `ConditionRuleExpressionError`. The
//!   message is `messageExpression` (variables `object` and `result`), else `message`,
//!   else "Manifest is <condition>" / "Manifest is not <condition>".
//! - `WellKnownConditions`: `Complete` of a Job (finished, succeeded or failed) or a Pod
//!   (phase Succeeded or Failed); nothing for other kinds or conditions.
//!
//! On the work, each condition a rule produced on some manifest is aggregated with reason
//! `ConditionRulesAggregated`: `Progressing` is True when any manifest's is, others are
//! True only when every manifest's is.

use std::collections::BTreeMap;

use cel_interpreter::extractors::This;
use cel_interpreter::{Context, Value as Cel};
use serde_json::Value;

use crate::api::ocm::{ConditionRule, ConditionRuleType};
use crate::api::schema::cel_program as program;

/// Reasons of rule conditions (upstream's), all starting with `ConditionRule`.
pub const EVALUATED: &str = "ConditionRuleEvaluated";
pub const EXPRESSION_ERROR: &str = "ConditionRuleExpressionError";
pub const AGGREGATED: &str = "ConditionRulesAggregated";
/// The prefix that marks a condition as a rule's.
pub const PREFIX: &str = "ConditionRule";

/// One rule's condition on a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCondition {
    pub condition: String,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn context(object: &Value) -> Context<'static> {
    let mut ctx = Context::default();
    crate::api::schema::cel::register(&mut ctx);
    ctx.add_function("hasConditions", |This(this): This<Cel>| -> bool {
        match this {
            Cel::Map(m) => m
                .map
                .get(&cel_interpreter::objects::Key::from("conditions"))
                .is_some_and(|c| matches!(c, Cel::List(l) if !l.is_empty())),
            _ => false,
        }
    });
    ctx.add_variable_from_value("object", program::to_cel(object, false, 0));
    ctx
}

/// Evaluates one expression to a bool.
fn truth(src: &str, ctx: &Context) -> Result<bool, String> {
    let parsed = program::compile(src, &["object"], &["hasConditions"])?;
    match crate::api::schema::cel::resolve(&parsed, ctx) {
        Some(Ok(Cel::Bool(b))) => Ok(b),
        Some(Ok(other)) => Err(format!("expression {src:?} returned {other:?}, not a bool")),
        Some(Err(e)) => Err(program::error_text(&e)),
        None => Err(format!("expression {src:?} is too deep to evaluate")),
    }
}

fn message_of(rule: &ConditionRule, object: &Value, result: bool, default: String) -> String {
    if let Some(expr) = rule.message_expression.as_deref().filter(|e| !e.is_empty()) {
        let mut ctx = context(object);
        ctx.add_variable_from_value("result", result);
        if let Ok(parsed) = program::compile(expr, &["object", "result"], &["hasConditions"])
            && let Some(Ok(Cel::String(s))) = crate::api::schema::cel::resolve(&parsed, &ctx)
            && !s.is_empty()
        {
            return s.to_string();
        }
    }
    rule.message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or(default)
}

fn cel_rule(rule: &ConditionRule, object: &Value) -> RuleCondition {
    let ctx = context(object);
    let mut outcome = Ok(true);
    for expr in &rule.cel_expressions {
        match truth(expr, &ctx) {
            Ok(true) => {}
            other => {
                outcome = other;
                break;
            }
        }
    }
    let condition = rule.condition.clone();
    match outcome {
        Ok(result) => {
            let default = if result {
                format!("Manifest is {condition}")
            } else {
                format!("Manifest is not {condition}")
            };
            RuleCondition {
                message: message_of(rule, object, result, default),
                status: if result { "True" } else { "False" },
                reason: EVALUATED,
                condition,
            }
        }
        Err(e) => RuleCondition {
            condition,
            status: "False",
            reason: EXPRESSION_ERROR,
            message: e,
        },
    }
}

fn well_known(
    rule: &ConditionRule,
    group: &str,
    kind: &str,
    object: &Value,
) -> Option<RuleCondition> {
    if rule.condition != "Complete" {
        return None;
    }
    let (done, message) = match (group, kind) {
        ("batch", "Job") => {
            let finished = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        matches!(c["type"].as_str(), Some("Complete" | "Failed"))
                            && c["status"] == "True"
                    })
                });
            let message = if finished {
                "Job is finished"
            } else {
                "Job is not finished"
            };
            (finished, message.to_string())
        }
        ("", "Pod") => {
            let phase = object
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                matches!(phase, "Succeeded" | "Failed"),
                format!("Pod is in phase {phase}"),
            )
        }
        _ => return None,
    };
    Some(RuleCondition {
        condition: rule.condition.clone(),
        status: if done { "True" } else { "False" },
        reason: EVALUATED,
        message: message_of(rule, object, done, message),
    })
}

/// The conditions `rules` give the resource `object` (of `group`/`kind`).
pub fn evaluate(
    rules: &[ConditionRule],
    group: &str,
    kind: &str,
    object: &Value,
) -> Vec<RuleCondition> {
    rules
        .iter()
        .filter_map(|rule| match rule.type_ {
            ConditionRuleType::Cel => Some(cel_rule(rule, object)),
            ConditionRuleType::WellKnownConditions => well_known(rule, group, kind, object),
        })
        .collect()
}

/// The work-level conditions from every manifest's rule conditions: condition → (status,
/// message).
pub fn aggregate(per_manifest: &[Vec<RuleCondition>]) -> BTreeMap<String, (&'static str, String)> {
    let mut by_type: BTreeMap<&str, Vec<&RuleCondition>> = BTreeMap::new();
    for c in per_manifest.iter().flatten() {
        by_type.entry(c.condition.as_str()).or_default().push(c);
    }
    by_type
        .into_iter()
        .map(|(type_, cs)| {
            let count = |s: &str| cs.iter().filter(|c| c.status == s).count();
            let (t, f, u) = (count("True"), count("False"), count("Unknown"));
            let status = if type_ == "Progressing" {
                if t > 0 {
                    "True"
                } else if u > 0 {
                    "Unknown"
                } else {
                    "False"
                }
            } else if f > 0 {
                "False"
            } else if u > 0 || t == 0 {
                "Unknown"
            } else {
                "True"
            };
            let message = match cs.as_slice() {
                [only] if !only.message.is_empty() => only.message.clone(),
                _ => format!("Aggregated from {} manifest conditions", cs.len()),
            };
            (type_.to_string(), (status, message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(condition: &str, exprs: &[&str]) -> ConditionRule {
        ConditionRule {
            condition: condition.into(),
            type_: ConditionRuleType::Cel,
            cel_expressions: exprs.iter().map(|s| s.to_string()).collect(),
            message: None,
            message_expression: None,
        }
    }

    #[test]
    fn cel_rules_read_the_object() {
        let object = json!({"status": {"readyReplicas": 2, "conditions": [{"type": "Ready"}]}, "spec": {"replicas": 2}});
        let got = evaluate(
            &[
                rule(
                    "Ready",
                    &[
                        "object.status.readyReplicas == object.spec.replicas",
                        "hasConditions(object.status)",
                    ],
                ),
                rule("Big", &["object.spec.replicas > 5"]),
                rule("Broken", &["object.nothing.here > 1"]),
                rule("Typed", &["object.spec.replicas"]),
            ],
            "apps",
            "Deployment",
            &object,
        );
        let short: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|c| (c.condition.as_str(), c.status, c.reason))
            .collect();
        assert_eq!(
            short,
            [
                ("Ready", "True", EVALUATED),
                ("Big", "False", EVALUATED),
                ("Broken", "False", EXPRESSION_ERROR),
                ("Typed", "False", EXPRESSION_ERROR),
            ]
        );
        assert_eq!(got[0].message, "Manifest is Ready");
        assert_eq!(got[1].message, "Manifest is not Big");
        let mut with_message = rule("Ready", &["true"]);
        with_message.message_expression =
            Some("result ? 'ready: ' + string(object.spec.replicas) : ''".into());
        assert_eq!(
            evaluate(&[with_message], "apps", "Deployment", &object)[0].message,
            "ready: 2"
        );
    }

    #[test]
    fn well_known_complete_and_aggregation() {
        let mut complete = rule("Complete", &[]);
        complete.type_ = ConditionRuleType::WellKnownConditions;
        let job = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        let got = evaluate(std::slice::from_ref(&complete), "batch", "Job", &job);
        assert_eq!(
            (got[0].status, got[0].message.as_str()),
            ("True", "Job is finished")
        );
        assert!(evaluate(&[complete], "apps", "Deployment", &json!({})).is_empty());
        let c = |condition: &str, status: &'static str| RuleCondition {
            condition: condition.into(),
            status,
            reason: EVALUATED,
            message: String::new(),
        };
        let work = aggregate(&[
            vec![c("Progressing", "False"), c("Complete", "True")],
            vec![c("Progressing", "True"), c("Complete", "False")],
        ]);
        assert_eq!(work["Progressing"].0, "True");
        assert_eq!(work["Complete"].0, "False");
        assert_eq!(work["Complete"].1, "Aggregated from 2 manifest conditions");
    }
}
