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
                let quoted = quoted_name(inner);
                segments.push(if inner == "*" {
                    ("[:]".to_string(), false)
                } else if let Some(name) = quoted {
                    // `['a.b/c']`: a field whose name holds dots.
                    (format!("[{}]", string_literal(name)), false)
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
/// The field name of a bracket step written `'name'` or `"name"` (what is between the
/// brackets), if it is one.
pub fn quoted_name(inner: &str) -> Option<&str> {
    ['\'', '"'].into_iter().find_map(|q| {
        inner
            .strip_prefix(q)
            .and_then(|i| i.strip_suffix(q))
            .filter(|i| !i.contains(q))
    })
}

fn string_literal(text: &str) -> String {
    Value::String(text.to_string()).to_string()
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

    /// Every path the corpus runs, with what it finds on each object of `objects()`
    /// (`null`: the path is refused). The hand-written evaluator this module replaced gave
    /// the same results (the comparison ran in the commit that brought the library in).
    fn corpus() -> Vec<Value> {
        vec![
            // Printer columns of the built-in and OCM kinds.
            json!([
                ".metadata.creationTimestamp",
                [["2024-01-01T00:00:00Z"], [], [], [], [], [], []]
            ]),
            json!([".status.phase", [[], [], ["Running"], [], [], [], []]]),
            json!([".type", [[], [], [], [], [], [], []]]),
            json!([".spec.holderIdentity", [[], [], [], [], [], [], []]]),
            json!([".roleRef.name", [[], [], [], [], [], [], []]]),
            json!([".spec.hubAcceptsClient", [[true], [], [], [], [], [], []]]),
            json!([
                ".spec.managedClusterClientConfigs[*].url",
                [["https://a", "https://b"], [], [], [], [], [], []]
            ]),
            json!([
                ".status.conditions[?(@.type==\"ManagedClusterJoined\")].status",
                [["True"], [], [], [], [], [], []]
            ]),
            json!([
                ".status.conditions[?(@.type==\"ManagedClusterConditionAvailable\")].status",
                [["Unknown"], [], [], [], [], [], []]
            ]),
            json!([
                ".status.conditions[?(@.type==\"PlacementSatisfied\")].reason",
                [[], [], [], [], [], [], []]
            ]),
            json!([
                ".status.numberOfSelectedClusters",
                [[], [], [], [], [], [], []]
            ]),
            json!([".spec.addOnMeta.displayName", [[], [], [], [], [], [], []]]),
            json!([
                ".status.conditions[?(@.type==\"Available\")].status",
                [[], ["True"], [], [], [], [], []]
            ]),
            json!([
                ".status.conditions[?(@.type==\"Progressing\")].reason",
                [[], ["NewReplicaSetAvailable"], [], [], [], [], []]
            ]),
            // Well-known status and feedback paths.
            json!([".status.readyReplicas", [[], [2], [], [], [], [], []]]),
            json!([".status.replicas", [[], [3], [], [], [], [], []]]),
            json!([".status.availableReplicas", [[], [2], [], [], [], [], []]]),
            json!([
                ".status.conditions[?(@.type==\"Complete\")].status",
                [[], [], [], ["True"], [], [], []]
            ]),
            json!([".status.succeeded", [[], [], [], [1], [], [], []]]),
            json!([
                ".status.conditions[?(@.type==\"Ready\")].status",
                [[], [], ["False", "True"], [], [], [], []]
            ]),
            json!([
                ".spec.template.spec.containers[0].image",
                [[], ["nginx:1"], [], [], [], [], []]
            ]),
            json!([
                ".spec.template.spec.containers[*].ports[*].containerPort",
                [[], [80, 443], [], [], [], [], []]
            ]),
            json!([
                ".spec.template.spec.containers[?(@.name==\"side\")].image",
                [[], ["busybox"], [], [], [], [], []]
            ]),
            json!([
                ".status.version.kubernetes",
                [["v1.37.0"], [], [], [], [], [], []]
            ]),
            json!([".status.conditions", [
                [objects()[0]["status"]["conditions"]],
                [objects()[1]["status"]["conditions"]],
                [objects()[2]["status"]["conditions"]],
                [objects()[3]["status"]["conditions"]],
                [{"a": {"type": "Ready", "status": "True"}}], [], []]]),
            // Written in other ways.
            json!(["{.spec.replicas}", [[], [3], [], [], [], [], []]]),
            json!(["$.spec.replicas", [[], [3], [], [], [], [], []]]),
            json!(["{$.status.phase}", [[], [], ["Running"], [], [], [], []]]),
            json!(["  .status.phase  ", [[], [], ["Running"], [], [], [], []]]),
            json!([
                "",
                [
                    [objects()[0]],
                    [objects()[1]],
                    [objects()[2]],
                    [objects()[3]],
                    [objects()[4]],
                    [objects()[5]],
                    ["scalar"]
                ]
            ]),
            json!([
                ".status.conditions[?(@.type == 'Ready')].status",
                [[], [], ["False", "True"], [], [], [], []]
            ]),
            json!([
                ".status.conditions[?(@.type==Ready)].status",
                [[], [], ["False", "True"], [], [], [], []]
            ]),
            // Field names kube allows anywhere.
            json!([
                ".metadata.labels.cluster.open-cluster-management.io/clusterset",
                [[], [], [], [], [], [], []]
            ]),
            json!([
                ".status.weird key.with]bracket",
                [[], [], [], [], ["wb"], [], []]
            ]),
            json!([".status.weird key", [[], [], [], [], [{"with]bracket": "wb", "quote\"d": "q"}], [], []]]),
            json!([
                ".status.weird key.quote\"d",
                [[], [], [], [], ["q"], [], []]
            ]),
            // Indexes, wildcards and filters where they find nothing or odd things.
            json!([
                ".spec.managedClusterClientConfigs[5].url",
                [[], [], [], [], [], [], []]
            ]),
            json!([".spec.map[0]", [[], [], [], [], [], [], []]]),
            json!([".spec.map[*]", [[], [], [], [], [], [], []]]),
            json!([".spec.list[*]", [[], [], [], [], [1, "1", true, null, 2.5, {"k": "v"}, [1, 2]], [], []]]),
            json!([".spec.list[6][1]", [[], [], [], [], [2], [], []]]),
            json!([".spec.list.k", [[], [], [], [], [], [], []]]),
            json!([".spec.empty[*]", [[], [], [], [], [], [], []]]),
            json!([".spec.empty[0]", [[], [], [], [], [], [], []]]),
            json!([".status.conditions[?(@.type==\"Ready\")]", [[], [], [{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}], [], [], [], []]]),
            json!([
                ".spec.map[?(@.type==\"Ready\")]",
                [[], [], [], [], [], [], []]
            ]),
            json!(["[?(@.type==\"Ready\")].v", [[], [], [], [], [], [1], []]]),
            json!(["[*].type", [[], [], [], [], [], ["Ready", "Other"], []]]),
            json!(["[1]", [[], [], [], [], [], [{"type": "Other", "v": 2}], []]]),
            json!([
                ".status.items[?(@.n==1)].s",
                [[], [], [], [], ["x"], [], []]
            ]),
            json!([
                ".status.items[?(@.n==2)].nested.deep",
                [[], [], [], [], ["d2"], [], []]
            ]),
            json!([
                ".status.items[?(@.b==true)].s",
                [[], [], [], [], ["x"], [], []]
            ]),
            json!([
                ".status.items[?(@.b==false)].s",
                [[], [], [], [], ["y"], [], []]
            ]),
            json!([
                ".status.items[?(@.nested.deep==\"d1\")].n",
                [[], [], [], [], [1], [], []]
            ]),
            json!([
                ".status.items[?(@.s==\"\")].n",
                [[], [], [], [], [3], [], []]
            ]),
            json!([
                ".status.items[?(@.missing==\"x\")].n",
                [[], [], [], [], [], [], []]
            ]),
            json!([
                ".status.items[?(@.z==null)].s",
                [[], [], [], [], ["x"], [], []]
            ]),
            json!([".status.items[?(@.s==\"x\")].nested", [[], [], [], [], [{"deep": "d1"}], [], []]]),
            json!([
                ".status.items[*].nested.deep",
                [[], [], [], [], ["d1", "d2"], [], []]
            ]),
            json!([".status.items[?(@.n==1)][0]", [[], [], [], [], [], [], []]]),
            json!([".status.items[0][?(@.n==1)]", [[], [], [], [], [], [], []]]),
            json!([".spec.list[?(@.k==\"v\")]", [[], [], [], [], [{"k": "v"}], [], []]]),
            // Paths refused.
            json!([".a..b", null]),
            json!([".a[0", null]),
            json!([".a[x]", null]),
            json!([".a[-1]", null]),
            // kube's quoted field names (the hand-written evaluator refused them).
            json!([".a['k']", [[], [], [], [], [], [], []]]),
            json!([
                ".metadata.labels['a.b']",
                [["dotted"], [], [], [], [], [], []]
            ]),
            json!([".a[?(@.x>1)]", null]),
            json!([".a[?(@.x)]", null]),
            json!(["a.b", null]),
            json!([".a[0]b", null]),
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

    /// The corpus: the results the hand-written evaluator gave, and the same paths
    /// refused.
    #[test]
    fn corpus_results_are_kept() {
        let objects = objects();
        for row in corpus() {
            let text = row[0].as_str().unwrap_or_default();
            let found = JsonPath::parse(text)
                .ok()
                .map(|p| found(&p, &objects))
                .unwrap_or(Value::Null);
            assert_eq!(found, row[1], "{text:?}");
        }
    }

    /// Where the results differ from the hand-written evaluator's, on purpose: kube's
    /// typed comparisons instead of its text comparisons, and the library's limits.
    #[test]
    fn typed_filters_and_limits() {
        let o = json!({"items": [
            {"n": 1, "s": "1", "b": true, "t": "true", "z": null, "f": 1.0}]});
        let count = |p: &str| JsonPath::parse(p).expect(p).find(&o).len();
        // A quoted value matches strings only (the old evaluator also matched `1` and
        // `true`); an unquoted number or boolean matches that value only (the old one also
        // matched `"1"` and `"true"`). The count the old evaluator gave is in the comment.
        for (path, matches) in [
            (".items[?(@.n==\"1\")]", 0),    // 1
            (".items[?(@.s==\"1\")]", 1),    // 1
            (".items[?(@.s==1)]", 0),        // 1
            (".items[?(@.n==1)]", 1),        // 1
            (".items[?(@.b==\"true\")]", 0), // 1
            (".items[?(@.t==true)]", 0),     // 1
            // A null field is null, not any word the old evaluator could not parse.
            (".items[?(@.z==\"Ready\")]", 0), // 1
            (".items[?(@.z==null)]", 1),      // 1
            // Numbers compare as numbers: 1.0 is 1.
            (".items[?(@.f==1)]", 1), // 0
        ] {
            assert_eq!(count(path), matches, "{path}");
        }
        // RFC 9535 integers stop at 2^53.
        assert!(matches!(
            JsonPath::parse(".a[9007199254740993]"),
            Err(JsonPathError::Library { .. })
        ));
    }
}
