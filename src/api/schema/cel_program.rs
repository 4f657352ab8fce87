//! Standalone CEL programs over JSON variables, outside CRD validation: placement's
//! cluster selectors (`managedCluster`) and the work agent's condition rules (`object`).
//! Compiling checks what cel-go's type checker would reject that matters here (undeclared
//! variables and functions), bounds the size, bracket nesting and tree depth of an
//! expression (parsed and evaluated on a grown stack, see [`super::cel::parse_bounded`]),
//! and limits the nesting of comprehension macros, since this interpreter cannot count
//! evaluation cost.

use std::sync::Arc;

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{ExecutionError, Value as Cel};
use serde_json::Value;

use super::cel::{self, Parsed};

/// The longest accepted expression.
pub(crate) const MAX_EXPRESSION_BYTES: usize = 10 * 1024;
/// The deepest accepted bracket nesting.
const MAX_NESTING: usize = 32;
/// The deepest nesting of comprehension macros (`all`, `exists`, `map`, ...), which bounds
/// an expression's cost.
const MAX_COMPREHENSIONS: usize = 4;

/// An evaluation error in cel-go's words where they differ.
pub(crate) fn error_text(e: &ExecutionError) -> String {
    match e {
        ExecutionError::FunctionError { message, .. } => message.clone(),
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::UndeclaredReference(r) => format!("no such attribute(s): {r}"),
        other => other.to_string(),
    }
}

/// Parses `src`, which may read only `variables` and call, besides operators, macros and
/// the schema engine's functions ([`cel::FUNCTIONS`]), only `functions`.
pub(crate) fn compile(
    src: &str,
    variables: &[&str],
    functions: &[&str],
) -> Result<Arc<Parsed>, String> {
    if src.len() > MAX_EXPRESSION_BYTES {
        return Err(format!(
            "ERROR: <input>:1:1: expression size exceeds limit of {MAX_EXPRESSION_BYTES} bytes"
        ));
    }
    if cel::source_nesting(src) > MAX_NESTING {
        return Err(format!(
            "ERROR: <input>:1:1: expression nests deeper than {MAX_NESTING} levels"
        ));
    }
    let parsed = cel::parse_bounded(src)?;
    if parsed.loops as usize > MAX_COMPREHENSIONS {
        return Err(format!(
            "ERROR: <input>:1:1: more than {MAX_COMPREHENSIONS} comprehensions; the expression may be too expensive"
        ));
    }
    for v in &parsed.free_variables {
        if !variables.contains(&v.as_str()) {
            return Err(format!(
                "ERROR: <input>: undeclared reference to '{v}' (in container '')"
            ));
        }
    }
    for f in &parsed.functions {
        if !cel::FUNCTIONS.contains(&f.as_str()) && !functions.contains(&f.as_str()) {
            return Err(format!(
                "ERROR: <input>: undeclared reference to '{f}' (in container '')"
            ));
        }
    }
    Ok(Arc::new(parsed))
}

/// JSON as a CEL value; `floats` turns every number into a double (as Go's
/// `json.Unmarshal` does for `parseJSON`).
pub(crate) fn to_cel(v: &Value, floats: bool, depth: usize) -> Cel {
    if depth > 64 {
        return Cel::Null;
    }
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => cel::number(n, floats),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(
            items.iter().map(|i| to_cel(i, floats, depth + 1)).collect(),
        )),
        Value::Object(m) => Cel::Map(Map {
            map: Arc::new(
                m.iter()
                    .map(|(k, v)| (Key::from(k.as_str()), to_cel(v, floats, depth + 1)))
                    .collect(),
            ),
        }),
    }
}
