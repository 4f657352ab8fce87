//! A custom resource's `/scale` subresource (CRD `subresources.scale`): the object seen as
//! an autoscaling/v1 Scale. Reads build the Scale from the stored object; writes (PUT of a
//! Scale, any patch of one) change only the replicas at the CRD's spec path and store the
//! object through the normal update, so the CRD's schema, admission and managedFields
//! (under subresource `scale`) apply as to any write. Like kube-apiserver, a write that
//! loses a race with another writer is retried on the fresh object unless the client
//! pinned a resourceVersion.

use serde_json::{Map, Value, json};

use super::{Op, Patch, Registry, Target, WriteOptions, Written, ssa};
use crate::api::schema::Structural;
use crate::api::status::{Cause, Status};
use crate::api::{Kind, ScalePaths};

/// What a scale write brings.
pub enum ScaleWrite<'a> {
    /// PUT: the Scale in the body.
    Replace(Value),
    /// PATCH: a patch of the Scale (server-side apply too).
    Patch(&'a Patch),
}

/// What kube uses to mark "no replicas in the stored object" in the Scale a patch sees
/// (the smallest int32).
const UNSET_REPLICAS: i64 = i32::MIN as i64;

impl Registry {
    /// `GET <object>/scale`. An object without replicas at the spec path is a server
    /// error, as in kube.
    pub async fn scale(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, Status> {
        let paths = paths(kind, name)?;
        let object = self.get(kind, namespace, name).await?;
        let (scale, found) = to_scale(paths, &object)?;
        if !found {
            return Err(Status::internal(format!(
                "the spec replicas field \"{}\" does not exist",
                dotted(&paths.spec_replicas)
            )));
        }
        Ok(scale)
    }

    /// `PUT` or `PATCH <object>/scale`; answers the Scale of the stored object.
    pub async fn write_scale(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        write: ScaleWrite<'_>,
        options: &WriteOptions,
    ) -> Result<Written, Status> {
        let paths = paths(kind, name)?;
        let config = match &write {
            ScaleWrite::Replace(body) => {
                check_scale_body(body, namespace, name)?;
                None
            }
            ScaleWrite::Patch(Patch::Apply { config, .. }) => {
                check_scale_body(config, namespace, name)?;
                Some(config)
            }
            ScaleWrite::Patch(_) => None,
        };
        // Field ownership is tracked here, on the Scale, and mapped onto the object.
        let untracked = WriteOptions {
            field_manager: None,
            applied: true,
            ..options.clone()
        };
        let manager = options.field_manager.as_deref().filter(|m| !m.is_empty());
        let no_schema = <Structural as Default>::default();
        let scale_type = ssa::Typed {
            api_version: "autoscaling/v1",
            kind: "Scale",
            schema: &no_schema,
            status_subresource: false,
        };
        let now = crate::api::meta::now_rfc3339();
        for _ in 0..16 {
            let current = self.get(kind, namespace, name).await?;
            let (mut old_scale, found) = to_scale(paths, &current)?;
            if let Some(fields) = ssa::scale_managed_fields(&current, &paths.spec_replicas) {
                old_scale["metadata"]["managedFields"] = fields;
            }
            let mut seen = old_scale.clone();
            if !found {
                seen["spec"]["replicas"] = json!(UNSET_REPLICAS);
            }
            let (scale, op, applied) = match &write {
                ScaleWrite::Replace(body) => (body.clone(), Op::Body, None),
                ScaleWrite::Patch(Patch::Apply { config, force }) => {
                    let manager = ssa::Manager {
                        name: manager.unwrap_or_default(),
                        subresource: "scale",
                    };
                    let applied =
                        ssa::apply_typed(Some(&seen), config, &scale_type, &manager, *force, &now)
                            .map_err(|e| super::apply_error(kind, name, e))?;
                    (applied.clone(), Op::Patch, Some(applied))
                }
                ScaleWrite::Patch(patch) => {
                    let patched = super::patched(&no_schema, kind, name, &seen, patch)?;
                    check_scale_body(&patched, namespace, name)?;
                    (patched, Op::Patch, None)
                }
            };
            let replicas = replicas(&scale, paths)?;
            let given = scale
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|rv| !rv.is_empty());
            // A PUT or an apply pins the version it gives; a patch the one it changed to.
            let pinned = match (&write, config) {
                (ScaleWrite::Replace(_), _) => given.is_some(),
                (_, Some(config)) => config.pointer("/metadata/resourceVersion").is_some(),
                _ => given != current["metadata"]["resourceVersion"].as_str(),
            };
            let mut object = current.clone();
            set_path(&mut object, &paths.spec_replicas, json!(replicas))?;
            if let Some(rv) = given {
                object["metadata"]["resourceVersion"] = json!(rv);
            }
            if let Some(manager) = manager {
                let tracked = match applied {
                    Some(applied) => applied,
                    None => {
                        let (mut new_scale, _) = to_scale(paths, &object)?;
                        new_scale["metadata"]["managedFields"] =
                            old_scale["metadata"]["managedFields"].clone();
                        let manager = ssa::Manager {
                            name: manager,
                            subresource: "scale",
                        };
                        ssa::track_update_typed(
                            Some(&old_scale),
                            &mut new_scale,
                            &scale_type,
                            &manager,
                            &now,
                        )
                        .map_err(|e| super::apply_error(kind, name, e))?;
                        new_scale
                    }
                };
                let fields = ssa::parent_managed_fields(
                    &current,
                    &tracked,
                    &paths.spec_replicas,
                    &kind.api_version(),
                );
                object["metadata"]["managedFields"] = fields.unwrap_or(json!([]));
            }
            match self
                .update_with(kind, namespace, name, object, Target::Scale, &untracked, op)
                .await
            {
                Err(status) if status.reason == "Conflict" && !pinned => continue,
                Err(status) => return Err(status),
                Ok(written) => {
                    let (scale, _) = to_scale(paths, &written.object)?;
                    return Ok(Written {
                        object: scale,
                        ..written
                    });
                }
            }
        }
        Err(Status::conflict(kind, name))
    }
}

/// kube's validation of a custom resource with a scale subresource, on every write: the
/// replicas (spec and status) are non-negative int32s.
pub(super) fn validate(paths: &ScalePaths, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for path in [&paths.spec_replicas, &paths.status_replicas] {
        match int_at(object, path) {
            Err(status) => causes.push(Cause::invalid(
                dotted(path),
                format!("Invalid value: 0: {}", status.message),
            )),
            Ok(Some(n)) if n < 0 => causes.push(Cause::invalid(
                dotted(path),
                format!("Invalid value: {n}: should be a non-negative integer"),
            )),
            Ok(Some(n)) if n > i64::from(i32::MAX) => causes.push(Cause::invalid(
                dotted(path),
                format!(
                    "Invalid value: {n}: should be less than or equal to {}",
                    i32::MAX
                ),
            )),
            Ok(_) => {}
        }
    }
    causes
}

fn paths<'k>(kind: &'k Kind, name: &str) -> Result<&'k ScalePaths, Status> {
    kind.scale
        .as_ref()
        .ok_or_else(|| Status::not_found(kind, name))
}

fn dotted(path: &[String]) -> String {
    format!(".{}", path.join("."))
}

/// The integer at `path`: `Ok(None)` when absent, an error (kube's unstructured accessor's
/// words) when something else is there.
fn int_at(object: &Value, path: &[String]) -> Result<Option<i64>, Status> {
    let mut at = object;
    for (i, part) in path.iter().enumerate() {
        match at {
            Value::Object(map) => match map.get(part) {
                Some(next) => at = next,
                None => return Ok(None),
            },
            other => {
                return Err(Status::internal(format!(
                    "{} accessor error: {} is of the type {}, expected map[string]interface{{}}",
                    dotted(&path[..i]),
                    other,
                    go_type(other)
                )));
            }
        }
    }
    match at {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
        Value::Null => Ok(None),
        other => Err(Status::internal(format!(
            "{} accessor error: {} is of the type {}, expected int64",
            dotted(path),
            other,
            go_type(other)
        ))),
    }
}

fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The Scale of `object`, and whether it had replicas at the spec path (0 when not).
fn to_scale(paths: &ScalePaths, object: &Value) -> Result<(Value, bool), Status> {
    let spec = int_at(object, &paths.spec_replicas)?;
    let status = int_at(object, &paths.status_replicas)?.unwrap_or(0);
    let mut metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = object["metadata"].get(field) {
            metadata.insert(field.to_string(), v.clone());
        }
    }
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {},
        "status": {"replicas": status as i32},
    });
    // autoscaling/v1 leaves zero replicas out of the spec, an empty selector out of status.
    if let Some(n) = spec.filter(|n| *n != 0) {
        scale["spec"]["replicas"] = json!(n as i32);
    }
    if !paths.label_selector.is_empty() {
        let mut at = object;
        for part in &paths.label_selector {
            at = at.get(part).unwrap_or(&Value::Null);
        }
        if let Some(selector) = at.as_str().filter(|s| !s.is_empty()) {
            scale["status"]["selector"] = json!(selector);
        }
    }
    Ok((scale, spec.is_some()))
}

/// A written Scale's `spec.replicas` as an int32 (absent is 0, as Go decodes it).
fn replicas(scale: &Value, paths: &ScalePaths) -> Result<i64, Status> {
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {
            n.as_i64().unwrap_or(0)
        }
        Some(_) => {
            // kube loses the decoding error on the way and says this instead.
            return Err(Status::bad_request(
                "no kind is registered for the type v1.Scale in scheme \"pkg/runtime/scheme.go:111\"",
            ));
        }
    };
    if replicas == UNSET_REPLICAS {
        return Err(Status::bad_request(format!(
            "the spec replicas field \"{}\" cannot be empty",
            dotted(&paths.spec_replicas)
        )));
    }
    Ok(replicas)
}

/// kube's checks of a written Scale: its type, and that it names the object on the URL.
fn check_scale_body(scale: &Value, namespace: Option<&str>, name: &str) -> Result<(), Status> {
    let field = |f: &str| scale.get(f).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if !(api_version.is_empty() || api_version == "autoscaling/v1")
        || !(kind.is_empty() || kind == "Scale")
    {
        return Err(Status::bad_request(format!(
            "Scale in version \"v1\" cannot be handled as a Scale: the object provided is of kind {kind} in version {api_version}, not autoscaling/v1 Scale"
        )));
    }
    let meta = |f: &str| {
        scale
            .pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let given = meta("name");
    if given.is_empty() {
        return Err(Status::bad_request(format!(
            "the name of the object ({name} based on URL) was undeterminable: name must be provided"
        )));
    }
    if given != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(ns) = namespace
        && !meta("namespace").is_empty()
        && meta("namespace") != ns
    {
        return Err(Status::bad_request(format!(
            "the namespace of the object ({}) does not match the namespace on the request ({ns})",
            meta("namespace")
        )));
    }
    Ok(())
}

/// Sets `value` at `path`, making the maps on the way (a non-map on the way is a 422).
fn set_path(object: &mut Value, path: &[String], value: Value) -> Result<(), Status> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Status::internal("the CRD's spec replicas path is empty"));
    };
    let mut at = object;
    for part in parents {
        if at.get(part).is_none_or(Value::is_null) {
            at[part.as_str()] = json!({});
        }
        at = &mut at[part.as_str()];
        if !at.is_object() {
            return Err(Status::bad_request(format!(
                "value cannot be set because {} is not a map",
                dotted(path)
            )));
        }
    }
    at[last.as_str()] = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> ScalePaths {
        ScalePaths::new(
            ".spec.replicas",
            ".status.replicas",
            Some(".status.selector"),
        )
    }

    #[test]
    fn scale_reads_replicas_status_and_selector() {
        let object = json!({"metadata": {"name": "w", "namespace": "n", "uid": "u", "resourceVersion": "5", "labels": {"a": "b"}},
            "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=w"}});
        let (scale, found) = to_scale(&paths(), &object).expect("scale");
        assert!(found);
        assert_eq!(
            scale,
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "w", "namespace": "n", "uid": "u", "resourceVersion": "5"},
                "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=w"}})
        );
        let (scale, found) =
            to_scale(&paths(), &json!({"metadata": {"name": "w"}, "spec": {}})).expect("scale");
        assert!(!found);
        assert_eq!(scale["spec"], json!({}));
        assert_eq!(scale["status"], json!({"replicas": 0}));
        assert_eq!(
            to_scale(&paths(), &json!({"spec": {"replicas": "3"}}))
                .expect_err("string")
                .code,
            500
        );
    }

    #[test]
    fn written_replicas_are_int32_and_named_right() {
        assert_eq!(replicas(&json!({"spec": {}}), &paths()).expect("zero"), 0);
        assert_eq!(
            replicas(&json!({"spec": {"replicas": 4}}), &paths()).expect("4"),
            4
        );
        for bad in [json!("4"), json!(1.5), json!(1u64 << 40)] {
            assert_eq!(
                replicas(&json!({"spec": {"replicas": bad}}), &paths())
                    .expect_err("bad")
                    .code,
                400
            );
        }
        assert!(check_scale_body(&json!({"metadata": {"name": "w"}}), Some("n"), "w").is_ok());
        assert_eq!(
            check_scale_body(&json!({"metadata": {"name": "x"}}), Some("n"), "w")
                .expect_err("other name")
                .code,
            400
        );
        let mut object = json!({"spec": {"replicas": 1}});
        set_path(&mut object, &paths().spec_replicas, json!(7)).expect("set");
        assert_eq!(object["spec"]["replicas"], 7);
        let mut deep = json!({});
        set_path(&mut deep, &["a".into(), "b".into()], json!(1)).expect("set");
        assert_eq!(deep, json!({"a": {"b": 1}}));
    }
}
