//! What legitimately differs between two servers answering the same requests is replaced
//! by placeholders before comparing: uids, timestamps, resourceVersions, continue tokens,
//! ages, names generated from `generateName`, the server's address, the admin's user name,
//! certificate fingerprints and tokens; managedFields entries and the causes of a Status
//! are put in one order (kube's depends on times and Go's map order). Nothing else is
//! touched.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Per-server facts the placeholders stand for.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `host:port` of the server.
    pub address: String,
    /// The admin identity's user name.
    pub admin: String,
    /// Names the server generated (`generateName`), each with its prefix.
    pub generated: Vec<(String, String)>,
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("re")
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").expect("re")
});
static AGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+(s|m|h|d|y)(\d+(s|m|h))?|<invalid>)$").expect("re"));
static FINGERPRINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"X509SHA256=[0-9a-f]{64}").expect("re"));
static JWT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+").expect("re"));
static HASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"hash=[0-9A-Fa-f]+").expect("re"));
static RECORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ResourceVersion in record \(\d+\)").expect("re"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]+").expect("re"));

impl Context {
    /// Records `name` as generated from `prefix`.
    pub fn learn_generated(&mut self, object: &Value) {
        let meta = &object["metadata"];
        if let (Some(prefix), Some(name)) = (meta["generateName"].as_str(), meta["name"].as_str())
            && name.starts_with(prefix)
            && name.len() > prefix.len()
            && !self.generated.iter().any(|(n, _)| n == name)
        {
            self.generated.push((name.to_string(), prefix.to_string()));
        }
    }

    /// Learns generated names from every object in an observation (responses, lists,
    /// events).
    pub fn learn_all(&mut self, v: &Value) {
        match v {
            Value::Object(o) => {
                if o.contains_key("metadata") {
                    self.learn_generated(v);
                }
                o.values().for_each(|x| self.learn_all(x));
            }
            Value::Array(a) => a.iter().for_each(|x| self.learn_all(x)),
            _ => {}
        }
    }

    /// A JSON value with every placeholder applied, several validation errors in one
    /// order.
    pub fn value(&self, v: &Value) -> Value {
        let mut out = self.value_at(v, None);
        canonical_causes(&mut out);
        out
    }

    fn value_at(&self, v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::String(s) => Value::String(self.field(s, key)),
            Value::Array(a) if key == Some("managedFields") => {
                // kube orders entries by time in whole seconds before manager names: with
                // times replaced, that order is a matter of timing, so entries are compared
                // in the order of what remains.
                let mut entries: Vec<Value> = a.iter().map(|x| self.value_at(x, key)).collect();
                entries.sort_by_key(|e| {
                    ["operation", "manager", "apiVersion", "subresource"]
                        .map(|f| e[f].as_str().unwrap_or_default().to_string())
                });
                Value::Array(entries)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value_at(x, key)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.text(k), self.value_at(x, Some(k))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn field(&self, s: &str, key: Option<&str>) -> String {
        match key {
            Some("resourceVersion") if s.parse::<u64>().is_ok() => return "<rv>".into(),
            Some("continue") if !s.is_empty() => return "<continue>".into(),
            Some("uid") if !s.is_empty() => return "<uid>".into(),
            _ => {}
        }
        if AGE.is_match(s) {
            return "<age>".into();
        }
        self.text(s)
    }

    /// Placeholders inside free text (messages, kubectl output).
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (name, prefix) in &self.generated {
            out = out.replace(name.as_str(), &format!("{prefix}<generated>"));
        }
        if !self.address.is_empty() {
            out = out.replace(&self.address, "<server>");
        }
        if !self.admin.is_empty() {
            out = out.replace(&self.admin, "<admin>");
        }
        let out = UUID.replace_all(&out, "<uid>");
        let out = TIME.replace_all(&out, "<time>");
        let out = FINGERPRINT.replace_all(&out, "X509SHA256=<fingerprint>");
        let out = JWT.replace_all(&out, "<jwt>");
        let out = HASH.replace_all(&out, "hash=<hash>");
        let out = RECORD.replace_all(&out, "ResourceVersion in record (<rv>)");
        out.into_owned()
    }

    /// kubectl's human output, one entry per line: placeholders, ages, and column padding
    /// collapsed (column widths follow the values, ages included).
    pub fn lines(&self, output: &str) -> Vec<Value> {
        output
            .lines()
            .map(|line| {
                let line = self.text(line);
                let words: Vec<String> = SPACES
                    .split(line.trim_end())
                    .map(|w| {
                        if AGE.is_match(w) {
                            "<age>".to_string()
                        } else {
                            w.to_string()
                        }
                    })
                    .collect();
                Value::String(words.join(" "))
            })
            .collect()
    }
}

/// kube reports several validation errors in the order it met them, which for object
/// properties is Go's map order (random): the causes of a Status are sorted, and the
/// bracketed list of its message rebuilt from them, wherever a Status appears.
fn canonical_causes(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for x in o.values_mut() {
                canonical_causes(x);
            }
            let Some(Value::Array(causes)) = o.get_mut("details").and_then(|d| d.get_mut("causes"))
            else {
                return;
            };
            if causes.len() < 2 {
                return;
            }
            causes.sort_by_key(|c| c.to_string());
            let listed: Vec<String> = causes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["field"].as_str().unwrap_or_default(),
                        c["message"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            if let Some(Value::String(message)) = o.get_mut("message")
                && let Some(at) = message.find(" is invalid: [")
                && message.ends_with(']')
            {
                *message = format!("{} is invalid: [{}]", &message[..at], listed.join(", "));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(canonical_causes),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders() {
        let mut ctx = Context {
            address: "127.0.0.1:6443".into(),
            admin: "system:admin".into(),
            generated: Vec::new(),
        };
        ctx.learn_generated(&json!({"metadata": {"generateName": "x-", "name": "x-abcde"}}));
        let v = ctx.value(&json!({
            "metadata": {"name": "x-abcde", "uid": "0b5f2d2e-1111-4222-8333-944445555666",
                         "resourceVersion": "12", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "message": "User \"system:admin\" at https://127.0.0.1:6443",
            "cells": ["a", "5m3s"]
        }));
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "x-<generated>", "uid": "<uid>", "resourceVersion": "<rv>",
                             "creationTimestamp": "<time>"},
                "message": "User \"<admin>\" at https://<server>",
                "cells": ["a", "<age>"]
            })
        );
        assert_eq!(
            ctx.lines("NAME    AGE\nx-abcde   12s"),
            [json!("NAME AGE"), json!("x-<generated> <age>")]
        );
    }
}
