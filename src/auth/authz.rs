//! The authorizer the API uses: `system:masters` first (kube's privileged group), then
//! RBAC over an index kept current from storage. The index is replaced whole on each
//! change (clone, update, publish), so a check never waits for a writer.
//!
//! At start the default policy is stored (created when missing, refreshed when its
//! `rbac.authorization.kubernetes.io/autoupdate` annotation is `"true"`), the index is
//! loaded from the four RBAC kinds, and a task per kind follows their watches. Writes made
//! through the API are also applied at once, so a binding is effective when its create
//! returns. Aggregated ClusterRoles get their computed rules written back, as kube's
//! aggregation controller does.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::rbac::{Decision, RbacIndex, is_privileged};
use super::request::Attributes;
use crate::api::status::Status;
use crate::registry::{Registry, Target};
use crate::storage::ListOptions;

/// The RBAC kinds, as (kind, plural).
pub const RBAC_KINDS: [(&str, &str); 4] = [
    ("ClusterRole", "clusterroles"),
    ("ClusterRoleBinding", "clusterrolebindings"),
    ("Role", "roles"),
    ("RoleBinding", "rolebindings"),
];
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

#[derive(Clone, Default)]
pub struct Authorizer {
    index: Arc<RwLock<Arc<RbacIndex>>>,
}

impl Authorizer {
    /// An authorizer that knows the default policy before storage is read.
    pub fn new() -> Authorizer {
        let mut index = RbacIndex::new();
        super::policy::load_into(&mut index);
        Authorizer {
            index: Arc::new(RwLock::new(Arc::new(index))),
        }
    }

    pub fn index(&self) -> Arc<RbacIndex> {
        match self.index.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut RbacIndex)) {
        let mut guard = match self.index.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Copy-on-write: copied only while a request still holds the previous index
        // (`index()`); copying it on every change made each RBAC write cost the whole
        // index (half of a 10,000-cluster hub's CPU while clusters joined).
        change(Arc::make_mut(&mut *guard));
    }

    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        if is_privileged(&attrs.user) {
            // kube's privileged-groups authorizer allows without a reason.
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        self.index().authorize(attrs)
    }

    /// Applies a stored RBAC object (or its deletion) to the index.
    pub fn observe(&self, kind: &str, object: &Value, deleted: bool) {
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (ns, name) = (text("/metadata/namespace"), text("/metadata/name"));
        self.update(|index| {
            if deleted {
                index.remove(kind, &ns, &name);
            } else {
                index.upsert(kind, object);
            }
        });
    }
}

/// Stores the default policy: created when missing, refreshed when auto-updated.
/// The objects are independent, so they are written concurrently (one group commit
/// instead of one fsync each on a first start).
pub async fn seed_policy(registry: &Registry) -> Result<(), Status> {
    let writes = super::policy::bootstrap_objects()
        .into_iter()
        .map(|(kind_name, object)| seed_one(registry, kind_name, object));
    futures::future::try_join_all(writes).await?;
    Ok(())
}

async fn seed_one(registry: &Registry, kind_name: &str, object: Value) -> Result<(), Status> {
    let plural = if kind_name == "ClusterRole" {
        "clusterroles"
    } else {
        "clusterrolebindings"
    };
    let Some(kind) = registry.catalog().find_resource(RBAC_GROUP, plural) else {
        return Ok(());
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match registry.get(&kind, None, &name).await {
        Err(s) if s.reason == "NotFound" => {
            registry.create(&kind, None, object).await?;
        }
        Err(s) => return Err(s),
        Ok(current) => {
            let auto = current
                .pointer("/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate")
                .and_then(Value::as_str)
                == Some("true");
            let aggregated = current.get("aggregationRule").is_some();
            let same = ["rules", "subjects", "roleRef", "aggregationRule"]
                .iter()
                .all(|f| aggregated && *f == "rules" || current.get(f) == object.get(f));
            if auto && !same {
                let mut next = object;
                next["metadata"] = current["metadata"].clone();
                if aggregated {
                    next["rules"] = current["rules"].clone();
                }
                registry
                    .update(&kind, None, &name, next, Target::Main)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Loads the index from storage and keeps it current; returns once loaded.
pub async fn start_sync(registry: &Registry, authorizer: &Authorizer) -> Result<(), Status> {
    let revision = load(registry, authorizer).await?;
    write_back_aggregation(registry, authorizer).await;
    let registry = registry.clone();
    let authorizer = authorizer.clone();
    tokio::spawn(async move {
        let mut from = revision;
        loop {
            // One follower per kind; when any ends (compaction, overload), relist all.
            let followers = RBAC_KINDS.iter().filter_map(|(kind_name, plural)| {
                let kind = registry.catalog().find_resource(RBAC_GROUP, plural)?;
                Some(Box::pin(follow(
                    &registry,
                    &authorizer,
                    kind,
                    kind_name,
                    from,
                )))
            });
            futures::future::select_all(followers).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            match load(&registry, &authorizer).await {
                Ok(revision) => from = revision,
                Err(e) => tracing::warn!(error = %e.message, "RBAC relist failed"),
            }
        }
    });
    Ok(())
}

/// Rebuilds the index from the four kinds; returns the revision it reflects.
async fn load(registry: &Registry, authorizer: &Authorizer) -> Result<u64, Status> {
    let mut objects = Vec::new();
    let mut revision = u64::MAX;
    for (kind_name, plural) in RBAC_KINDS {
        let Some(kind) = registry.catalog().find_resource(RBAC_GROUP, plural) else {
            continue;
        };
        let list = registry.list(&kind, None, ListOptions::default()).await?;
        let listed: u64 = list["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        revision = revision.min(listed);
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            objects.push((kind_name, item));
        }
    }
    let index = RbacIndex::from_objects(objects.iter().map(|(k, o)| (*k, o)));
    authorizer.update(|current| *current = index);
    Ok(if revision == u64::MAX { 0 } else { revision })
}

/// Applies watch events until the watch ends.
async fn follow(
    registry: &Registry,
    authorizer: &Authorizer,
    kind: Arc<crate::api::Kind>,
    kind_name: &str,
    from: u64,
) {
    let Ok(mut events) = registry
        .watch(kind, None, from, crate::registry::Filter::default())
        .await
    else {
        return;
    };
    while let Some(event) = events.next().await {
        let Ok(event) = event else { return };
        authorizer.observe(kind_name, &event.object, event.type_ == "DELETED");
        if kind_name == "ClusterRole" {
            write_back_aggregation(registry, authorizer).await;
        }
    }
}

/// Stores the computed rules of aggregated ClusterRoles whose stored rules differ.
async fn write_back_aggregation(registry: &Registry, authorizer: &Authorizer) {
    let Some(kind) = registry.catalog().find_resource(RBAC_GROUP, "clusterroles") else {
        return;
    };
    for update in authorizer.index().pending_aggregation_updates() {
        let Ok(mut role) = registry.get(&kind, None, &update.name).await else {
            continue;
        };
        update.apply_to(&mut role);
        if let Err(e) = registry
            .update(&kind, None, &update.name, role, Target::Main)
            .await
        {
            tracing::debug!(role = %update.name, error = %e.message, "aggregation write-back deferred");
        }
    }
}
