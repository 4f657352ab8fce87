//! Schema admission of every write, after the server-owned fields are set: unknown fields
//! are pruned (the object's own and its `metadata`'s, against ObjectMeta) and handled per
//! `fieldValidation`; custom resources are defaulted and validated against their
//! structural schema, with kube's ratcheting on updates. Built-in kinds are validated for
//! types only: kube validates their content with hand-written rules this hub applies in
//! their strategies.

use std::sync::OnceLock;

use axum::http::StatusCode;
use serde_json::Value;

use crate::api::Kind;
use crate::api::schema::{FieldErrorKind, FieldValidation, Rejection, Structural};
use crate::api::status::{Cause, Status};

/// How a write is carried out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub field_validation: FieldValidation,
    /// `dryRun=All`: everything but the write itself.
    pub dry_run: bool,
    /// Who is writing (`fieldManager`, else derived from the User-Agent): their changes
    /// are recorded in `metadata.managedFields`. `None` records nothing.
    pub field_manager: Option<String>,
    /// A CRD write leaves the catalog alone; the caller rebuilds it once after a batch.
    pub(crate) defer_crd_sync: bool,
    /// A last check on the object about to be stored (and the stored one, on updates),
    /// after patches are applied and admission ran: RBAC's escalation prevention.
    pub guard: Option<WriteGuard>,
    /// The user an API request writes as; the registry's validators
    /// ([`super::Registry::with_validator`]) judge API writes with it. `None` for the
    /// hub's own in-process writes, which validators do not see.
    pub user: Option<crate::api::user::UserInfo>,
    /// The object written carries managedFields already computed (server-side apply):
    /// a status write keeps them instead of the stored ones, as kube's status strategies
    /// preserve the managedFields of the new object.
    pub(crate) applied: bool,
}

/// The check a [`WriteOptions::guard`] runs: `(kind, new, old)`.
pub type GuardFn = dyn Fn(&Kind, &Value, Option<&Value>) -> Result<(), Status> + Send + Sync;

/// A shared write check; equal when it is the same check.
#[derive(Clone)]
pub struct WriteGuard(pub std::sync::Arc<GuardFn>);

impl WriteGuard {
    pub fn check(&self, kind: &Kind, new: &Value, old: Option<&Value>) -> Result<(), Status> {
        (self.0)(kind, new, old)
    }
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGuard")
    }
}

impl PartialEq for WriteGuard {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for WriteGuard {}

/// Which request shape a write came as; strict-decoding errors differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// POST or PUT: a body decoded into the kind (400 on strict errors).
    Body,
    /// PATCH: the patched object (422 naming `patch`).
    Patch,
}

/// ObjectMeta's schema, compiled once.
fn object_meta() -> Option<&'static Structural> {
    static META: OnceLock<Option<Structural>> = OnceLock::new();
    META.get_or_init(|| {
        let mut schema = crate::api::openapi_schema::structural::<
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        >();
        // FieldsV1 is an open JSON document (`f:`/`k:`/`v:` keys).
        if let Some(fields) =
            schema.pointer_mut("/properties/managedFields/items/properties/fieldsV1")
        {
            *fields =
                serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        }
        Structural::compile(&schema)
            .inspect_err(|e| tracing::warn!(error = %e, "ObjectMeta schema does not compile"))
            .ok()
    })
    .as_ref()
}

/// Admits `object` (a create when `old` is `None`); returns the `Warning` texts.
pub fn admit(
    kind: &Kind,
    name: &str,
    object: &mut Value,
    old: Option<&Value>,
    options: &WriteOptions,
    op: Op,
) -> Result<Vec<String>, Status> {
    let policy = options.field_validation;
    let mut unknown = Vec::new();
    if let (Some(meta), Some(metadata)) = (object_meta(), object.get_mut("metadata")) {
        unknown.extend(
            meta.prune(metadata)
                .into_iter()
                .map(|p| format!("metadata.{p}")),
        );
    }
    let Some(schema) = kind.structural() else {
        return finish(kind, name, object, unknown, policy, op);
    };
    if kind.custom {
        // Pruning first, so strict decoding reports every unknown field at once.
        unknown.extend(schema.prune(object));
        if policy == FieldValidation::Strict && !unknown.is_empty() {
            return finish(kind, name, object, unknown, policy, op);
        }
        let result = match old {
            Some(old) => schema.admit_update(object, old, FieldValidation::Ignore),
            None => schema.admit(object, FieldValidation::Ignore),
        };
        let mut causes: Vec<Cause> = match result {
            Err(Rejection::Invalid(errors)) => errors
                .iter()
                .map(|e| Cause {
                    reason: e.kind.reason(),
                    message: e.message.clone(),
                    field: e.field.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let scale = kind
            .scale
            .as_ref()
            .map(|paths| super::scale::validate(paths, object))
            .unwrap_or_default();
        if !scale.is_empty() {
            // kube reports them among the schema's, in field order.
            causes.extend(scale);
            causes.sort_by(|a, b| a.field.cmp(&b.field));
        }
        if !causes.is_empty() {
            return Err(Status::invalid(kind, name, causes));
        }
    } else {
        unknown.extend(schema.prune(object));
        let causes = super::strategy::validate(kind, object, old);
        if !causes.is_empty() {
            return Err(Status::invalid(kind, name, causes));
        }
        if let Some(error) = schema
            .validate(object)
            .into_iter()
            .find(|e| e.kind == FieldErrorKind::TypeInvalid)
        {
            // Go's decoder's words where the kind's Go type tells them, else the schema's.
            let error = crate::api::openapi_schema::go_type_error(&kind.group, &kind.kind, object)
                .unwrap_or_else(|| error.to_string());
            return Err(Status::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {error}",
                kind.kind, kind.version, kind.kind
            )));
        }
    }
    finish(kind, name, object, unknown, policy, op)
}

/// Applies the policy to the unknown fields found.
fn finish(
    kind: &Kind,
    name: &str,
    object: &Value,
    mut unknown: Vec<String>,
    policy: FieldValidation,
    op: Op,
) -> Result<Vec<String>, Status> {
    // Custom resources: ObjectMeta's unknown fields first (a decoding step of their own in
    // kube), then the schema's.
    unknown.sort_by_key(|p| (kind.custom && !p.starts_with("metadata."), p.clone()));
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    match policy {
        FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(crate::api::schema::unknown_field_messages(&unknown)),
        FieldValidation::Strict => {
            let rejection = Rejection::StrictDecoding {
                unknown_fields: unknown,
            };
            Err(match op {
                Op::Body => {
                    Status::bad_request(rejection.bad_request_message(&kind.kind, &kind.version))
                }
                Op::Patch => Status::invalid(
                    kind,
                    name,
                    vec![Cause::invalid(
                        "patch",
                        format!("Invalid value: {:?}: {rejection}", object.to_string()),
                    )],
                ),
            })
        }
    }
}

/// The `fieldValidation` query parameter (422 for an unknown value, as kube).
pub fn parse_field_validation(value: &str) -> Result<FieldValidation, Status> {
    FieldValidation::parse(value)
        .map_err(|e| Status::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Catalog;
    use serde_json::json;

    fn strict() -> WriteOptions {
        WriteOptions {
            field_validation: FieldValidation::Strict,
            ..WriteOptions::default()
        }
    }

    #[test]
    fn unknown_fields_per_policy() {
        let c = Catalog::builtin();
        let cm = c.find_resource("", "configmaps").expect("cm");
        let body =
            json!({"metadata": {"name": "a", "colour": "red"}, "dat": {}, "data": {"k": "v"}});
        let mut o = body.clone();
        let warnings =
            admit(&cm, "a", &mut o, None, &WriteOptions::default(), Op::Body).expect("warn");
        assert_eq!(
            warnings,
            ["unknown field \"dat\"", "unknown field \"metadata.colour\""]
        );
        assert_eq!(o, json!({"metadata": {"name": "a"}, "data": {"k": "v"}}));
        let mut o = body.clone();
        let e = admit(&cm, "a", &mut o, None, &strict(), Op::Body).expect_err("strict");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"dat\", unknown field \"metadata.colour\""
        );
        let mut o = json!({"metadata": {"name": "a"}, "data": {"k": 1}});
        let e =
            admit(&cm, "a", &mut o, None, &WriteOptions::default(), Op::Body).expect_err("type");
        assert_eq!(e.code, 400, "{}", e.message);
    }

    #[test]
    fn custom_resources_are_defaulted_and_validated() {
        let c = Catalog::builtin();
        let mc = c
            .find_resource("cluster.open-cluster-management.io", "managedclusters")
            .expect("mc");
        let mut o = json!({"metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": true}});
        admit(&mc, "c1", &mut o, None, &strict(), Op::Body).expect("valid");
        assert_eq!(o["spec"]["leaseDurationSeconds"], 60);
        let mut bad = json!({"metadata": {"name": "c1"}, "spec": {"taints": [{"key": "a", "effect": "Sometimes", "timeAdded": null}]}});
        let e = admit(&mc, "c1", &mut bad, None, &strict(), Op::Body).expect_err("invalid");
        assert_eq!(e.code, 422);
        let causes = e.details.map(|d| d.causes).unwrap_or_default();
        assert!(
            causes.iter().any(|c| c.field == "spec.taints[0].effect" && c.reason == "FieldValueNotSupported"),
            "{causes:?}"
        );
        // Embedded manifests keep whatever they carry.
        let mw = c
            .find_resource("work.open-cluster-management.io", "manifestworks")
            .expect("mw");
        let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}, "extra": {"kept": true}});
        let mut work = json!({"metadata": {"name": "w"}, "spec": {"workload": {"manifests": [manifest.clone()]}, "deleteOption": {}}});
        admit(&mw, "w", &mut work, None, &strict(), Op::Body).expect("work");
        assert_eq!(work["spec"]["workload"]["manifests"][0], manifest);
        assert_eq!(
            work["spec"]["deleteOption"]["propagationPolicy"],
            "Foreground"
        );
    }
}
