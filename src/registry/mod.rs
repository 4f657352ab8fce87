//! The generic registry: Kubernetes object semantics over any kind, on top of the storage
//! layer. Every kind goes through this one code path (kube-apiserver's generic `Store`):
//! server-owned metadata, resourceVersion preconditions, generation, generateName,
//! finalizers and deletionTimestamp, the status subresource, no-op writes.
//!
//! Objects are `serde_json::Value`s. In storage they carry no `resourceVersion`: it is
//! the store's modification revision, added on every read. HTTP handlers and in-process
//! controllers both call this layer, so validation and preconditions are the same for
//! every writer.
//!
//! Not here yet (API-server issues): field/label selectors, watch translation, patches,
//! server-side apply, schema validation and defaulting, admission.

mod admission;
pub mod crds;
pub mod gc;
mod meta;
mod scale;
pub mod selector;
pub mod smp;
pub mod ssa;
mod strategy;
pub mod watch;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::api::status::{Cause, Status};
use crate::api::{Catalog, Kind};
use crate::storage::continuation::Continue;
use crate::storage::{KeyValue, ListOptions, Store, StoreError};

/// How often a delete re-reads and retries after losing a write race before it answers
/// 409 (kube-apiserver retries without bound; a bound keeps a hot object from pinning a
/// request forever).
const DELETE_ATTEMPTS: u32 = 32;

pub use admission::{Op, WriteGuard, WriteOptions, parse_field_validation};
pub use gc::{DeleteOptions, Propagation};
pub use meta::validate_name;
pub use scale::ScaleWrite;
pub use watch::{Filter, WatchEvent};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The main resource: everything but `status` when the kind has a status subresource.
    Main,
    /// `/status`: only `status` (and nothing in `spec` or `metadata` but labels' peers).
    Status,
    /// A CertificateSigningRequest's `/approval`: only `status.conditions`.
    Approval,
    /// A Namespace's `/finalize`: only `spec.finalizers`.
    Finalize,
    /// A custom resource's `/scale`: the whole object as the main resource sees it, built
    /// by the scale handler from the stored one with only the replicas changed.
    Scale,
}

/// A patch document, by content type.
#[derive(Debug, Clone)]
pub enum Patch {
    /// `application/merge-patch+json`.
    Merge(Value),
    /// `application/json-patch+json`.
    Json(json_patch::Patch),
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    Strategic(Value),
    /// `application/apply-patch+yaml`: server-side apply of this configuration.
    Apply { config: Value, force: bool },
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// The object is gone; this was its last state.
    Deleted(Value),
    /// Finalizers remain: the object now carries `deletionTimestamp`.
    Pending(Value),
}

/// What a write returns: the object as stored (or as it would be, for a dry run) and the
/// `Warning` texts for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// The write created the object (an apply or an update that upserts): 201, not 200.
    pub created: bool,
}

/// One page of a list, as a `<Kind>List` object.
pub type ListObject = Value;

/// The registry over one store.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    catalog: Catalog,
    /// Time to live of core/v1 and events.k8s.io/v1 Events (renewed on every write).
    event_ttl: Option<std::time::Duration>,
    /// Mutating admission beyond kube's built-in strategies (the OCM kinds').
    mutator: Option<Arc<MutateFn>>,
    /// Validating admission of API writes beyond the schema (the OCM kinds').
    validator: Option<Arc<ValidateFn>>,
}

/// A mutating admission step: `(kind, object, old)` on main-resource writes.
pub type MutateFn = dyn Fn(&Kind, &mut Value, Option<&Value>) -> Result<(), Status> + Send + Sync;

/// A validating admission step: `(kind, new, old, user)` on every write an API request
/// makes (after mutation, schema admission and patches), as kube's validating admission
/// plugins see it.
pub type ValidateFn = dyn Fn(&Kind, &Value, Option<&Value>, &crate::api::user::UserInfo) -> Result<(), Status>
    + Send
    + Sync;

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Registry {
        Self::with_catalog(store, Catalog::builtin())
    }

    /// The server's registry: the Kubernetes kinds until [`Registry::ensure_builtin_crds`]
    /// builds the rest from the stored CRDs (starting from every built-in kind would build
    /// the OCM ones twice at each start).
    pub fn with_stored_crds(store: Arc<dyn Store>) -> Registry {
        Self::with_catalog(store, Catalog::kubernetes())
    }

    fn with_catalog(store: Arc<dyn Store>, catalog: Catalog) -> Registry {
        Registry {
            store,
            catalog,
            event_ttl: None,
            mutator: None,
            validator: None,
        }
    }

    /// Adds a mutating admission step, run after the built-in defaults on every write of
    /// a main resource.
    pub fn with_mutator(mut self, mutator: Arc<MutateFn>) -> Registry {
        self.mutator = Some(mutator);
        self
    }

    /// Adds a validating admission step, run on every write an API request makes (those
    /// whose [`WriteOptions::user`] is set).
    pub fn with_validator(mut self, validator: Arc<ValidateFn>) -> Registry {
        self.validator = Some(validator);
        self
    }

    /// The last checks before a write is stored: the request's guard, then validation.
    fn check_write(
        &self,
        kind: &Kind,
        new: &Value,
        old: Option<&Value>,
        options: &WriteOptions,
    ) -> Result<(), Status> {
        if let Some(guard) = &options.guard {
            guard.check(kind, new, old)?;
        }
        if let (Some(validate), Some(user)) = (&self.validator, &options.user) {
            validate(kind, new, old, user)?;
        }
        Ok(())
    }

    /// The kinds this registry serves.
    /// An object as stored: at the storage version (converted and defaulted there when
    /// it came through another version), without `resourceVersion`.
    fn encode(&self, kind: &Kind, object: &Value) -> Result<Bytes, Status> {
        let storage = (kind.convert.is_some() && kind.version != kind.storage_version)
            .then(|| {
                self.catalog()
                    .find(&kind.group, &kind.storage_version, &kind.plural)
            })
            .flatten();
        encode(kind, object, storage.as_deref())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Events expire this long after their last write, as kube-apiserver's `--event-ttl`.
    pub fn with_event_ttl(mut self, ttl: std::time::Duration) -> Registry {
        self.event_ttl = Some(ttl);
        self
    }

    fn ttl(&self, kind: &Kind) -> Option<std::time::Duration> {
        (kind.kind == "Event").then_some(self.event_ttl).flatten()
    }

    /// Creates an object. `namespace` comes from the URL (ignored for cluster kinds).
    pub async fn create(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, Status> {
        self.create_with(kind, namespace, object, &WriteOptions::default())
            .await
            .map(|w| w.object)
    }

    /// [`Registry::create`] with options, returning warnings too.
    pub async fn create_with(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        mut object: Value,
        options: &WriteOptions,
    ) -> Result<Written, Status> {
        let namespace = meta::check_namespace(kind, namespace, &object)?;
        meta::check_type(kind, &object)?;
        // What kube's PrepareForCreate adds runs after its field manager: not tracked.
        let prepared = strategy::prepared_fields(kind, &object);
        let generate = object
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let given = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if given.is_empty() && generate.as_deref().unwrap_or("").is_empty() {
            let mut causes = vec![Cause {
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }];
            // A required value blocks CEL rules; kube says they were not checked.
            if kind.custom && kind.structural().is_some_and(|s| s.has_cel_rules()) {
                causes.push(Cause::invalid(
                    "<nil>",
                    "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            }
            return Err(Status::invalid(kind, "", causes));
        }
        meta::validate_metadata(kind, &object)?;
        if let Some(ns) = namespace.as_deref() {
            self.require_namespace(ns, kind, &given).await?;
        }
        // The first generated name, before admission: validators see the name the object
        // will be stored under, as kube's (which run after BeforeCreate).
        if let Some(prefix) = generate.as_deref().filter(|_| given.is_empty()) {
            object["metadata"]["name"] = Value::String(meta::generate_name(prefix));
        }
        meta::prepare_create(kind, &mut object, namespace.as_deref());
        strategy::defaults(kind, &mut object, true);
        if let Some(user) = &options.user {
            strategy::set_requester(kind, &mut object, user);
        }
        if let Some(mutate) = &self.mutator {
            mutate(kind, &mut object, None)?;
        }
        let warnings = admission::admit(kind, &given, &mut object, None, options, Op::Body)?;
        let is_crd = crds::is_crd(kind);
        if is_crd {
            crds::prepare(kind, &mut object, true)?;
        }
        self.check_write(kind, &object, None, options)?;
        // kube's create diffs against an empty typed object, whose structs are already
        // there: fields of Go zero values are not new.
        let mut zero = json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": {}});
        strategy::go_zero_values(kind, &mut zero);
        let empty = zero.as_object().is_some_and(|o| o.len() == 3);
        track(
            kind,
            (!empty).then_some(&zero),
            &mut object,
            Target::Main,
            options,
        );
        ssa::untrack(&mut object, &prepared);
        strategy::go_zero_values(kind, &mut object);
        // A generated name collides rarely; retry a few times as kube-apiserver does.
        for attempt in 0..8 {
            let name = match &generate {
                Some(prefix) if given.is_empty() && attempt > 0 => meta::generate_name(prefix),
                Some(_) if given.is_empty() => object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => given.clone(),
            };
            validate_name(kind, &name)?;
            object["metadata"]["name"] = Value::String(name.clone());
            let key = kind.storage_key(namespace.as_deref(), &name);
            let bytes = self.encode(kind, &object)?;
            if options.dry_run {
                return match self.store.get(&key).await {
                    Ok(None) => Ok(Written {
                        object,
                        warnings,
                        created: true,
                    }),
                    Ok(Some(_)) => Err(Status::already_exists(kind, &name)),
                    Err(e) => Err(Status::from_store(e, kind, &name)),
                };
            }
            match self.store.create(&key, bytes, self.ttl(kind)).await {
                Ok(kv) => {
                    if is_crd && !options.defer_crd_sync {
                        Box::pin(self.sync_crds()).await?;
                    }
                    return Ok(Written {
                        object: with_version(object, &kv),
                        warnings,
                        created: true,
                    });
                }
                Err(StoreError::AlreadyExists { .. }) if generate.is_some() && given.is_empty() => {
                    continue;
                }
                Err(e) => return Err(Status::from_store(e, kind, &name)),
            }
        }
        Err(Status::already_exists(kind, &given))
    }

    /// Reads one object.
    pub async fn get(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, Status> {
        let key = kind.storage_key(namespace, name);
        match self.store.get(&key).await {
            Ok(Some(kv)) => decode(kind, &kv),
            Ok(None) => Err(Status::not_found(kind, name)),
            Err(e) => Err(Status::from_store(e, kind, name)),
        }
    }

    /// Lists objects of one namespace (or all); `options` carries limit, continue and
    /// revision. The list's resourceVersion is the snapshot revision.
    pub async fn list(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        options: ListOptions,
    ) -> Result<ListObject, Status> {
        self.list_filtered(kind, namespace, options, &Filter::default())
            .await
    }

    /// Waits (up to 3 s, as kube-apiserver) until the store has reached `revision`; a
    /// revision still ahead is kube's 504 `ResourceVersionTooLarge`.
    pub async fn wait_for_revision(&self, revision: u64) -> Result<(), Status> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let current = self
                .store
                .current_revision()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            if current >= revision {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Status::too_large_resource_version(revision, current));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Lists the objects matching `filter`. With a limit, store pages are read until the
    /// limit is filled with matching items, and the continue token resumes after the last
    /// item examined.
    pub async fn list_filtered(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        options: ListOptions,
        filter: &Filter,
    ) -> Result<ListObject, Status> {
        let prefix = kind.namespace_prefix(namespace);
        let limit = options.limit.filter(|l| *l > 0);
        let filtering = !filter.labels.is_empty() || !filter.fields.is_empty();
        let mut request = options;
        if filtering {
            request.limit = limit.map(|l| l.max(500));
        }
        let mut items = Vec::new();
        let (revision, continue_token, remaining) = loop {
            let page = self
                .store
                .list(&prefix, request.clone())
                .await
                .map_err(|e| Status::from_store(e, kind, ""))?;
            let count = page.items.len();
            let mut stopped_at = None;
            for (i, kv) in page.items.iter().enumerate() {
                let object = decode(kind, kv)?;
                if !filtering || filter.matches(&object) {
                    items.push(object);
                }
                let more_follow = i + 1 < count || page.continue_token.is_some();
                if filtering && more_follow && limit.is_some_and(|l| items.len() >= l) {
                    stopped_at = Some(kv.key.clone());
                    break;
                }
            }
            if let Some(last_key) = stopped_at {
                let token = Continue {
                    revision: page.revision,
                    last_key,
                }
                .encode();
                break (page.revision, Some(token), None);
            }
            if !filtering || page.continue_token.is_none() {
                let remaining = if filtering { None } else { page.remaining };
                break (page.revision, page.continue_token, remaining);
            }
            request = ListOptions {
                revision: Some(page.revision),
                limit: request.limit,
                continue_token: page.continue_token,
            };
        };
        let mut metadata = Map::new();
        metadata.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
        if let Some(token) = continue_token {
            metadata.insert("continue".into(), Value::String(token));
            if let Some(remaining) = remaining {
                metadata.insert("remainingItemCount".into(), json!(remaining));
            }
        } else if kind.custom {
            // Unstructured lists of custom resources always carry the key.
            metadata.insert("continue".into(), Value::String(String::new()));
        }
        Ok(json!({
            "apiVersion": kind.api_version(),
            "kind": kind.list_kind(),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// An unfiltered list as JSON bytes, as it is served: the document [`Registry::list`]
    /// gives, except that items of built-in kinds carry no `apiVersion` and `kind` (kube's
    /// typed lists). Built from the stored bytes with only each item's resourceVersion
    /// spliced in: no decode and re-encode per item, which is most of a large list's cost.
    pub async fn list_json(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        options: ListOptions,
    ) -> Result<Vec<u8>, Status> {
        let page = self
            .store
            .list(&kind.namespace_prefix(namespace), options)
            .await
            .map_err(|e| Status::from_store(e, kind, ""))?;
        let shape = if kind.custom {
            Served::Whole
        } else {
            Served::TypedItem
        };
        let size: usize = page.items.iter().map(|kv| kv.value.len() + 40).sum();
        let mut out = Vec::with_capacity(size + 256);
        let encode_error =
            |e: serde_json::Error| Status::internal(format!("cannot encode a list: {e}"));
        out.extend_from_slice(b"{\"apiVersion\":");
        serde_json::to_writer(&mut out, &kind.api_version()).map_err(encode_error)?;
        out.extend_from_slice(b",\"items\":[");
        for (i, kv) in page.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let spliced = stored_as_served(kind, &kv.value)
                .then(|| served_bytes(&kv.value, kv.mod_revision, shape))
                .flatten();
            match spliced {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => {
                    let mut item = decode(kind, kv)?;
                    if shape == Served::TypedItem {
                        as_typed_item(&mut item);
                    }
                    serde_json::to_writer(&mut out, &item).map_err(encode_error)?
                }
            }
        }
        out.extend_from_slice(b"],\"kind\":");
        serde_json::to_writer(&mut out, &kind.list_kind()).map_err(encode_error)?;
        let mut metadata = json!({"resourceVersion": page.revision.to_string()});
        if let Some(token) = page.continue_token {
            metadata["continue"] = json!(token);
            if let Some(remaining) = page.remaining {
                metadata["remainingItemCount"] = json!(remaining);
            }
        } else if kind.custom {
            metadata["continue"] = json!("");
        }
        out.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut out, &metadata).map_err(encode_error)?;
        out.push(b'}');
        Ok(out)
    }

    /// Replaces an object (PUT). `metadata.resourceVersion`, when given, must be current;
    /// custom resources must give it.
    pub async fn update(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        target: Target,
    ) -> Result<Value, Status> {
        let options = WriteOptions::default();
        self.update_with(kind, namespace, name, object, target, &options, Op::Body)
            .await
            .map(|w| w.object)
    }

    /// [`Registry::update`] with options, returning warnings too.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_with(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        target: Target,
        options: &WriteOptions,
        op: Op,
    ) -> Result<Written, Status> {
        meta::check_type(kind, &object)?;
        let given_name = object.pointer("/metadata/name").and_then(Value::as_str);
        if options.user.is_some() && given_name.is_none_or(str::is_empty) {
            // kube's checkName on an API write: the body must name its object.
            return Err(Status::bad_request(format!(
                "the name of the object ({name} based on URL) was undeterminable: name must be provided"
            )));
        }
        let body_name = given_name.unwrap_or(name);
        if body_name != name {
            return Err(Status::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let namespace = meta::check_namespace(kind, namespace, &object)?;
        let expected = meta::resource_version(kind, name, &object)?;
        let key = kind.storage_key(namespace.as_deref(), name);
        if target == Target::Main && strategy::creates_on_update(kind) {
            match self.store.get(&key).await {
                Ok(None) => {
                    let mut object = object;
                    object["metadata"]["name"] = Value::String(name.to_string());
                    return Box::pin(self.create_with(kind, namespace.as_deref(), object, options))
                        .await;
                }
                Ok(Some(_)) => {}
                Err(e) => return Err(Status::from_store(e, kind, name)),
            }
        }
        if expected.is_none() && strategy::requires_resource_version(kind) && target == Target::Main
        {
            // A missing object is NotFound first; then the generic store's words, which
            // name the resource where a kind would be.
            self.current(kind, &key, name, None).await?;
            let cause = Cause::invalid(
                "metadata.resourceVersion",
                "Invalid value: 0: must be specified for an update",
            );
            let mut status = Status::invalid(kind, name, vec![cause]);
            status.message = format!(
                "{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update",
                kind.qualified_resource()
            );
            if let Some(d) = status.details.as_mut() {
                d.kind = kind.plural.clone();
            }
            return Err(status);
        }
        let current = self.current(kind, &key, name, expected).await?;
        let old: Value = serde_json::from_slice(&current.value).map_err(|e| {
            Status::internal(format!("stored {} {name} is not JSON: {e}", kind.kind))
        })?;
        // The write happens in the version of the request; storage converts it back.
        let old = served(kind, old)?;
        let applied_fields = (options.applied && target != Target::Main)
            .then(|| object.pointer("/metadata/managedFields").cloned())
            .flatten();
        let mut merged = meta::merge_update(kind, &old, object, target)?;
        if let Some(fields) = applied_fields {
            merged["metadata"]["managedFields"] = fields;
        }
        meta::validate_metadata(kind, &merged)?;
        strategy::defaults(kind, &mut merged, false);
        strategy::csr_condition_times(kind, &old, &mut merged);
        if let (Some(mutate), Target::Main) = (&self.mutator, target) {
            mutate(kind, &mut merged, Some(&old))?;
        }
        let warnings = admission::admit(kind, name, &mut merged, Some(&old), options, op)?;
        meta::set_generation(kind, &old, &mut merged);
        if crds::is_crd(kind) {
            crds::prepare(kind, &mut merged, false)?;
        }
        self.check_write(kind, &merged, Some(&old), options)?;
        track(kind, Some(&old), &mut merged, target, options);
        strategy::go_zero_values(kind, &mut merged);
        if options.dry_run {
            return Ok(Written {
                object: with_version(served(kind, merged)?, &current),
                warnings,
                created: false,
            });
        }
        let object = self.write(kind, name, &key, &current, merged).await?;
        if crds::is_crd(kind) && !options.defer_crd_sync {
            Box::pin(self.sync_crds()).await?;
        }
        Ok(Written {
            object,
            warnings,
            created: false,
        })
    }

    /// Applies a JSON merge patch (RFC 7386) or a JSON patch (RFC 6902) to the current
    /// object and stores the result. Without a resourceVersion in the patch, a concurrent
    /// write is retried on the fresh object (kube's GuaranteedUpdate loop).
    pub async fn patch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        target: Target,
    ) -> Result<Value, Status> {
        self.patch_with(
            kind,
            namespace,
            name,
            patch,
            target,
            &WriteOptions::default(),
        )
        .await
        .map(|w| w.object)
    }

    /// [`Registry::patch`] with options, returning warnings too.
    pub async fn patch_with(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        target: Target,
        options: &WriteOptions,
    ) -> Result<Written, Status> {
        if let Patch::Apply { config, force } = patch {
            return self
                .apply(kind, namespace, name, config, *force, target, options)
                .await;
        }
        for _ in 0..16 {
            let current = self.get(kind, namespace, name).await?;
            let mut patched = patched(&kind.merge_schema(), kind, name, &current, patch)?;
            let pinned = patched.pointer("/metadata/resourceVersion")
                != current.pointer("/metadata/resourceVersion");
            if patched
                .pointer("/metadata/resourceVersion")
                .is_none_or(Value::is_null)
            {
                patched["metadata"]["resourceVersion"] =
                    current["metadata"]["resourceVersion"].clone();
            }
            match self
                .update_with(kind, namespace, name, patched, target, options, Op::Patch)
                .await
            {
                Err(status) if status.reason == "Conflict" && !pinned => continue,
                other => return other,
            }
        }
        Err(Status::conflict(kind, name))
    }

    /// Server-side apply: `config` merged into the live object (or creating it) with
    /// field ownership; conflicts are 409 unless `force`.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        config: &Value,
        force: bool,
        target: Target,
        options: &WriteOptions,
    ) -> Result<Written, Status> {
        let manager_name = options
            .field_manager
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                Status::bad_request("PATCH, application/apply-patch+yaml requests must set the fieldManager parameter")
            })?;
        if config.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(Status::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                config
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )));
        }
        let manager = ssa::Manager {
            name: &manager_name,
            subresource: subresource_name(target),
        };
        // The applied result already carries its managedFields.
        let untracked = WriteOptions {
            field_manager: None,
            applied: true,
            ..options.clone()
        };
        for _ in 0..16 {
            let current = match self.get(kind, namespace, name).await {
                Ok(current) => Some(current),
                Err(s) if s.reason == "NotFound" && target == Target::Main => None,
                Err(s) => return Err(s),
            };
            let mut applied = with_type_info(kind, |ty| {
                ssa::apply_typed(
                    current.as_ref(),
                    config,
                    ty,
                    &manager,
                    force,
                    &crate::api::meta::now_rfc3339(),
                )
            })
            .map_err(|e| apply_error(kind, name, e))?;
            let Some(current) = current else {
                return self.create_with(kind, namespace, applied, &untracked).await;
            };
            let pinned = config.pointer("/metadata/resourceVersion").is_some();
            if !pinned {
                applied["metadata"]["resourceVersion"] =
                    current["metadata"]["resourceVersion"].clone();
            }
            match self
                .update_with(
                    kind,
                    namespace,
                    name,
                    applied,
                    target,
                    &untracked,
                    Op::Patch,
                )
                .await
            {
                Err(status) if status.reason == "Conflict" && !pinned => continue,
                other => return other,
            }
        }
        Err(Status::conflict(kind, name))
    }

    /// Deletes an object, or marks it for deletion while finalizers remain.
    /// `precondition` is an expected resourceVersion.
    pub async fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        precondition: Option<u64>,
    ) -> Result<Deletion, Status> {
        let options = DeleteOptions {
            precondition,
            ..DeleteOptions::default()
        };
        self.delete_with(kind, namespace, name, &options).await
    }

    /// [`Registry::delete`], or with `dry_run` only what it would do. Deleting a CRD
    /// deletes its objects before it returns.
    pub async fn delete_with(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deletion, Status> {
        let dry_run = options.dry_run;
        let deletion = self
            .delete_object(kind, namespace, name, options, dry_run)
            .await?;
        if !dry_run
            && crds::is_crd(kind)
            && let Deletion::Pending(crd) = &deletion
        {
            Box::pin(self.finish_crd_deletion(crd)).await?;
        }
        Ok(deletion)
    }

    async fn delete_object(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
        dry_run: bool,
    ) -> Result<Deletion, Status> {
        let is_namespace = kind.group.is_empty() && kind.kind == "Namespace";
        if is_namespace && matches!(name, "default" | "kube-system" | "kube-public") {
            // kube's namespace lifecycle admission protects its own namespaces.
            let mut status = Status::new(
                axum::http::StatusCode::FORBIDDEN,
                "Forbidden",
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            );
            status.details = Some(Box::new(crate::api::status::Details {
                name: name.to_string(),
                kind: "namespaces".into(),
                ..Default::default()
            }));
            return Err(status);
        }
        let key = kind.storage_key(namespace, name);
        // Like kube-apiserver's guaranteed update, a write that lost a race with another
        // writer is retried on the fresh object (preconditions checked again each time), so
        // a delete without preconditions never answers 409.
        for attempt in 1..=DELETE_ATTEMPTS {
            let outcome = self
                .delete_attempt(kind, name, &key, is_namespace, options, dry_run)
                .await?;
            if let Some(deletion) = outcome {
                return Ok(deletion);
            }
            tracing::debug!(kind = %kind.kind, name, attempt, "delete raced another writer; retrying");
        }
        Err(Status::conflict(kind, name))
    }

    /// One read-check-write round of [`Registry::delete_object`]: `Ok(None)` when its write
    /// lost a race with another writer (a precondition failure is an error, not a race).
    async fn delete_attempt(
        &self,
        kind: &Kind,
        name: &str,
        key: &str,
        is_namespace: bool,
        options: &DeleteOptions,
        dry_run: bool,
    ) -> Result<Option<Deletion>, Status> {
        let current = self.current(kind, key, name, None).await?;
        let object: Value = serde_json::from_slice(&current.value).map_err(|e| {
            Status::internal(format!("stored {} {name} is not JSON: {e}", kind.kind))
        })?;
        let mut object = served(kind, object)?;
        check_preconditions(kind, name, &object, current.mod_revision, options)?;
        gc::add_policy_finalizer(&mut object, options.propagation);
        let has_finalizers = held(kind, &object);
        if dry_run {
            let current = decode(kind, &current)?;
            if !has_finalizers {
                return Ok(Some(Deletion::Deleted(current)));
            }
            let mut pending = current;
            if pending.pointer("/metadata/deletionTimestamp").is_none() {
                meta::mark_deleting(&mut pending);
            }
            return Ok(Some(Deletion::Pending(pending)));
        }
        if has_finalizers {
            if object.pointer("/metadata/deletionTimestamp").is_none() {
                meta::mark_deleting(&mut object);
                if is_namespace {
                    // The namespace REST strategy: Terminating at once, no grace period.
                    if let Some(m) = object["metadata"].as_object_mut() {
                        m.remove("deletionGracePeriodSeconds");
                    }
                    object["status"]["phase"] = json!("Terminating");
                }
                return match self.write(kind, name, key, &current, object).await {
                    Ok(updated) => Ok(Some(Deletion::Pending(updated))),
                    Err(status) if status.reason == "Conflict" => Ok(None),
                    Err(status) => Err(status),
                };
            }
            return Ok(Some(Deletion::Pending(decode(kind, &current)?)));
        }
        match self.store.delete(key, Some(current.mod_revision)).await {
            Ok(deleted) => {
                let mut last = decode(kind, &deleted.prev)?;
                last["metadata"]["resourceVersion"] = Value::String(deleted.revision.to_string());
                Ok(Some(Deletion::Deleted(last)))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(Status::from_store(e, kind, name)),
        }
    }

    /// Stores `object` over `current` unless nothing changed; removes an object whose
    /// deletion was pending once its last finalizer is gone.
    async fn write(
        &self,
        kind: &Kind,
        name: &str,
        key: &str,
        current: &KeyValue,
        object: Value,
    ) -> Result<Value, Status> {
        let bytes = self.encode(kind, &object)?;
        if bytes == current.value {
            // No-op writes are free: no new revision, no event.
            return decode(kind, current);
        }
        let deleting = object.pointer("/metadata/deletionTimestamp").is_some();
        let finalized = !held(kind, &object);
        if deleting && finalized {
            return match self.store.delete(key, Some(current.mod_revision)).await {
                Ok(deleted) => {
                    let mut last = object;
                    last["metadata"]["resourceVersion"] =
                        Value::String(deleted.revision.to_string());
                    Ok(last)
                }
                Err(e) => Err(Status::from_store(e, kind, name)),
            };
        }
        match self
            .store
            .update(key, bytes, current.mod_revision, self.ttl(kind))
            .await
        {
            Ok(kv) => Ok(with_version(object, &kv)),
            Err(e) => Err(Status::from_store(e, kind, name)),
        }
    }

    /// The stored object at `key`, which must exist and, when `expected` is given, be at
    /// that resourceVersion.
    async fn current(
        &self,
        kind: &Kind,
        key: &str,
        name: &str,
        expected: Option<u64>,
    ) -> Result<KeyValue, Status> {
        let current = match self.store.get(key).await {
            Ok(Some(kv)) => kv,
            Ok(None) => return Err(Status::not_found(kind, name)),
            Err(e) => return Err(Status::from_store(e, kind, name)),
        };
        match expected {
            Some(rv) if rv != current.mod_revision => Err(Status::conflict(kind, name)),
            _ => Ok(current),
        }
    }

    async fn require_namespace(
        &self,
        namespace: &str,
        kind: &Kind,
        name: &str,
    ) -> Result<(), Status> {
        let Some(ns_kind) = self.catalog.find_resource("", "namespaces") else {
            return Ok(());
        };
        let key = ns_kind.storage_key(None, namespace);
        match self.store.get(&key).await {
            Ok(Some(kv)) => {
                let ns: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
                if ns.pointer("/metadata/deletionTimestamp").is_some() {
                    let resource = if kind.group.is_empty() {
                        kind.plural.clone()
                    } else {
                        format!("{}.{}", kind.plural, kind.group)
                    };
                    let mut status = Status::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "Forbidden",
                        format!(
                            "{resource} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
                        ),
                    );
                    status.details = Some(Box::new(crate::api::status::Details {
                        name: name.to_string(),
                        group: kind.group.clone(),
                        kind: kind.plural.clone(),
                        causes: vec![Cause {
                            reason: "NamespaceTerminating",
                            message: format!("namespace {namespace} is being terminated"),
                            field: "metadata.namespace".into(),
                        }],
                        ..Default::default()
                    }));
                    return Err(status);
                }
                Ok(())
            }
            Ok(None) => Err(Status::not_found(&ns_kind, namespace)),
            Err(e) => Err(Status::from_store(e, &ns_kind, namespace)),
        }
    }
}

/// How [`served_bytes`] writes a stored object out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// The whole object, as a get or a watch event gives it.
    Whole,
    /// An item of a built-in kind's list: kube's typed lists leave out each item's
    /// `apiVersion` and `kind`.
    TypedItem,
}

/// A stored object's JSON as served, with `"resourceVersion":"<revision>"` added at the
/// start of its top-level `metadata`; `None` when the bytes are not shaped as expected
/// (the caller then decodes). Only top-level members are looked at, borrowed whole
/// (`RawValue`), so nothing below them is parsed into values or re-encoded.
pub(crate) fn served_bytes(stored: &[u8], revision: u64, shape: Served) -> Option<Vec<u8>> {
    let TopLevel(members) = serde_json::from_slice(stored).ok()?;
    let mut out = Vec::with_capacity(stored.len() + 32);
    let mut metadata = false;
    for (key, value) in members {
        if shape == Served::TypedItem && (key == "apiVersion" || key == "kind") {
            continue;
        }
        out.push(if out.is_empty() { b'{' } else { b',' });
        // Keys borrowed from the input have no escapes, so they are written as they were.
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        let value = value.get().as_bytes();
        if key == "metadata" {
            let rest = value.strip_prefix(b"{")?;
            out.extend_from_slice(format!("{{\"resourceVersion\":\"{revision}\"").as_bytes());
            if rest.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
                out.push(b',');
            }
            out.extend_from_slice(rest);
            metadata = true;
        } else {
            out.extend_from_slice(value);
        }
    }
    out.push(b'}');
    metadata.then_some(out)
}

/// An object as an item of a built-in kind's list: kube's typed lists leave out each
/// item's `apiVersion` and `kind`.
pub(crate) fn as_typed_item(item: &mut Value) {
    if let Some(o) = item.as_object_mut() {
        o.remove("apiVersion");
        o.remove("kind");
    }
}

/// The top-level members of a JSON object in their order, keys and values borrowed from
/// the input (a key with escapes cannot be borrowed and fails the parse).
struct TopLevel<'a>(Vec<(&'a str, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(TopLevel(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Runs `f` with the server-side-apply view of `kind` (its compiled schema and version).
fn with_type_info<R>(kind: &Kind, f: impl FnOnce(&ssa::Typed) -> R) -> R {
    let schema = kind.merge_schema();
    let api_version = kind.api_version();
    f(&ssa::Typed {
        api_version: &api_version,
        kind: &kind.kind,
        schema: &schema,
        status_subresource: kind.status_subresource,
    })
}

/// The managedFields subresource of a write target.
fn subresource_name(target: Target) -> &'static str {
    match target {
        Target::Status => "status",
        Target::Scale => "scale",
        Target::Main | Target::Approval | Target::Finalize => "",
    }
}

/// Records the writer's changes in `metadata.managedFields` (operation `Update`).
/// The managedFields a create of `object` by `manager` records (operation Update), for
/// objects answered without being stored (access reviews).
pub fn created_fields(kind: &Kind, object: &Value, manager: Option<&str>) -> Option<Value> {
    let options = WriteOptions {
        field_manager: manager.map(str::to_string),
        ..WriteOptions::default()
    };
    let mut object = object.clone();
    // kube diffs against the empty typed object, whose spec struct is already there.
    let zero =
        json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": {}, "spec": {}});
    track(kind, Some(&zero), &mut object, Target::Main, &options);
    object.pointer("/metadata/managedFields").cloned()
}

fn track(
    kind: &Kind,
    old: Option<&Value>,
    new: &mut Value,
    target: Target,
    options: &WriteOptions,
) {
    let Some(manager) = options.field_manager.as_deref() else {
        return;
    };
    let manager = ssa::Manager {
        name: manager,
        subresource: subresource_name(target),
    };
    let result = with_type_info(kind, |ty| {
        ssa::track_update_typed(old, new, ty, &manager, &crate::api::meta::now_rfc3339())
    });
    if let Err(e) = result {
        tracing::debug!(kind = %kind.kind, error = ?e, "managedFields not updated");
    }
}

/// Whether anything still holds a deleting object: `metadata.finalizers`, or for a
/// Namespace its `spec.finalizers` (emptied by the namespace controller through
/// `/finalize`).
fn held(kind: &Kind, object: &Value) -> bool {
    let non_empty = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    };
    non_empty("/metadata/finalizers")
        || (kind.group.is_empty() && kind.kind == "Namespace" && non_empty("/spec/finalizers"))
}

/// DeleteOptions preconditions, uid first, in the storage layer's words (kube's
/// `Preconditions.Check`): a 409 naming the kind, not the resource.
fn check_preconditions(
    kind: &Kind,
    name: &str,
    object: &Value,
    revision: u64,
    options: &DeleteOptions,
) -> Result<(), Status> {
    let record_uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let problem = match (&options.uid, options.precondition) {
        (Some(uid), _) if uid != record_uid => format!(
            "the UID in the precondition ({uid}) does not match the UID in record ({record_uid}). The object might have been deleted and then recreated"
        ),
        (_, Some(rv)) if rv != revision => format!(
            "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({revision}). The object might have been modified"
        ),
        _ => return Ok(()),
    };
    // events.k8s.io Events are named as the internal core Event, without a group.
    let core_event = kind.group == "events.k8s.io" && kind.kind == "Event";
    let qualified = if kind.group.is_empty() || core_event {
        kind.kind.clone()
    } else {
        format!("{}.{}", kind.kind, kind.group)
    };
    let mut status = Status::new(
        axum::http::StatusCode::CONFLICT,
        "Conflict",
        format!("Operation cannot be fulfilled on {qualified} \"{name}\": {problem}"),
    );
    status.details = Some(Box::new(crate::api::status::Details {
        name: name.to_string(),
        group: if core_event {
            String::new()
        } else {
            kind.group.clone()
        },
        kind: kind.kind.clone(),
        ..Default::default()
    }));
    Err(status)
}

/// kube's answers to a failed apply.
fn apply_error(kind: &Kind, name: &str, e: ssa::ApplyError) -> Status {
    use axum::http::StatusCode;
    match e {
        ssa::ApplyError::Conflicts(conflicts) => {
            let message = ssa::ApplyError::Conflicts(conflicts.clone()).conflict_message();
            // kube's NewApplyConflict: causes only, no object in the details.
            let _ = (kind, name);
            let mut status = Status::new(StatusCode::CONFLICT, "Conflict", message);
            status.details = Some(Box::new(crate::api::status::Details {
                causes: conflicts
                    .iter()
                    .map(|c| Cause {
                        reason: "FieldManagerConflict",
                        message: c.cause_message(),
                        field: c.path.clone(),
                    })
                    .collect(),
                ..Default::default()
            }));
            status
        }
        ssa::ApplyError::BadRequest(m) => Status::bad_request(m),
        ssa::ApplyError::Invalid(m) => {
            Status::internal(format!("failed to create typed patch object: {m}"))
        }
        ssa::ApplyError::Internal(m) => Status::internal(m),
    }
}

/// Serialises an object for storage, at the storage version, without `resourceVersion`.
fn encode(kind: &Kind, object: &Value, storage: Option<&Kind>) -> Result<Bytes, Status> {
    let encode_error =
        |e: serde_json::Error| Status::internal(format!("cannot encode object: {e}"));
    if storage.is_none()
        && object.get("apiVersion").and_then(Value::as_str) == Some(&kind.storage_api_version())
    {
        // Already at the storage version: serialised in place, no copy to convert.
        return serde_json::to_vec(&WithoutVersion(object))
            .map(Bytes::from)
            .map_err(encode_error);
    }
    let mut stored = object.clone();
    kind.convert_to(&mut stored, &kind.storage_version)?;
    // Converted to the storage version, it gets that version's defaults (kube defaults
    // at every version an object passes), so reads of the storage version are as written.
    if let Some(schema) = storage.and_then(Kind::structural) {
        schema.default(&mut stored);
    }
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&stored)
        .map(Bytes::from)
        .map_err(encode_error)
}

/// An object serialised without `metadata.resourceVersion`, which storage keeps apart.
struct WithoutVersion<'a>(&'a Value);

impl serde::Serialize for WithoutVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(top) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(top.len()))?;
        for (key, value) in top {
            match value {
                Value::Object(meta) if key == "metadata" => {
                    map.serialize_key(key)?;
                    map.serialize_value(&MetaWithoutVersion(meta))?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

struct MetaWithoutVersion<'a>(&'a Map<String, Value>);

impl serde::Serialize for MetaWithoutVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kept = self.0.iter().filter(|(k, _)| *k != "resourceVersion");
        let mut map = serializer.serialize_map(Some(kept.clone().count()))?;
        for (key, value) in kept {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Reads a stored object and adds its resourceVersion.
fn decode(kind: &Kind, kv: &KeyValue) -> Result<Value, Status> {
    let object: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        Status::internal(format!(
            "stored {} at {} is not JSON: {e}",
            kind.kind, kv.key
        ))
    })?;
    Ok(with_version(served(kind, object)?, kv))
}

/// A stored object (at whatever version it was stored) at the version it is read through.
/// Kube defaults what it reads from storage by the served version's schema; an object
/// written at that version already was, so only a converted one can lack a default.
fn served(kind: &Kind, mut object: Value) -> Result<Value, Status> {
    let api_version = kind.api_version();
    let converted = kind.convert.is_some()
        && object.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str());
    kind.convert_to(&mut object, &kind.version)?;
    if converted && let Some(schema) = kind.structural() {
        schema.default(&mut object);
    }
    Ok(object)
}

/// Whether stored bytes are already what a read through `kind` serves, but for their
/// resourceVersion: the kind has the storage version and, when its versions differ in
/// shape, the bytes were stored at it (an older binary may have stored another version).
/// Stored objects are encoded with sorted keys, so `apiVersion` comes first.
fn stored_as_served(kind: &Kind, stored: &[u8]) -> bool {
    if kind.version != kind.storage_version {
        return false;
    }
    if kind.convert.is_none() {
        return true;
    }
    let prefix = format!("{{\"apiVersion\":\"{}\",", kind.api_version());
    stored.starts_with(prefix.as_bytes())
}

fn with_version(mut object: Value, kv: &KeyValue) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(kv.mod_revision.to_string()),
        );
    }
    object
}

/// `current` with `patch` applied (not server-side apply, which merges by ownership):
/// strategic merge by `schema`, merge patch, or JSON patch; the result must still be an
/// object with object metadata.
fn patched(
    schema: &crate::api::schema::Structural,
    kind: &Kind,
    name: &str,
    current: &Value,
    patch: &Patch,
) -> Result<Value, Status> {
    let mut patched = current.clone();
    match patch {
        Patch::Apply { .. } => return Err(Status::internal("apply reached the patch loop")),
        Patch::Strategic(p) => {
            patched = smp::apply_typed(current, p, schema).map_err(|e| {
                let code = axum::http::StatusCode::from_u16(e.status_code())
                    .unwrap_or(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
                let reason = match e.status_code() {
                    400 => "BadRequest",
                    422 => "Invalid",
                    _ => "InternalError",
                };
                Status::new(code, reason, e.to_string())
            })?;
        }
        Patch::Merge(p) => json_patch::merge(&mut patched, p),
        // `patch_unsafe` on a copy that is dropped on error: the crate's undoing `patch`
        // can panic when a `move` fails half-way.
        Patch::Json(p) => json_patch_as_kube(&mut patched, p).map_err(|e| {
            // kube's words, which leave the failing operation out; it is logged.
            tracing::debug!("JSON patch of {} {name} failed: {e}", kind.kind);
            let mut status = Status::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "the server rejected our request due to an error in our request",
            );
            status.details = Some(Box::default());
            status
        })?,
    }
    if !patched.is_object()
        || patched
            .get("metadata")
            .is_some_and(|m| !m.is_object() && !m.is_null())
    {
        return Err(Status::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "the patched object is not a valid object: it must be a JSON object whose metadata is an object",
        ));
    }
    Ok(patched)
}

/// Applies a JSON patch (RFC 6902) as kube-apiserver does: like the `json-patch` crate,
/// except that a `test` of `null` passes on a path that does not exist (Go's json-patch
/// compares a missing value as null). kube-rs' finalizer helper relies on it to add the
/// first finalizer (`test /metadata/finalizers == null`, then `add`). `patch_unsafe`: the
/// caller works on a copy it drops on error.
fn json_patch_as_kube(
    doc: &mut Value,
    patch: &json_patch::Patch,
) -> Result<(), json_patch::PatchError> {
    for (i, op) in patch.0.iter().enumerate() {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch_unsafe(doc, std::slice::from_ref(op)).map_err(|mut e| {
            e.operation = i;
            e
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod schema_model_tests;
#[cfg(test)]
mod tests;
