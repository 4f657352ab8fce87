//! kubectl's JSONPath as printer columns (`additionalPrinterColumns[].jsonPath`) and OCM
//! feedback rules (`jsonPaths[].path`) write it, evaluated by `jsonpath-rust` (RFC 9535).
//!
//! This module only translates. kubectl's paths have no leading `$`, may be wrapped in
//! `{...}`, and name fields with any character but `.` and `[`; the grammar is `.field`,
//! `[n]`, `[*]` and the filter `[?(@.a.b==value)]`. Each step becomes one RFC 9535
//! segment (`["field"]`, `[n]`, `[:]`, `[?@["a"]["b"]==value]`), parsed once by the
//! library and evaluated by it.
//!
//! Where RFC 9535 differs from kube's `util/jsonpath`, kube's meaning is kept:
//! - `[*]` and filters select array elements only (RFC 9535 also selects the members of
//!   an object). `[*]` is the slice `[:]`; the path is cut before every filter and the
//!   piece starting with the filter is evaluated on arrays only.
//! - A filter compares typed values: a quoted value (or a bare word) matches strings; an
//!   unquoted number, `true`, `false` or `null` matches that JSON value.
//!
//! What a result means (nothing, several values, a non-scalar) is the callers' business:
//! `http::table` (printer columns) and the agent's status feedback.

use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("empty field name in {0:?}")]
    EmptyField(String),
    #[error("unclosed [ in {0:?}")]
    Unclosed(String),
    #[error("unsupported subscript {0:?}")]
    UnsupportedSubscript(String),
    #[error("unsupported filter {0:?}")]
    UnsupportedFilter(String),
    #[error("unexpected {rest:?} in {path:?}")]
    Unexpected { rest: String, path: String },
    /// The translation was refused by the library (an index or number beyond 2^53).
    #[error("{path:?} (as {query:?}) is not a valid path: {reason}")]
    Library {
        path: String,
        query: String,
        reason: String,
    },
}

/// One library query: the steps up to the next filter.
#[derive(Debug, Clone, PartialEq)]
struct Piece {
    /// The piece starts with a filter, so it applies to arrays only.
    filter_first: bool,
    query: JpQuery,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<Piece>);

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let text = text.trim().trim_start_matches('{').trim_end_matches('}');
        // (segment in RFC 9535 syntax, is a filter)
        let mut segments: Vec<(String, bool)> = Vec::new();
        let mut rest = text.strip_prefix('$').unwrap_or(text);
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(JsonPathError::EmptyField(text.to_string()));
                }
                segments.push((format!("[{}]", string_literal(&r[..end])), false));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| JsonPathError::Unclosed(text.to_string()))?;
                let inner = &r[..end];
                segments.push(if inner == "*" {
                    ("[:]".to_string(), false)
                } else if let Some(filter) =
                    inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                {
                    (format!("[?{}]", filter_expression(filter, inner)?), true)
                } else {
                    let index: usize = inner
                        .parse()
                        .map_err(|_| JsonPathError::UnsupportedSubscript(inner.to_string()))?;
                    (format!("[{index}]"), false)
                });
                rest = &r[end + 1..];
            } else {
                return Err(JsonPathError::Unexpected {
                    rest: rest.to_string(),
                    path: text.to_string(),
                });
            }
        }
        let mut pieces: Vec<(bool, String)> = vec![(false, "$".to_string())];
        for (segment, is_filter) in segments {
            match pieces.last_mut() {
                Some((_, query)) if !is_filter => query.push_str(&segment),
                _ => pieces.push((true, format!("${segment}"))),
            }
        }
        let pieces = pieces
            .into_iter()
            .map(|(filter_first, query)| {
                jsonpath_rust::parser::parse_json_path(&query)
                    .map(|query| Piece {
                        filter_first,
                        query,
                    })
                    .map_err(|e| JsonPathError::Library {
                        path: text.to_string(),
                        query,
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(JsonPath(pieces))
    }

    /// Every value the path selects, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for piece in &self.0 {
            current = current
                .into_iter()
                .filter(|v| !piece.filter_first || v.is_array())
                // The library errs only for queries yielding a computed value, which no
                // translated path does.
                .flat_map(|v| {
                    jsonpath_rust::query::js_path_process(&piece.query, v).unwrap_or_default()
                })
                .map(|found| found.val)
                .collect();
        }
        current
    }
}

/// `a.b==value` (what follows `?(@.`) as an RFC 9535 comparison.
fn filter_expression(filter: &str, inner: &str) -> Result<String, JsonPathError> {
    let (field, value) = filter
        .split_once("==")
        .ok_or_else(|| JsonPathError::UnsupportedFilter(inner.to_string()))?;
    let mut left = String::from("@");
    for name in field.trim().split('.') {
        left.push_str(&format!("[{}]", string_literal(name)));
    }
    let value = value.trim();
    let quoted = value.starts_with(['"', '\'']) || value.ends_with(['"', '\'']);
    let right = match serde_json::from_str::<Value>(value) {
        Ok(Value::Number(_) | Value::Bool(_) | Value::Null) if !quoted => value.to_string(),
        _ => string_literal(value.trim_matches(|c| c == '"' || c == '\'')),
    };
    Ok(format!("{left}=={right}"))
}

/// A string literal in RFC 9535 syntax: JSON's escapes are a subset of RFC 9535's.
fn string_literal(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The hand-written evaluator this module replaced, kept until the comparison below
/// has been recorded.
#[cfg(test)]
mod legacy {
    use serde_json::Value;

    #[derive(Debug, Clone, PartialEq)]
    enum Step {
        Field(String),
        Index(usize),
        All,
        Filter { field: Vec<String>, value: String },
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct JsonPath(Vec<Step>);

    impl JsonPath {
        pub fn parse(text: &str) -> Result<JsonPath, String> {
            let text = text.trim().trim_start_matches('{').trim_end_matches('}');
            let mut steps = Vec::new();
            let mut rest = text.strip_prefix('$').unwrap_or(text);
            while !rest.is_empty() {
                if let Some(r) = rest.strip_prefix('.') {
                    let end = r.find(['.', '[']).unwrap_or(r.len());
                    if end == 0 {
                        return Err(format!("empty field name in {text:?}"));
                    }
                    steps.push(Step::Field(r[..end].to_string()));
                    rest = &r[end..];
                } else if let Some(r) = rest.strip_prefix('[') {
                    let end = r
                        .find(']')
                        .ok_or_else(|| format!("unclosed [ in {text:?}"))?;
                    let inner = &r[..end];
                    steps.push(if inner == "*" {
                        Step::All
                    } else if let Some(filter) =
                        inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                    {
                        let (field, value) = filter
                            .split_once("==")
                            .ok_or_else(|| format!("unsupported filter {inner:?}"))?;
                        Step::Filter {
                            field: field.trim().split('.').map(str::to_string).collect(),
                            value: value
                                .trim()
                                .trim_matches(|c| c == '"' || c == '\'')
                                .to_string(),
                        }
                    } else {
                        Step::Index(
                            inner
                                .parse()
                                .map_err(|_| format!("unsupported subscript {inner:?}"))?,
                        )
                    });
                    rest = &r[end + 1..];
                } else {
                    return Err(format!("unexpected {rest:?} in {text:?}"));
                }
            }
            Ok(JsonPath(steps))
        }

        pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
            let mut current = vec![root];
            for step in &self.0 {
                let mut next = Vec::new();
                for value in current {
                    match step {
                        Step::Field(f) => next.extend(value.get(f)),
                        Step::Index(i) => next.extend(value.get(*i)),
                        Step::All => {
                            if let Some(items) = value.as_array() {
                                next.extend(items.iter());
                            }
                        }
                        Step::Filter { field, value: want } => {
                            for item in value.as_array().into_iter().flatten() {
                                let mut v = Some(item);
                                for f in field {
                                    v = v.and_then(|x| x.get(f));
                                }
                                let matches = match v {
                                    Some(Value::String(s)) => s == want,
                                    Some(other) => {
                                        *other
                                            == serde_json::from_str::<Value>(want)
                                                .unwrap_or(Value::Null)
                                    }
                                    None => false,
                                };
                                if matches {
                                    next.push(item);
                                }
                            }
                        }
                    }
                }
                current = next;
            }
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths() {
        let o = json!({
            "spec": {"hubAcceptsClient": true, "managedClusterClientConfigs": [{"url": "https://a"}, {"url": "https://b"}]},
            "status": {"conditions": [{"type": "ManagedClusterJoined", "status": "True"}, {"type": "Other", "status": "False"}]}
        });
        let find = |p: &str| {
            JsonPath::parse(p)
                .expect(p)
                .find(&o)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(find(".spec.hubAcceptsClient"), vec![json!(true)]);
        assert_eq!(
            find(".spec.managedClusterClientConfigs[*].url"),
            vec![json!("https://a"), json!("https://b")]
        );
        assert_eq!(
            find(".spec.managedClusterClientConfigs[1].url"),
            vec![json!("https://b")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type==\"ManagedClusterJoined\")].status"),
            vec![json!("True")]
        );
        assert!(find(".status.missing").is_empty());
        assert!(JsonPath::parse(".a[?(@.x>1)]").is_err());
    }

    /// Objects the corpus paths run on: the shapes printer columns and feedback rules
    /// meet, and a few odd ones.
    fn objects() -> Vec<Value> {
        vec![
            json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                "metadata": {"name": "c1", "creationTimestamp": "2024-01-01T00:00:00Z",
                    "labels": {"cluster.open-cluster-management.io/clusterset": "default", "a.b": "dotted"}},
                "spec": {"hubAcceptsClient": true, "leaseDurationSeconds": 60,
                    "managedClusterClientConfigs": [{"url": "https://a", "caBundle": "Zm9v"}, {"url": "https://b"}]},
                "status": {"conditions": [
                    {"type": "HubAcceptedManagedCluster", "status": "True", "reason": "HubClusterAdminAccepted"},
                    {"type": "ManagedClusterJoined", "status": "True"},
                    {"type": "ManagedClusterConditionAvailable", "status": "Unknown"}],
                    "version": {"kubernetes": "v1.37.0"}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default", "generation": 3},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                    {"name": "side", "image": "busybox"}]}}},
                "status": {"readyReplicas": 2, "replicas": 3, "availableReplicas": 2,
                    "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"},
                    {"type": "Ready", "status": "True"}]}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}),
            json!({"kind": "Odd", "metadata": {"name": "o"},
                "spec": {"list": [1, "1", true, null, 2.5, {"k": "v"}, [1, 2]], "empty": [], "map": {"x": {"type": "Ready"}, "y": 1}},
                "status": {
                    "conditions": {"a": {"type": "Ready", "status": "True"}},
                    "items": [
                        {"n": 1, "b": true, "s": "x", "nested": {"deep": "d1"}, "z": null},
                        {"n": 2, "b": false, "s": "y", "nested": {"deep": "d2"}, "z": 0},
                        {"n": 3, "s": "", "nested": {}}],
                    "weird key": {"with]bracket": "wb", "quote\"d": "q"}}}),
            json!([{"type": "Ready", "v": 1}, {"type": "Other", "v": 2}]),
            json!("scalar"),
        ]
    }

    /// Every path the corpus runs, with what the hand-written evaluator found on each
    /// object of `objects()` (recorded from it; `null` where it refused the path).
    fn corpus() -> Vec<(&'static str, Value)> {
        vec![
            // Printer columns of the built-in and OCM kinds.
            (
                ".metadata.creationTimestamp",
                json!([["2024-01-01T00:00:00Z"], [], [], [], [], [], []]),
            ),
            (
                ".status.phase",
                json!([[], [], ["Running"], [], [], [], []]),
            ),
            (".type", json!([[], [], [], [], [], [], []])),
            (".spec.holderIdentity", json!([[], [], [], [], [], [], []])),
            (".roleRef.name", json!([[], [], [], [], [], [], []])),
            (
                ".spec.hubAcceptsClient",
                json!([[true], [], [], [], [], [], []]),
            ),
            (
                ".spec.managedClusterClientConfigs[*].url",
                json!([["https://a", "https://b"], [], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"ManagedClusterJoined\")].status",
                json!([["True"], [], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"ManagedClusterConditionAvailable\")].status",
                json!([["Unknown"], [], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"PlacementSatisfied\")].reason",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".status.numberOfSelectedClusters",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".spec.addOnMeta.displayName",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"Available\")].status",
                json!([[], ["True"], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"Progressing\")].reason",
                json!([[], ["NewReplicaSetAvailable"], [], [], [], [], []]),
            ),
            // Well-known status and feedback paths.
            (
                ".status.readyReplicas",
                json!([[], [2], [], [], [], [], []]),
            ),
            (".status.replicas", json!([[], [3], [], [], [], [], []])),
            (
                ".status.availableReplicas",
                json!([[], [2], [], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==\"Complete\")].status",
                json!([[], [], [], ["True"], [], [], []]),
            ),
            (".status.succeeded", json!([[], [], [], [1], [], [], []])),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                json!([[], [], ["False", "True"], [], [], [], []]),
            ),
            (
                ".spec.template.spec.containers[0].image",
                json!([[], ["nginx:1"], [], [], [], [], []]),
            ),
            (
                ".spec.template.spec.containers[*].ports[*].containerPort",
                json!([[], [80, 443], [], [], [], [], []]),
            ),
            (
                ".spec.template.spec.containers[?(@.name==\"side\")].image",
                json!([[], ["busybox"], [], [], [], [], []]),
            ),
            (
                ".status.version.kubernetes",
                json!([["v1.37.0"], [], [], [], [], [], []]),
            ),
            (
                ".status.conditions",
                json!([
                [[{"type": "HubAcceptedManagedCluster", "status": "True", "reason": "HubClusterAdminAccepted"},
                  {"type": "ManagedClusterJoined", "status": "True"},
                  {"type": "ManagedClusterConditionAvailable", "status": "Unknown"}]],
                [[{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]],
                [[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}]],
                [[{"type": "Complete", "status": "True"}]],
                [{"a": {"type": "Ready", "status": "True"}}], [], []]),
            ),
            // Written in other ways.
            ("{.spec.replicas}", json!([[], [3], [], [], [], [], []])),
            ("$.spec.replicas", json!([[], [3], [], [], [], [], []])),
            (
                "{$.status.phase}",
                json!([[], [], ["Running"], [], [], [], []]),
            ),
            (
                "  .status.phase  ",
                json!([[], [], ["Running"], [], [], [], []]),
            ),
            (
                "",
                json!([
                    [objects()[0]],
                    [objects()[1]],
                    [objects()[2]],
                    [objects()[3]],
                    [objects()[4]],
                    [objects()[5]],
                    ["scalar"]
                ]),
            ),
            (
                ".status.conditions[?(@.type == 'Ready')].status",
                json!([[], [], ["False", "True"], [], [], [], []]),
            ),
            (
                ".status.conditions[?(@.type==Ready)].status",
                json!([[], [], ["False", "True"], [], [], [], []]),
            ),
            // Field names kube allows anywhere.
            (
                ".metadata.labels.cluster.open-cluster-management.io/clusterset",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".status.weird key.with]bracket",
                json!([[], [], [], [], ["wb"], [], []]),
            ),
            (
                ".status.weird key",
                json!([[], [], [], [], [{"with]bracket": "wb", "quote\"d": "q"}], [], []]),
            ),
            (
                ".status.weird key.quote\"d",
                json!([[], [], [], [], ["q"], [], []]),
            ),
            // Indexes, wildcards and filters where they find nothing or odd things.
            (
                ".spec.managedClusterClientConfigs[5].url",
                json!([[], [], [], [], [], [], []]),
            ),
            (".spec.map[0]", json!([[], [], [], [], [], [], []])),
            (".spec.map[*]", json!([[], [], [], [], [], [], []])),
            (
                ".spec.list[*]",
                json!([[], [], [], [], [1, "1", true, null, 2.5, {"k": "v"}, [1, 2]], [], []]),
            ),
            (".spec.list[6][1]", json!([[], [], [], [], [2], [], []])),
            (".spec.list.k", json!([[], [], [], [], [], [], []])),
            (".spec.empty[*]", json!([[], [], [], [], [], [], []])),
            (".spec.empty[0]", json!([[], [], [], [], [], [], []])),
            (
                ".status.conditions[?(@.type==\"Ready\")]",
                json!([[], [], [{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}], [], [], [], []]),
            ),
            (
                ".spec.map[?(@.type==\"Ready\")]",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                "[?(@.type==\"Ready\")].v",
                json!([[], [], [], [], [], [1], []]),
            ),
            (
                "[*].type",
                json!([[], [], [], [], [], ["Ready", "Other"], []]),
            ),
            (
                "[1]",
                json!([[], [], [], [], [], [{"type": "Other", "v": 2}], []]),
            ),
            (
                ".status.items[?(@.n==1)].s",
                json!([[], [], [], [], ["x"], [], []]),
            ),
            (
                ".status.items[?(@.n==2)].nested.deep",
                json!([[], [], [], [], ["d2"], [], []]),
            ),
            (
                ".status.items[?(@.b==true)].s",
                json!([[], [], [], [], ["x"], [], []]),
            ),
            (
                ".status.items[?(@.b==false)].s",
                json!([[], [], [], [], ["y"], [], []]),
            ),
            (
                ".status.items[?(@.nested.deep==\"d1\")].n",
                json!([[], [], [], [], [1], [], []]),
            ),
            (
                ".status.items[?(@.s==\"\")].n",
                json!([[], [], [], [], [3], [], []]),
            ),
            (
                ".status.items[?(@.missing==\"x\")].n",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".status.items[?(@.z==null)].s",
                json!([[], [], [], [], ["x"], [], []]),
            ),
            (
                ".status.items[?(@.s==\"x\")].nested",
                json!([[], [], [], [], [{"deep": "d1"}], [], []]),
            ),
            (
                ".status.items[*].nested.deep",
                json!([[], [], [], [], ["d1", "d2"], [], []]),
            ),
            (
                ".status.items[?(@.n==1)][0]",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".status.items[0][?(@.n==1)]",
                json!([[], [], [], [], [], [], []]),
            ),
            (
                ".spec.list[?(@.k==\"v\")]",
                json!([[], [], [], [], [{"k": "v"}], [], []]),
            ),
            // Paths both refuse.
            (".a..b", Value::Null),
            (".a[0", Value::Null),
            (".a[x]", Value::Null),
            (".a[-1]", Value::Null),
            (".a['k']", Value::Null),
            (".a[?(@.x>1)]", Value::Null),
            (".a[?(@.x)]", Value::Null),
            ("a.b", Value::Null),
            (".a[0]b", Value::Null),
        ]
    }

    fn found(path: &JsonPath, objects: &[Value]) -> Value {
        Value::Array(
            objects
                .iter()
                .map(|o| Value::Array(path.find(o).into_iter().cloned().collect()))
                .collect(),
        )
    }

    /// The corpus evaluated by the hand-written evaluator and by the library: the same
    /// results, and the same paths refused.
    #[test]
    fn corpus_results_match_the_hand_written_evaluator() {
        let objects = objects();
        for (text, expected) in corpus() {
            let old = legacy::JsonPath::parse(text)
                .ok()
                .map(|p| {
                    Value::Array(
                        objects
                            .iter()
                            .map(|o| Value::Array(p.find(o).into_iter().cloned().collect()))
                            .collect(),
                    )
                })
                .unwrap_or(Value::Null);
            assert_eq!(old, expected, "hand-written: {text:?}");
            let new = JsonPath::parse(text)
                .ok()
                .map(|p| found(&p, &objects))
                .unwrap_or(Value::Null);
            assert_eq!(new, expected, "jsonpath-rust: {text:?}");
        }
    }

    /// Where the two differ on purpose: kube's typed comparisons instead of the
    /// hand-written evaluator's text comparisons, and the library's limits.
    #[test]
    fn typed_filters_and_limits() {
        let o = json!({"items": [
            {"n": 1, "s": "1", "b": true, "t": "true", "z": null, "f": 1.0}]});
        let count = |p: &str| JsonPath::parse(p).expect(p).find(&o).len();
        let old_count = |p: &str| legacy::JsonPath::parse(p).expect(p).find(&o).len();
        // A quoted value matches strings only (the old evaluator also matched `1` and
        // `true`); an unquoted number or boolean matches that value only (the old one also
        // matched `"1"` and `"true"`).
        for (path, new, old) in [
            (".items[?(@.n==\"1\")]", 0, 1),
            (".items[?(@.s==\"1\")]", 1, 1),
            (".items[?(@.s==1)]", 0, 1),
            (".items[?(@.n==1)]", 1, 1),
            (".items[?(@.b==\"true\")]", 0, 1),
            (".items[?(@.t==true)]", 0, 1),
            // A null field is null, not any word the old evaluator could not parse.
            (".items[?(@.z==\"Ready\")]", 0, 1),
            (".items[?(@.z==null)]", 1, 1),
            // Numbers compare as numbers: 1.0 is 1.
            (".items[?(@.f==1)]", 1, 0),
        ] {
            assert_eq!(count(path), new, "{path}");
            assert_eq!(old_count(path), old, "{path}");
        }
        // RFC 9535 integers stop at 2^53.
        assert!(matches!(
            JsonPath::parse(".a[9007199254740993]"),
            Err(JsonPathError::Library { .. })
        ));
        assert!(legacy::JsonPath::parse(".a[9007199254740993]").is_ok());
    }
}
