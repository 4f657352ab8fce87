//! Server-owned object metadata: names, namespaces, uid, timestamps, generation,
//! resourceVersion preconditions, and what an update may and may not change.

use serde_json::{Map, Value};

use super::Target;
use crate::api::Kind;
use crate::api::status::{Cause, Status};

/// Names are DNS subdomains (lowercase alphanumerics, `-` and `.`, at most 253
/// characters, starting and ending alphanumeric); namespaces are DNS labels.
pub fn validate_name(kind: &Kind, name: &str) -> Result<(), Status> {
    if kind.group == "rbac.authorization.k8s.io" {
        return validate_path_segment(kind, name);
    }
    let label_like = kind.plural == "namespaces";
    let max = if label_like { 63 } else { 253 };
    let ok_char = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !label_like)
    };
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = !name.is_empty()
        && name.len() <= max
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last());
    if valid {
        return Ok(());
    }
    let rule = if label_like {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    };
    Err(Status::invalid(
        kind,
        name,
        vec![Cause::invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": {rule}"),
        )],
    ))
}

/// RBAC names only need to be usable as a URL path segment (kube's
/// `ValidatePathSegmentName`), so `system:aggregate-to-admin` is valid.
fn validate_path_segment(kind: &Kind, name: &str) -> Result<(), Status> {
    let problem = if name == "." || name == ".." {
        Some(format!("may not be '{name}'"))
    } else if name.contains('/') {
        Some("may not contain '/'".to_string())
    } else if name.contains('%') {
        Some("may not contain '%'".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(Status::invalid(
            kind,
            name,
            vec![Cause::invalid(
                "metadata.name",
                format!("Invalid value: \"{name}\": {p}"),
            )],
        )),
    }
}

/// `apiVersion` and `kind` in the body, when present, must name this kind; the body
/// must be an object with an object `metadata`.
pub fn check_type(kind: &Kind, object: &Value) -> Result<(), Status> {
    let Some(map) = object.as_object() else {
        return Err(Status::bad_request("the body must be a JSON object"));
    };
    if let Some(meta) = map.get("metadata")
        && !meta.is_object()
    {
        return Err(Status::bad_request("metadata must be an object"));
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let body_kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if (!api_version.is_empty() && api_version != kind.api_version())
        || (!body_kind.is_empty() && body_kind != kind.kind)
    {
        return Err(Status::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) or kind ({body_kind} is not {})",
            kind.api_version(),
            kind.kind
        )));
    }
    Ok(())
}

/// The effective namespace: the URL's, which the body must not contradict; none for
/// cluster-scoped kinds.
pub fn check_namespace(
    kind: &Kind,
    url: Option<&str>,
    object: &Value,
) -> Result<Option<String>, Status> {
    let body = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !kind.namespaced() {
        return Ok(None);
    }
    let Some(url) = url.filter(|n| !n.is_empty()) else {
        return Err(Status::bad_request(
            "a namespace is required for namespaced resources",
        ));
    };
    if !body.is_empty() && body != url {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(Some(url.to_string()))
}

/// Fills the server-owned fields of a new object.
pub fn prepare_create(kind: &Kind, object: &mut Value, namespace: Option<&str>) {
    object["apiVersion"] = Value::String(kind.api_version());
    object["kind"] = Value::String(kind.kind.to_string());
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = Value::Object(Map::new());
    }
    let meta = &mut object["metadata"];
    meta["uid"] = Value::String(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = Value::String(crate::api::meta::now_rfc3339());
    meta["generation"] = Value::from(1);
    if let Some(map) = meta.as_object_mut() {
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            map.remove(server_owned);
        }
        match namespace {
            Some(ns) => {
                map.insert("namespace".into(), Value::String(ns.to_string()));
            }
            None => {
                map.remove("namespace");
            }
        }
    }
}

/// `prefix` + 5 characters from kube's alphabet (no vowels, no confusable digits).
pub fn generate_name(prefix: &str) -> String {
    let mut prefix = prefix.to_string();
    prefix.truncate(58);
    prefix + &crate::api::meta::random_suffix()
}

/// The resourceVersion precondition of an update body, if any.
pub fn resource_version(kind: &Kind, name: &str, object: &Value) -> Result<Option<u64>, Status> {
    match object.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            Status::invalid(
                kind,
                name,
                vec![Cause::invalid(
                    "metadata.resourceVersion",
                    format!("Invalid value: \"{s}\": must be a decimal integer"),
                )],
            )
        }),
        Some(other) => Err(Status::bad_request(format!(
            "metadata.resourceVersion must be a string, not {other}"
        ))),
    }
}

/// The object an update stores: the new body with server-owned fields kept from `old`,
/// status or spec kept according to `target`, and generation bumped when the spec changed.
pub fn merge_update(kind: &Kind, old: &Value, new: Value, target: Target) -> Result<Value, Status> {
    let name = old
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut merged = match target {
        Target::Status if kind.status_subresource => with_part(old, &new, "/status"),
        Target::Approval => with_part(old, &new, "/status/conditions"),
        Target::Finalize => with_part(old, &new, "/spec/finalizers"),
        _ => {
            let mut m = new;
            if kind.status_subresource {
                m = with_part(&m, old, "/status");
            }
            m
        }
    };
    merged["apiVersion"] = Value::String(kind.api_version());
    merged["kind"] = Value::String(kind.kind.to_string());
    if !merged.get("metadata").is_some_and(Value::is_object) {
        merged["metadata"] = Value::Object(Map::new());
    }
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => merged["metadata"][field] = v.clone(),
            None => {
                if let Some(map) = merged["metadata"].as_object_mut() {
                    map.remove(field);
                }
            }
        }
    }
    if merged.pointer("/metadata/managedFields").is_none()
        && let Some(fields) = old.pointer("/metadata/managedFields")
    {
        merged["metadata"]["managedFields"] = fields.clone();
    }
    if let Some(map) = merged["metadata"].as_object_mut() {
        map.remove("resourceVersion");
    }
    // No new finalizers once deletion started.
    if old.pointer("/metadata/deletionTimestamp").is_some() {
        let before: Vec<&Value> = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let added = merged
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|after| after.iter().any(|f| !before.contains(&f)));
        if added {
            return Err(Status::invalid(
                kind,
                &name,
                vec![Cause {
                    reason: "FieldValueForbidden",
                    message:
                        "Forbidden: no new finalizers can be added if the object is being deleted"
                            .into(),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    let generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let bumped = if spec_changed(kind, old, &merged) {
        generation + 1
    } else {
        generation
    };
    merged["metadata"]["generation"] = Value::from(bumped);
    Ok(merged)
}

/// `base` with the part at `pointer` (two levels at most) taken from `from`, or removed
/// when `from` has none.
fn with_part(base: &Value, from: &Value, pointer: &str) -> Value {
    let mut out = base.clone();
    let Some((parent, field)) = pointer.rsplit_once('/') else {
        return out;
    };
    let part = from.pointer(pointer).cloned();
    if part.is_some()
        && !out.pointer(parent).is_some_and(Value::is_object)
        && let Some(map) = out.as_object_mut()
    {
        map.insert(
            parent.trim_start_matches('/').to_string(),
            Value::Object(Map::new()),
        );
    }
    if let Some(Value::Object(map)) = out.pointer_mut(parent) {
        match part {
            Some(part) => map.insert(field.to_string(), part),
            None => map.remove(field),
        };
    }
    out
}

/// True when anything outside `metadata` (and outside `status`, for kinds whose status is
/// a subresource) differs.
fn spec_changed(kind: &Kind, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            if kind.status_subresource {
                map.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

/// Sets `deletionTimestamp` (grace 0) and bumps generation, as DELETE does when
/// finalizers remain.
pub fn mark_deleting(object: &mut Value) {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    object["metadata"]["deletionTimestamp"] = Value::String(crate::api::meta::now_rfc3339());
    object["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
    object["metadata"]["generation"] = Value::from(generation + 1);
}
