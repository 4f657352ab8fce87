//! Which configs an add-on should use on a cluster, and with which spec hash.
//!
//! Precedence, per config group/resource: the ManagedClusterAddOn's `spec.configs`, then
//! the configs of the install-strategy placement the cluster is in (the last listed
//! placement holding it wins), then the ClusterManagementAddOn's defaults
//! (`supportedConfigs[].defaultConfig`). A level that names a group/resource replaces
//! every config of it from the levels below. The spec hash of a config is the SHA-256 of
//! its JSON without `apiVersion`, `kind`, `metadata` and `status`, encoded as Go's
//! `encoding/json` does (sorted keys, HTML characters escaped), so hashes equal upstream's.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sha2::Digest;

use crate::api::meta::find_condition;
use crate::api::ocm::{
    AddOnConfig, ClusterManagementAddOn, ConfigReference, ConfigSpecHash, ManagedClusterAddOn,
};
use crate::api::status::Status;
use crate::hub::objects::Objects;
use crate::hub::rollout::{ClusterStatus, Status as Rollout};

/// A config kind: (group, resource).
pub type GroupResource = (String, String);

/// The desired configs by group/resource, in (group, resource) order.
pub type DesiredConfigs = BTreeMap<GroupResource, Vec<ConfigReference>>;

/// A config reference to `namespace/name` of `group/resource` with an empty spec hash.
pub fn reference(
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> ConfigReference {
    let namespace = namespace.filter(|n| !n.is_empty()).map(str::to_string);
    ConfigReference {
        group: group.to_string(),
        resource: resource.to_string(),
        namespace: namespace.clone(),
        name: name.to_string(),
        last_observed_generation: 0,
        desired_config: Some(ConfigSpecHash {
            namespace,
            name: name.to_string(),
            spec_hash: String::new(),
        }),
        last_applied_config: None,
    }
}

/// The CMA's default configs.
pub fn defaults(cma: &ClusterManagementAddOn) -> DesiredConfigs {
    let mut out = DesiredConfigs::new();
    for c in &cma.spec.supported_configs {
        if let Some(d) = &c.default_config {
            out.insert(
                (c.group.clone(), c.resource.clone()),
                vec![reference(
                    &c.group,
                    &c.resource,
                    d.namespace.as_deref(),
                    &d.name,
                )],
            );
        }
    }
    out
}

/// `desired` with every group/resource named in `configs` replaced by those configs.
pub fn overridden(desired: &DesiredConfigs, configs: &[AddOnConfig]) -> DesiredConfigs {
    let mut out = desired.clone();
    let mut replaced: Vec<GroupResource> = Vec::new();
    for c in configs {
        let gr = (c.group.clone(), c.resource.clone());
        if !replaced.contains(&gr) {
            out.insert(gr.clone(), Vec::new());
            replaced.push(gr.clone());
        }
        let list = out.entry(gr).or_default();
        let r = reference(&c.group, &c.resource, c.namespace.as_deref(), &c.name);
        if !list.iter().any(|e| same_referent(e, &r)) {
            list.push(r);
        }
    }
    out
}

/// The desired configs as a flat list, in (group, resource) order.
pub fn flatten(desired: &DesiredConfigs) -> Vec<ConfigReference> {
    desired.values().flatten().cloned().collect()
}

fn referent(r: &ConfigReference) -> Option<(Option<&str>, &str)> {
    r.desired_config.as_ref().map(|d| {
        (
            d.namespace.as_deref().filter(|n| !n.is_empty()),
            d.name.as_str(),
        )
    })
}

fn same_referent(a: &ConfigReference, b: &ConfigReference) -> bool {
    a.group == b.group
        && a.resource == b.resource
        && referent(a).is_some()
        && referent(a) == referent(b)
}

/// The SHA-256 (hex) of an object's configuration fields, as upstream computes it.
pub fn spec_hash(object: &Value) -> String {
    let mut fields = serde_json::Map::new();
    if let Some(o) = object.as_object() {
        for (k, v) in o {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    let text = go_json(&Value::Object(fields));
    hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// JSON as Go's `encoding/json` writes it: sorted keys (serde_json's maps are ordered)
/// and `<`, `>`, `&`, U+2028, U+2029 escaped.
pub fn go_json(value: &Value) -> String {
    let text = value.to_string();
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A config object: group, resource, namespace, name.
type ConfigKey = (String, String, Option<String>, String);

/// Spec hashes of config objects, read once per reconcile.
pub struct Hashes<'a> {
    objects: &'a Objects,
    seen: HashMap<ConfigKey, Option<(String, i64)>>,
}

impl<'a> Hashes<'a> {
    pub fn new(objects: &'a Objects) -> Self {
        Hashes {
            objects,
            seen: HashMap::new(),
        }
    }

    /// The spec hash and generation of a config; `None` when it (or its kind) does not
    /// exist.
    pub async fn of(
        &mut self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<(String, i64)>, Status> {
        let key = (
            group.to_string(),
            resource.to_string(),
            namespace.map(str::to_string),
            name.to_string(),
        );
        if let Some(h) = self.seen.get(&key) {
            return Ok(h.clone());
        }
        let hash = match self
            .objects
            .registry
            .catalog()
            .find_resource(group, resource)
        {
            None => None,
            Some(kind) => {
                let ns = if kind.namespaced() { namespace } else { None };
                self.objects.get(&kind, ns, name).await?.map(|o| {
                    let generation = o
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    (spec_hash(&o), generation)
                })
            }
        };
        self.seen.insert(key, hash.clone());
        Ok(hash)
    }

    /// Fills in the spec hash (empty when the config is missing) and the config's
    /// generation (the deprecated `lastObservedGeneration`) of every desired config.
    pub async fn fill(&mut self, desired: &mut DesiredConfigs) -> Result<(), Status> {
        for list in desired.values_mut() {
            for r in list.iter_mut() {
                let Some(d) = r.desired_config.as_mut() else {
                    continue;
                };
                let (hash, generation) = self
                    .of(&r.group, &r.resource, d.namespace.as_deref(), &d.name)
                    .await?
                    .unwrap_or_default();
                d.spec_hash = hash;
                r.last_observed_generation = generation;
            }
        }
        Ok(())
    }
}

/// Where an add-on's configuration change stands on its cluster: to apply while its
/// `configReferences` differ from `desired`; progressing or failed (per its `Progressing`
/// condition) while the desired configs are not yet applied; else succeeded.
pub fn rollout_status(mca: &ManagedClusterAddOn, desired: &DesiredConfigs) -> ClusterStatus {
    let cluster = mca.metadata.namespace.as_deref().unwrap_or("");
    let empty = Vec::new();
    let status = mca.status.as_ref();
    let actual = status.map_or(&empty, |s| &s.config_references);
    let conditions = status.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    let progressing = find_condition(conditions, "Progressing");
    let since = |reason: &str| {
        progressing
            .filter(|p| p.reason == reason)
            .map(|p| p.last_transition_time.0)
    };
    let count: usize = desired.values().map(Vec::len).sum();
    if actual.len() != count {
        return ClusterStatus::new(cluster, Rollout::ToApply, None);
    }
    for a in actual {
        let wanted = desired
            .get(&(a.group.clone(), a.resource.clone()))
            .and_then(|list| list.iter().find(|d| same_referent(d, a)));
        let Some(wanted) = wanted else {
            return ClusterStatus::new(cluster, Rollout::ToApply, None);
        };
        if wanted.desired_config != a.desired_config {
            return ClusterStatus::new(cluster, Rollout::ToApply, None);
        }
        if a.last_applied_config != a.desired_config {
            return match progressing.map(|p| p.reason.as_str()) {
                Some("Failed") => ClusterStatus::new(cluster, Rollout::Failed, since("Failed")),
                Some("Progressing") => {
                    ClusterStatus::new(cluster, Rollout::Progressing, since("Progressing"))
                }
                _ => ClusterStatus::new(cluster, Rollout::Progressing, None),
            };
        }
    }
    ClusterStatus::new(cluster, Rollout::Succeeded, since("Completed"))
}

/// The add-on's `configReferences` with `desired` applied: references still desired keep
/// their applied state, new ones are added, the rest dropped; in (group, resource) order.
pub fn merged(current: &[ConfigReference], desired: &DesiredConfigs) -> Vec<ConfigReference> {
    let mut merged = DesiredConfigs::new();
    for r in current {
        let gr = (r.group.clone(), r.resource.clone());
        let list = merged.entry(gr.clone()).or_default();
        if desired
            .get(&gr)
            .is_some_and(|d| d.iter().any(|d| same_referent(d, r)))
        {
            list.push(r.clone());
        }
    }
    for (gr, wanted) in desired {
        let list = merged.entry(gr.clone()).or_default();
        for w in wanted {
            match list.iter_mut().find(|e| same_referent(e, w)) {
                Some(e) => {
                    e.namespace = w.namespace.clone();
                    e.name = w.name.clone();
                    e.desired_config = w.desired_config.clone();
                    e.last_observed_generation = w.last_observed_generation;
                }
                None => list.push(w.clone()),
            }
        }
    }
    flatten(&merged)
}

/// `open-cluster-management.io/config-spec-hash` of a work rendered from `refs`:
/// `<resource>[.<group>]/<namespace>/<name>` → spec hash.
pub fn spec_hash_map(refs: &[ConfigReference]) -> BTreeMap<String, String> {
    refs.iter()
        .filter_map(|r| {
            let d = r.desired_config.as_ref()?;
            let mut key = r.resource.clone();
            if !r.group.is_empty() {
                key.push('.');
                key.push_str(&r.group);
            }
            key.push_str(&format!(
                "/{}/{}",
                d.namespace.as_deref().unwrap_or(""),
                d.name
            ));
            Some((key, d.spec_hash.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cma(v: Value) -> ClusterManagementAddOn {
        serde_json::from_value(v).expect("cma")
    }

    #[test]
    fn hash_is_gos_sorted_escaped_json_without_metadata() {
        let o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "status": {"x": 1}, "spec": {"b": "<&>", "a": 1}});
        let expected = hex(&sha2::Sha256::digest(
            br#"{"spec":{"a":1,"b":"\u003c\u0026\u003e"}}"#,
        ));
        assert_eq!(spec_hash(&o), expected);
    }

    /// `go_json` is kept rather than `api::schema::golang::json`: they agree on sorted
    /// keys, HTML escapes and integers, but not on floats (`1.0`, `1e-7`), `\b`, or
    /// integers beyond `i64`, so configs with such values would change spec hash.
    #[test]
    fn go_json_is_not_schema_golang_json() {
        let golang = crate::api::schema::golang::json;
        let same = json!({"b": "<&>\u{2028}\"", "a": [1, -2, 0.5, null, true, {}]});
        assert_eq!(go_json(&same), golang(&same));
        for v in [json!(1.0), json!(1e-7), json!("\u{8}"), json!(u64::MAX)] {
            assert_ne!(go_json(&v), golang(&v), "{v}");
        }
    }

    #[test]
    fn precedence_replaces_whole_group_resource() {
        let c = cma(
            json!({"metadata": {"name": "a"}, "spec": {"supportedConfigs": [
            {"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
             "defaultConfig": {"namespace": "ns", "name": "default"}},
            {"group": "addon.open-cluster-management.io", "resource": "addontemplates",
             "defaultConfig": {"name": "t1"}}]}}),
        );
        let d = defaults(&c);
        assert_eq!(flatten(&d).len(), 2);
        let placed = overridden(
            &d,
            &[AddOnConfig {
                group: "addon.open-cluster-management.io".into(),
                resource: "addondeploymentconfigs".into(),
                namespace: Some("ns".into()),
                name: "p".into(),
            }],
        );
        let names: Vec<_> = flatten(&placed).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["p", "t1"]);
        let map = spec_hash_map(&flatten(&placed));
        assert!(map.contains_key("addondeploymentconfigs.addon.open-cluster-management.io/ns/p"));
        assert!(map.contains_key("addontemplates.addon.open-cluster-management.io//t1"));
    }

    #[test]
    fn rollout_status_follows_references_and_progressing() {
        let mut desired = DesiredConfigs::new();
        let mut r = reference("g", "r", None, "c");
        r.desired_config.as_mut().unwrap().spec_hash = "h1".into();
        desired.insert(("g".into(), "r".into()), vec![r.clone()]);
        let mca = |refs: Value, reason: &str| -> ManagedClusterAddOn {
            serde_json::from_value(json!({"metadata": {"name": "a", "namespace": "c1"}, "spec": {},
                "status": {"configReferences": refs, "conditions": [{"type": "Progressing",
                "status": "True", "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
            .expect("mca")
        };
        let s = |m: &ManagedClusterAddOn| rollout_status(m, &desired).status;
        assert_eq!(s(&mca(json!([]), "Progressing")), Rollout::ToApply);
        let old = json!([{"group": "g", "resource": "r", "name": "c",
            "desiredConfig": {"name": "c", "specHash": "h0"}}]);
        assert_eq!(s(&mca(old, "Completed")), Rollout::ToApply);
        let pending = json!([{"group": "g", "resource": "r", "name": "c",
            "desiredConfig": {"name": "c", "specHash": "h1"}, "lastAppliedConfig": {"name": "c", "specHash": "h0"}}]);
        assert_eq!(s(&mca(pending.clone(), "Failed")), Rollout::Failed);
        assert_eq!(s(&mca(pending, "Progressing")), Rollout::Progressing);
        let done = json!([{"group": "g", "resource": "r", "name": "c",
            "desiredConfig": {"name": "c", "specHash": "h1"}, "lastAppliedConfig": {"name": "c", "specHash": "h1"}}]);
        assert_eq!(s(&mca(done, "Completed")), Rollout::Succeeded);
        let merged = merged(&[], &desired);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].desired_config.as_ref().unwrap().spec_hash, "h1");
    }
}
