//! Applying one manifest to the managed cluster with a ManifestWork update strategy
//! (`Update`, `CreateOnly`, `ServerSideApply`, `ReadOnly`), keeping the owner reference
//! to the AppliedManifestWork as the delete option says.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::{Value, json};

use crate::api::ocm::{
    IgnoreField, IgnoreFieldsCondition, ManifestConfigOption, ManifestResourceMeta,
    ResourceIdentifier, UpdateStrategyType,
};

/// The annotation holding the hash of a manifest without its ignored fields: while it
/// matches, the agent does not apply the manifest again.
pub const CONFIG_HASH: &str = "open-cluster-management.io/config-spec-hash";

fn annotation<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    object
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The manifest to create with (all of it) and to apply afterwards (without the fields
/// ignored while present on the managed cluster), both annotated with the hash of the
/// latter.
fn ignoring(manifest: &Value, ignore: &[IgnoreField]) -> Result<(Value, Value, String), String> {
    let mut stripped = manifest.clone();
    for entry in ignore
        .iter()
        .filter(|e| e.condition != IgnoreFieldsCondition::OnSpokeChange)
    {
        super::ignore::strip(&mut stripped, entry)
            .map_err(|e| format!("Failed to process ignoreFields: {e}"))?;
    }
    use sha2::Digest;
    let hash = format!(
        "{:x}",
        sha2::Sha256::digest(serde_json::to_vec(&stripped).unwrap_or_default())
    );
    let mut full = manifest.clone();
    for v in [&mut full, &mut stripped] {
        if !v["metadata"]["annotations"].is_object() {
            v["metadata"]["annotations"] = json!({});
        }
        v["metadata"]["annotations"][CONFIG_HASH] = json!(hash);
    }
    Ok((full, stripped, hash))
}

/// What a manifest resolves to on the managed cluster.
#[derive(Clone, Debug)]
pub struct Target {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub namespace: String,
    pub name: String,
}

impl Target {
    pub fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client.clone(), &self.namespace, &self.resource)
        } else {
            Api::all_with(client.clone(), &self.resource)
        }
    }

    /// `resourceMeta` of a manifest condition.
    pub fn meta(&self, ordinal: usize) -> ManifestResourceMeta {
        ManifestResourceMeta {
            ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
            group: self.resource.group.clone(),
            version: self.resource.version.clone(),
            kind: self.resource.kind.clone(),
            resource: self.resource.plural.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Whether a `resourceIdentifier` (of a manifestConfig or an orphaning rule) names this
    /// resource.
    pub fn is(&self, id: &ResourceIdentifier) -> bool {
        id.group == self.resource.group
            && id.resource == self.resource.plural
            && id.namespace == self.namespace
            && id.name == self.name
    }
}

/// Resolves a manifest's kind through discovery.
pub fn resolve(discovery: &kube::Discovery, manifest: &Value) -> Result<Target, String> {
    let api_version = manifest
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = manifest.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps): (ApiResource, ApiCapabilities) = discovery
        .resolve_gvk(&gvk)
        .ok_or_else(|| format!("the managed cluster does not serve {kind} in {api_version}"))?;
    let namespaced = caps.scope == Scope::Namespaced;
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut namespace = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if namespaced && namespace.is_empty() {
        namespace = "default".into();
    }
    if !namespaced {
        namespace.clear();
    }
    Ok(Target {
        resource,
        namespaced,
        namespace,
        name,
    })
}

/// An update strategy (`manifestConfigs[].updateStrategy`).
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Update,
    CreateOnly,
    ServerSideApply {
        field_manager: String,
        force: bool,
        /// `serverSideApply.ignoreFields`.
        ignore: Vec<IgnoreField>,
    },
    ReadOnly,
}

impl Strategy {
    pub fn from_config(config: Option<&ManifestConfigOption>) -> Strategy {
        let Some(strategy) = config.and_then(|c| c.update_strategy.as_ref()) else {
            return Strategy::Update;
        };
        match strategy.type_ {
            UpdateStrategyType::CreateOnly => Strategy::CreateOnly,
            UpdateStrategyType::ReadOnly => Strategy::ReadOnly,
            UpdateStrategyType::ServerSideApply => {
                let ssa = strategy.server_side_apply.as_ref();
                Strategy::ServerSideApply {
                    field_manager: ssa
                        .and_then(|c| c.field_manager.clone())
                        .filter(|f| !f.is_empty())
                        .unwrap_or_else(|| "work-agent".into()),
                    force: ssa.is_some_and(|c| c.force),
                    ignore: ssa.map(|c| c.ignore_fields.clone()).unwrap_or_default(),
                }
            }
            UpdateStrategyType::Update => Strategy::Update,
        }
    }
}

/// Applies `manifest` to `target`; `owner` is the owner reference to keep on it (none when
/// orphaned). Returns the object as it now is.
pub async fn apply(
    client: &kube::Client,
    target: &Target,
    mut manifest: Value,
    strategy: &Strategy,
    owner: Option<&Value>,
) -> Result<DynamicObject, String> {
    let api = target.api(client);
    if let Some(m) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        for server_owned in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(server_owned);
        }
        if target.namespaced {
            m.insert("namespace".into(), json!(target.namespace));
        }
    }
    let existing = api.get_opt(&target.name).await.map_err(describe)?;
    if let Strategy::ReadOnly = strategy {
        return existing.ok_or_else(|| {
            format!(
                "{} {} does not exist (read only)",
                target.resource.kind, target.name
            )
        });
    }
    if let Some(o) = owner {
        add_owner(&mut manifest, o);
    }
    match (strategy, existing) {
        (
            Strategy::ServerSideApply {
                field_manager,
                force,
                ignore,
            },
            existing,
        ) => {
            let mut params = PatchParams::apply(field_manager);
            params.force = *force;
            let body = if ignore.is_empty() {
                manifest
            } else {
                let (full, stripped, hash) = ignoring(&manifest, ignore)?;
                match existing {
                    // Created whole; afterwards the ignored fields are left alone.
                    None => full,
                    Some(live) if annotation(&live, CONFIG_HASH) == Some(hash.as_str()) => {
                        return Ok(live);
                    }
                    Some(_) => stripped,
                }
            };
            api.patch(&target.name, &params, &Patch::Apply(&body))
                .await
                .map_err(describe)
        }
        (_, None) => {
            let object: DynamicObject =
                serde_json::from_value(manifest).map_err(|e| e.to_string())?;
            api.create(&PostParams::default(), &object)
                .await
                .map_err(describe)
        }
        (Strategy::CreateOnly, Some(current)) => Ok(current),
        (_, Some(current)) => {
            let current_value = serde_json::to_value(&current).map_err(|e| e.to_string())?;
            if let Some(other) = other_work_owner(&current_value, owner) {
                let mut body = manifest.clone();
                let mut live = current_value.clone();
                for v in [&mut body, &mut live] {
                    if let Some(o) = v.as_object_mut() {
                        o.remove("metadata");
                        o.remove("status");
                    }
                }
                if !derivative(&body, &live) {
                    return Err(format!(
                        "conflict: {} {} is applied by another ManifestWork (AppliedManifestWork {other}) with different content; \
                         not overwriting it",
                        target.resource.kind, target.name
                    ));
                }
            }
            let merged = merge_for_update(&current_value, manifest);
            if merged == current_value {
                return Ok(current);
            }
            let object: DynamicObject =
                serde_json::from_value(merged).map_err(|e| e.to_string())?;
            api.replace(&target.name, &PostParams::default(), &object)
                .await
                .map_err(describe)
        }
    }
}

/// The desired object for an update: the manifest over the live object's metadata
/// (labels and annotations merged, owners added, server fields kept), status kept. Equal
/// to `current` when the manifest asks for nothing new (fields it leaves out, such as
/// server defaults, do not count).
fn merge_for_update(current: &Value, desired: Value) -> Value {
    let want_meta = desired
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut body = desired;
    if let Some(o) = body.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    let mut current_body = current.clone();
    if let Some(o) = current_body.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    let mut next = if derivative(&body, &current_body) {
        current.clone()
    } else {
        let mut n = body;
        n["metadata"] = current
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(status) = current.get("status") {
            n["status"] = status.clone();
        }
        n
    };
    for key in ["labels", "annotations"] {
        if let Some(want) = want_meta.get(key).and_then(Value::as_object) {
            if !next["metadata"].get(key).is_some_and(Value::is_object) {
                next["metadata"][key] = json!({});
            }
            for (k, v) in want {
                next["metadata"][key][k] = v.clone();
            }
        }
    }
    for owner in want_meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add_owner(&mut next, owner);
    }
    next
}

/// True when every field `want` sets has the same value in `have` (kube's semantic
/// "derivative" equality: unset fields in `want` are not compared).
pub fn derivative(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| v.is_null() || h.get(k).is_some_and(|hv| derivative(v, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| derivative(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// The name of another AppliedManifestWork owning `object`, if any.
fn other_work_owner(object: &Value, ours: Option<&Value>) -> Option<String> {
    let our_uid = ours.and_then(|o| o.get("uid"));
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r.get("kind").and_then(Value::as_str) == Some("AppliedManifestWork")
                && r.get("uid") != our_uid
        })
        .and_then(|r| r.get("name").and_then(Value::as_str))
        .map(str::to_string)
}

/// Adds `owner` to the manifest's ownerReferences unless an owner with its uid is there.
fn add_owner(manifest: &mut Value, owner: &Value) {
    let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let refs = meta.entry("ownerReferences").or_insert_with(|| json!([]));
    if let Some(list) = refs.as_array_mut()
        && !list.iter().any(|r| r.get("uid") == owner.get("uid"))
    {
        list.push(owner.clone());
    }
}

/// A kube error as one line.
pub fn describe(e: kube::Error) -> String {
    describe_ref(&e)
}

/// [`describe`] of a borrowed error.
pub fn describe_ref(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({}): {}", s.reason, s.code, s.message),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_fields_leave_the_applied_object_and_its_hash() {
        let manifest = json!({"metadata": {"name": "c"}, "data": {"x": "1", "y": "1"}});
        let ignore = |condition| IgnoreField {
            condition,
            json_paths: vec![".data.x".into()],
            ..Default::default()
        };
        let (full, stripped, hash) =
            ignoring(&manifest, &[ignore(IgnoreFieldsCondition::OnSpokePresent)]).expect("ok");
        assert_eq!(full["data"]["x"], "1");
        assert!(stripped["data"].get("x").is_none());
        assert_eq!(
            stripped["metadata"]["annotations"][CONFIG_HASH],
            hash.as_str()
        );
        // Another x, same hash: nothing to apply again. OnSpokeChange keeps x in the hash.
        let mut other = manifest.clone();
        other["data"]["x"] = json!("2");
        let (_, _, same) =
            ignoring(&other, &[ignore(IgnoreFieldsCondition::OnSpokePresent)]).expect("ok");
        assert_eq!(same, hash);
        let (_, kept, changed) =
            ignoring(&other, &[ignore(IgnoreFieldsCondition::OnSpokeChange)]).expect("ok");
        assert_eq!(kept["data"]["x"], "2");
        assert_ne!(changed, hash);
    }
}
