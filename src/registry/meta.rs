//! Server-owned object metadata: names, namespaces, uid, timestamps, generation,
//! resourceVersion preconditions, and what an update may and may not change.

use serde_json::{Map, Value};

use super::Target;
use crate::api::Kind;
use crate::api::status::{Cause, Status};

/// Names are DNS subdomains (lowercase alphanumerics, `-` and `.`, at most 253
/// characters, starting and ending alphanumeric); namespaces are DNS labels.
pub fn validate_name(kind: &Kind, name: &str) -> Result<(), Status> {
    // RBAC kinds, core Events and CSRs only need a usable path segment (kube's
    // ValidatePathSegmentName for them).
    let path_segment = kind.group == "rbac.authorization.k8s.io"
        || (kind.group.is_empty() && kind.kind == "Event")
        || kind.kind == "CertificateSigningRequest";
    if path_segment {
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
    // kube's IsDNS1123Subdomain/IsDNS1123Label: the length error alone when too long
    // (subdomains), else the format error with an example and the regex.
    let rule = if name.len() > max {
        format!("must be no more than {max} characters")
    } else if label_like {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()
    };
    let mut causes = vec![Cause::invalid(
        "metadata.name",
        format!("Invalid value: \"{name}\": {rule}"),
    )];
    if kind.group.is_empty() && kind.kind == "Namespace" && name.len() > 63 {
        // kube validates after PrepareForCreate: the name is already a label value too.
        causes.push(Cause::invalid(
            "metadata.labels",
            format!("Invalid value: \"{name}\": must be no more than 63 bytes"),
        ));
    }
    Err(Status::invalid(kind, name, causes))
}

const QUALIFIED_NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// A built-in kind's body whose metadata (or one of its fields) has the wrong JSON type
/// cannot be decoded into kube's Go types: refused in the decoder's words.
fn check_metadata_types(kind: &Kind, meta: Option<&Value>) -> Result<(), Status> {
    let json_type = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    let refuse = |found: &str, field: &str, go_type: &str| {
        Status::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: json: cannot unmarshal {found} into Go struct field {field} of type {go_type}",
            kind.kind, kind.version, kind.kind
        ))
    };
    let Some(meta) = meta.filter(|m| !m.is_null()) else {
        return Ok(());
    };
    let Some(meta) = meta.as_object() else {
        return Err(refuse(
            json_type(meta),
            &format!("{}.metadata", kind.kind),
            "v1.ObjectMeta",
        ));
    };
    for (field, value) in meta {
        let ok = match (field.as_str(), value) {
            (_, Value::Null) => true,
            ("labels" | "annotations", Value::Object(m)) => {
                m.values().all(|v| v.is_string() || v.is_null())
            }
            ("labels" | "annotations", _) => false,
            ("finalizers", Value::Array(a)) => a.iter().all(Value::is_string),
            ("finalizers", _) => false,
            ("name" | "generateName" | "namespace" | "uid" | "resourceVersion", v) => v.is_string(),
            _ => true,
        };
        if !ok {
            // A wrong element is reported with the element's type.
            let go_type = match (field.as_str(), value) {
                ("labels" | "annotations", Value::Object(_)) | ("finalizers", Value::Array(_)) => {
                    "string"
                }
                ("labels" | "annotations", _) => "map[string]string",
                ("finalizers", _) => "[]string",
                ("uid", _) => "types.UID",
                _ => "string",
            };
            let found = match (field.as_str(), value) {
                ("labels" | "annotations", Value::Object(m)) => m
                    .values()
                    .find(|v| !v.is_string() && !v.is_null())
                    .map_or("object", json_type),
                ("finalizers", Value::Array(a)) => {
                    a.iter().find(|v| !v.is_string()).map_or("array", json_type)
                }
                _ => json_type(value),
            };
            return Err(refuse(
                found,
                &format!("ObjectMeta.metadata.{field}"),
                go_type,
            ));
        }
    }
    Ok(())
}

/// kube's `validateKubeFinalizerName`: a qualified name, and fully qualified (with a
/// `/`) unless it is a standard finalizer.
pub fn finalizer_problems(name: &str) -> Vec<String> {
    let mut problems = qualified_name_problems(name);
    if !name.contains('/') && !matches!(name, "kubernetes" | "orphan" | "foregroundDeletion") {
        problems.push("name is neither a standard finalizer name nor is it fully qualified".into());
    }
    problems
}

/// kube's `IsQualifiedName`: `[prefix/]name`, the prefix a DNS subdomain, the name at most
/// 63 characters of alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
fn qualified_name_problems(key: &str) -> Vec<String> {
    let name_ok = |n: &str| {
        let b = n.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![format!(
                "a valid label key {QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    let mut problems = Vec::new();
    if let Some(prefix) = prefix {
        let alnum =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if prefix.is_empty() {
            problems.push("prefix part must be non-empty".to_string());
        } else if prefix.len() > 253 {
            problems.push("prefix part must be no more than 253 characters".to_string());
        } else if !(prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && alnum(prefix.chars().next())
            && alnum(prefix.chars().last())
            && !prefix.contains(".."))
        {
            problems.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
        }
    }
    // kube checks the length and the form separately: an empty name fails both.
    if name.is_empty() {
        problems.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        problems.push("name part must be no more than 63 characters".to_string());
    }
    if !name_ok(name) {
        problems.push(format!("name part {QUALIFIED_NAME_RULE}"));
    }
    problems
}

/// Label keys and values and annotation keys, in kube's words (`ValidateLabels`,
/// `ValidateAnnotations`); keys in sorted order.
pub fn validate_metadata(kind: &Kind, object: &Value) -> Result<(), Status> {
    let meta = object.get("metadata");
    let mut causes = Vec::new();
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            for p in qualified_name_problems(key) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    format!("Invalid value: {key:?}: {p}"),
                ));
            }
            let value = value.as_str().unwrap_or_default();
            let b = value.as_bytes();
            let ok = b.is_empty()
                || (b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')));
            if b.len() > 63 {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    format!("Invalid value: {value:?}: must be no more than 63 bytes"),
                ));
            } else if !ok {
                causes.push(Cause::invalid("metadata.labels", format!("Invalid value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")));
            }
        }
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        for key in annotations.keys() {
            for p in qualified_name_problems(&key.to_lowercase()) {
                causes.push(Cause::invalid(
                    "metadata.annotations",
                    format!("Invalid value: {key:?}: {p}"),
                ));
            }
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(Status::invalid(kind, name, causes))
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
    if !kind.custom {
        check_metadata_types(kind, map.get("metadata"))?;
    }
    if let Some(meta) = map.get("metadata")
        && !meta.is_object()
    {
        return Err(Status::bad_request("metadata must be an object"));
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let body_kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if !api_version.is_empty() && api_version != kind.api_version() {
        return Err(Status::bad_request(if kind.custom {
            format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                kind.api_version()
            )
        } else {
            // The built-in decoder's words.
            format!(
                "{} in version \"{}\" cannot be handled as a {}: no kind \"{}\" is registered for version \"{api_version}\" in scheme \"pkg/runtime/scheme.go:111\"",
                kind.kind, kind.version, kind.kind, kind.kind
            )
        }));
    }
    if !body_kind.is_empty() && body_kind != kind.kind {
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if kind.custom {
            // apiextensions validates kind as a field (422), with the rest of the schema:
            // the body, not defaulted (defaults are the decoder's, for its own kind).
            let mut causes = vec![Cause::invalid(
                "kind",
                format!("Invalid value: \"{body_kind}\": must be {}", kind.kind),
            )];
            if let Some(schema) = kind.structural() {
                causes.extend(schema.validate(object).into_iter().map(|e| Cause {
                    reason: e.kind.reason(),
                    message: e.message.clone(),
                    field: e.field.clone(),
                }));
            }
            let mut status = Status::invalid(kind, name, causes);
            status.message = status.message.replacen(&kind.kind, body_kind, 1);
            if let Some(d) = status.details.as_mut() {
                d.kind = body_kind.to_string();
            }
            return Err(status);
        }
        return Err(Status::bad_request(format!(
            "{body_kind} in version \"{}\" cannot be handled as a {}: no kind \"{body_kind}\" is registered for version \"{}\" in scheme \"pkg/runtime/scheme.go:111\"",
            kind.version,
            kind.kind,
            kind.api_version()
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

/// Whether kube-apiserver keeps `metadata.generation` for this kind: custom resources and
/// CRDs do; the built-in kinds served here (ConfigMaps, Secrets, RBAC, Leases, Events,
/// CSRs, Namespaces...) do not.
pub fn tracks_generation(kind: &Kind) -> bool {
    kind.custom || (kind.group == "apiextensions.k8s.io" && kind.kind == "CustomResourceDefinition")
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
    if tracks_generation(kind) {
        meta["generation"] = Value::from(1);
    }
    if let Some(map) = meta.as_object_mut() {
        if !tracks_generation(kind) {
            map.remove("generation");
        }
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
    drop_empty_metadata(object);
}

/// Drops empty `labels`, `annotations`, `finalizers` and `ownerReferences`: kube's typed
/// ObjectMeta omits them (`omitempty`), for custom resources too.
pub fn drop_empty_metadata(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = match meta.get(field) {
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Object(o)) => o.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                meta.remove(field);
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
    if target == Target::Main {
        // kube keeps the old uid when none is given, and refuses another one.
        let uid = |o: &Value| {
            o.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (given, stored) = (uid(&new), uid(old));
        if !given.is_empty() && given != stored {
            return Err(Status::invalid(
                kind,
                &name,
                vec![Cause::invalid(
                    "metadata.uid",
                    format!("Invalid value: {given:?}: field is immutable"),
                )],
            ));
        }
    }
    let mut merged = match target {
        // A CSR's spec is immutable: kube's strategies copy it from the old object.
        // /status and /approval of a CSR: metadata and status from the body, the
        // immutable spec (and, for approval, the certificate) from the old object.
        _ if kind.kind == "CertificateSigningRequest" && target != Target::Main => {
            let m = with_part(&new, old, "/spec");
            if target == Target::Approval {
                with_part(&m, old, "/status/certificate")
            } else {
                m
            }
        }
        Target::Status if kind.status_subresource => {
            // The body's status is moved, not copied: it may be large.
            let mut new = new;
            let mut merged = with_part(old, &Value::Null, "/status");
            if let (Some(status), Some(map)) = (
                new.get_mut("status").map(Value::take),
                merged.as_object_mut(),
            ) {
                map.insert("status".to_string(), status);
            }
            merged
        }
        Target::Approval => with_part(old, &new, "/status/conditions"),
        Target::Finalize => with_part(old, &new, "/spec/finalizers"),
        _ => {
            let mut m = new;
            if kind.status_subresource {
                set_part(&mut m, old, "/status");
            }
            if kind.group.is_empty() && kind.kind == "Namespace" {
                // spec.finalizers change only through /finalize.
                set_part(&mut m, old, "/spec/finalizers");
            }
            if kind.kind == "CertificateSigningRequest" {
                set_part(&mut m, old, "/spec");
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
            let new: Vec<String> = merged
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|f| !before.contains(f))
                .map(|f| format!("{:?}", f.as_str().unwrap_or_default()))
                .collect();
            let cause = Cause {
                reason: "FieldValueForbidden",
                message: format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    new.join(", ")
                ),
                field: "metadata.finalizers".into(),
            };
            // Custom resources are checked by the generic and the CR strategy: kube
            // reports the cause twice.
            let causes = if kind.custom {
                vec![cause.clone(), cause]
            } else {
                vec![cause]
            };
            return Err(Status::invalid(kind, &name, causes));
        }
    }
    set_generation(kind, old, &mut merged);
    drop_empty_metadata(&mut merged);
    Ok(merged)
}

/// The generation of an update: the old one, plus one when anything outside metadata (and
/// status, for kinds with a status subresource) changed; absent for kinds without one.
/// Runs on the object as admission left it, so defaults a body omitted are no change.
pub fn set_generation(kind: &Kind, old: &Value, new: &mut Value) {
    let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if !tracks_generation(kind) {
        meta.remove("generation");
        return;
    }
    let generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let bumped = if spec_changed(kind, old, new) {
        generation + 1
    } else {
        generation
    };
    new["metadata"]["generation"] = Value::from(bumped);
}

/// `base` with the part at `pointer` (two levels at most) taken from `from`, or removed
/// when `from` has none. A top-level part being replaced is not copied from `base`.
fn with_part(base: &Value, from: &Value, pointer: &str) -> Value {
    let mut out = match (base, pointer.strip_prefix('/')) {
        (Value::Object(map), Some(top)) if !top.contains('/') => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != top)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => base.clone(),
    };
    set_part(&mut out, from, pointer);
    out
}

/// Sets the part of `out` at `pointer` (two levels at most) to `from`'s, or removes it
/// when `from` has none.
fn set_part(out: &mut Value, from: &Value, pointer: &str) {
    let Some((parent, field)) = pointer.rsplit_once('/') else {
        return;
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
}

/// True when anything outside `metadata` (and outside `status`, for kinds whose status is
/// a subresource) differs. Compared in place: objects can be large.
fn spec_changed(kind: &Kind, old: &Value, new: &Value) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    let counted = |k: &String| k != "metadata" && !(kind.status_subresource && k == "status");
    old.iter()
        .filter(|(k, _)| counted(k))
        .any(|(k, v)| new.get(k) != Some(v))
        || new
            .keys()
            .filter(|k| counted(k))
            .any(|k| !old.contains_key(k))
}

/// Sets `deletionTimestamp` (grace 0) and bumps generation (when the kind has one), as
/// DELETE does when finalizers remain.
pub fn mark_deleting(object: &mut Value) {
    object["metadata"]["deletionTimestamp"] = Value::String(crate::api::meta::now_rfc3339());
    object["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
    if let Some(generation) = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .filter(|g| *g > 0)
    {
        object["metadata"]["generation"] = Value::from(generation + 1);
    }
}
