//! Label selectors as `metav1.LabelSelectorAsSelector` builds them, over a label (or claim)
//! map: a missing selector selects nothing, an empty one everything; `matchLabels` and
//! `matchExpressions` are ANDed; keys, operators and values are checked with kube's rules
//! and messages, so a placement with a bad selector is reported as misconfigured.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// The operator of one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The key is present with one of the values (`matchLabels` entries too).
    In,
    /// The key is absent, or present with none of the values.
    NotIn,
    /// The key is present.
    Exists,
    /// The key is absent.
    DoesNotExist,
}

/// One requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    /// Sorted and without duplicates.
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::In => value.is_some_and(|v| self.values.binary_search(v).is_ok()),
            Op::NotIn => value.is_none_or(|v| self.values.binary_search(v).is_err()),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
        }
    }
}

/// A compiled selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Selects nothing (a missing selector).
    Nothing,
    /// All requirements must hold; none selects everything.
    All(Vec<Requirement>),
}

impl Selector {
    /// Selects everything.
    pub fn everything() -> Selector {
        Selector::All(Vec::new())
    }

    /// `LabelSelectorAsSelector`: `None` selects nothing.
    pub fn compile(selector: Option<&LabelSelector>) -> Result<Selector, String> {
        let Some(selector) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(requirement(key, "In", std::slice::from_ref(value), true)?);
        }
        for expression in selector.match_expressions.iter().flatten() {
            requirements.push(from_expression(expression)?);
        }
        Ok(Selector::All(requirements))
    }

    /// A claim selector: only expressions; none selects everything.
    pub fn from_expressions(expressions: &[LabelSelectorRequirement]) -> Result<Selector, String> {
        expressions
            .iter()
            .map(from_expression)
            .collect::<Result<Vec<_>, _>>()
            .map(Selector::All)
    }

    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(requirements) => requirements.iter().all(|r| r.matches(labels)),
        }
    }

    /// True for the selector that selects everything.
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }

    /// A requirement only objects carrying its key can meet (`In` or `Exists`): the
    /// objects holding one of `values` (all values when `None`) are the only candidates.
    pub fn positive(&self) -> Option<(&str, Option<&[String]>)> {
        let Selector::All(requirements) = self else {
            return None;
        };
        requirements.iter().find_map(|r| match r.op {
            Op::In => Some((r.key.as_str(), Some(r.values.as_slice()))),
            Op::Exists => Some((r.key.as_str(), None)),
            _ => None,
        })
    }

    /// The keys the selector reads.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let requirements = match self {
            Selector::Nothing => &[][..],
            Selector::All(r) => r.as_slice(),
        };
        requirements.iter().map(|r| r.key.as_str())
    }
}

fn from_expression(expression: &LabelSelectorRequirement) -> Result<Requirement, String> {
    requirement(
        &expression.key,
        &expression.operator,
        expression.values.as_deref().unwrap_or_default(),
        false,
    )
}

/// `labels.NewRequirement` with kube's checks.
fn requirement(
    key: &str,
    operator: &str,
    values: &[String],
    equals: bool,
) -> Result<Requirement, String> {
    let op = match operator {
        "In" => Op::In,
        "NotIn" => Op::NotIn,
        "Exists" => Op::Exists,
        "DoesNotExist" => Op::DoesNotExist,
        other => return Err(format!("{other:?} is not a valid label selector operator")),
    };
    if let Err(why) = check_qualified_name(key) {
        return Err(format!("key: Invalid value: {key:?}: {why}"));
    }
    match op {
        Op::In | Op::NotIn if values.is_empty() => {
            return Err(
                "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
                    .into(),
            );
        }
        Op::Exists | Op::DoesNotExist if !values.is_empty() => {
            return Err(format!(
                "values: Invalid value: []string{{{}}}: values set must be empty for exists and does not exist",
                values
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        _ => {}
    }
    for (i, value) in values.iter().enumerate() {
        if let Err(why) = check_label_value(value) {
            let at = if equals {
                "values[0]".to_string()
            } else {
                format!("values[{i}]")
            };
            return Err(format!("{at}[{key}]: Invalid value: {value:?}: {why}"));
        }
    }
    // Sorted, so a cluster's value is found by binary search.
    let mut values = values.to_vec();
    values.sort_unstable();
    values.dedup();
    Ok(Requirement {
        key: key.to_string(),
        op,
        values,
    })
}

const NAME_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// `validation.IsQualifiedName`.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.contains('/') {
        return Err("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into());
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if !is_name(name) {
        return Err(NAME_MESSAGE.into());
    }
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        if !is_dns_subdomain(prefix) {
            return Err("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
        }
    }
    Ok(())
}

/// `validation.IsValidLabelValue`.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !value.is_empty() && !is_name(value) {
        return Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn compile(v: serde_json::Value) -> Result<Selector, String> {
        let s: LabelSelector = serde_json::from_value(v).expect("selector");
        Selector::compile(Some(&s))
    }

    #[test]
    fn kube_semantics() {
        assert!(!Selector::compile(None).expect("nil").matches(&labels(&[])));
        assert!(compile(json!({})).expect("empty").matches(&labels(&[])));
        let s = compile(json!({"matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]},
                                 {"key": "gpu", "operator": "DoesNotExist"}]}))
        .expect("valid");
        assert!(s.matches(&labels(&[("env", "prod")])));
        assert!(s.matches(&labels(&[("env", "prod"), ("zone", "b")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("zone", "a")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("gpu", "")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        assert_eq!(s.positive(), Some(("env", Some(&["prod".to_string()][..]))));
    }

    #[test]
    fn kube_errors() {
        let e =
            compile(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}));
        assert_eq!(
            e,
            Err("\"in\" is not a valid label selector operator".into())
        );
        let e =
            compile(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}));
        assert!(e.is_err_and(|e| e.contains("values set can't be empty")));
        let e = compile(
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        );
        assert!(e.is_err_and(|e| e.contains("values set must be empty")));
        let e = compile(json!({"matchLabels": {"bad key": "x"}}));
        assert!(e.is_err_and(|e| e.starts_with("key: Invalid value: \"bad key\"")));
        let e = compile(json!({"matchLabels": {"k": "bad value"}}));
        assert!(e.is_err_and(|e| e.starts_with("values[0][k]: Invalid value")));
        assert!(check_qualified_name("example.com/a_b.c").is_ok());
        assert!(check_qualified_name("Example.com/x").is_err());
    }
}
