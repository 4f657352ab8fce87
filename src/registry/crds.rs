//! CustomResourceDefinitions at run time: what the registry does around a CRD write.
//!
//! - Before a CRD is stored it is checked (name, group, scope, one storage version, every
//!   version's schema structural) and its status filled (`NamesAccepted`, `Established`,
//!   `acceptedNames`, `storedVersions`); a new CRD gets kube's cleanup finalizer.
//! - After any CRD write the catalog is rebuilt from the stored CRDs, so the new kind is
//!   served (discovery, OpenAPI, REST) before the write returns.
//! - Deleting a CRD deletes every object of it, then lets the CRD go.

use serde_json::{Value, json};

use super::{Registry, Target};
use crate::api::status::{Cause, Status};
use crate::api::{Kind, builtin, crd};
use crate::storage::ListOptions;

/// The finalizer kube puts on every CRD until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

pub fn is_crd(kind: &Kind) -> bool {
    kind.group == "apiextensions.k8s.io" && kind.kind == "CustomResourceDefinition"
}

/// Checks a CRD about to be stored and fills what the server owns.
pub fn prepare(kind: &Kind, object: &mut Value, creating: bool) -> Result<(), Status> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut causes = Vec::new();
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let group = text("/spec/group");
    let plural = text("/spec/names/plural");
    let kind_name = text("/spec/names/kind");
    if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural"));
    }
    if kind_name.is_empty() {
        causes.push(Cause::required("spec.names.kind"));
    }
    if name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !matches!(text("/spec/scope").as_str(), "Namespaced" | "Cluster") {
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                text("/spec/scope")
            ),
            field: "spec.scope".into(),
        });
    }
    let versions = object
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required("spec.versions"));
    }
    let storage: Vec<String> = versions
        .iter()
        .filter(|v| v["storage"] == true)
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            "Invalid value: \"...\": must have exactly one version marked as storage version",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        let Some(schema) = version.pointer("/schema/openAPIV3Schema") else {
            causes.push(Cause::required(format!(
                "spec.versions[{i}].schema.openAPIV3Schema"
            )));
            continue;
        };
        if let Err(e) = crate::api::schema::Structural::compile(schema) {
            causes.push(Cause::invalid(
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                e.to_string(),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(Status::invalid(kind, &name, causes));
    }
    if creating {
        let finalizers = object["metadata"]
            .as_object_mut()
            .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
        if let Some(Value::Array(list)) = finalizers
            && !list.iter().any(|f| f == CLEANUP_FINALIZER)
        {
            list.push(json!(CLEANUP_FINALIZER));
        }
    }
    let mut names = object
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    names["singular"] = json!(
        names["singular"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| kind_name.to_lowercase())
    );
    names["listKind"] = json!(
        names["listKind"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind_name}List"))
    );
    object["spec"]["names"] = names.clone();
    let mut stored: Vec<Value> = object
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in &storage {
        if !stored.iter().any(|s| s == v) {
            stored.push(json!(v));
        }
    }
    let now = crate::api::meta::now_rfc3339();
    let since = |kind: &str| {
        object
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == kind))
            .and_then(|c| c["lastTransitionTime"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| now.clone())
    };
    object["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
    Ok(())
}

impl Registry {
    /// Rebuilds the catalog: the Kubernetes kinds plus every stored CRD's kinds.
    pub async fn sync_crds(&self) -> Result<(), Status> {
        self.load_crds().await.map(|_| ())
    }

    fn crd_kind(&self) -> Option<std::sync::Arc<Kind>> {
        self.catalog
            .find_resource("apiextensions.k8s.io", "customresourcedefinitions")
    }

    /// Keeps the catalog in step with CRDs written through other servers on the same
    /// storage (replicas on one etcd prefix): every CRD event rebuilds it, and a watch that
    /// ends (compaction, a storage outage) is followed by a relist. A CRD written here is
    /// served before its write returns anyway; this brings the others' within a watch
    /// event's latency.
    /// `from`: the revision the catalog was last built at (what
    /// [`Registry::ensure_builtin_crds`] returns), so it is not listed again at start.
    pub fn spawn_crd_follower(&self, from: u64) {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut from = Some(from);
            loop {
                if from.is_none() {
                    match registry.load_crds().await {
                        Ok(revision) => from = Some(revision),
                        Err(e) => tracing::warn!(error = %e.message, "CRD relist failed"),
                    }
                }
                if let (Some(revision), Some(kind)) = (from, registry.crd_kind()) {
                    registry.follow_crds(kind, revision).await;
                }
                from = None;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
    }

    /// Rebuilds the catalog on every CRD event until the watch ends.
    async fn follow_crds(&self, kind: std::sync::Arc<Kind>, from: u64) {
        let Ok(mut events) = self.watch(kind, None, from, super::Filter::default()).await else {
            return;
        };
        while let Some(Ok(_)) = futures::StreamExt::next(&mut events).await {
            if let Err(e) = self.load_crds().await {
                tracing::warn!(error = %e.message, "CRD catalog rebuild failed");
                return;
            }
        }
    }

    /// Rebuilds the catalog from the stored CRDs; returns the revision of the list.
    async fn load_crds(&self) -> Result<u64, Status> {
        let Some(crd_kind) = self.crd_kind() else {
            return Ok(0);
        };
        let list = self.list(&crd_kind, None, ListOptions::default()).await?;
        Ok(self.build_catalog(&list))
    }

    /// Replaces the catalog with the Kubernetes kinds and those of `list` (the stored
    /// CRDs); returns the list's revision.
    fn build_catalog(&self, list: &Value) -> u64 {
        let revision = list
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let mut kinds = builtin::kubernetes_kinds();
        for item in list["items"].as_array().into_iter().flatten() {
            match crd::kinds_of_json(item) {
                Ok(crd_kinds) => kinds.extend(crd_kinds),
                Err(e) => {
                    let name = item
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    tracing::warn!(crd = name, error = %e, "stored CRD is unreadable; its kinds are not served");
                }
            }
        }
        self.catalog.replace(kinds, revision);
        revision
    }

    /// A CRD marked for deletion: delete its objects, then release the CRD.
    pub(super) async fn finish_crd_deletion(&self, crd: &Value) -> Result<(), Status> {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(kind) = self.catalog.find_resource(group, plural) {
            let list = self.list(&kind, None, ListOptions::default()).await?;
            for item in list["items"].as_array().into_iter().flatten() {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
                // Objects with finalizers of their own are released too: the kind is going.
                let mut released = item.clone();
                if let Some(meta) = released["metadata"].as_object_mut() {
                    meta.remove("finalizers");
                }
                let _ = self.update(&kind, ns, name, released, Target::Main).await;
                match self.delete(&kind, ns, name, None).await {
                    Ok(_) => {}
                    Err(s) if s.reason == "NotFound" => {}
                    Err(s) => return Err(s),
                }
            }
        }
        let Some(crd_kind) = self
            .catalog
            .find_resource("apiextensions.k8s.io", "customresourcedefinitions")
        else {
            return Ok(());
        };
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut released = self.get(&crd_kind, None, name).await?;
        if let Some(Value::Array(list)) = released.pointer_mut("/metadata/finalizers") {
            list.retain(|f| f != CLEANUP_FINALIZER);
        }
        match self
            .update(&crd_kind, None, name, released, Target::Main)
            .await
        {
            Ok(_) => {}
            Err(s) if s.reason == "NotFound" => {}
            Err(s) => return Err(s),
        }
        self.sync_crds().await
    }

    /// The OCM CRDs every hub has: created when missing, updated when this version's
    /// differ; then the catalog is built from storage. Returns the revision it was built
    /// at. The stored CRDs are listed once: when all are current (every start but the
    /// first after an upgrade), that list is the catalog's.
    pub async fn ensure_builtin_crds(&self) -> Result<u64, Status> {
        let Some(crd_kind) = self
            .catalog
            .find_resource("apiextensions.k8s.io", "customresourcedefinitions")
        else {
            return Ok(0);
        };
        let stored = self.list(&crd_kind, None, ListOptions::default()).await?;
        let items = stored["items"].as_array().map_or(&[][..], Vec::as_slice);
        if crate::api::ocm::stored_are_current(items) {
            return Ok(self.build_catalog(&stored));
        }
        let current = |name: &str| {
            items
                .iter()
                .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        };
        let quiet = super::WriteOptions {
            defer_crd_sync: true,
            ..super::WriteOptions::default()
        };
        let (quiet, crd_kind) = (&quiet, &crd_kind);
        let mut writes = Vec::new();
        for crd in crate::api::ocm::documents().iter() {
            let name = crd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let current = current(&name);
            if current.is_some_and(|current| current.get("spec") == crd.get("spec")) {
                continue;
            }
            let mut wanted = crd.clone();
            let write = match current {
                Some(current) => {
                    wanted["metadata"] = current["metadata"].clone();
                    futures::future::Either::Left(async move {
                        self.update_with(
                            crd_kind,
                            None,
                            &name,
                            wanted,
                            Target::Main,
                            quiet,
                            super::Op::Body,
                        )
                        .await
                    })
                }
                None => {
                    futures::future::Either::Right(self.create_with(crd_kind, None, wanted, quiet))
                }
            };
            writes.push(write);
        }
        if writes.is_empty() {
            return Ok(self.build_catalog(&stored));
        }
        // Independent objects: written concurrently, so a first start pays one group
        // commit instead of one fsync per CRD. A replica that wrote one first makes this
        // a conflict, and the caller looks again.
        futures::future::try_join_all(writes).await?;
        self.load_crds().await
    }
}
