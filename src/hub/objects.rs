//! The in-process client the hub controllers use: the registry (same admission, same
//! events as any API client), typed for the kinds that have Rust types (`api::ocm` and
//! `k8s-openapi`), plus JSON conveniences for objects built from templates: read an object
//! that may be absent, make an object look like a desired state (create, or update only
//! the fields that differ), delete ignoring absence.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
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

    /// The kind serving the Rust type `T`, at `T`'s own version (a group may serve several).
    pub fn kind_of<T: Resource<DynamicType = ()>>(&self) -> Result<Arc<Kind>, Status> {
        let (group, version, plural) = (T::group(&()), T::version(&()), T::plural(&()));
        self.registry
            .catalog()
            .find(&group, &version, &plural)
            .ok_or_else(|| Status::internal(format!("{plural}.{group}/{version} is not served")))
    }

    /// The object of type `T`, or `None` when it does not exist.
    pub async fn get_as<T>(&self, namespace: Option<&str>, name: &str) -> Result<Option<T>, Status>
    where
        T: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let kind = self.kind_of::<T>()?;
        self.get(&kind, namespace, name)
            .await?
            .map(|v| typed(&kind, v))
            .transpose()
    }

    /// Every object of type `T` in `namespace` (or everywhere).
    pub async fn list_as<T>(&self, namespace: Option<&str>) -> Result<Vec<T>, Status>
    where
        T: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let kind = self.kind_of::<T>()?;
        self.list(&kind, namespace)
            .await?
            .into_iter()
            .map(|v| typed(&kind, v))
            .collect()
    }

    /// The objects of type `T` in `namespace` (or everywhere) whose labels match
    /// `selector` (kube's text form, e.g. `a=b,c`).
    pub async fn list_labelled_as<T>(
        &self,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<T>, Status>
    where
        T: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let kind = self.kind_of::<T>()?;
        let filter = crate::registry::Filter {
            labels: crate::registry::selector::LabelSelector::parse(selector)
                .map_err(Status::internal)?,
            ..Default::default()
        };
        let mut list = self
            .registry
            .list_filtered(&kind, namespace, Default::default(), &filter)
            .await?;
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items.into_iter().map(|v| typed(&kind, v)).collect(),
            _ => Ok(Vec::new()),
        }
    }

    /// Creates `object`; `AlreadyExists` when it is there.
    pub async fn create_as<T>(&self, object: &T) -> Result<T, Status>
    where
        T: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let kind = self.kind_of::<T>()?;
        let namespace = object.meta().namespace.clone();
        let value = serde_json::to_value(object)
            .map_err(|e| Status::internal(format!("encoding a {}: {e}", kind.kind)))?;
        let stored = self
            .registry
            .create(&kind, namespace.as_deref(), value)
            .await?;
        typed(&kind, stored)
    }

    /// Replaces `object` (its main resource or its status), optimistically: its
    /// resourceVersion must still be current. Returns it as stored.
    pub async fn update_as<T>(&self, object: &T, target: Target) -> Result<T, Status>
    where
        T: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let (kind, stored) = self.update_typed(object, target).await?;
        typed(&kind, stored)
    }

    /// [`Objects::update_as`] for a writer that keeps its own copy: returns only the
    /// stored metadata (resourceVersion, generation, managed fields), without decoding the
    /// rest of a large object back.
    pub async fn update_meta_as<T>(&self, object: &T, target: Target) -> Result<ObjectMeta, Status>
    where
        T: Resource<DynamicType = ()> + Serialize,
    {
        let (kind, mut stored) = self.update_typed(object, target).await?;
        typed(&kind, stored["metadata"].take())
    }

    /// Encodes `object` and replaces it; the stored object as JSON.
    async fn update_typed<T>(
        &self,
        object: &T,
        target: Target,
    ) -> Result<(Arc<Kind>, Value), Status>
    where
        T: Resource<DynamicType = ()> + Serialize,
    {
        let kind = self.kind_of::<T>()?;
        let namespace = object.meta().namespace.clone();
        let value = serde_json::to_value(object)
            .map_err(|e| Status::internal(format!("encoding a {}: {e}", kind.kind)))?;
        let stored = self
            .update(&kind, namespace.as_deref(), value, target)
            .await?;
        Ok((kind, stored))
    }

    /// Deletes the object of type `T` named `name`; absence is success.
    pub async fn delete_as<T>(&self, namespace: Option<&str>, name: &str) -> Result<(), Status>
    where
        T: Resource<DynamicType = ()>,
    {
        let kind = self.kind_of::<T>()?;
        self.delete(&kind, namespace, name).await
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

/// A stored object as its Rust type (a decoding failure is the hub's own bug: the registry
/// admitted it against the schema the type generates).
fn typed<T: DeserializeOwned>(kind: &Kind, value: Value) -> Result<T, Status> {
    serde_json::from_value(value)
        .map_err(|e| Status::internal(format!("a stored {} does not decode: {e}", kind.kind)))
}
