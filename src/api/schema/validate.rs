//! Validation as kube-apiserver does it for custom resources:
//!
//! 1. kube-openapi's schema validator (`pkg/validation/validate`): per node the type,
//!    `allOf`/`anyOf`/`oneOf`/`not`, string, format, number, array, `enum` and object
//!    validators run in that order; its errors are turned into field errors by
//!    apiextensions' `kubeOpenAPIResultToFieldErrors`.
//! 2. Embedded resources (`schema/objectmeta/validation.go`).
//! 3. `x-kubernetes-list-type` `set`/`map` uniqueness (`schema/listtype/validation.go`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::golang::{self, Num, bad_value, deep_equal, is_json_integer, quote};
use super::{Additional, DATA_DEPTH_LIMIT, FieldError, ListType, Node, Type, child, index, key};

/// A kube-openapi error before conversion; `name` is kube-openapi's path (`spec.a[0].b`,
/// possibly with a leading `.`), `message` its text.
struct OErr {
    code: Code,
    name: String,
    value: Option<Value>,
    message: String,
}

enum Code {
    Required,
    Enum(Vec<Value>),
    TooLong(i64),
    TooMany {
        actual: i64,
        max: i64,
    },
    InvalidType,
    /// Every other validation error: `field.Invalid` with the value.
    Other,
    /// A plain error without field (composite summaries, numeric range checks).
    Plain,
}

fn oerr(code: Code, name: &str, value: Option<Value>, message: String) -> OErr {
    OErr {
        code,
        name: name.to_string(),
        value,
        message,
    }
}

/// Runs the schema validator and converts its errors. `prefix` is the field path the
/// validated value sits at (`None` for a whole resource, whose root prints as `<nil>`).
/// With `old` (an update), errors are ratcheted: a node whose value equals its correlated
/// old value reports nothing (`CRDValidationRatcheting`, on by default since 1.30).
pub(super) fn schema_errors(
    root: &Node,
    value: &Value,
    old: Option<&Value>,
    prefix: Option<&str>,
) -> Vec<FieldError> {
    let mut raw = Vec::new();
    run(root, value, old, "", &mut raw, 0);
    let mut seen = HashSet::new();
    raw.into_iter()
        .filter(|e| seen.insert(e.message.clone()))
        .map(|e| convert(e, prefix))
        .collect()
}

fn convert(e: OErr, prefix: Option<&str>) -> FieldError {
    let field = match e.name.strip_prefix('.').unwrap_or(&e.name) {
        _ if matches!(e.code, Code::Plain) => prefix.unwrap_or("<nil>").to_string(),
        "" => prefix.unwrap_or("<nil>").to_string(),
        name => prefix
            .map(|p| child(p, name))
            .unwrap_or_else(|| name.to_string()),
    };
    let value = e.value.unwrap_or_else(|| Value::String(String::new()));
    match e.code {
        Code::Required => FieldError::required(field, ""),
        Code::Enum(values) => {
            let supported: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => golang::json(other),
                })
                .collect();
            FieldError::not_supported(field, &value, &supported)
        }
        Code::TooLong(max) => FieldError::too_long(field, max),
        Code::TooMany { actual, max } => FieldError::too_many(field, actual, max),
        Code::InvalidType => FieldError::type_invalid(field, &value, &e.message),
        Code::Other | Code::Plain => FieldError::invalid(field, &value, &e.message),
    }
}

/// The node's type names (both for int-or-string), without allocating: every node of every
/// validated object asks.
fn types(n: &Node) -> &'static [&'static str] {
    const INT_OR_STRING: &[&str] = &["integer", "string"];
    if n.int_or_string {
        return INT_OR_STRING;
    }
    match n.ty {
        None => &[],
        Some(Type::Object) => &["object"],
        Some(Type::Array) => &["array"],
        Some(Type::String) => &["string"],
        Some(Type::Integer) => &["integer"],
        Some(Type::Number) => &["number"],
        Some(Type::Boolean) => &["boolean"],
    }
}

fn int(i: i64) -> Value {
    Value::from(i)
}

fn num_value(n: Num) -> Value {
    match n {
        Num::Int(i) => Value::from(i),
        Num::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

/// kube-openapi's `InvalidType` text; the value is always a Go string.
fn invalid_type(name: &str, type_name: &str, value: &str) -> OErr {
    oerr(
        Code::InvalidType,
        name,
        Some(Value::String(value.into())),
        format!(
            "{name} in body must be of type {type_name}: {}",
            quote(value)
        ),
    )
}

/// Validates `data` against `node` at kube-openapi path `path`; returns a match count
/// (validators applied), used to pick the reported branch of a failed `anyOf`/`oneOf`.
fn run(
    node: &Node,
    data: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OErr>,
    depth: usize,
) -> u32 {
    let Some(old) = old else {
        return run_node(node, data, None, path, out, depth);
    };
    // Ratcheting drops every error of a value equal to its old value: nothing to check
    // (an update rewriting one field of a large object validates that field's path only).
    if deep_equal(data, old) {
        return 0;
    }
    run_node(node, data, Some(old), path, out, depth)
}

/// The old value correlated with `items[i]`: only items of `x-kubernetes-list-type: map`
/// lists correlate, by their key fields.
fn correlated_item<'a>(node: &Node, item: &Value, old: Option<&'a Value>) -> Option<&'a Value> {
    if node.list_type != Some(ListType::Map) || node.list_map_keys.is_empty() {
        return None;
    }
    let same_key = |o: &&Value| node.list_map_keys.iter().all(|k| o.get(k) == item.get(k));
    old?.as_array()?.iter().find(same_key)
}

fn run_node(
    node: &Node,
    data: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OErr>,
    depth: usize,
) -> u32 {
    if depth > DATA_DEPTH_LIMIT {
        return 0;
    }
    let types = types(node);
    let format = node.checks.format.as_deref().unwrap_or("");
    if data.is_null() {
        type_check(types, format, node.nullable, data, path, out);
        enum_check(node, data, path, out);
        return 1;
    }
    let mut count = 1;
    if !types.is_empty() || !format.is_empty() {
        count += 1;
        type_check(types, format, node.nullable, data, path, out);
    }
    count += 1 + composite_checks(node, data, path, out, depth);
    match data {
        Value::String(s) => {
            count += 1;
            string_checks(node, s, path, out);
            if golang::supported_string_format(format) {
                count += 1;
                if !golang::check_format(format, s) {
                    out.push(oerr(
                        Code::InvalidType,
                        path,
                        Some(data.clone()),
                        format!("{path} in body must be of type {format}: {}", quote(s)),
                    ));
                }
            }
        }
        Value::Number(n) => {
            count += 1;
            number_checks(node, types, format, golang::num(n), path, out);
        }
        Value::Array(items) => {
            count += 1;
            if let Some(item_schema) = node.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    let old_item = correlated_item(node, item, old);
                    count += run(
                        item_schema,
                        item,
                        old_item,
                        &format!("{path}[{i}]"),
                        out,
                        depth + 1,
                    );
                }
            }
            let size = items.len() as i64;
            if let Some(min) = node.checks.min_items.filter(|m| size < *m) {
                out.push(oerr(
                    Code::Other,
                    path,
                    Some(int(size)),
                    format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = node.checks.max_items.filter(|m| size > *m) {
                out.push(oerr(
                    Code::TooMany { actual: size, max },
                    path,
                    Some(int(size)),
                    format!("{path} in body should have at most {max} items"),
                ));
            }
        }
        _ => {}
    }
    count += 1;
    enum_check(node, data, path, out);
    if let Value::Object(map) = data {
        count += 1 + object_checks(node, map, old, path, out, depth);
    }
    count
}

fn type_check(
    types: &[&str],
    format: &str,
    nullable: bool,
    data: &Value,
    path: &str,
    out: &mut Vec<OErr>,
) {
    let joined = || types.join(",");
    if data.is_null() {
        if !types.is_empty() && !nullable {
            out.push(invalid_type(path, &joined(), "null"));
        }
        return;
    }
    let (sch_type, sch_format) = match data {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) => match golang::num(n) {
            Num::Int(_) => ("integer", "int64"),
            Num::Float(_) => ("number", "float64"),
        },
        Value::Array(_) => ("array", ""),
        _ => ("object", ""),
    };
    let has = |t: &str| types.contains(&t);
    let float_int = matches!(data, Value::Number(n) if matches!(golang::num(n), Num::Float(f) if is_json_integer(f)))
        && has("integer");
    let int_float = sch_type == "integer" && has("number");
    let string_or_slice = data.is_string() || data.is_array();
    // kube-openapi's conditions, kept in its shape (hence the allow).
    #[allow(clippy::nonminimal_bool)]
    let format_mismatch = !string_or_slice
        && !format.is_empty()
        && !(has(sch_type) || sch_format == format || float_int || int_float);
    if format_mismatch {
        out.push(invalid_type(path, format, sch_format));
        return;
    }
    if string_or_slice && !format.is_empty() && !has("number") && !has("integer") {
        return;
    }
    if !(has(sch_type) || float_int || int_float) {
        out.push(invalid_type(path, &joined(), sch_type));
    }
}

fn string_checks(node: &Node, s: &str, path: &str, out: &mut Vec<OErr>) {
    let c = &node.checks;
    let len = s.chars().count() as i64;
    let value = || Some(Value::String(s.to_string()));
    if let Some(max) = c.max_length.filter(|m| len > *m) {
        out.push(oerr(
            Code::TooLong(max),
            path,
            value(),
            format!("{path} in body should be at most {max} chars long"),
        ));
        return;
    }
    if let Some(min) = c.min_length.filter(|m| len < *m) {
        out.push(oerr(
            Code::Other,
            path,
            value(),
            format!("{path} in body should be at least {min} chars long"),
        ));
        return;
    }
    if let Some(p) = c.pattern.as_ref().filter(|p| !p.regex.is_match(s)) {
        out.push(oerr(
            Code::Other,
            path,
            value(),
            format!("{path} in body should match '{}'", p.source),
        ));
    }
}

/// kube-openapi 1.36's numeric format range check (`IsValueValidAgainstRange`).
fn range_error(val: Num, type_name: &str, format: &str, what: &str, path: &str) -> Option<String> {
    let bad = match (val, type_name, format) {
        // An integer is its own decimal text: only int32 can be out of range (and no i64
        // exceeds f32's range).
        (Num::Int(i), "integer", "int32") => i32::try_from(i).is_err(),
        (Num::Int(_), _, _) => false,
        (Num::Float(f), "integer", "int32") => format!("{f}").parse::<i32>().is_err(),
        (Num::Float(f), "integer", _) => format!("{f}").parse::<i64>().is_err(),
        (Num::Float(f), _, "float") => format!("{f}")
            .parse::<f64>()
            .map_or(true, |x| x.abs() > f64::from(f32::MAX)),
        _ => false,
    };
    bad.then(|| {
        if format.is_empty() {
            format!("{what} value must be of type {type_name} (default format) in {path}")
        } else {
            format!("{what} value must be of type {type_name} with format {format} in {path}")
        }
    })
}

fn number_checks(
    node: &Node,
    types: &[&str],
    format: &str,
    val: Num,
    path: &str,
    out: &mut Vec<OErr>,
) {
    let c = &node.checks;
    let (type_name, fmt) = match types {
        ["integer"] => (
            "integer",
            if matches!(format, "int32" | "int64") {
                format
            } else {
                ""
            },
        ),
        ["number"] => (
            "number",
            if matches!(format, "float" | "double") {
                format
            } else {
                ""
            },
        ),
        _ => ("", ""),
    };
    let plain = |msg: String| oerr(Code::Plain, path, None, msg);
    if let Some(e) = range_error(val, type_name, fmt, "Checked", path) {
        out.push(plain(e));
    }
    let data = val.as_f64();
    if let Some(factor) = c.multiple_of {
        let range = range_error(Num::Float(factor), type_name, fmt, "MultipleOf", path);
        let native_int = match val {
            Num::Int(i) if range.is_none() => Some(i),
            _ => None,
        };
        if let Some(e) = range {
            out.push(plain(e));
        }
        match native_int {
            Some(i) => {
                let f = factor as i64;
                if f <= 0 {
                    out.push(oerr(
                        Code::Other,
                        path,
                        Some(int(f)),
                        format!("factor MultipleOf declared for {path} must be positive: {f}"),
                    ));
                } else if i % f != 0 {
                    out.push(oerr(
                        Code::Other,
                        path,
                        Some(int(i)),
                        format!("{path} in body should be a multiple of {f}"),
                    ));
                }
            }
            None => {
                if factor <= 0.0 {
                    out.push(oerr(
                        Code::Other,
                        path,
                        num_value(Num::Float(factor)).into(),
                        format!(
                            "factor MultipleOf declared for {path} must be positive: {}",
                            golang::float(factor)
                        ),
                    ));
                } else {
                    let mult = if factor < 1.0 {
                        1.0 / factor * data
                    } else {
                        data / factor
                    };
                    if !is_json_integer(mult) {
                        out.push(oerr(
                            Code::Other,
                            path,
                            Some(num_value(Num::Float(data))),
                            format!(
                                "{path} in body should be a multiple of {}",
                                golang::float(factor)
                            ),
                        ));
                    }
                }
            }
        }
    }
    for (bound, exclusive, is_max) in [
        (c.minimum, c.exclusive_minimum, false),
        (c.maximum, c.exclusive_maximum, true),
    ] {
        let Some(bound) = bound else { continue };
        let what = if is_max {
            "Maximum boundary"
        } else {
            "Minimum boundary"
        };
        let range = range_error(Num::Float(bound), type_name, fmt, what, path);
        let (value, limit, fails) = match (val, &range) {
            (Num::Int(i), None) => {
                let b = bound as i64;
                let fails = if is_max {
                    i > b || (exclusive && i == b)
                } else {
                    i < b || (exclusive && i == b)
                };
                (Num::Int(i), b.to_string(), fails)
            }
            _ => {
                let fails = if is_max {
                    data > bound || (exclusive && data == bound)
                } else {
                    data < bound || (exclusive && data == bound)
                };
                (Num::Float(data), golang::float(bound), fails)
            }
        };
        if let Some(e) = range {
            out.push(plain(e));
        }
        if fails {
            let relation = match (is_max, exclusive) {
                (true, false) => "less than or equal to",
                (true, true) => "less than",
                (false, false) => "greater than or equal to",
                (false, true) => "greater than",
            };
            out.push(oerr(
                Code::Other,
                path,
                Some(num_value(value)),
                format!("{path} in body should be {relation} {limit}"),
            ));
        }
    }
}

/// kube-openapi's enum comparison: the value converted to each enum value's Go type, then
/// `reflect.DeepEqual`; `null` never matches.
fn enum_matches(data: &Value, allowed: &Value) -> bool {
    match (data, allowed) {
        (Value::Null, _) => false,
        (Value::Number(d), Value::Number(a)) => match (golang::num(d), golang::num(a)) {
            (Num::Int(d), Num::Int(a)) => d == a,
            (Num::Float(d), Num::Int(a)) => d as i64 == a,
            (Num::Int(d), Num::Float(a)) => d as f64 == a,
            (Num::Float(d), Num::Float(a)) => d == a,
        },
        // Go converts an integer to a string as a code point.
        (Value::Number(d), Value::String(a)) => match golang::num(d) {
            Num::Int(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                a.chars().eq(std::iter::once(c))
            }
            Num::Float(_) => false,
        },
        _ => deep_equal(data, allowed),
    }
}

fn enum_check(node: &Node, data: &Value, path: &str, out: &mut Vec<OErr>) {
    let values = &node.checks.enumeration;
    if values.is_empty() || values.iter().any(|a| enum_matches(data, a)) {
        return;
    }
    let listed: Vec<String> = values.iter().map(bad_value).collect();
    out.push(oerr(
        Code::Enum(values.clone()),
        path,
        Some(data.clone()),
        format!("{path} in body should be one of [{}]", listed.join(" ")),
    ));
}

fn composite_checks(
    node: &Node,
    data: &Value,
    path: &str,
    out: &mut Vec<OErr>,
    depth: usize,
) -> u32 {
    let c = &node.checks;
    let mut count = 0;
    let summary = |msg: String| oerr(Code::Plain, path, None, msg);
    if !c.any_of.is_empty() {
        let mut best: Option<(u32, Vec<OErr>)> = None;
        let mut matched = false;
        for branch in &c.any_of {
            let mut errs = Vec::new();
            let n = run(branch, data, None, path, &mut errs, depth + 1);
            count += n;
            if errs.is_empty() {
                matched = true;
                best = None;
                break;
            }
            if best.as_ref().is_none_or(|(b, _)| n > *b) {
                best = Some((n, errs));
            }
        }
        if !matched {
            out.push(summary(format!(
                "{} must validate at least one schema (anyOf)",
                quote(path)
            )));
        }
        if let Some((_, errs)) = best {
            out.extend(errs);
        }
    }
    if !c.one_of.is_empty() {
        let mut best: Option<(u32, Vec<OErr>)> = None;
        let mut valid = 0;
        for branch in &c.one_of {
            let mut errs = Vec::new();
            let n = run(branch, data, None, path, &mut errs, depth + 1);
            count += n;
            if errs.is_empty() {
                valid += 1;
                best = None;
            } else if valid == 0 && best.as_ref().is_none_or(|(b, _)| n > *b) {
                best = Some((n, errs));
            }
        }
        if valid != 1 {
            let detail = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(summary(format!(
                "{} must validate one and only one schema (oneOf). {detail}",
                quote(path)
            )));
            if let Some((_, errs)) = best {
                out.extend(errs);
            }
        }
    }
    if !c.all_of.is_empty() {
        let mut valid = 0;
        for branch in &c.all_of {
            let mut errs = Vec::new();
            count += run(branch, data, None, path, &mut errs, depth + 1);
            if errs.is_empty() {
                valid += 1;
            }
            out.extend(errs);
        }
        if valid != c.all_of.len() {
            let detail = if valid == 0 { ". None validated" } else { "" };
            out.push(summary(format!(
                "{} must validate all the schemas (allOf){detail}",
                quote(path)
            )));
        }
    }
    if let Some(not) = &c.not {
        let mut errs = Vec::new();
        count += run(not, data, None, path, &mut errs, depth + 1);
        if errs.is_empty() {
            out.push(summary(format!(
                "{} must not validate the schema (not)",
                quote(path)
            )));
        }
    }
    count
}

fn object_checks(
    node: &Node,
    map: &Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<OErr>,
    depth: usize,
) -> u32 {
    let c = &node.checks;
    let mut count = 0;
    let size = map.len() as i64;
    if let Some(min) = c.min_properties.filter(|m| size < *m) {
        out.push(oerr(
            Code::Other,
            path,
            Some(int(size)),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = c.max_properties.filter(|m| size > *m) {
        out.push(oerr(
            Code::TooMany { actual: size, max },
            path,
            Some(int(size)),
            format!("{path} in body should have at most {max} properties"),
        ));
    }
    match &node.additional {
        Some(Additional::Bool(false)) => {
            for k in map.keys().filter(|k| !node.properties.contains_key(*k)) {
                out.push(oerr(
                    Code::Other,
                    path,
                    Some(Value::String(k.clone())),
                    format!("{path}.{k} in body is a forbidden property"),
                ));
            }
        }
        Some(Additional::Schema(a)) => {
            for (k, v) in map
                .iter()
                .filter(|(k, _)| !node.properties.contains_key(*k))
            {
                let old_v = old.and_then(|o| o.get(k));
                count += run(a, v, old_v, &format!("{path}.{k}"), out, depth + 1);
            }
        }
        _ => {}
    }
    for (name, prop) in &node.properties {
        if let Some(v) = map.get(name) {
            // Root apiVersion and kind are never correlated.
            let correlate = !(path.is_empty() && (name == "apiVersion" || name == "kind"));
            let old_v = old.filter(|_| correlate).and_then(|o| o.get(name));
            count += run(prop, v, old_v, &child(path, name), out, depth + 1);
        }
    }
    for name in c.required.iter().filter(|k| !map.contains_key(*k)) {
        let full = format!("{path}.{name}");
        out.push(oerr(
            Code::Required,
            &full,
            None,
            format!("{full} in body is required"),
        ));
    }
    count
}

// ---------------------------------------------------------------------------------------
// Embedded resources.

/// Checks of `x-kubernetes-embedded-resource` objects below the (non-embedded) root.
pub(super) fn embedded_errors(root: &Node, object: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    embedded_walk(root, object, "", &mut out, 0);
    out
}

/// The same for a value at `path` whose schema is `node` (used for defaults).
pub(super) fn embedded_errors_at(node: &Node, value: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    embedded_walk(node, value, path, &mut out, 0);
    out
}

fn embedded_walk(s: &Node, x: &Value, path: &str, out: &mut Vec<FieldError>, depth: usize) {
    if depth > DATA_DEPTH_LIMIT || !s.below.embedded {
        return;
    }
    match x {
        Value::Object(map) => {
            if s.embedded {
                embedded_resource(map, path, out);
            }
            for (k, v) in map {
                if let Some(prop) = s.properties.get(k) {
                    embedded_walk(prop, v, &child(path, k), out, depth + 1);
                } else if let Some(a) = s.additional_schema() {
                    embedded_walk(a, v, &key(path, k), out, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter().enumerate() {
                    embedded_walk(item_schema, v, &index(path, i), out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const DNS1035_ERROR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// apiextensions `validateEmbeddedResource`: `apiVersion` and `kind` required and
/// well-formed; `metadata` decodable as `ObjectMeta` with path-segment-safe names.
fn embedded_resource(map: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    for name in ["apiVersion", "kind"] {
        if !map.contains_key(name) {
            out.push(FieldError::required(child(path, name), ""));
        }
    }
    for (k, v) in map {
        let at = child(path, k);
        match (k.as_str(), v) {
            ("apiVersion" | "kind", Value::String(s)) if s.is_empty() => {
                out.push(FieldError::invalid(at, v, "must not be empty"));
            }
            ("apiVersion" | "kind", v) if !v.is_string() => {
                out.push(FieldError::invalid(at, v, "must be a string"))
            }
            ("apiVersion", Value::String(s)) if s != "/" && s.matches('/').count() > 1 => {
                out.push(FieldError::invalid(
                    at,
                    v,
                    &format!("unexpected GroupVersion string: {s}"),
                ));
            }
            ("kind", Value::String(s)) => {
                let lower = s.to_lowercase();
                let mut errs = Vec::new();
                if lower.len() > 63 {
                    errs.push("must be no more than 63 characters");
                }
                if !is_dns1035_label(&lower) {
                    errs.push(DNS1035_ERROR);
                }
                if !errs.is_empty() {
                    let detail = format!(
                        "may have mixed case, but should otherwise match: {}",
                        errs.join(",")
                    );
                    out.push(FieldError::invalid(at, v, &detail));
                }
            }
            ("metadata", Value::Object(meta)) => object_meta(meta, &at, out),
            ("metadata", Value::Null) => {}
            ("metadata", v) => {
                let detail = format!(
                    "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                    go_json_kind(v)
                );
                out.push(FieldError::invalid(at, v, &detail));
            }
            _ => {}
        }
    }
}

fn object_meta(meta: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let metadata = Value::Object(meta.clone());
    for field in [
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "selfLink",
    ] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null() && !v.is_string()) {
            let detail = format!(
                "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type string",
                go_json_kind(v)
            );
            out.push(FieldError::invalid(path, &metadata, &detail));
            return;
        }
    }
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                if let Some(v) = m.values().find(|v| !v.is_null() && !v.is_string()) {
                    let detail = format!(
                        "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type string",
                        go_json_kind(v)
                    );
                    out.push(FieldError::invalid(path, &metadata, &detail));
                    return;
                }
            }
            Some(v) => {
                let detail = format!(
                    "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type map[string]string",
                    go_json_kind(v)
                );
                out.push(FieldError::invalid(path, &metadata, &detail));
                return;
            }
        }
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("fakename");
    let generate_name = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !generate_name.is_empty() {
        for msg in path_segment_errors(generate_name, true) {
            out.push(FieldError::invalid(
                child(path, "generateName"),
                &Value::String(generate_name.into()),
                &msg,
            ));
        }
    }
    for msg in path_segment_errors(name, false) {
        out.push(FieldError::invalid(
            child(path, "name"),
            &Value::String(name.into()),
            &msg,
        ));
    }
}

/// apimachinery `content.IsPathSegmentName` / `IsPathSegmentPrefix`.
fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix && (name == "." || name == "..") {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// List types.

/// `x-kubernetes-list-type: set` and `map` uniqueness below the root object.
pub(super) fn list_errors(root: &Node, object: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Value::Object(map) = object
        && root.below.keyed_lists
    {
        list_map(root, map, "", &mut out, 0);
    }
    out
}

fn list_map(
    s: &Node,
    map: &Map<String, Value>,
    path: &str,
    out: &mut Vec<FieldError>,
    depth: usize,
) {
    if let Some(a) = s.additional_schema() {
        for (k, v) in map {
            list_walk(a, v, &key(path, k), out, depth + 1);
        }
    }
    for (k, v) in map {
        if let Some(p) = s.properties.get(k) {
            list_walk(p, v, &child(path, k), out, depth + 1);
        }
    }
}

fn list_walk(s: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>, depth: usize) {
    if depth > DATA_DEPTH_LIMIT || !s.below.keyed_lists {
        return;
    }
    match v {
        Value::Object(map) => list_map(s, map, path, out, depth),
        Value::Array(items) => {
            match s.list_type {
                Some(ListType::Set) => {
                    for i in repeated(items.iter().map(set_key)) {
                        out.push(FieldError::duplicate(index(path, i), &items[i]));
                    }
                }
                Some(ListType::Map) => list_type_map(s, items, path, out),
                _ => {}
            }
            if let Some(item_schema) = s.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    list_walk(item_schema, item, &index(path, i), out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// A key under which Go's map-based duplicate detection considers values equal: scalars
/// by Go type and value (so `1` and `1.0` differ), compounds by their JSON.
fn set_key(v: &Value) -> String {
    match v {
        Value::Null => "n".into(),
        Value::Bool(b) => format!("b{b}"),
        Value::String(s) => format!("s{s}"),
        Value::Number(n) => match golang::num(n) {
            Num::Int(i) => format!("i{i}"),
            Num::Float(f) => format!("f{}", f.to_bits()),
        },
        other => format!("c{}", golang::json(other)),
    }
}

/// Indices of the second occurrence of each repeated key.
fn repeated(keys: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, k) in keys.enumerate() {
        let n = seen.entry(k).or_insert(0);
        *n += 1;
        if *n == 2 {
            out.push(i);
        }
    }
    out
}

fn list_type_map(s: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    if let Some((i, x)) = items
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_null() && !x.is_object())
    {
        out.push(FieldError::invalid(
            index(path, i),
            x,
            "must be an object for an array of list-type map",
        ));
        return;
    }
    if items.len() <= 1 {
        return;
    }
    let key_of = |x: &Value| -> Map<String, Value> {
        s.list_map_keys
            .iter()
            .filter_map(|k| x.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    };
    let keys: Vec<Map<String, Value>> = items.iter().map(key_of).collect();
    let single = s.list_map_keys.len() == 1;
    let dup_keys = keys.iter().map(|k| {
        if single {
            k.values()
                .next()
                .map(set_key)
                .unwrap_or_else(|| "unspecified".into())
        } else {
            set_key(&Value::Object(k.clone()))
        }
    });
    for i in repeated(dup_keys) {
        out.push(FieldError::duplicate(
            index(path, i),
            &Value::Object(keys[i].clone()),
        ));
    }
}
