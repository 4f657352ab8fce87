//! Conversion of add-on objects between `addon.open-cluster-management.io` v1alpha1 and
//! v1beta1, on JSON objects (what storage and requests carry), with upstream's rules
//! (`open-cluster-management.io/api` v1.3 `addon/v1beta1/conversion.go` and OCM's
//! conversion webhook):
//!
//! - ClusterManagementAddOn: v1alpha1 `spec.supportedConfigs[]{group, resource,
//!   defaultConfig}` is v1beta1 `spec.defaultConfigs[]{group, resource, namespace, name}`;
//!   a supported config without a default is carried as the reserved name
//!   [`RESERVED_NO_DEFAULT_CONFIG_NAME`]. `status.defaultconfigReferences` is
//!   `status.defaultConfigReferences`.
//! - ManagedClusterAddOn: v1alpha1 `spec.installNamespace` is the annotation
//!   [`INSTALL_NAMESPACE_ANNOTATION`] in v1beta1. A v1alpha1 registration
//!   `{signerName, subject}` is `{type: kubeClient, kubeClient: {subject{user, groups},
//!   driver}}` for the `kubernetes.io/kube-apiserver-client` signer and `{type:
//!   customSigner, customSigner: {signerName, subject}}` otherwise (`organizationUnit` is
//!   `organizationUnits`); `status.kubeClientDriver` is the driver of every kubeClient
//!   registration (read back from the first). A v1beta1 config reference names its config
//!   only through `desiredConfig`; v1alpha1's `name` and `namespace` are taken from it.
//! - AddOnDeploymentConfig: the same fields; its versions are only relabelled.
//!
//! v1alpha1 is stored, as upstream does; a v1beta1 client that reads an object and writes
//! it back must not lose what only v1alpha1 can say. What the rules above cannot carry
//! goes, as JSON in v1alpha1's shape, into the
//! annotation [`V1ALPHA1_FIELDS_ANNOTATION`]: the deprecated `addOnConfiguration` (both
//! kinds), a `kubeClientDriver` without a kubeClient registration, and whole
//! `registrations` or `configReferences` lists the rules would change (organizational
//! units of a kube-client subject, names that differ from `desiredConfig`). A carried list
//! is used only while it still converts to what v1beta1 holds, so a v1beta1 writer that
//! changed the list wins. Both annotations are removed in the v1alpha1 view.

use serde_json::{Map, Value};

use super::addon::ADDON_GROUP;
use crate::api::Convert;

/// Where v1beta1 keeps a ManagedClusterAddOn's v1alpha1 `spec.installNamespace` (upstream's
/// annotation).
pub const INSTALL_NAMESPACE_ANNOTATION: &str =
    "addon.open-cluster-management.io/v1alpha1-install-namespace";

/// Where v1beta1 keeps the v1alpha1 fields upstream's rules cannot carry (JSON shaped as
/// the v1alpha1 object: `{"spec": {...}, "status": {...}}`).
pub const V1ALPHA1_FIELDS_ANNOTATION: &str = "addon.open-cluster-management.io/v1alpha1-fields";

/// The name a v1beta1 default config has when its v1alpha1 supported config had no default
/// (upstream's reserved sentinel: not a valid object name).
pub const RESERVED_NO_DEFAULT_CONFIG_NAME: &str = "__reserved_no_default__";

const KUBE_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// The conversion of an add-on kind whose versions differ in shape.
pub fn converter(kind: &str) -> Option<Convert> {
    match kind {
        "ClusterManagementAddOn" => Some(convert_cluster_management_add_on),
        "ManagedClusterAddOn" => Some(convert_managed_cluster_add_on),
        _ => None,
    }
}

/// A ClusterManagementAddOn at version `to`.
pub fn convert_cluster_management_add_on(object: &mut Value, to: &str) -> Result<(), String> {
    convert(object, to, cma_to_v1beta1, cma_to_v1alpha1)
}

/// A ManagedClusterAddOn at version `to`.
pub fn convert_managed_cluster_add_on(object: &mut Value, to: &str) -> Result<(), String> {
    convert(object, to, mca_to_v1beta1, mca_to_v1alpha1)
}

fn convert(
    object: &mut Value,
    to: &str,
    to_beta: fn(&mut Map<String, Value>),
    to_alpha: fn(&mut Map<String, Value>),
) -> Result<(), String> {
    let Some(map) = object.as_object_mut() else {
        return Err("not an object".into());
    };
    let from = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.strip_prefix(ADDON_GROUP))
        .and_then(|v| v.strip_prefix('/'))
        .unwrap_or_default()
        .to_string();
    match (from.as_str(), to) {
        (f, t) if f == t => {}
        ("v1alpha1", "v1beta1") => to_beta(map),
        ("v1beta1", "v1alpha1") => to_alpha(map),
        (f, t) => return Err(format!("no conversion from {f:?} to {t:?}")),
    }
    map.insert(
        "apiVersion".into(),
        Value::String(format!("{ADDON_GROUP}/{to}")),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ClusterManagementAddOn

fn cma_to_v1beta1(object: &mut Map<String, Value>) {
    let mut carried = Map::new();
    if let Some(spec) = section(object, "spec") {
        if let Some(configuration) = spec.remove("addOnConfiguration") {
            put(&mut carried, "spec", "addOnConfiguration", configuration);
        }
        if let Some(supported) = spec.remove("supportedConfigs") {
            let defaults: Vec<Value> = items(&supported)
                .map(|config| {
                    let mut out = pick(config, &["group", "resource"]);
                    match config.get("defaultConfig") {
                        Some(Value::Object(referent)) => {
                            out.extend(pick_map(referent, &["namespace", "name"]));
                        }
                        _ => {
                            out.insert("name".into(), RESERVED_NO_DEFAULT_CONFIG_NAME.into());
                        }
                    }
                    Value::Object(out)
                })
                .collect();
            if !defaults.is_empty() {
                spec.insert("defaultConfigs".into(), Value::Array(defaults));
            }
        }
    }
    if let Some(status) = section(object, "status") {
        rename(status, "defaultconfigReferences", "defaultConfigReferences");
    }
    set_carried(object, carried);
}

fn cma_to_v1alpha1(object: &mut Map<String, Value>) {
    let carried = take_carried(object);
    if let Some(spec) = section(object, "spec") {
        if let Some(defaults) = spec.remove("defaultConfigs") {
            let supported: Vec<Value> = items(&defaults)
                .map(|config| {
                    let mut out = pick(config, &["group", "resource"]);
                    let name = config.get("name").and_then(Value::as_str).unwrap_or("");
                    if !name.is_empty() && name != RESERVED_NO_DEFAULT_CONFIG_NAME {
                        out.insert(
                            "defaultConfig".into(),
                            Value::Object(pick(config, &["namespace", "name"])),
                        );
                    }
                    Value::Object(out)
                })
                .collect();
            if !supported.is_empty() {
                spec.insert("supportedConfigs".into(), Value::Array(supported));
            }
        }
        if let Some(configuration) = carried_field(&carried, "spec", "addOnConfiguration") {
            spec.insert("addOnConfiguration".into(), configuration.clone());
        }
    }
    if let Some(status) = section(object, "status") {
        rename(status, "defaultConfigReferences", "defaultconfigReferences");
    }
}

// ---------------------------------------------------------------------------------------------
// ManagedClusterAddOn

fn mca_to_v1beta1(object: &mut Map<String, Value>) {
    let mut carried = Map::new();
    let install_namespace = section(object, "spec")
        .and_then(|spec| spec.remove("installNamespace"))
        .and_then(|ns| ns.as_str().map(str::to_string))
        .filter(|ns| !ns.is_empty());
    if let Some(status) = section(object, "status") {
        if let Some(configuration) = status.remove("addOnConfiguration") {
            put(&mut carried, "status", "addOnConfiguration", configuration);
        }
        let driver = status.remove("kubeClientDriver");
        let registrations = status.remove("registrations");
        let converted = registrations
            .as_ref()
            .map(|r| registrations_to_v1beta1(r, driver.as_ref()));
        let (back, back_driver) = registrations_to_v1alpha1(converted.as_ref());
        if back != registrations
            && let Some(r) = registrations
        {
            put(&mut carried, "status", "registrations", r);
        }
        if back_driver != driver
            && let Some(d) = driver
        {
            put(&mut carried, "status", "kubeClientDriver", d);
        }
        if let Some(converted) = converted {
            status.insert("registrations".into(), converted);
        }
        if let Some(references) = status.get_mut("configReferences") {
            let original = references.clone();
            for reference in items_mut(references) {
                reference.remove("name");
                reference.remove("namespace");
            }
            if config_references_to_v1alpha1(references) != original {
                put(&mut carried, "status", "configReferences", original);
            }
        }
    }
    if let Some(ns) = install_namespace {
        annotations(object).insert(INSTALL_NAMESPACE_ANNOTATION.into(), Value::String(ns));
    }
    set_carried(object, carried);
}

fn mca_to_v1alpha1(object: &mut Map<String, Value>) {
    let carried = take_carried(object);
    if let Some(ns) = remove_annotation(object, INSTALL_NAMESPACE_ANNOTATION) {
        child(object, "spec").insert("installNamespace".into(), ns);
    }
    let Some(status) = section(object, "status") else {
        return;
    };
    let registrations = status.remove("registrations");
    let (mut converted, derived) = registrations_to_v1alpha1(registrations.as_ref());
    let driver = derived.or_else(|| carried_field(&carried, "status", "kubeClientDriver").cloned());
    if let Some(original) = carried_field(&carried, "status", "registrations")
        && Some(registrations_to_v1beta1(original, driver.as_ref())) == registrations
    {
        converted = Some(original.clone());
    }
    if let Some(converted) = converted {
        status.insert("registrations".into(), converted);
    }
    if let Some(driver) = driver {
        status.insert("kubeClientDriver".into(), driver);
    }
    if let Some(references) = status.get_mut("configReferences") {
        let mut restored = config_references_to_v1alpha1(references);
        if let Some(original) = carried_field(&carried, "status", "configReferences") {
            let mut stripped = original.clone();
            for reference in items_mut(&mut stripped) {
                reference.remove("name");
                reference.remove("namespace");
            }
            if &stripped == references {
                restored = original.clone();
            }
        }
        *references = restored;
    }
    if let Some(configuration) = carried_field(&carried, "status", "addOnConfiguration") {
        status.insert("addOnConfiguration".into(), configuration.clone());
    }
}

/// v1alpha1 registrations (and the status' kube client driver) as v1beta1 registrations.
fn registrations_to_v1beta1(registrations: &Value, driver: Option<&Value>) -> Value {
    let Value::Array(list) = registrations else {
        return registrations.clone();
    };
    let converted = list
        .iter()
        .map(|registration| {
            let signer = registration.get("signerName");
            let subject = registration.get("subject").and_then(Value::as_object);
            let mut out = Map::new();
            if signer.and_then(Value::as_str) == Some(KUBE_CLIENT_SIGNER) {
                out.insert("type".into(), "kubeClient".into());
                let mut client = Map::new();
                if let Some(subject) = subject {
                    client.insert(
                        "subject".into(),
                        Value::Object(pick_map(subject, &["user", "groups"])),
                    );
                }
                if let Some(driver) = driver {
                    client.insert("driver".into(), driver.clone());
                }
                if !client.is_empty() {
                    out.insert("kubeClient".into(), Value::Object(client));
                }
            } else {
                out.insert("type".into(), "customSigner".into());
                let mut signer_config = Map::new();
                if let Some(signer) = signer {
                    signer_config.insert("signerName".into(), signer.clone());
                }
                if let Some(subject) = subject {
                    let mut s = pick_map(subject, &["user", "groups"]);
                    if let Some(units) = subject.get("organizationUnit") {
                        s.insert("organizationUnits".into(), units.clone());
                    }
                    signer_config.insert("subject".into(), Value::Object(s));
                }
                out.insert("customSigner".into(), Value::Object(signer_config));
            }
            Value::Object(out)
        })
        .collect();
    Value::Array(converted)
}

/// v1beta1 registrations as v1alpha1 ones, with the driver of the first kubeClient
/// registration that has a kubeClient configuration (upstream's rule).
fn registrations_to_v1alpha1(registrations: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let Some(registrations) = registrations else {
        return (None, None);
    };
    let Value::Array(list) = registrations else {
        return (Some(registrations.clone()), None);
    };
    let mut driver = None;
    let mut driver_found = false;
    let converted = list
        .iter()
        .map(|registration| {
            let mut out = Map::new();
            if registration.get("type").and_then(Value::as_str) == Some("kubeClient") {
                out.insert("signerName".into(), KUBE_CLIENT_SIGNER.into());
                if let Some(client) = registration.get("kubeClient").and_then(Value::as_object) {
                    if let Some(Value::Object(subject)) = client.get("subject") {
                        out.insert(
                            "subject".into(),
                            Value::Object(pick_map(subject, &["user", "groups"])),
                        );
                    }
                    if !driver_found {
                        driver_found = true;
                        driver = client.get("driver").cloned();
                    }
                }
            } else {
                let signer = registration.get("customSigner").and_then(Value::as_object);
                let name = signer
                    .and_then(|s| s.get("signerName"))
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new()));
                out.insert("signerName".into(), name);
                if let Some(Value::Object(subject)) = signer.and_then(|s| s.get("subject")) {
                    let mut s = pick_map(subject, &["user", "groups"]);
                    if let Some(units) = subject.get("organizationUnits") {
                        s.insert("organizationUnit".into(), units.clone());
                    }
                    out.insert("subject".into(), Value::Object(s));
                }
            }
            Value::Object(out)
        })
        .collect();
    (Some(Value::Array(converted)), driver)
}

/// v1beta1 config references with v1alpha1's `name` and `namespace` from `desiredConfig`
/// (OCM's conversion webhook).
fn config_references_to_v1alpha1(references: &Value) -> Value {
    let mut restored = references.clone();
    for reference in items_mut(&mut restored) {
        if let Some(Value::Object(desired)) = reference.get("desiredConfig") {
            let referent = pick_map(desired, &["namespace", "name"]);
            reference.extend(referent);
        }
    }
    restored
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

/// The object at `object[key]`, if it is one.
fn section<'a>(
    object: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    object.get_mut(key).and_then(Value::as_object_mut)
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

fn items_mut(list: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    list.as_array_mut()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// The fields `keys` of `value` that it has.
fn pick(value: &Value, keys: &[&str]) -> Map<String, Value> {
    value
        .as_object()
        .map(|m| pick_map(m, keys))
        .unwrap_or_default()
}

fn pick_map(map: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(value) = map.remove(from) {
        map.insert(to.into(), value);
    }
}

/// `carried[part][field] = value`.
fn put(carried: &mut Map<String, Value>, part: &str, field: &str, value: Value) {
    if let Some(section) = carried
        .entry(part)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
    {
        section.insert(field.into(), value);
    }
}

fn carried_field<'a>(carried: &'a Value, part: &str, field: &str) -> Option<&'a Value> {
    carried.get(part)?.get(field)
}

/// `metadata.annotations`, created when missing.
fn annotations(object: &mut Map<String, Value>) -> &mut Map<String, Value> {
    child(child(object, "metadata"), "annotations")
}

/// The object at `map[key]`, made one when missing or not an object.
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// Removes an annotation; an annotation map left empty goes too.
fn remove_annotation(object: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let metadata = section(object, "metadata")?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let value = annotations.remove(key)?;
    if annotations.is_empty() {
        metadata.remove("annotations");
    }
    Some(value)
}

/// Records the carried v1alpha1 fields in the v1beta1 object (replacing whatever a client
/// put there).
fn set_carried(object: &mut Map<String, Value>, carried: Map<String, Value>) {
    remove_annotation(object, V1ALPHA1_FIELDS_ANNOTATION);
    if carried.is_empty() {
        return;
    }
    let text = Value::Object(carried).to_string();
    annotations(object).insert(V1ALPHA1_FIELDS_ANNOTATION.into(), Value::String(text));
}

/// The carried v1alpha1 fields, removed from the object (`{}` when there are none or the
/// annotation is not JSON).
fn take_carried(object: &mut Map<String, Value>) -> Value {
    remove_annotation(object, V1ALPHA1_FIELDS_ANNOTATION)
        .and_then(|v| v.as_str().and_then(|t| serde_json::from_str(t).ok()))
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALPHA: &str = "addon.open-cluster-management.io/v1alpha1";
    const BETA: &str = "addon.open-cluster-management.io/v1beta1";

    fn cma(object: &Value, to: &str) -> Value {
        let mut out = object.clone();
        convert_cluster_management_add_on(&mut out, to).expect("converts");
        out
    }

    fn mca(object: &Value, to: &str) -> Value {
        let mut out = object.clone();
        convert_managed_cluster_add_on(&mut out, to).expect("converts");
        out
    }

    fn carried(object: &Value) -> Value {
        let text = object["metadata"]["annotations"][V1ALPHA1_FIELDS_ANNOTATION]
            .as_str()
            .expect("carried fields");
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn cluster_management_add_on_default_configs_both_ways() {
        let alpha = json!({
            "apiVersion": ALPHA, "kind": "ClusterManagementAddOn",
            "metadata": {"name": "hello", "labels": {"a": "b"}},
            "spec": {
                "addOnMeta": {"displayName": "Hello"},
                "supportedConfigs": [
                    {"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                     "defaultConfig": {"namespace": "open-cluster-management", "name": "default"}},
                    {"group": "", "resource": "configmaps"}
                ],
                "installStrategy": {"type": "Manual"}
            },
            "status": {"defaultconfigReferences": [{"group": "", "resource": "configmaps", "desiredConfig": null}]}
        });
        let beta = cma(&alpha, "v1beta1");
        assert_eq!(
            beta,
            json!({
                "apiVersion": BETA, "kind": "ClusterManagementAddOn",
                "metadata": {"name": "hello", "labels": {"a": "b"}},
                "spec": {
                    "addOnMeta": {"displayName": "Hello"},
                    "defaultConfigs": [
                        {"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                         "namespace": "open-cluster-management", "name": "default"},
                        {"group": "", "resource": "configmaps", "name": RESERVED_NO_DEFAULT_CONFIG_NAME}
                    ],
                    "installStrategy": {"type": "Manual"}
                },
                "status": {"defaultConfigReferences": [{"group": "", "resource": "configmaps", "desiredConfig": null}]}
            })
        );
        assert_eq!(cma(&beta, "v1alpha1"), alpha);
        // Written through v1beta1: the same way back.
        assert_eq!(cma(&cma(&beta, "v1alpha1"), "v1beta1"), beta);
    }

    #[test]
    fn cluster_management_add_on_configuration_is_carried() {
        let alpha = json!({
            "apiVersion": ALPHA, "kind": "ClusterManagementAddOn",
            "metadata": {"name": "old"},
            "spec": {"addOnConfiguration": {"crdName": "configs.example.com", "crName": "c", "lastObservedGeneration": 3}}
        });
        let beta = cma(&alpha, "v1beta1");
        assert_eq!(beta["spec"], json!({}));
        assert_eq!(
            carried(&beta),
            json!({"spec": {"addOnConfiguration": {"crdName": "configs.example.com", "crName": "c", "lastObservedGeneration": 3}}})
        );
        assert_eq!(cma(&beta, "v1alpha1"), alpha);
    }

    fn alpha_mca() -> Value {
        json!({
            "apiVersion": ALPHA, "kind": "ManagedClusterAddOn",
            "metadata": {"name": "hello", "namespace": "cluster1"},
            "spec": {"installNamespace": "hello-agent",
                "configs": [{"group": "", "resource": "configmaps", "namespace": "cluster1", "name": "c1"}]},
            "status": {
                "namespace": "hello-agent",
                "kubeClientDriver": "token",
                "registrations": [
                    {"signerName": "kubernetes.io/kube-apiserver-client",
                     "subject": {"user": "system:open-cluster-management:cluster:cluster1:addon:hello:agent:hello-agent",
                                 "groups": ["system:open-cluster-management:addon:hello"]}},
                    {"signerName": "example.com/hello", "subject": {"user": "hello", "organizationUnit": ["ou1"]}}
                ],
                "configReferences": [{"group": "", "resource": "configmaps", "namespace": "cluster1", "name": "c1",
                    "lastObservedGeneration": 0,
                    "desiredConfig": {"namespace": "cluster1", "name": "c1", "specHash": "abc"},
                    "lastAppliedConfig": null}],
                "healthCheck": {"mode": "Customized"}
            }
        })
    }

    #[test]
    fn managed_cluster_add_on_follows_upstream_rules() {
        let alpha = alpha_mca();
        let beta = mca(&alpha, "v1beta1");
        assert_eq!(
            beta,
            json!({
                "apiVersion": BETA, "kind": "ManagedClusterAddOn",
                "metadata": {"name": "hello", "namespace": "cluster1",
                    "annotations": {INSTALL_NAMESPACE_ANNOTATION: "hello-agent"}},
                "spec": {"configs": [{"group": "", "resource": "configmaps", "namespace": "cluster1", "name": "c1"}]},
                "status": {
                    "namespace": "hello-agent",
                    "registrations": [
                        {"type": "kubeClient", "kubeClient": {"driver": "token", "subject": {
                            "user": "system:open-cluster-management:cluster:cluster1:addon:hello:agent:hello-agent",
                            "groups": ["system:open-cluster-management:addon:hello"]}}},
                        {"type": "customSigner", "customSigner": {"signerName": "example.com/hello",
                            "subject": {"user": "hello", "organizationUnits": ["ou1"]}}}
                    ],
                    "configReferences": [{"group": "", "resource": "configmaps", "lastObservedGeneration": 0,
                        "desiredConfig": {"namespace": "cluster1", "name": "c1", "specHash": "abc"},
                        "lastAppliedConfig": null}],
                    "healthCheck": {"mode": "Customized"}
                }
            })
        );
        assert_eq!(mca(&beta, "v1alpha1"), alpha);
        assert_eq!(mca(&mca(&beta, "v1alpha1"), "v1beta1"), beta);
    }

    #[test]
    fn managed_cluster_add_on_keeps_what_v1beta1_cannot_say() {
        let mut alpha = alpha_mca();
        let status = &mut alpha["status"];
        // Organizational units of a kube-client subject, a reference whose name is not
        // its desired config's, and the deprecated addOnConfiguration.
        status["registrations"][0]["subject"]["organizationUnit"] = json!(["ou0"]);
        status["configReferences"][0]["name"] = json!("older");
        status["addOnConfiguration"] = json!({"crdName": "configs.example.com"});
        alpha["metadata"]["annotations"] = json!({"keep": "me"});
        let beta = mca(&alpha, "v1beta1");
        let kept = carried(&beta);
        assert_eq!(
            kept["status"]["registrations"],
            alpha["status"]["registrations"]
        );
        assert_eq!(
            kept["status"]["configReferences"],
            alpha["status"]["configReferences"]
        );
        assert_eq!(
            kept["status"]["addOnConfiguration"],
            json!({"crdName": "configs.example.com"})
        );
        assert!(kept["status"].get("kubeClientDriver").is_none());
        assert_eq!(beta["metadata"]["annotations"]["keep"], "me");
        assert_eq!(mca(&beta, "v1alpha1"), alpha);

        // A driver without a kube-client registration has nowhere to go in v1beta1.
        let lone = json!({"apiVersion": ALPHA, "kind": "ManagedClusterAddOn",
            "metadata": {"name": "a", "namespace": "c"}, "spec": {},
            "status": {"kubeClientDriver": "csr"}});
        let beta = mca(&lone, "v1beta1");
        assert_eq!(
            carried(&beta),
            json!({"status": {"kubeClientDriver": "csr"}})
        );
        assert_eq!(beta["status"], json!({}));
        assert_eq!(mca(&beta, "v1alpha1"), lone);
    }

    #[test]
    fn a_v1beta1_writer_wins_over_carried_fields() {
        let mut alpha = alpha_mca();
        alpha["status"]["registrations"][0]["subject"]["organizationUnit"] = json!(["ou0"]);
        let mut beta = mca(&alpha, "v1beta1");
        // A v1beta1 client replaces the registrations; the carried list no longer matches.
        beta["status"]["registrations"] = json!([{"type": "customSigner",
            "customSigner": {"signerName": "example.com/other"}}]);
        let back = mca(&beta, "v1alpha1");
        assert_eq!(
            back["status"]["registrations"],
            json!([{"signerName": "example.com/other"}])
        );
        assert!(back["status"].get("kubeClientDriver").is_none());
        assert!(back["metadata"].get("annotations").is_none(), "{back}");
        // The install namespace comes from the annotation a v1beta1 client may set.
        beta["metadata"]["annotations"][INSTALL_NAMESPACE_ANNOTATION] = json!("elsewhere");
        assert_eq!(
            mca(&beta, "v1alpha1")["spec"]["installNamespace"],
            "elsewhere"
        );
    }

    #[test]
    fn v1beta1_registrations_read_through_v1alpha1() {
        let beta = json!({
            "apiVersion": BETA, "kind": "ManagedClusterAddOn",
            "metadata": {"name": "a", "namespace": "c"},
            "spec": {},
            "status": {"registrations": [
                {"type": "customSigner", "customSigner": {"signerName": "example.com/s"}},
                {"type": "kubeClient"},
                {"type": "kubeClient", "kubeClient": {"driver": "csr", "subject": {"user": "u"}}}
            ],
            "configReferences": [{"group": "g", "resource": "r", "lastObservedGeneration": 1,
                "desiredConfig": {"name": "n", "specHash": ""}, "lastAppliedConfig": null}]}
        });
        let alpha = mca(&beta, "v1alpha1");
        assert_eq!(
            alpha["status"],
            json!({"registrations": [
                {"signerName": "example.com/s"},
                {"signerName": "kubernetes.io/kube-apiserver-client"},
                {"signerName": "kubernetes.io/kube-apiserver-client", "subject": {"user": "u"}}
            ],
            "kubeClientDriver": "csr",
            "configReferences": [{"group": "g", "resource": "r", "name": "n", "lastObservedGeneration": 1,
                "desiredConfig": {"name": "n", "specHash": ""}, "lastAppliedConfig": null}]})
        );
        assert!(alpha["spec"].get("installNamespace").is_none());
        let again = mca(&alpha, "v1beta1");
        // The status-level driver goes to every kube-client registration on the way back
        // (upstream's rule); the rest is as it was.
        let mut expected = beta.clone();
        expected["status"]["registrations"][1]["kubeClient"] = json!({"driver": "csr"});
        assert_eq!(again, expected);
    }

    #[test]
    fn versions_it_does_not_know_are_errors() {
        let mut same = alpha_mca();
        convert_managed_cluster_add_on(&mut same, "v1alpha1").expect("no change");
        assert_eq!(same, alpha_mca());
        let mut other = alpha_mca();
        assert!(convert_managed_cluster_add_on(&mut other, "v2").is_err());
        assert!(converter("AddOnDeploymentConfig").is_none());
        assert!(converter("AddOnTemplate").is_none());
    }
}
