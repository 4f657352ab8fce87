//! The scenario model: a case is a sequence of steps (raw HTTP, watches, kubectl), written
//! as YAML under `tests/conformance/cases/` (one or more documents per file), or generated
//! from a template under `tests/conformance/templates/` for every kind of
//! `tests/conformance/kinds.yaml` it selects.
//!
//! Two kinds of variables:
//! - `{{name}}` template variables, replaced when a template is instantiated for a kind
//!   (`{{plural}}`, `{{coll}}`, `{{sample}}`…); a string that is exactly `{{name}}` takes the
//!   variable's structured value, and exactly `{{json name}}` its JSON text;
//! - `${name}` run-time variables, replaced per server just before a step runs: `${ns}`
//!   (the case's namespace, also the prefix of its cluster-scoped names), `${case}`, and
//!   whatever earlier steps captured from that server's responses.
//!
//! An object `{"$merge": [a, b, …]}` anywhere in a step is replaced by the deep merge of its
//! elements (after template substitution), so templates can extend a kind's sample.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One scenario, run on both servers and compared.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// What the case is about (documentation only).
    #[serde(default)]
    pub about: String,
    /// Whether `${ns}` is created as a namespace before the steps run; by default it is
    /// when a step mentions it in a namespaced position.
    #[serde(default)]
    pub namespace: Option<bool>,
    pub steps: Vec<Step>,
}

/// One step. Each records an observation (compared between the servers) unless
/// `compare: none`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// One HTTP request.
    Http(Http),
    /// Starts a watch in the background (records its status and content type).
    Watch(Watch),
    /// Collects events of a watch started earlier.
    Events(Events),
    /// Runs kubectl to completion.
    Kubectl(Kubectl),
    /// Starts a long-running kubectl (`get -w`) in the background.
    KubectlWatch(KubectlWatch),
    /// Collects output lines of a background kubectl.
    Lines(Lines),
    /// Polls a GET until a condition holds (asynchronous controllers).
    WaitFor(WaitFor),
}

/// What of a step's result is compared.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// Everything recorded.
    #[default]
    All,
    /// Only the HTTP status (or kubectl's exit code).
    Status,
    /// Nothing, but the step must succeed on both servers (setup).
    None,
}

/// Who sends a request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `Impersonate-User` (as the admin).
    #[serde(default, rename = "as")]
    pub as_user: Option<String>,
    /// `Impersonate-Group`, repeated.
    #[serde(default)]
    pub as_groups: Vec<String>,
    /// No client certificate at all.
    #[serde(default)]
    pub anonymous: bool,
    /// `Authorization: Bearer <token>` instead of the admin certificate.
    #[serde(default)]
    pub bearer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[serde(default = "get")]
    pub method: String,
    /// Path, possibly with a query string already encoded.
    pub path: String,
    /// Query parameters, encoded and appended to `path`.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// A body sent byte for byte (malformed input, YAML).
    #[serde(default)]
    pub raw: Option<String>,
    /// Content type; a shortcut (`merge`, `json`, `strategic`, `apply`, `yaml`) or a media
    /// type. Default: `application/json` (merge patch for PATCH).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Accept; a shortcut (`table`, `metadata`, `metadata-list`, `discovery`) or a media type.
    #[serde(default)]
    pub accept: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, flatten)]
    pub identity: Identity,
    /// Run-time variables to set from the response body: name → JSON pointer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    #[serde(default)]
    pub compare: Compare,
    /// Reduces both bodies before comparing (see [`Reduce`]).
    #[serde(default)]
    pub reduce: Vec<Reduce>,
}

/// A reduction of a response body, for documents that are much larger on the real server
/// (discovery, OpenAPI) where only the entries we serve are compared.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reduce {
    /// Keeps, in the array at `at` (a JSON pointer where `*` stands for every element or
    /// key), the elements whose `key` (a pointer into the element) is also found in the
    /// hub's answer at the same place: the real server's extra entries are dropped, ours
    /// stay (and differ).
    KeepItems { at: String, key: String },
    /// Keeps, in the object at `at`, the keys the hub's answer also has.
    KeepKeys { at: String },
    /// Replaces the body by an object of the given pointers (`*` allowed) and their values.
    Select(Vec<String>),
    /// Sorts, on both servers, the array at `at` (`*` allowed) by each element's `key`
    /// (a pointer): for lists whose order kube leaves to Go's map iteration.
    Sort { at: String, key: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    pub id: String,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub accept: Option<String>,
    #[serde(default, flatten)]
    pub identity: Identity,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    pub watch: String,
    /// Events to collect; with `until_closed`, read until the server ends the stream.
    #[serde(default)]
    pub count: usize,
    #[serde(default)]
    pub until_closed: bool,
    #[serde(default = "thirty")]
    pub timeout: u64,
    #[serde(default)]
    pub compare: Compare,
    /// Keeps only events of these types (e.g. leave out BOOKMARKs, which are timed).
    #[serde(default)]
    pub types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubectl {
    pub args: Vec<String>,
    #[serde(default)]
    pub stdin: Option<String>,
    #[serde(default)]
    pub compare: Compare,
    #[serde(default = "sixty")]
    pub timeout: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubectlWatch {
    pub id: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lines {
    pub watch: String,
    pub count: usize,
    #[serde(default = "thirty")]
    pub timeout: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    pub path: String,
    /// `GET` unless given: a POST of `body` waits on a review's answer (kube's RBAC
    /// authorizer follows bindings through an informer, so a fresh binding takes a moment).
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub body: Option<Value>,
    /// The HTTP status to wait for (e.g. 404 once something is gone); default 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// With status 200: a JSON pointer into the body and the value it must have.
    #[serde(default)]
    pub pointer: Option<String>,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default = "sixty")]
    pub timeout: u64,
}

fn get() -> String {
    "GET".into()
}
fn thirty() -> u64 {
    30
}
fn sixty() -> u64 {
    60
}

/// YAML text → JSON values, one per document (documents separated by `---` lines). The
/// only place the suite parses YAML, through the hub's own reader.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut doc = String::new();
    let mut flush = |doc: &mut String| -> Result<(), String> {
        let value =
            multicluster_controlplane::api::yaml::from_str(doc).map_err(|e| e.to_string())?;
        if !value.is_null() {
            out.push(value);
        }
        doc.clear();
        Ok(())
    };
    for line in text.lines() {
        if line.trim_end() == "---" {
            flush(&mut doc)?;
        } else {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    flush(&mut doc)?;
    Ok(out)
}

fn read_yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML files of a directory, sorted by name.
fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Objects of every file under `fixtures/`, created on both servers before the cases run.
pub fn fixtures(root: &Path) -> Vec<Value> {
    yaml_files(&root.join("fixtures"))
        .iter()
        .flat_map(|f| read_yaml(f))
        .collect()
}

/// Every case: the files under `cases/`, then each template for each kind it selects.
/// Names must be unique.
pub fn load(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for file in yaml_files(&root.join("cases")) {
        for doc in read_yaml(&file) {
            let case: Case = serde_json::from_value(expand_merges(doc))
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            cases.push(case);
        }
    }
    let kinds = kinds(root);
    for file in yaml_files(&root.join("templates")) {
        for doc in read_yaml(&file) {
            cases.extend(
                instantiate(&doc, &kinds).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &cases {
        assert!(seen.insert(c.name.clone()), "two cases named {}", c.name);
    }
    cases
}

/// The kinds table, each entry completed with derived template variables: `id`
/// (default: the plural), `group`, `version`, `coll` (the collection path, with `${ns}` for
/// namespaced kinds) and `sample` with `apiVersion` and `kind` set.
pub fn kinds(root: &Path) -> Vec<Map<String, Value>> {
    let docs = read_yaml(&root.join("kinds.yaml"));
    let list = docs.into_iter().next().and_then(|d| d.as_array().cloned());
    let list = list.unwrap_or_else(|| panic!("kinds.yaml: a list of kinds"));
    list.into_iter()
        .map(|entry| {
            let mut k = entry.as_object().cloned().expect("kind entry: a map");
            let field = |k: &Map<String, Value>, f: &str| {
                k.get(f)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("kinds.yaml: {f} missing in {k:?}"))
                    .to_string()
            };
            let api_version = field(&k, "apiVersion");
            let kind = field(&k, "kind");
            let plural = field(&k, "plural");
            let namespaced = k.get("namespaced").and_then(Value::as_bool).unwrap_or(true);
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), api_version.clone()),
            };
            let prefix = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let coll = if namespaced {
                format!("{prefix}/namespaces/${{ns}}/{plural}")
            } else {
                format!("{prefix}/{plural}")
            };
            let resource = if group.is_empty() {
                plural.clone()
            } else {
                format!("{plural}.{group}")
            };
            let nsflag = if namespaced {
                "--namespace=${ns}"
            } else {
                "--namespace=default"
            };
            let defaults = [
                ("id", Value::from(plural.clone())),
                ("resource", Value::from(resource)),
                ("nsflag", Value::from(nsflag)),
                ("group", Value::from(group)),
                ("version", Value::from(version)),
                ("prefix", Value::from(prefix)),
                ("coll", Value::from(coll)),
                ("namespaced", Value::from(namespaced)),
                ("status", Value::from(false)),
                ("custom", Value::from(false)),
            ];
            for (name, value) in defaults {
                k.entry(name).or_insert(value);
            }
            let mut sample = k
                .get("sample")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            sample["apiVersion"] = Value::from(api_version);
            sample["kind"] = Value::from(kind);
            for letter in ["a", "b", "c"] {
                let name = format!("${{ns}}-{letter}");
                let named = replace_strings(&sample, "@name@", &name);
                let object = merge(
                    named,
                    serde_json::json!({"metadata": {"name": name, "labels": {"case": "${ns}"}}}),
                );
                k.insert(format!("obj_{letter}"), object);
                k.insert(format!("name_{letter}"), Value::from(name));
            }
            k.insert(
                "sample".into(),
                replace_strings(&sample, "@name@", "${ns}-a"),
            );
            k
        })
        .collect()
}

/// Instantiates a template document (`template`, optional `kinds` filter — attribute →
/// value, an absent attribute being false — and `except` list of ids, `about`,
/// `namespace`, `steps`) for each kind it selects.
fn instantiate(doc: &Value, kinds: &[Map<String, Value>]) -> Result<Vec<Case>, String> {
    let template = doc["template"]
        .as_str()
        .ok_or("a template needs a `template` name")?;
    let filter = doc.get("kinds").and_then(Value::as_object);
    let except: Vec<&str> = doc
        .get("except")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for kind in kinds {
        let id = kind["id"].as_str().unwrap_or_default();
        // An absent attribute counts as false.
        let no = Value::Bool(false);
        let selected = filter
            .is_none_or(|f| f.iter().all(|(k, v)| kind.get(k).unwrap_or(&no) == v))
            && !except.contains(&id);
        if !selected {
            continue;
        }
        let mut body = Map::new();
        body.insert("name".into(), Value::from(format!("{template}/{id}")));
        for key in ["about", "namespace", "steps"] {
            if let Some(v) = doc.get(key) {
                body.insert(key.into(), substitute_template(v, kind));
            }
        }
        let case: Case = serde_json::from_value(expand_merges(Value::Object(body)))
            .map_err(|e| format!("template {template} for {id}: {e}"))?;
        out.push(case);
    }
    Ok(out)
}

fn replace_strings(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(a) => Value::Array(a.iter().map(|x| replace_strings(x, from, to)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), replace_strings(x, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces `{{name}}` template variables.
fn substitute_template(v: &Value, vars: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                if let Some(value) = vars.get(name) {
                    return value.clone();
                }
                // `{{json NAME}}`: the variable as JSON text (kubectl's stdin).
                if let Some(value) = name.strip_prefix("json ").and_then(|n| vars.get(n)) {
                    return Value::String(value.to_string());
                }
            }
            let mut out = s.clone();
            for (name, value) in vars {
                let pattern = format!("{{{{{name}}}}}");
                if out.contains(&pattern) {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out = out.replace(&pattern, &text);
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_template(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute_template(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces every `{"$merge": [...]}` by the deep merge of its elements.
pub fn expand_merges(v: Value) -> Value {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("$merge") => {
            let parts = match o.into_iter().next() {
                Some((_, Value::Array(parts))) => parts,
                Some((_, other)) => vec![other],
                None => Vec::new(),
            };
            parts
                .into_iter()
                .map(expand_merges)
                .fold(Value::Null, merge)
        }
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, x)| (k, expand_merges(x))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(expand_merges).collect()),
        other => other,
    }
}

fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (_, over) => over,
    }
}

/// Replaces `${name}` run-time variables in every string of `v`; unknown names are an
/// error (a capture that failed on one server shows up as a difference, not a panic).
pub fn substitute(v: &Value, vars: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute_str(s, vars)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((substitute_str(k, vars)?, substitute(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

pub fn substitute_str(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated variable in {s:?}"))?;
        let name = &after[..end];
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown variable ${{{name}}}"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_and_substitutes() {
        let v =
            expand_merges(json!({"body": {"$merge": [{"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}]}}));
        assert_eq!(v, json!({"body": {"a": {"b": 1, "c": 3}}}));
        let vars = BTreeMap::from([("ns".to_string(), "cf-1".to_string())]);
        assert_eq!(
            substitute_str("/x/${ns}/y", &vars).as_deref(),
            Ok("/x/cf-1/y")
        );
        assert!(substitute_str("${nope}", &vars).is_err());
    }
}
