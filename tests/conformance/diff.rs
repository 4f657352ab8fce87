//! Comparing two normalized transcripts, and the differences kept on purpose
//! (`tests/conformance/explained.yaml`): each entry names cases and difference paths by
//! glob (`*` matches any run of characters) and says why. A case whose differences are
//! all matched is *explained*; one with any other difference is *different*.

use serde::Deserialize;
use serde_json::Value;

/// One place where the servers answered differently.
#[derive(Debug, Clone)]
pub struct Difference {
    /// `<step>.<what>` then the JSON path, e.g. `2:http.body.metadata.labels.a`.
    pub path: String,
    pub peer: Value,
    pub hub: Value,
}

/// Appends the differences between `peer` and `hub` under `path`. Objects are compared
/// key by key, arrays element by element when their lengths agree (otherwise as a whole).
pub fn diff(path: &str, peer: &Value, hub: &Value, out: &mut Vec<Difference>) {
    match (peer, hub) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let absent = Value::String("<absent>".into());
                let (x, y) = (a.get(k).unwrap_or(&absent), b.get(k).unwrap_or(&absent));
                diff(&format!("{path}.{k}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            path: path.to_string(),
            peer: a.clone(),
            hub: b.clone(),
        }),
    }
}

/// An entry of `explained.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// Glob over case names.
    pub case: String,
    /// Glob over difference paths; default: every path.
    #[serde(default = "star")]
    pub path: String,
    /// When given, the real server's value must be exactly this (`"<absent>"` for a
    /// missing field); likewise `hub`.
    #[serde(default, deserialize_with = "present")]
    pub peer: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub hub: Option<Value>,
    pub reason: String,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn star() -> String {
    "*".into()
}

impl Explanation {
    pub fn covers(&self, case: &str, d: &Difference) -> bool {
        glob(&self.case, case)
            && glob(&self.path, &d.path)
            && self.peer.as_ref().is_none_or(|v| *v == d.peer)
            && self.hub.as_ref().is_none_or(|v| *v == d.hub)
    }
}

/// `*` matches any run of characters (including none); everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob(
            "crud-*/managedclusters",
            "crud-create/managedclusters"
        ));
        assert!(glob("*", ""));
        assert!(glob(
            "*.body.metadata.finalizers*",
            "1:http.body.metadata.finalizers"
        ));
        assert!(!glob("a*b", "ab-c"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("abc", "abcd"));
    }

    #[test]
    fn diffs() {
        let mut out = Vec::new();
        diff(
            "0",
            &json!({"a": 1, "b": [1, 2], "c": [1]}),
            &json!({"a": 2, "b": [1, 3], "c": [], "d": true}),
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["0.a", "0.b[1]", "0.c", "0.d"]);
    }
}
