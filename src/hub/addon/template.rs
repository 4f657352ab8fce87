//! Template add-ons: an AddOnTemplate (the `addontemplates` config an add-on's
//! `configReferences` name) rendered for one cluster, as OCM's template add-on manager
//! does.
//!
//! Rendering: every manifest's `{{NAME}}` replaced by its value (absent names by
//! nothing): `HUB_KUBECONFIG` (when the template has registrations), the
//! AddOnDeploymentConfig's `customizedVariables`, then `CLUSTER_NAME` and
//! `INSTALL_NAMESPACE` (when the config sets `agentInstallNamespace`). Deployments and
//! DaemonSets then get those built-in values as environment variables, the
//! `<addon>-hub-kubeconfig` Secret at `/managed/hub-kubeconfig` (and each custom signer's
//! Secret at `/managed/<signer>`), the config's node placement, image mirrors, proxy
//! variables and resource requirements; with `agentInstallNamespace`, namespaced objects
//! move there. The result is the ManifestWork `addon-<name>-deploy-0` in the cluster's
//! namespace, owned by the add-on, labelled with it, annotated with the configs' spec
//! hashes, with WellKnownStatus feedback for every Deployment and DaemonSet (the health
//! probe: `WorkloadAvailability`). Jobs and Pods marked as pre-delete hooks are left out
//! of it: while the template has any, the add-on carries a finalizer, and once it is
//! deleted they run in the work `addon-<name>-pre-delete` until they complete.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::config::spec_hash_map;
use super::{ADDON_LABEL, CONFIG_SPEC_HASH_ANNOTATION, HUB_KUBECONFIG_PATH};
use crate::api::ocm::{
    AddOnDeploymentConfig, AddOnTemplate, DEFAULT_ADDON_INSTALL_NAMESPACE, ManagedClusterAddOn,
    RegistrationConfig, RegistrationType, Subject,
};

/// The config resource naming an add-on's template.
pub const TEMPLATES: &str = "addontemplates";
/// The config resource of deployment settings.
pub const DEPLOYMENT_CONFIGS: &str = "addondeploymentconfigs";
/// The add-on API group.
pub const GROUP: &str = "addon.open-cluster-management.io";
/// The label on hub RBAC created for a template add-on.
pub const TEMPLATE_LABEL: &str = "open-cluster-management.io/addon-template-name";
/// Where the Secrets of custom signers' CAs live unless the template says otherwise.
pub const SIGNING_CA_NAMESPACE: &str = "open-cluster-management-hub";

/// The annotation (or, deprecated, label) making a Job or Pod a pre-delete hook.
pub const PRE_DELETE_ANNOTATION: &str = "addon.open-cluster-management.io/addon-pre-delete";
const PRE_DELETE_LABEL: &str = "open-cluster-management.io/addon-pre-delete";
/// The add-on's finalizer while its template has a pre-delete hook.
pub const PRE_DELETE_FINALIZER: &str = "addon.open-cluster-management.io/addon-pre-delete";

/// The pre-delete hook work's name.
pub fn hook_work_name(addon: &str) -> String {
    format!("addon-{addon}-pre-delete")
}

/// The deploy work's name.
pub fn work_name(addon: &str) -> String {
    format!("addon-{addon}-deploy-0")
}

/// The default add-on identity's user.
pub fn default_user(cluster: &str, addon: &str) -> String {
    format!("system:open-cluster-management:cluster:{cluster}:addon:{addon}:agent:{addon}-agent")
}

/// The default add-on identity's groups.
pub fn default_groups(cluster: &str, addon: &str) -> Vec<String> {
    vec![
        format!("system:open-cluster-management:cluster:{cluster}:addon:{addon}"),
        format!("system:open-cluster-management:addon:{addon}"),
        "system:authenticated".to_string(),
    ]
}

/// The Secret holding a custom signer's client certificate on the managed cluster.
pub fn custom_signer_secret(addon: &str, signer: &str) -> String {
    format!("{addon}-{}-client-cert", signer.replace('/', "-"))
}

/// The desired template of an add-on: `(name, spec hash)` from its `configReferences`.
pub fn template_ref(addon: &ManagedClusterAddOn) -> Option<(String, String)> {
    desired_config(addon, TEMPLATES).map(|(_, name, hash)| (name, hash))
}

/// The desired AddOnDeploymentConfig of an add-on: `(namespace, name)`.
pub fn deployment_config_ref(addon: &ManagedClusterAddOn) -> Option<(String, String)> {
    desired_config(addon, DEPLOYMENT_CONFIGS).map(|(ns, name, _)| (ns, name))
}

fn desired_config(addon: &ManagedClusterAddOn, resource: &str) -> Option<(String, String, String)> {
    addon
        .status
        .as_ref()?
        .config_references
        .iter()
        .filter(|r| r.group == GROUP && r.resource == resource)
        .find_map(|r| {
            let d = r.desired_config.as_ref()?;
            Some((
                d.namespace.clone().unwrap_or_default(),
                d.name.clone(),
                d.spec_hash.clone(),
            ))
        })
}

/// The registrations the add-on's agent needs on `cluster`.
pub fn registrations(
    template: &AddOnTemplate,
    cluster: &str,
    addon: &str,
) -> Vec<RegistrationConfig> {
    let default_subject = || Subject {
        user: Some(default_user(cluster, addon)),
        groups: default_groups(cluster, addon),
        organization_units: Vec::new(),
    };
    template
        .spec
        .registration
        .iter()
        .filter_map(|r| match r.type_ {
            RegistrationType::KubeClient => Some(RegistrationConfig {
                signer_name: crate::api::ocm::names::CLIENT_SIGNER.to_string(),
                subject: Some(default_subject()),
            }),
            RegistrationType::CustomSigner => {
                let c = r.custom_signer.as_ref()?;
                Some(RegistrationConfig {
                    signer_name: c.signer_name.clone(),
                    subject: Some(c.subject.clone().unwrap_or_else(default_subject)),
                })
            }
        })
        .collect()
}

/// The namespace the agent is installed in: the config's `agentInstallNamespace`, else
/// the namespace of the template's first Deployment (or DaemonSet), else the default.
pub fn install_namespace(
    template: &AddOnTemplate,
    config: Option<&AddOnDeploymentConfig>,
) -> String {
    if let Some(ns) = config
        .and_then(|c| c.spec.agent_install_namespace.clone())
        .filter(|n| !n.is_empty())
    {
        return ns;
    }
    let manifests = manifests(template);
    let first = |kind: &str| {
        manifests
            .iter()
            .filter(|m| m.get("kind").and_then(Value::as_str) == Some(kind))
            .find_map(|m| m.pointer("/metadata/namespace").and_then(Value::as_str))
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    first("Deployment")
        .or_else(|| first("DaemonSet"))
        .unwrap_or_else(|| DEFAULT_ADDON_INSTALL_NAMESPACE.to_string())
}

fn manifests(template: &AddOnTemplate) -> Vec<Value> {
    template
        .spec
        .agent_spec
        .workload
        .as_ref()
        .map(|w| w.manifests.iter().map(|m| m.0.clone()).collect())
        .unwrap_or_default()
}

/// The values a template is rendered with, and the built-in ones (in order) that
/// workloads also get as environment variables.
fn values(
    template: &AddOnTemplate,
    config: Option<&AddOnDeploymentConfig>,
    cluster: &str,
) -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let mut all = BTreeMap::new();
    let mut preset = Vec::new();
    if !template.spec.registration.is_empty() {
        all.insert(
            "HUB_KUBECONFIG".to_string(),
            HUB_KUBECONFIG_PATH.to_string(),
        );
        preset.push("HUB_KUBECONFIG".to_string());
    }
    for v in config
        .map(|c| c.spec.customized_variables.as_slice())
        .unwrap_or(&[])
    {
        all.insert(v.name.clone(), v.value.clone());
    }
    let mut builtin = vec![("CLUSTER_NAME".to_string(), cluster.to_string())];
    if let Some(ns) = config
        .and_then(|c| c.spec.agent_install_namespace.clone())
        .filter(|n| !n.is_empty())
    {
        builtin.push(("INSTALL_NAMESPACE".to_string(), ns));
    }
    builtin.sort();
    for (k, v) in &builtin {
        all.insert(k.clone(), v.clone());
        preset.push(k.clone());
    }
    let ordered = preset
        .into_iter()
        .map(|k| {
            let v = all.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect();
    (all, ordered)
}

/// `{{NAME}}` replaced by its value, unknown names by nothing (fasttemplate's rule).
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                if let Some(v) = values.get(&after[..end]) {
                    out.push_str(v);
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a template cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("manifest {index} is not valid JSON after rendering: {error}")]
    Json { index: usize, error: String },
    #[error("only string values are supported for variables, invalid key {0}")]
    Value(String),
}

/// The objects of `template` for `cluster`.
pub fn render(
    template: &AddOnTemplate,
    config: Option<&AddOnDeploymentConfig>,
    cluster: &str,
    addon: &str,
) -> Result<Vec<Value>, RenderError> {
    let (values, preset) = values(template, config, cluster);
    let install_ns = config
        .and_then(|c| c.spec.agent_install_namespace.clone())
        .filter(|n| !n.is_empty());
    let mut out = Vec::new();
    for (index, manifest) in manifests(template).iter().enumerate() {
        let text = substitute(&manifest.to_string(), &values);
        let mut object: Value = serde_json::from_str(&text).map_err(|e| RenderError::Json {
            index,
            error: e.to_string(),
        })?;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let resource = match kind.as_str() {
            "Deployment" => Some("deployments"),
            "DaemonSet" => Some("daemonsets"),
            _ => None,
        };
        if let Some(resource) = resource {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(pod) = object.pointer_mut("/spec/template/spec") {
                decorate_pod(pod, template, config, addon, &preset, resource, &name);
            }
        }
        if let Some(ns) = &install_ns {
            if kind == "Namespace" {
                object["metadata"]["name"] = json!(ns);
            } else if object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            {
                object["metadata"]["namespace"] = json!(ns);
            }
        }
        out.push(object);
    }
    Ok(out)
}

/// What upstream's pod-template decorators add to a Deployment's or DaemonSet's pods.
fn decorate_pod(
    pod: &mut Value,
    template: &AddOnTemplate,
    config: Option<&AddOnDeploymentConfig>,
    addon: &str,
    preset: &[(String, String)],
    resource: &str,
    workload: &str,
) {
    let env: Vec<Value> = preset
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    append_env(pod, &env);
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for r in &template.spec.registration {
        match r.type_ {
            RegistrationType::KubeClient => {
                mounts.push(
                    json!({"name": "hub-kubeconfig", "mountPath": "/managed/hub-kubeconfig"}),
                );
                volumes.push(json!({"name": "hub-kubeconfig",
                    "secret": {"secretName": format!("{addon}-hub-kubeconfig")}}));
            }
            RegistrationType::CustomSigner => {
                let Some(c) = &r.custom_signer else { continue };
                let name = format!("cert-{}", c.signer_name.replace(['/', '.'], "-"));
                mounts.push(json!({"name": name,
                    "mountPath": format!("/managed/{}", c.signer_name.replace('/', "-"))}));
                volumes.push(json!({"name": name,
                    "secret": {"secretName": custom_signer_secret(addon, &c.signer_name)}}));
            }
        }
    }
    if !mounts.is_empty() {
        for container in containers(pod) {
            push_all(container, "volumeMounts", &mounts);
        }
        push_all(pod, "volumes", &volumes);
    }
    let Some(config) = config else { return };
    if let Some(np) = &config.spec.node_placement
        && !np.node_selector.is_empty()
    {
        pod["nodeSelector"] = json!(np.node_selector);
        pod["tolerations"] = json!(np.tolerations);
    }
    if !config.spec.registries.is_empty() {
        for container in containers(pod) {
            if let Some(image) = container.get("image").and_then(Value::as_str) {
                let image = override_image(&config.spec.registries, image);
                container["image"] = json!(image);
            }
        }
    }
    if let Some(proxy) = &config.spec.proxy_config {
        let mut env = Vec::new();
        for (upper, lower, value) in [
            ("HTTP_PROXY", "http_proxy", &proxy.http_proxy),
            ("HTTPS_PROXY", "https_proxy", &proxy.https_proxy),
            ("NO_PROXY", "no_proxy", &proxy.no_proxy),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                env.push(json!({"name": upper, "value": v}));
                env.push(json!({"name": lower, "value": v}));
            }
        }
        append_env(pod, &env);
    }
    for container in containers(pod) {
        let name = container.get("name").and_then(Value::as_str).unwrap_or("");
        let id = format!("{resource}:{workload}:{name}");
        // Later entries win.
        let found = config.spec.resource_requirements.iter().rev().find(|r| {
            let pattern: Vec<String> = r
                .container_id
                .split(':')
                .map(|p| {
                    if p == "*" {
                        ".+".to_string()
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            regex::Regex::new(&format!("^{}$", pattern.join(":"))).is_ok_and(|re| re.is_match(&id))
        });
        if let Some(r) = found {
            container["resources"] = serde_json::to_value(&r.resources).unwrap_or(Value::Null);
        }
    }
}

fn containers(pod: &mut Value) -> impl Iterator<Item = &mut Value> {
    pod.get_mut("containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn append_env(pod: &mut Value, env: &[Value]) {
    if env.is_empty() {
        return;
    }
    for container in containers(pod) {
        push_all(container, "env", env);
    }
}

fn push_all(object: &mut Value, field: &str, items: &[Value]) {
    if !object.get(field).is_some_and(Value::is_array) {
        object[field] = json!([]);
    }
    if let Some(list) = object[field].as_array_mut() {
        list.extend(items.iter().cloned());
    }
}

/// An image with the last matching mirror applied (a mirror without source replaces
/// the whole registry path).
pub fn override_image(mirrors: &[crate::api::ocm::ImageMirror], image: &str) -> String {
    let mut result = image.to_string();
    for m in mirrors {
        let source = m.source.trim_end_matches('/');
        let mirror = m.mirror.trim_end_matches('/');
        let candidate = if source.is_empty() {
            let tail = image.rsplit('/').next().unwrap_or(image);
            if mirror.is_empty() {
                tail.to_string()
            } else {
                format!("{mirror}/{tail}")
            }
        } else if let Some(rest) = image.strip_prefix(source) {
            format!("{mirror}{rest}")
        } else {
            image.to_string()
        };
        if candidate != image {
            result = candidate;
        }
    }
    result
}

/// Manifests in the order upstream's work builder leaves them: those already in the work
/// (`existing`) where they were, new ones after them from the largest to the smallest.
pub fn ordered(objects: Vec<Value>, existing: &[Value]) -> Vec<Value> {
    let key = |o: &Value| {
        let s = |p: &str| {
            o.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        (
            s("/apiVersion"),
            s("/kind"),
            s("/metadata/namespace"),
            s("/metadata/name"),
        )
    };
    let mut placed: Vec<(usize, Value)> = Vec::new();
    let mut fresh: Vec<Value> = Vec::new();
    for o in objects {
        match existing.iter().position(|e| key(e) == key(&o)) {
            Some(i) => placed.push((i, o)),
            None => fresh.push(o),
        }
    }
    placed.sort_by_key(|(i, _)| *i);
    fresh.sort_by_key(|o| std::cmp::Reverse(o.to_string().len()));
    placed.into_iter().map(|(_, o)| o).chain(fresh).collect()
}

/// Whether a rendered object is a pre-delete hook: a Job or Pod with the hook
/// annotation or label. Its manifest config (WellKnownStatus feedback) when it is.
pub fn hook_config(o: &Value) -> Option<Value> {
    let resource = match o.get("kind").and_then(Value::as_str)? {
        "Job" => "jobs",
        "Pod" => "pods",
        _ => return None,
    };
    let marked = |field: &str, key: &str| {
        o.pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(key))
            .is_some()
    };
    if !marked("annotations", PRE_DELETE_ANNOTATION) && !marked("labels", PRE_DELETE_LABEL) {
        return None;
    }
    let group = o
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    Some(
        json!({"resourceIdentifier": {"group": group, "resource": resource,
        "name": o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
        "namespace": o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")},
        "feedbackRules": [{"type": "WellKnownStatus"}]}),
    )
}

/// A work of the add-on in its cluster's namespace, owned by it.
fn addon_work(
    addon: &ManagedClusterAddOn,
    name: String,
    manifests: Vec<Value>,
    configs: Vec<Value>,
) -> Value {
    let addon_name = addon.metadata.name.clone().unwrap_or_default();
    let mut work = json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {
            "name": name,
            "namespace": addon.metadata.namespace.clone().unwrap_or_default(),
            "labels": {ADDON_LABEL: addon_name},
            "ownerReferences": [{
                "apiVersion": "addon.open-cluster-management.io/v1alpha1",
                "kind": "ManagedClusterAddOn",
                "name": addon_name,
                "uid": addon.metadata.uid.clone().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {"workload": {"manifests": manifests}},
    });
    if !configs.is_empty() {
        work["spec"]["manifestConfigs"] = json!(configs);
    }
    work
}

/// The pre-delete hook work of the rendered `objects`, if any of them is a hook.
pub fn hook_work(addon: &ManagedClusterAddOn, objects: &[Value]) -> Option<Value> {
    let (hooks, configs): (Vec<Value>, Vec<Value>) = objects
        .iter()
        .filter_map(|o| hook_config(o).map(|c| (o.clone(), c)))
        .unzip();
    if hooks.is_empty() {
        return None;
    }
    let name = hook_work_name(addon.metadata.name.as_deref().unwrap_or(""));
    Some(addon_work(addon, name, hooks, configs))
}

/// A hook work whose Jobs report `JobComplete` True and Pods `PodPhase` Succeeded.
pub fn hook_completed(work: &Value) -> bool {
    let manifests = work
        .pointer("/status/resourceStatus/manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let configs = work
        .pointer("/spec/manifestConfigs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    !configs.is_empty()
        && configs.iter().all(|c| {
            let id = &c["resourceIdentifier"];
            let (field, wanted) = match id["resource"].as_str() {
                Some("jobs") => ("JobComplete", "True"),
                Some("pods") => ("PodPhase", "Succeeded"),
                _ => return true,
            };
            manifests.iter().any(|m| {
                let meta = &m["resourceMeta"];
                meta["resource"] == id["resource"]
                    && meta["name"] == id["name"]
                    && meta["namespace"] == id["namespace"]
                    && m.pointer("/statusFeedback/values")
                        .and_then(Value::as_array)
                        .is_some_and(|vs| {
                            vs.iter().any(|v| {
                                v["name"] == field
                                    && v.pointer("/fieldValue/string") == Some(&json!(wanted))
                            })
                        })
            })
        })
}

/// The deploy work of an add-on rendered from `objects` (hooks excepted).
pub fn work(addon: &ManagedClusterAddOn, template: &AddOnTemplate, objects: Vec<Value>) -> Value {
    let objects: Vec<Value> = objects
        .into_iter()
        .filter(|o| hook_config(o).is_none())
        .collect();
    let name = addon.metadata.name.clone().unwrap_or_default();
    let refs = addon
        .status
        .as_ref()
        .map(|s| s.config_references.clone())
        .unwrap_or_default();
    let mut configs: Vec<Value> = objects
        .iter()
        .filter_map(|o| {
            let resource = match o.get("kind").and_then(Value::as_str)? {
                "Deployment" => "deployments",
                "DaemonSet" => "daemonsets",
                _ => return None,
            };
            Some(json!({"resourceIdentifier": {"group": "apps", "resource": resource,
                "name": o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
                "namespace": o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")},
                "feedbackRules": [{"type": "WellKnownStatus"}]}))
        })
        .collect();
    for mc in &template.spec.agent_spec.manifest_configs {
        let mc = serde_json::to_value(mc).unwrap_or(Value::Null);
        match configs
            .iter_mut()
            .find(|c| c.get("resourceIdentifier") == mc.get("resourceIdentifier"))
        {
            Some(existing) => {
                if let Some(rules) = mc.get("feedbackRules").and_then(Value::as_array) {
                    for rule in rules {
                        let have = existing["feedbackRules"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        if !have.contains(rule) {
                            push_all(existing, "feedbackRules", std::slice::from_ref(rule));
                        }
                    }
                }
                for (k, v) in mc.as_object().into_iter().flatten() {
                    if k != "feedbackRules" && k != "resourceIdentifier" {
                        existing[k] = v.clone();
                    }
                }
            }
            None => configs.push(mc),
        }
    }
    let mut work = addon_work(addon, work_name(&name), objects, configs);
    if !refs.is_empty() {
        let map = serde_json::to_string(&spec_hash_map(&refs)).unwrap_or_default();
        work["metadata"]["annotations"] = json!({CONFIG_SPEC_HASH_ANNOTATION: map});
    }
    work
}

/// The add-on's `Available` condition from its deploy work's status and feedback:
/// `(status, reason, message)`.
pub fn availability(addon: &str, work: Option<&Value>) -> (&'static str, &'static str, String) {
    let Some(work) = work else {
        return (
            "Unknown",
            "WorkNotFound",
            "Addon manifestWork is not found".into(),
        );
    };
    let conditions = work
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let available = conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"));
    match available
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
    {
        None => {
            return (
                "Unknown",
                "WorkNotApplied",
                "Addon manifestWork is not applied yet".into(),
            );
        }
        Some("False") => {
            let message = available
                .and_then(|c| c.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return ("False", "WorkNotApplied", message);
        }
        _ => {}
    }
    let probes: Vec<&Value> = work
        .pointer("/spec/manifestConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            matches!(
                c.pointer("/resourceIdentifier/resource")
                    .and_then(Value::as_str),
                Some("deployments" | "daemonsets")
            ) && c
                .pointer("/resourceIdentifier/group")
                .and_then(Value::as_str)
                == Some("apps")
        })
        .collect();
    let manifests = work
        .pointer("/status/resourceStatus/manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut results = 0;
    for probe in &probes {
        let id = &probe["resourceIdentifier"];
        let found = manifests.iter().find(|m| {
            let meta = &m["resourceMeta"];
            meta.get("group") == id.get("group")
                && meta.get("resource") == id.get("resource")
                && meta.get("name") == id.get("name")
                && meta.get("namespace").and_then(Value::as_str).unwrap_or("")
                    == id.get("namespace").and_then(Value::as_str).unwrap_or("")
        });
        let Some(found) = found else { continue };
        results += 1;
        if let Err(e) = workload_healthy(id, &found["statusFeedback"]) {
            return (
                "False",
                "ProbeUnavailable",
                format!("Probe addon unavailable with err {e}"),
            );
        }
    }
    if !probes.is_empty() && results == 0 {
        return (
            "Unknown",
            "NoProbeResult",
            "Probe results are not returned".into(),
        );
    }
    (
        "True",
        "ProbeAvailable",
        format!("{addon} add-on is available."),
    )
}

/// A Deployment is healthy with one ready replica (or none wanted), a DaemonSet when
/// every scheduled pod is ready.
fn workload_healthy(id: &Value, feedback: &Value) -> Result<(), String> {
    let resource = id.get("resource").and_then(Value::as_str).unwrap_or("");
    let name = id.get("name").and_then(Value::as_str).unwrap_or("");
    let namespace = id.get("namespace").and_then(Value::as_str).unwrap_or("");
    let values = feedback
        .get("values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if values.is_empty() {
        return Err(format!(
            "no values are probed for {resource} {namespace}/{name}"
        ));
    }
    let value = |n: &str| {
        values
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(n))
            .and_then(|v| v.pointer("/fieldValue/integer"))
            .and_then(Value::as_i64)
    };
    let (ready, desired) = match resource {
        "deployments" => (value("ReadyReplicas"), value("Replicas")),
        _ => (value("NumberReady"), value("DesiredNumberScheduled")),
    };
    let ready = ready.ok_or("readyReplica is not probed")?;
    let desired = desired.ok_or("desiredNumberReplicas is not probed")?;
    let healthy = match resource {
        "deployments" => desired == 0 || ready >= 1,
        _ => ready == desired,
    };
    if healthy {
        Ok(())
    } else {
        Err(format!(
            "desiredNumberReplicas is {desired} but readyReplica is {ready} for {resource} {namespace}/{name}"
        ))
    }
}

/// The RoleBindings granting the add-on's identity its hub permissions:
/// `(namespace, object)`. `CurrentCluster` binds a ClusterRole in the cluster's namespace
/// (owned by the add-on); `SingleNamespace` a role in the given namespace.
pub fn role_bindings(
    addon: &ManagedClusterAddOn,
    template: &AddOnTemplate,
) -> Vec<(String, Value)> {
    let name = addon.metadata.name.clone().unwrap_or_default();
    let cluster = addon.metadata.namespace.clone().unwrap_or_default();
    let subject = addon
        .status
        .as_ref()
        .and_then(|s| {
            s.registrations
                .iter()
                .find(|r| r.signer_name == crate::api::ocm::names::CLIENT_SIGNER)
        })
        .and_then(|r| r.subject.clone());
    let Some(subject) = subject else {
        return Vec::new();
    };
    let mut subjects = Vec::new();
    if let Some(user) = subject.user.as_ref().filter(|u| !u.is_empty()) {
        subjects
            .push(json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}));
    }
    for g in subject
        .groups
        .iter()
        .filter(|g| *g != "system:authenticated")
    {
        subjects.push(json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}));
    }
    if subjects.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in &template.spec.registration {
        let Some(kc) = r
            .kube_client
            .as_ref()
            .filter(|_| r.type_ == RegistrationType::KubeClient)
        else {
            continue;
        };
        for p in &kc.hub_permissions {
            let (namespace, role_ref, owned) = if let Some(cc) = &p.current_cluster {
                (
                    cluster.clone(),
                    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cc.cluster_role_name}),
                    true,
                )
            } else if let Some(sn) = &p.single_namespace {
                let role_ref = serde_json::to_value(&sn.role_ref).unwrap_or(Value::Null);
                (sn.namespace.clone(), role_ref, false)
            } else {
                continue;
            };
            let kind = role_ref
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            let mut binding = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {
                    "name": format!("open-cluster-management:{name}:{kind}:agent"),
                    "namespace": namespace,
                    "labels": {ADDON_LABEL: name, TEMPLATE_LABEL: ""},
                },
                "roleRef": role_ref,
                "subjects": subjects,
            });
            if owned {
                binding["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": "addon.open-cluster-management.io/v1alpha1",
                    "kind": "ManagedClusterAddOn",
                    "name": name,
                    "uid": addon.metadata.uid.clone().unwrap_or_default(),
                }]);
            }
            out.push((namespace, binding));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(v: Value) -> AddOnTemplate {
        serde_json::from_value(v).expect("template")
    }

    fn sample() -> AddOnTemplate {
        template(
            json!({"metadata": {"name": "hello-0.1"}, "spec": {"addonName": "hello",
            "agentSpec": {"workload": {"manifests": [
                {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "hello-agent", "namespace": "hello-ns"},
                 "spec": {"template": {"spec": {"containers": [{"name": "agent",
                    "image": "quay.io/org/hello:v1", "args": ["--cluster={{CLUSTER_NAME}}", "--x={{LEVEL}}", "{{ UNKNOWN }}"]}]}}}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "hello-ns"},
                 "data": {"k": "{{HUB_KUBECONFIG}}"}}]}},
            "registration": [{"type": "KubeClient", "kubeClient": {"hubPermissions": [
                {"type": "CurrentCluster", "currentCluster": {"clusterRoleName": "hello-role"}}]}}]}}),
        )
    }

    #[test]
    fn substitution_follows_fasttemplate() {
        let values = BTreeMap::from([("A".to_string(), "x".to_string())]);
        assert_eq!(substitute("{{A}}-{{B}}-{{ A }}-{{A", &values), "x---{{A");
    }

    #[test]
    fn renders_values_env_volumes_and_namespace() {
        let config: AddOnDeploymentConfig = serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"customizedVariables": [{"name": "LEVEL", "value": "2"}],
                "agentInstallNamespace": "elsewhere",
                "registries": [{"source": "quay.io/org", "mirror": "mirror.local/org"}],
                "nodePlacement": {"nodeSelector": {"zone": "a"}}}}))
        .expect("config");
        let objects = render(&sample(), Some(&config), "c1", "hello").expect("render");
        let d = &objects[0];
        assert_eq!(d["metadata"]["namespace"], "elsewhere");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["args"], json!(["--cluster=c1", "--x=2", ""]));
        assert_eq!(c["image"], "mirror.local/org/hello:v1");
        let env: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(env, ["HUB_KUBECONFIG", "CLUSTER_NAME", "INSTALL_NAMESPACE"]);
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/managed/hub-kubeconfig");
        assert_eq!(
            d["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
            "hello-hub-kubeconfig"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["nodeSelector"],
            json!({"zone": "a"})
        );
        assert_eq!(objects[1]["data"]["k"], HUB_KUBECONFIG_PATH);
        assert_eq!(install_namespace(&sample(), None), "hello-ns");
        assert_eq!(install_namespace(&sample(), Some(&config)), "elsewhere");
    }

    #[test]
    fn registrations_default_subject() {
        let r = registrations(&sample(), "c1", "hello");
        assert_eq!(r.len(), 1);
        let s = r[0].subject.as_ref().unwrap();
        assert_eq!(
            s.user.as_deref(),
            Some("system:open-cluster-management:cluster:c1:addon:hello:agent:hello-agent")
        );
        assert_eq!(s.groups.len(), 3);
    }

    #[test]
    fn availability_from_feedback() {
        let mut w = json!({"spec": {"manifestConfigs": [{"resourceIdentifier": {"group": "apps",
            "resource": "deployments", "name": "d", "namespace": "n"}, "feedbackRules": [{"type": "WellKnownStatus"}]}]},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        assert_eq!(availability("a", Some(&w)).1, "NoProbeResult");
        w["status"]["resourceStatus"] = json!({"manifests": [{"resourceMeta": {"group": "apps",
            "resource": "deployments", "name": "d", "namespace": "n"}, "statusFeedback": {"values": [
            {"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 0}},
            {"name": "Replicas", "fieldValue": {"type": "Integer", "integer": 1}}]}}]});
        assert_eq!(availability("a", Some(&w)).1, "ProbeUnavailable");
        w["status"]["resourceStatus"]["manifests"][0]["statusFeedback"]["values"][0]["fieldValue"]
            ["integer"] = json!(1);
        assert_eq!(
            availability("a", Some(&w)),
            ("True", "ProbeAvailable", "a add-on is available.".into())
        );
        assert_eq!(availability("a", None).1, "WorkNotFound");
    }

    #[test]
    fn image_mirrors() {
        let m = |s: &str, mi: &str| crate::api::ocm::ImageMirror {
            source: s.into(),
            mirror: mi.into(),
        };
        assert_eq!(
            override_image(&[m("", "local")], "quay.io/a/b:1"),
            "local/b:1"
        );
        assert_eq!(
            override_image(&[m("quay.io/a", "x.io/y")], "quay.io/a/b:1"),
            "x.io/y/b:1"
        );
        assert_eq!(
            override_image(&[m("docker.io", "x")], "quay.io/a/b:1"),
            "quay.io/a/b:1"
        );
    }
}
