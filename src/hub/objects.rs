//! Small conveniences the hub controllers share: find a kind, read an object that may be
//! absent, make an object look like a desired state (create, or update only the fields
//! that differ), delete ignoring absence, and set a status condition the Kubernetes way.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::Kind;
use crate::api::status::Status;
use crate::registry::{Deletion, Op, Registry, Target, WriteOptions};

/// The registry as the hub controllers use it.
#[derive(Clone)]
pub struct Objects {
    pub registry: Registry,
}

impl Objects {
    pub fn new(registry: Registry) -> Objects {
        Objects { registry }
    }

    /// The kind serving `group`/`resource`.
    pub fn kind(&self, group: &str, resource: &str) -> Result<Arc<Kind>, Status> {
        self.registry
            .catalog()
            .find_resource(group, resource)
            .ok_or_else(|| Status::internal(format!("{resource}.{group} is not served")))
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Status> {
        match self.registry.get(kind, namespace, name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.reason == "NotFound" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates `desired`, or, when it exists, copies the listed top-level `fields` (and
    /// `metadata.labels`) from `desired` where they differ. Returns the stored object.
    pub async fn ensure(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        desired: Value,
        fields: &[&str],
    ) -> Result<Value, Status> {
        let name = desired
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let current = match self.get(kind, namespace, &name).await? {
            Some(c) => c,
            None => match self.registry.create(kind, namespace, desired.clone()).await {
                Ok(created) => return Ok(created),
                Err(e) if e.reason == "AlreadyExists" => {
                    self.registry.get(kind, namespace, &name).await?
                }
                Err(e) => return Err(e),
            },
        };
        let mut next = current.clone();
        for field in fields {
            if desired.get(*field) != current.get(*field) {
                match desired.get(*field) {
                    Some(v) => next[*field] = v.clone(),
                    None => {
                        if let Some(o) = next.as_object_mut() {
                            o.remove(*field);
                        }
                    }
                }
            }
        }
        if let Some(labels) = desired
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
        {
            for (k, v) in labels {
                if next.pointer("/metadata/labels").and_then(|l| l.get(k)) != Some(v) {
                    if !next["metadata"].get("labels").is_some_and(Value::is_object) {
                        next["metadata"]["labels"] = json!({});
                    }
                    next["metadata"]["labels"][k] = v.clone();
                }
            }
        }
        if next == current {
            return Ok(current);
        }
        self.update(kind, namespace, next, Target::Main).await
    }

    /// Replaces an object (optimistically: its resourceVersion must still be current).
    pub async fn update(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: Value,
        target: Target,
    ) -> Result<Value, Status> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.registry
            .update_with(
                kind,
                namespace,
                &name,
                object,
                target,
                &WriteOptions::default(),
                Op::Body,
            )
            .await
            .map(|w| w.object)
    }

    /// Deletes an object; absence is success.
    pub async fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), Status> {
        match self.registry.delete(kind, namespace, name, None).await {
            Ok(Deletion::Deleted(_) | Deletion::Pending(_)) => Ok(()),
            Err(e) if e.reason == "NotFound" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The items of a list of `kind` in `namespace` (or everywhere).
    pub async fn list(&self, kind: &Kind, namespace: Option<&str>) -> Result<Vec<Value>, Status> {
        let list = self
            .registry
            .list(kind, namespace, crate::storage::ListOptions::default())
            .await?;
        Ok(match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        })
    }
}
