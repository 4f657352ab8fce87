//! The JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, and filters
//! `.a[?(@.k=="v")].b`. Evaluation yields every matching value, in document order.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { field: Vec<String>, value: String },
}

/// A parsed path.
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

    /// Every value the path selects.
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
}
