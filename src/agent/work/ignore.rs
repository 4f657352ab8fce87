//! `serverSideApply.ignoreFields`: the fields of a manifest the agent leaves to the managed
//! cluster, removed from what it applies and from the hash it compares, with upstream's
//! three ways of naming them:
//!
//! - `jsonPaths`: kubectl JSONPath. As upstream, the path up to its last field name selects
//!   objects (filters included: `.spec.containers[?(@.name=="app")].image`), and that
//!   field is removed from each; a path ending in a filter or an index names list items,
//!   which are kept (removing list items and applying would rewrite the list). Beyond
//!   upstream, a last step written `['a.b/c']` names a field holding dots.
//! - `jsonPointers` (RFC 6901): the field or list item is removed; a missing one is no
//!   error.
//! - `jqPathExpressions`: `del(<expression>)` evaluated by jaq (upstream uses gojq) in a
//!   child process, stopped after [`JQ_TIMEOUT`]; it must give exactly one object.
//!
//! A path that cannot be parsed is an error the work reports (upstream logs JSONPath
//! errors and applies without ignoring).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::jsonpath::{JsonPath, quoted_name};
use crate::api::ocm::IgnoreField;

/// How long one jq expression may run (upstream's limit).
pub const JQ_TIMEOUT: Duration = Duration::from_secs(1);

/// Removes the fields `field` names from `object`.
pub fn strip(object: &mut Value, field: &IgnoreField) -> Result<(), String> {
    for path in &field.json_paths {
        remove_by_json_path(object, path)?;
    }
    for pointer in &field.json_pointers {
        remove_by_pointer(object, pointer)?;
    }
    for expression in &field.jq_path_expressions {
        *object = jq_delete(object, expression)?;
    }
    Ok(())
}

/// The JSONPath of the objects holding the field, and the field's name; `None` when the
/// path's last step is not a field name (an index or a filter: list items are kept).
fn split_last_field(path: &str) -> Option<(&str, String)> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    if let Some(inner_start) = path.strip_suffix(']').and_then(|p| p.rfind('[')) {
        let inner = &path[inner_start + 1..path.len() - 1];
        return quoted_name(inner).map(|name| (&path[..inner_start], name.to_string()));
    }
    let (parent, last) = path.rsplit_once('.')?;
    (!last.is_empty()).then(|| (parent, last.to_string()))
}

fn remove_by_json_path(object: &mut Value, path: &str) -> Result<(), String> {
    let Some((parent, last)) = split_last_field(path) else {
        return Ok(());
    };
    let parents = JsonPath::parse(parent).map_err(|e| format!("JSONPath {path:?}: {e}"))?;
    // The selected objects, by address: found on a shared borrow, then visited mutably
    // (a mutable walk moves nothing, so the addresses still name the same values).
    let selected: HashSet<usize> = parents
        .find(object)
        .into_iter()
        .filter(|v| v.is_object())
        .map(|v| std::ptr::from_ref(v) as usize)
        .collect();
    if !selected.is_empty() {
        remove_in(object, &selected, &last);
    }
    Ok(())
}

/// Removes `field` from every object of `selected` within `value`.
fn remove_in(value: &mut Value, selected: &HashSet<usize>, field: &str) {
    if selected.contains(&(std::ptr::from_ref(&*value) as usize))
        && let Some(map) = value.as_object_mut()
    {
        map.remove(field);
    }
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| remove_in(v, selected, field)),
        Value::Array(items) => items.iter_mut().for_each(|v| remove_in(v, selected, field)),
        _ => {}
    }
}

fn remove_by_pointer(object: &mut Value, pointer: &str) -> Result<(), String> {
    let Some((parent, last)) = pointer
        .rsplit_once('/')
        .filter(|_| pointer.starts_with('/'))
    else {
        return Err(format!(
            "JSON Pointer error in {pointer:?}: a pointer starts with '/'"
        ));
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match object.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expressions that failed to finish once (out of time, or their process died): refused
/// at once afterwards, so a runaway expression does not stall every reconcile of its work.
static RUNAWAY: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// `del(expression)` on `object`, evaluated in a child process of this binary
/// (`jq-delete`): an expression that recurses without end can only take that process
/// down, and one that runs too long is killed after [`JQ_TIMEOUT`].
fn jq_delete(object: &Value, expression: &str) -> Result<Value, String> {
    let bin = std::env::current_exe()
        .map_err(|e| format!("JQ expression error in {expression:?}: {e}"))?;
    jq_delete_with(&bin, object, expression)
}

/// [`jq_delete`] with the binary `bin` (this one, or in tests the one built).
pub fn jq_delete_with(bin: &Path, object: &Value, expression: &str) -> Result<Value, String> {
    let error = |why: String| format!("JQ expression error in {expression:?}: {why}");
    let runaway = RUNAWAY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|s| s.contains(expression));
    if runaway {
        return Err(error(
            "it did not finish before and is not run again".into(),
        ));
    }
    let mut child = std::process::Command::new(bin)
        .args(["jq-delete", expression])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run jq: {e}")))?;
    let input = serde_json::to_vec(object).map_err(|e| error(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A child that died early closes its stdin: its status says why.
        let _ = stdin.write_all(&input);
    }
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            text
        })
    };
    let out = read(stdout.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = read(stderr.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + JQ_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let mark_runaway = || {
        RUNAWAY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashSet::new)
            .insert(expression.to_string());
        tracing::warn!(
            expression,
            "a jq expression of ignoreFields did not finish; it is refused from now on"
        );
    };
    match status {
        None => {
            mark_runaway();
            Err(error(format!("execution timed out after {JQ_TIMEOUT:?}")))
        }
        Some(s) if s.success() => serde_json::from_slice(&out).map_err(|e| error(e.to_string())),
        // The command's own refusal (exit code 1) has its reason on stderr.
        Some(s) if s.code() == Some(1) => {
            Err(error(String::from_utf8_lossy(&err).trim().to_string()))
        }
        Some(s) => {
            mark_runaway();
            Err(error(format!("the evaluation crashed ({s})")))
        }
    }
}

/// The `jq-delete` command: the object on stdin, `del(expression)` of it on stdout, or
/// the reason on stderr and exit code 1.
pub fn jq_delete_command(expression: &str) -> std::process::ExitCode {
    let mut input = Vec::new();
    let result = std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_slice::<Value>(&input).map_err(|e| e.to_string()))
        .and_then(|object| run_jq(&format!("del({expression})"), &object));
    match result {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the jq `program` on `input`: its one result, an object.
pub fn run_jq(program: &str, input: &Value) -> Result<Value, String> {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
    use jaq_json::Val;

    let loader = Loader::new(
        jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs()),
    );
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map_err(|errors| format!("failed to parse: {} error(s)", errors.len()))?;
    let filter = Compiler::default()
        .with_funs(
            jaq_core::funs()
                .chain(jaq_std::funs())
                .chain(jaq_json::funs()),
        )
        .compile(modules)
        .map_err(|errors| format!("failed to compile: {} error(s)", errors.len()))?;
    let text = serde_json::to_vec(input).map_err(|e| e.to_string())?;
    let input = jaq_json::read::parse_single(&text).map_err(|e| e.to_string())?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut out = filter.id.run((ctx, input)).map(unwrap_valr);
    let first = out
        .next()
        .ok_or("the expression returned no data")?
        .map_err(|e| format!("the expression returned an error: {e}"))?;
    if out.next().is_some() {
        return Err("the expression returned several objects".into());
    }
    match serde_json::from_str::<Value>(&first.to_string()) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err("the expression's result is not an object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "annotations": {"a.b/c": "x", "keep": "y"}},
               "spec": {"replicas": 1, "containers": [
                   {"name": "container1", "image": "one"},
                   {"name": "container2", "image": "two"}]}})
    }

    fn strip_with(field: IgnoreField) -> Result<Value, String> {
        let mut v = pod();
        strip(&mut v, &field).map(|()| v)
    }

    fn paths(p: &[&str]) -> IgnoreField {
        IgnoreField {
            json_paths: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn json_paths_remove_the_last_field_of_every_selected_object() {
        let v = strip_with(paths(&[".spec.replicas"])).expect("ok");
        assert!(v["spec"].get("replicas").is_none());
        let v = strip_with(paths(&[
            r#".spec.containers[?(@.name=="container1")].image"#,
        ]))
        .expect("ok");
        assert!(v["spec"]["containers"][0].get("image").is_none());
        assert_eq!(v["spec"]["containers"][1]["image"], "two");
        let v = strip_with(paths(&[".spec.containers[*].image"])).expect("ok");
        assert!(v["spec"]["containers"][1].get("image").is_none());
        let v = strip_with(paths(&[".metadata.annotations['a.b/c']"])).expect("ok");
        assert_eq!(v["metadata"]["annotations"], json!({"keep": "y"}));
        // A missing field is nothing to remove.
        assert_eq!(
            strip_with(paths(&[".spec.nothing.here"])).expect("ok"),
            pod()
        );
    }

    #[test]
    fn json_paths_naming_list_items_keep_them_as_upstream() {
        for path in [
            r#".spec.containers[?(@.name=="container1")]"#,
            ".spec.containers[0]",
        ] {
            assert_eq!(strip_with(paths(&[path])).expect("ok"), pod(), "{path}");
        }
    }

    #[test]
    fn json_pointers_remove_fields_and_list_items() {
        let field = |p: &str| IgnoreField {
            json_pointers: vec![p.to_string()],
            ..Default::default()
        };
        let v = strip_with(field("/metadata/annotations/a.b~1c")).expect("ok");
        assert_eq!(v["metadata"]["annotations"], json!({"keep": "y"}));
        let v = strip_with(field("/spec/containers/0")).expect("ok");
        assert_eq!(v["spec"]["containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(strip_with(field("/spec/missing/x")).expect("ok"), pod());
        assert!(strip_with(field("spec")).is_err());
    }

    #[test]
    fn jq_expressions_delete_what_they_select() {
        let del = |e: &str| run_jq(&format!("del({e})"), &pod());
        let v = del(r#".spec.containers[] | select(.name == "container2") | .image"#).expect("ok");
        assert_eq!(v["spec"]["containers"][0]["image"], "one");
        assert!(v["spec"]["containers"][1].get("image").is_none());
        let v = del(r#".metadata.annotations["a.b/c"]"#).expect("ok");
        assert_eq!(v["metadata"]["annotations"], json!({"keep": "y"}));
        let v = del(r#".spec.containers[] | select(.name | test("^container"))"#).expect("ok");
        assert_eq!(v["spec"]["containers"], json!([]));
        assert!(del(".spec.[").is_err(), "a syntax error");
        assert!(del(".spec.replicas + 1").is_err(), "not a path expression");
        assert!(
            run_jq(".spec.containers[]", &pod()).is_err(),
            "several results"
        );
        assert!(run_jq(".spec.replicas", &pod()).is_err(), "not an object");
    }
}
