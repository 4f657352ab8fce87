//! One reconcile per ManagedClusterAddOn of a CMA the add-on manager handles.
//!
//! Template add-ons (the CMA supports `addontemplates` configs) once their template is
//! configured: the supported configs, registrations, install namespace and `Customized`
//! health mode in the add-on's status; the hub RoleBindings of its permissions
//! (`RegistrationApplied`); the deploy work (`ManifestApplied`); and `Available` from the
//! work's feedback unless the cluster itself is Unknown (then `health` owns it).
//!
//! A deleted template add-on whose template has pre-delete hooks keeps its finalizer
//! until the hook work `addon-<name>-pre-delete` reports them complete.
//!
//! Every add-on: `Progressing` and `lastAppliedConfig` from its works (upstream's
//! add-on progressing controller): a work rendered from the desired configs (its spec-hash
//! annotation) that is Applied and Available at its generation completes the rollout.

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use serde_json::Value;

use super::template::{self, DEPLOYMENT_CONFIGS, GROUP, TEMPLATES};
use super::{ADDON_NAMESPACE_LABEL, CONFIG_SPEC_HASH_ANNOTATION};
use crate::api::Kind;
use crate::api::meta::{find_condition, set_status_condition};
use crate::api::ocm::{
    ADDON_NAME_LABEL, AddOnDeploymentConfig, AddOnTemplate, ClusterManagementAddOn,
    ConfigGroupResource, HealthCheck, HealthCheckMode, ManagedCluster, ManagedClusterAddOn,
    ManagedClusterAddOnStatus, Manifest, ManifestWork,
};
use crate::api::status::Status;
use crate::hub::controller::{Queue, Requeue};
use crate::hub::objects::Objects;
use crate::registry::Target;

/// What a template add-on is rendered from.
struct Inputs {
    template: AddOnTemplate,
    config: Option<AddOnDeploymentConfig>,
    cluster: ManagedCluster,
}

/// The reconciler of ManagedClusterAddOns.
pub struct AddonController {
    objects: Objects,
    queue: Queue,
    role_bindings: Arc<Kind>,
}

impl AddonController {
    /// The reconciler; fails when RoleBindings are not served.
    pub fn new(objects: Objects, queue: Queue) -> Result<Self, Status> {
        Ok(AddonController {
            role_bindings: objects.kind("rbac.authorization.k8s.io", "rolebindings")?,
            objects,
            queue,
        })
    }

    /// Reconciles the add-on `namespace/name` (or queues those a pattern key names).
    pub async fn reconcile(&self, key: &str) -> Result<Requeue, Status> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        if namespace == "*" || name == "*" {
            return self.expand(namespace, name).await;
        }
        let Some(addon) = self
            .objects
            .get_as::<ManagedClusterAddOn>(Some(namespace), name)
            .await?
        else {
            return Ok(None);
        };
        let cma = self
            .objects
            .get_as::<ClusterManagementAddOn>(None, name)
            .await?;
        let ours = cma.as_ref().is_none_or(super::managed_by_addon_manager);
        if addon.metadata.deletion_timestamp.is_some() {
            // Also when the CMA is gone (its deletion deletes the add-ons): the hook
            // still runs, from the template the add-on names.
            return match ours {
                true => self.finalize(addon).await,
                false => Ok(None),
            };
        }
        let Some(cma) = cma.filter(super::managed_by_addon_manager) else {
            return Ok(None);
        };
        let template_addon = supports(&cma, TEMPLATES);
        let mut next = addon.clone();
        let mut errors = Vec::new();
        if template_addon {
            match self.template(&mut next).await {
                // The finalizer changed: the next pass sees the new object.
                Ok(true) => return Ok(None),
                Ok(false) => {}
                Err(e) => errors.push(e),
            }
        }
        let works = self.works_of(namespace, name).await?;
        progressing(
            next.status.get_or_insert_with(Default::default),
            &next.spec,
            &works,
        );
        if next.status != addon.status {
            match self.objects.update_as(&next, Target::Status).await {
                Ok(_) => {}
                Err(e) if e.reason == "NotFound" => {}
                Err(e) => errors.push(e),
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Queues the add-ons a pattern key names: `*/<name>`, `<cluster>/*` or `*/*`.
    async fn expand(&self, namespace: &str, name: &str) -> Result<Requeue, Status> {
        let ns = (namespace != "*").then_some(namespace);
        for addon in self.objects.list_as::<ManagedClusterAddOn>(ns).await? {
            let (Some(n), Some(c)) = (addon.metadata.name, addon.metadata.namespace) else {
                continue;
            };
            if name == "*" || n == name {
                self.queue.add(format!("{c}/{n}"));
            }
        }
        Ok(None)
    }

    /// The add-on's works in its cluster's namespace (hosted ones excepted).
    async fn works_of(&self, namespace: &str, name: &str) -> Result<Vec<ManifestWork>, Status> {
        Ok(self
            .objects
            .list_as::<ManifestWork>(Some(namespace))
            .await?
            .into_iter()
            .filter(|w| {
                label(&w.metadata, ADDON_NAME_LABEL) == Some(name)
                    && label(&w.metadata, ADDON_NAMESPACE_LABEL).is_none()
            })
            .collect())
    }

    /// The template, deployment config and cluster an add-on is rendered from, once its
    /// template is configured (named with a spec hash in its `configReferences`).
    async fn inputs(&self, addon: &ManagedClusterAddOn) -> Result<Option<Inputs>, Status> {
        let Some((template_name, hash)) = template::template_ref(addon) else {
            return Ok(None);
        };
        if hash.is_empty() {
            return Ok(None);
        }
        let Some(template) = self
            .objects
            .get_as::<AddOnTemplate>(None, &template_name)
            .await?
        else {
            return Ok(None);
        };
        let config = match template::deployment_config_ref(addon) {
            Some((ns, n)) => {
                self.objects
                    .get_as::<AddOnDeploymentConfig>(Some(&ns), &n)
                    .await?
            }
            None => None,
        };
        let cluster_name = addon.metadata.namespace.as_deref().unwrap_or("");
        let Some(cluster) = self
            .objects
            .get_as::<ManagedCluster>(None, cluster_name)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Inputs {
            template,
            config,
            cluster,
        }))
    }

    /// Everything the template add-on manager does for one add-on, into `addon`'s status
    /// (the RoleBindings and the work are written here). True when it added or removed
    /// the pre-delete finalizer instead (the add-on was updated).
    async fn template(&self, addon: &mut ManagedClusterAddOn) -> Result<bool, Status> {
        let name = addon.metadata.name.clone().unwrap_or_default();
        let cluster_name = addon.metadata.namespace.clone().unwrap_or_default();
        let status = addon.status.get_or_insert_with(Default::default);
        status.supported_configs = [DEPLOYMENT_CONFIGS, TEMPLATES]
            .into_iter()
            .map(|r| ConfigGroupResource {
                group: GROUP.into(),
                resource: r.into(),
            })
            .collect();
        let Some(Inputs {
            template: tpl,
            config,
            cluster,
        }) = self.inputs(addon).await?
        else {
            return Ok(false);
        };
        let status = addon.status.get_or_insert_with(Default::default);
        status.registrations = template::registrations(&tpl, &cluster_name, &name);
        status.namespace = Some(template::install_namespace(&tpl, config.as_ref()));
        status.health_check = Some(HealthCheck {
            mode: Some(HealthCheckMode::Customized),
        });
        let mut failure = None;
        for (namespace, binding) in template::role_bindings(addon, &tpl) {
            if let Err(e) = self.ensure_role_binding(&namespace, &binding).await {
                failure = Some(e);
            }
        }
        let status = addon.status.get_or_insert_with(Default::default);
        match &failure {
            Some(e) => set(
                &mut status.conditions,
                "RegistrationApplied",
                "False",
                "SetPermissionFailed",
                &format!("Failed to set permission for hub agent: {}", e.message),
            ),
            None => set(
                &mut status.conditions,
                "RegistrationApplied",
                "True",
                "SetPermissionApplied",
                "Registration of the addon agent is configured",
            ),
        }
        let objects = match template::render(&tpl, config.as_ref(), &cluster_name, &name) {
            Ok(o) => o,
            Err(e) => {
                set(
                    &mut status.conditions,
                    "ManifestApplied",
                    "False",
                    "ManifestWorkApplyFailed",
                    &format!("failed to build manifestwork: {e}"),
                );
                return failure.map_or(Ok(false), Err);
            }
        };
        let hooks = objects.iter().any(|o| template::hook_config(o).is_some());
        if self.set_finalizer(addon, hooks).await? {
            return Ok(true);
        }
        let desired = template::work(addon, &tpl, objects);
        let work = self.apply_work(desired).await?;
        let status = addon.status.get_or_insert_with(Default::default);
        let applied = work
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "Applied"))
            .map(|c| c.status.as_str());
        match applied {
            Some("True") => set(
                &mut status.conditions,
                "ManifestApplied",
                "True",
                "AddonManifestApplied",
                "manifests of addon are applied successfully",
            ),
            Some("False") => set(
                &mut status.conditions,
                "ManifestApplied",
                "False",
                "AddonManifestAppliedFailed",
                "failed to apply the manifests of addon",
            ),
            _ => {}
        }
        let cluster_unknown = cluster
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "ManagedClusterConditionAvailable"))
            .is_some_and(|c| c.status == "Unknown");
        // Health is probed once the manifests were applied (or failed to).
        let applied_known = find_condition(&status.conditions, "ManifestApplied").is_some();
        if !cluster_unknown && applied_known {
            let (s, reason, message) = template::availability(&name, Some(&work));
            set(&mut status.conditions, "Available", s, reason, &message);
        }
        failure.map_or(Ok(false), Err)
    }

    /// Adds (`wanted`) or removes the pre-delete finalizer; true when the add-on changed.
    async fn set_finalizer(
        &self,
        addon: &ManagedClusterAddOn,
        wanted: bool,
    ) -> Result<bool, Status> {
        let finalizers = addon.metadata.finalizers.clone().unwrap_or_default();
        let has = finalizers
            .iter()
            .any(|f| f == template::PRE_DELETE_FINALIZER);
        if has == wanted {
            return Ok(false);
        }
        let mut next = addon.clone();
        let list = next.metadata.finalizers.get_or_insert_with(Vec::new);
        if wanted {
            list.push(template::PRE_DELETE_FINALIZER.to_string());
        } else {
            list.retain(|f| f != template::PRE_DELETE_FINALIZER);
        }
        // Only the finalizer changes: the status written with it is the stored one.
        next.status = addon.status.clone();
        match self.objects.update_as(&next, Target::Main).await {
            Ok(_) => Ok(true),
            Err(e) if e.reason == "NotFound" => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// A deleted add-on with the pre-delete finalizer: its hooks run in the hook work;
    /// once they completed (or when there is nothing to run), the finalizer goes.
    async fn finalize(&self, addon: ManagedClusterAddOn) -> Result<Requeue, Status> {
        let has = addon
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == template::PRE_DELETE_FINALIZER));
        if !has {
            return Ok(None);
        }
        let name = addon.metadata.name.clone().unwrap_or_default();
        let cluster = addon.metadata.namespace.clone().unwrap_or_default();
        let hook = self.inputs(&addon).await?.and_then(|i| {
            template::render(&i.template, i.config.as_ref(), &cluster, &name)
                .ok()
                .and_then(|objects| template::hook_work(&addon, &objects))
        });
        let Some(hook) = hook else {
            self.set_finalizer(&addon, false).await?;
            return Ok(None);
        };
        let work = self.apply_work(hook).await?;
        let work_name = template::hook_work_name(&name);
        if template::hook_completed(&work) {
            tracing::info!(addon = %name, cluster = %cluster, "pre-delete hook completed");
            self.set_finalizer(&addon, false).await?;
            return Ok(None);
        }
        let mut next = addon.clone();
        let status = next.status.get_or_insert_with(Default::default);
        set(
            &mut status.conditions,
            "HookManifestCompleted",
            "False",
            "HookManifestIsNotCompleted",
            &format!("hook manifestWork {work_name} is not completed."),
        );
        if next.status != addon.status {
            match self.objects.update_as(&next, Target::Status).await {
                Err(e) if e.reason != "NotFound" => return Err(e),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Creates the RoleBinding or brings its role, subjects and labels up to date.
    async fn ensure_role_binding(
        &self,
        namespace: &str,
        binding: &RoleBinding,
    ) -> Result<(), Status> {
        let desired = serde_json::to_value(binding)
            .map_err(|e| Status::internal(format!("encoding a RoleBinding: {e}")))?;
        self.objects
            .ensure(
                &self.role_bindings,
                Some(namespace),
                desired,
                &["roleRef", "subjects"],
            )
            .await
            .map(|_| ())
    }

    /// Creates the work (in the add-on's cluster namespace, where `desired` is) or brings
    /// its spec, labels, annotations and owners up to date. Manifests already in the
    /// work keep their places.
    async fn apply_work(&self, mut desired: ManifestWork) -> Result<ManifestWork, Status> {
        let name = desired.metadata.name.clone().unwrap_or_default();
        let namespace = desired.metadata.namespace.clone();
        let current = self
            .objects
            .get_as::<ManifestWork>(namespace.as_deref(), &name)
            .await?;
        let existing = current.as_ref().map(manifests_of).unwrap_or_default();
        if let Some(workload) = desired.spec.workload.as_mut() {
            let objects = std::mem::take(&mut workload.manifests)
                .into_iter()
                .map(|m| m.0)
                .collect();
            workload.manifests = template::ordered(objects, &existing)
                .into_iter()
                .map(Manifest)
                .collect();
        }
        let Some(current) = current else {
            return self.objects.create_as(&desired).await;
        };
        let mut next = current.clone();
        next.spec = desired.spec;
        next.metadata.labels = desired.metadata.labels;
        next.metadata.annotations = desired.metadata.annotations;
        next.metadata.owner_references = desired.metadata.owner_references;
        if next == current {
            return Ok(current);
        }
        self.objects.update_as(&next, Target::Main).await
    }
}

/// The manifests of a work, as objects.
fn manifests_of(work: &ManifestWork) -> Vec<Value> {
    work.spec
        .workload
        .as_ref()
        .map(|w| w.manifests.iter().map(|m| m.0.clone()).collect())
        .unwrap_or_default()
}

/// Label `key` of an object.
fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// Whether the CMA supports configs of `resource` (in the add-on group).
fn supports(cma: &ClusterManagementAddOn, resource: &str) -> bool {
    cma.spec
        .supported_configs
        .iter()
        .any(|c| c.group == GROUP && c.resource == resource)
}

/// Sets condition `type_` (without an observed generation).
fn set(conditions: &mut Vec<Condition>, type_: &str, status: &str, reason: &str, message: &str) {
    set_status_condition(conditions, type_, status, reason, message, None);
}

/// The add-on's `Progressing` (and, once complete, `lastAppliedConfig`) from its works.
fn progressing(
    status: &mut ManagedClusterAddOnStatus,
    spec: &crate::api::ocm::ManagedClusterAddOnSpec,
    works: &[ManifestWork],
) {
    if let Some(c) = spec.configs.iter().find(|c| {
        !status
            .supported_configs
            .iter()
            .any(|s| s.group == c.group && s.resource == c.resource)
    }) {
        let message = format!(
            "Configuration with gvr {}/{} is not supported for this addon",
            c.group, c.resource
        );
        set(
            &mut status.conditions,
            "Progressing",
            "False",
            "ConfigurationUnsupported",
            &message,
        );
        return;
    }
    if find_condition(&status.conditions, "ManifestApplied").is_none() {
        set(
            &mut status.conditions,
            "Progressing",
            "False",
            "WaitingForManifestApplied",
            "Waiting for ManagedClusterAddOn ManifestApplied condition",
        );
        return;
    }
    let progress = |status: &mut ManagedClusterAddOnStatus, why: &str| {
        set(
            &mut status.conditions,
            "Progressing",
            "True",
            "Progressing",
            &format!("progressing... {why}"),
        );
    };
    if works.is_empty() {
        return progress(status, "no addon works");
    }
    let expected = super::config::spec_hash_map(&status.config_references);
    let hashes_set = status.config_references.iter().all(|r| {
        r.desired_config
            .as_ref()
            .is_some_and(|d| !d.spec_hash.is_empty())
    });
    for work in works {
        let name = work.metadata.name.as_deref().unwrap_or("");
        if name.starts_with(&format!(
            "addon-{}-pre-delete",
            label(&work.metadata, ADDON_NAME_LABEL).unwrap_or("")
        )) {
            continue;
        }
        let annotation = work
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONFIG_SPEC_HASH_ANNOTATION))
            .map(String::as_str);
        let matches = match annotation {
            None => status.config_references.is_empty(),
            Some(text) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(text)
                .is_ok_and(|m| m.values().all(|v| !v.is_empty()) && hashes_set && m == expected),
        };
        if !matches {
            return progress(status, "mca and work configs mismatch");
        }
        if !ready(work) {
            return progress(status, "work is not ready");
        }
    }
    for r in &mut status.config_references {
        r.last_applied_config = r.desired_config.clone();
    }
    set(
        &mut status.conditions,
        "Progressing",
        "False",
        "Completed",
        "completed with no errors.",
    );
}

/// A work whose `Applied` and `Available` are True at its current generation.
fn ready(work: &ManifestWork) -> bool {
    let generation = work.metadata.generation;
    let conditions = work
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or(&[]);
    ["Available", "Applied"].iter().all(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True" && c.observed_generation == generation)
    })
}
