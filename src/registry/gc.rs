//! Garbage collection and object lifecycles, as kube's garbage collector and namespace
//! controller do them:
//!
//! - `propagationPolicy` on delete: `Background` (the default: the owner goes now, its
//!   dependents after it), `Foreground` (the owner waits, with the `foregroundDeletion`
//!   finalizer, until its dependents that block owner deletion are gone) and `Orphan`
//!   (the `orphan` finalizer: dependents lose their owner reference and stay).
//! - Dependents whose owners are all gone are deleted.
//! - A deleted Namespace turns `Terminating`, every object in it is deleted, then its
//!   `kubernetes` finalizer is removed and it goes.
//!
//! One task follows every change in the store (a watch on the root prefix) and keeps an
//! ownership graph by uid; it acts through the registry like any other writer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Registry, Target};
use crate::api::Kind;
use crate::api::status::Status;
use crate::storage::{Event, EventKind, KeyValue, ListOptions};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// How a delete treats the object's dependents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    /// `DeleteOptions.propagationPolicy` (and the deprecated `orphanDependents`).
    pub fn from_options(options: &Value) -> Result<Propagation, String> {
        match options.get("propagationPolicy").and_then(Value::as_str) {
            Some("Background") => Ok(Propagation::Background),
            Some("Foreground") => Ok(Propagation::Foreground),
            Some("Orphan") => Ok(Propagation::Orphan),
            Some(other) => Err(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Background\", \"Foreground\", \"Orphan\""
            )),
            None if options.get("orphanDependents") == Some(&json!(true)) => {
                Ok(Propagation::Orphan)
            }
            None => Ok(Propagation::Background),
        }
    }
}

/// What a delete asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Expected resourceVersion (`preconditions.resourceVersion`).
    pub precondition: Option<u64>,
    /// Expected uid (`preconditions.uid`).
    pub uid: Option<String>,
    pub propagation: Propagation,
    pub dry_run: bool,
}

/// Adds the finalizer a Foreground or Orphan delete needs (kube's `deletionFinalizers`).
pub fn add_policy_finalizer(object: &mut Value, propagation: Propagation) {
    let finalizer = match propagation {
        Propagation::Background => return,
        Propagation::Foreground => FOREGROUND,
        Propagation::Orphan => ORPHAN,
    };
    if !object.get("metadata").is_some_and(Value::is_object) {
        return;
    }
    let list = object["metadata"]
        .as_object_mut()
        .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = list
        && !list.iter().any(|f| f == finalizer)
    {
        list.push(json!(finalizer));
    }
}

/// One object as the collector sees it.
#[derive(Debug, Clone)]
struct Node {
    key: Arc<str>,
    /// (owner uid, blockOwnerDeletion).
    owners: Vec<(Arc<str>, bool)>,
    deleting: bool,
    finalizers: Vec<String>,
    namespace: String,
}

/// Where an object lives, from its storage key `/<group|core>/<plural>/[<ns>/]<name>`.
struct Location {
    group: String,
    plural: String,
    namespace: Option<String>,
    name: String,
}

fn locate(key: &str) -> Option<Location> {
    let parts: Vec<&str> = key.trim_start_matches('/').split('/').collect();
    let group = match parts.first()? {
        &"core" => String::new(),
        g => g.to_string(),
    };
    let (namespace, name) = match parts.len() {
        3 => (None, parts[2].to_string()),
        4 => (Some(parts[2].to_string()), parts[3].to_string()),
        _ => return None,
    };
    Some(Location {
        group,
        plural: parts.get(1)?.to_string(),
        namespace,
        name,
    })
}

/// The part of a stored object the graph reads.
#[derive(serde::Deserialize)]
struct Stored {
    #[serde(default)]
    metadata: StoredMeta,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StoredMeta {
    uid: Option<String>,
    namespace: Option<String>,
    deletion_timestamp: Option<serde::de::IgnoredAny>,
    #[serde(deserialize_with = "null_as_default")]
    finalizers: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    owner_references: Vec<StoredOwner>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredOwner {
    uid: Option<String>,
    block_owner_deletion: Option<bool>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<Arc<str>, Node>,
    dependents: HashMap<Arc<str>, HashSet<Arc<str>>>,
    uid_of_key: HashMap<Arc<str>, Arc<str>>,
}

impl Graph {
    fn put(&mut self, kv: &KeyValue) -> Option<Arc<str>> {
        // Only the metadata is read: the rest of the object (a PlacementDecision's hundred
        // decisions, a work's manifests) is skipped without being built.
        let stored: Stored = serde_json::from_slice(&kv.value).ok()?;
        let meta = stored.metadata;
        let uid = meta.uid?;
        self.remove_key(&kv.key);
        // A uid or key is one allocation however many maps hold it (a hub holds every
        // object here, a dozen per managed cluster).
        let uid = self.shared_uid(&uid);
        let key: Arc<str> = Arc::from(kv.key.as_str());
        let owners: Vec<(Arc<str>, bool)> = meta
            .owner_references
            .into_iter()
            .filter_map(|o| {
                Some((
                    self.shared_uid(&o.uid?),
                    o.block_owner_deletion == Some(true),
                ))
            })
            .collect();
        for (owner, _) in &owners {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert(uid.clone());
        }
        let node = Node {
            key: key.clone(),
            owners,
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers,
            namespace: meta.namespace.unwrap_or_default(),
        };
        self.uid_of_key.insert(key, uid.clone());
        self.nodes.insert(uid.clone(), node);
        Some(uid)
    }

    /// `uid` as the graph already holds it (as an object or an owner), else a new one.
    fn shared_uid(&self, uid: &str) -> Arc<str> {
        self.nodes
            .get_key_value(uid)
            .map(|(k, _)| k.clone())
            .or_else(|| self.dependents.get_key_value(uid).map(|(k, _)| k.clone()))
            .unwrap_or_else(|| Arc::from(uid))
    }

    fn remove_key(&mut self, key: &str) -> Option<(Arc<str>, Node)> {
        let uid = self.uid_of_key.remove(key)?;
        let node = self.nodes.remove(&uid)?;
        for (owner, _) in &node.owners {
            if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&uid);
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
        Some((uid, node))
    }

    fn dependents_of(&self, uid: &str) -> Vec<Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d).cloned())
            .collect()
    }

    /// An object with owners, none of which exists any more.
    fn orphaned(&self, node: &Node) -> bool {
        !node.owners.is_empty() && node.owners.iter().all(|(o, _)| !self.nodes.contains_key(o))
    }
}

impl Registry {
    /// Starts the collector; it runs until the process ends.
    pub fn spawn_garbage_collector(&self) {
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = registry.collect().await {
                    tracing::warn!(error = %e.message, "garbage collector restarts");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// One life of the collector: load the graph, settle what is pending, follow changes.
    async fn collect(&self) -> Result<(), Status> {
        let unavailable = |e: crate::storage::StoreError| Status::unavailable(e.to_string());
        let snapshot = self
            .store
            .list("/", ListOptions::default())
            .await
            .map_err(unavailable)?;
        let mut graph = Graph::default();
        for kv in &snapshot.items {
            graph.put(kv);
        }
        let pending: Vec<Arc<str>> = graph.nodes.keys().cloned().collect();
        for uid in pending {
            if let Some(node) = graph.nodes.get(&uid).cloned() {
                self.settle(&graph, &uid, &node).await;
            }
        }
        let mut events = self
            .store
            .watch("/", snapshot.revision)
            .await
            .map_err(unavailable)?;
        while let Some(event) = events.next().await {
            let event: Event = event.map_err(unavailable)?;
            match event.kind {
                EventKind::Put => {
                    if let Some(uid) = graph.put(&event.kv)
                        && let Some(node) = graph.nodes.get(&uid).cloned()
                    {
                        self.settle(&graph, &uid, &node).await;
                    }
                }
                EventKind::Delete => {
                    let Some((uid, node)) = graph.remove_key(&event.kv.key) else {
                        continue;
                    };
                    // Its dependents may now be orphans; its owners may be waiting for it.
                    for dependent in graph.dependents_of(&uid) {
                        if graph.orphaned(&dependent) {
                            self.delete_node(&dependent, Propagation::Background).await;
                        }
                    }
                    for (owner, _) in &node.owners {
                        if let Some(owner_node) = graph.nodes.get(owner).cloned() {
                            self.settle(&graph, owner, &owner_node).await;
                        }
                    }
                    if !node.namespace.is_empty()
                        && let Some(ns_uid) = graph
                            .uid_of_key
                            .get(format!("/core/namespaces/{}", node.namespace).as_str())
                            .cloned()
                        && let Some(ns) = graph.nodes.get(&ns_uid).cloned()
                    {
                        self.settle(&graph, &ns_uid, &ns).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Does what one object's state calls for.
    async fn settle(&self, graph: &Graph, uid: &str, node: &Node) {
        if graph.orphaned(node) && !node.deleting {
            self.delete_node(node, Propagation::Background).await;
            return;
        }
        if !node.deleting {
            return;
        }
        let dependents = graph.dependents_of(uid);
        if node.finalizers.iter().any(|f| f == ORPHAN) {
            for dependent in &dependents {
                self.drop_owner(dependent, uid).await;
            }
            self.remove_finalizer(node, ORPHAN).await;
        } else if node.finalizers.iter().any(|f| f == FOREGROUND) {
            for dependent in dependents.iter().filter(|d| !d.deleting) {
                self.delete_node(dependent, Propagation::Foreground).await;
            }
            let blocked = dependents
                .iter()
                .any(|d| d.owners.iter().any(|(o, block)| &**o == uid && *block));
            if !blocked {
                self.remove_finalizer(node, FOREGROUND).await;
            }
        }
        if node.key.starts_with("/core/namespaces/") {
            self.terminate_namespace(graph, node).await;
        }
    }

    fn kind_at(&self, key: &str) -> Option<(std::sync::Arc<Kind>, Location)> {
        let location = locate(key)?;
        let kind = self
            .catalog
            .find_resource(&location.group, &location.plural)?;
        Some((kind, location))
    }

    async fn delete_node(&self, node: &Node, propagation: Propagation) {
        let Some((kind, at)) = self.kind_at(&node.key) else {
            return;
        };
        let options = DeleteOptions {
            propagation,
            ..DeleteOptions::default()
        };
        match self
            .delete_with(&kind, at.namespace.as_deref(), &at.name, &options)
            .await
        {
            Ok(_) => tracing::debug!(kind = %kind.kind, name = %at.name, "garbage collected"),
            Err(e) if e.reason == "NotFound" => {}
            Err(e) => {
                tracing::debug!(kind = %kind.kind, name = %at.name, error = %e.message, "collection deferred")
            }
        }
    }

    /// Re-reads the object and writes `change` over it (conflicts are retried by the next
    /// event for it).
    async fn modify(&self, node: &Node, target: Target, change: impl Fn(&mut Value)) {
        let Some((kind, at)) = self.kind_at(&node.key) else {
            return;
        };
        let ns = at.namespace.as_deref();
        for _ in 0..4 {
            let Ok(mut object) = self.get(&kind, ns, &at.name).await else {
                return;
            };
            change(&mut object);
            match self.update(&kind, ns, &at.name, object, target).await {
                Err(e) if e.reason == "Conflict" => continue,
                Err(e) if e.reason == "NotFound" => return,
                Err(e) => {
                    tracing::debug!(name = %at.name, error = %e.message, "garbage collector write failed");
                    return;
                }
                Ok(_) => return,
            }
        }
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) {
        self.modify(node, Target::Main, |o| {
            if let Some(Value::Array(list)) = o.pointer_mut("/metadata/finalizers") {
                list.retain(|f| f != finalizer);
            }
        })
        .await;
    }

    async fn drop_owner(&self, node: &Node, owner: &str) {
        self.modify(node, Target::Main, |o| {
            if let Some(Value::Array(list)) = o.pointer_mut("/metadata/ownerReferences") {
                list.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner));
            }
        })
        .await;
    }

    /// A deleting Namespace: Terminating, then empty, then finalized.
    async fn terminate_namespace(&self, graph: &Graph, node: &Node) {
        let Some(name) = node.key.strip_prefix("/core/namespaces/") else {
            return;
        };
        self.modify(node, Target::Status, |o| {
            o["status"]["phase"] = json!("Terminating");
        })
        .await;
        let inside: Vec<Node> = graph
            .nodes
            .values()
            .filter(|n| n.namespace == name && !n.key.starts_with("/core/namespaces/"))
            .cloned()
            .collect();
        if inside.is_empty() {
            self.modify(node, Target::Finalize, |o| {
                if let Some(Value::Array(list)) = o.pointer_mut("/spec/finalizers") {
                    list.retain(|f| f != "kubernetes");
                }
            })
            .await;
            return;
        }
        for object in inside.iter().filter(|n| !n.deleting) {
            self.delete_node(object, Propagation::Background).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_keys() {
        assert_eq!(
            Propagation::from_options(&json!({})),
            Ok(Propagation::Background)
        );
        assert_eq!(
            Propagation::from_options(&json!({"propagationPolicy": "Foreground"})),
            Ok(Propagation::Foreground)
        );
        assert_eq!(
            Propagation::from_options(&json!({"orphanDependents": true})),
            Ok(Propagation::Orphan)
        );
        assert!(Propagation::from_options(&json!({"propagationPolicy": "Later"})).is_err());
        let mut o = json!({"metadata": {"name": "a"}});
        add_policy_finalizer(&mut o, Propagation::Foreground);
        add_policy_finalizer(&mut o, Propagation::Foreground);
        assert_eq!(o["metadata"]["finalizers"], json!([FOREGROUND]));
        let at = locate("/core/configmaps/ns1/a").expect("located");
        assert_eq!(
            (
                at.group.as_str(),
                at.plural.as_str(),
                at.namespace.as_deref(),
                at.name.as_str()
            ),
            ("", "configmaps", Some("ns1"), "a")
        );
        let at = locate("/cluster.open-cluster-management.io/managedclusters/c1").expect("located");
        assert_eq!(
            (at.group.as_str(), at.namespace),
            ("cluster.open-cluster-management.io", None)
        );
    }
}
