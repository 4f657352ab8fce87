//! The add-on half of the agent: the ManagedClusterAddOns in the cluster's namespace on
//! the hub (v1alpha1, typed `api::ocm::ManagedClusterAddOn`) get what upstream's spoke
//! add-on controllers give them.
//!
//! - `registration`: per add-on and per `status.registrations[]` entry, a task keeping a
//!   client certificate (CSR on the hub, key made here) in a Secret in the add-on's install
//!   namespace on the managed cluster; a registration that goes away (or whose subject or
//!   namespace changes) has its task stopped and its Secret deleted, and so has every
//!   registration of a deleted add-on. An add-on being deleted keeps its Secrets (its agent
//!   may need them to clean up).
//! - `lease`: per add-on whose health check is `Lease` (or unset), a task turning the
//!   add-on's Lease on the managed cluster into its `Available` condition.
//! - `status.kubeClientDriver` is `csr` while the add-on has a client-signer registration,
//!   absent otherwise (upstream's `ensureDriver`).
//!
//! One loop follows a reflector over the add-ons and reconciles each changed one (all of
//! them after a relist and every 10 minutes); the tasks it starts are aborted when it is.
//! The agent reads the hub only in its own namespace.

pub mod lease;
pub mod registration;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector::store::Writer};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::hubconfig::Endpoint;
use super::work::AbortOnDrop;
use super::{AgentError, api_code};
use crate::api::ocm::names::CLIENT_SIGNER;
use crate::api::ocm::{
    DEFAULT_ADDON_INSTALL_NAMESPACE, HealthCheckMode, KubeClientDriver, ManagedClusterAddOn,
    ManagedClusterAddOnStatus, Subject,
};
use registration::Registration;

/// Every add-on is reconciled again this often (upstream's resync).
const RESYNC: Duration = Duration::from_secs(10 * 60);

/// Why an add-on step failed.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    /// A call to the managed cluster failed.
    #[error("managed cluster: {0}")]
    Managed(String),
    /// A call to the hub failed.
    #[error("hub: {0}")]
    Hub(String),
    /// Upstream's brake: too many of the add-on's CSRs exist on the hub.
    #[error("{0} CSRs of this add-on exist on the hub; not creating another")]
    Halted(usize),
    /// Requesting the certificate failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl AddonError {
    fn managed(e: kube::Error) -> AddonError {
        AddonError::Managed(super::work::apply::describe(e))
    }
    fn hub(e: kube::Error) -> AddonError {
        AddonError::Hub(super::work::apply::describe(e))
    }
}

/// The install namespace of an add-on: `status.namespace`, else `spec.installNamespace`,
/// else `open-cluster-management-agent-addon`.
pub fn install_namespace(addon: &ManagedClusterAddOn) -> String {
    let given = |n: &Option<String>| n.clone().filter(|n| !n.is_empty());
    addon
        .status
        .as_ref()
        .and_then(|s| given(&s.namespace))
        .or_else(|| given(&addon.spec.install_namespace))
        .unwrap_or_else(|| DEFAULT_ADDON_INSTALL_NAMESPACE.to_string())
}

/// The `status.kubeClientDriver` an add-on should have: `csr` with a client-signer
/// registration, none without.
pub fn driver(status: Option<&ManagedClusterAddOnStatus>) -> Option<KubeClientDriver> {
    status
        .is_some_and(|s| {
            s.registrations
                .iter()
                .any(|r| r.signer_name == CLIENT_SIGNER)
        })
        .then_some(KubeClientDriver::Csr)
}

/// What identifies a registration's task: signer, subject as given, install namespace (a
/// change of any means a new certificate in a new place).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RegistrationKey {
    signer: String,
    subject: Option<(Option<String>, Vec<String>, Vec<String>)>,
    namespace: String,
}

impl RegistrationKey {
    fn new(signer: &str, subject: Option<&Subject>, namespace: &str) -> RegistrationKey {
        RegistrationKey {
            signer: signer.to_string(),
            subject: subject.map(|s| {
                (
                    s.user.clone(),
                    s.groups.clone(),
                    s.organization_units.clone(),
                )
            }),
            namespace: namespace.to_string(),
        }
    }
}

/// A running registration: where its Secret is, and its task (`None` once stopped but the
/// Secret not yet deleted).
struct RunningRegistration {
    namespace: String,
    secret: String,
    _task: Option<AbortOnDrop>,
}

/// The lease task of an add-on.
struct RunningLease {
    namespace: String,
    nudge: Arc<Notify>,
    _task: AbortOnDrop,
}

/// What runs for one add-on.
#[derive(Default)]
struct Running {
    registrations: BTreeMap<RegistrationKey, RunningRegistration>,
    lease: Option<RunningLease>,
}

/// The add-on agent of one cluster.
pub struct AddonAgent {
    pub hub: kube::Client,
    pub spoke: kube::Client,
    pub cluster: String,
    pub agent_id: String,
    /// The hub, as written into add-on kubeconfigs.
    pub endpoint: Endpoint,
    /// The lifetime requested for add-on certificates (the hub may cap it).
    pub expiration_seconds: Option<u64>,
    store: Store<ManagedClusterAddOn>,
    writer: Mutex<Option<Writer<ManagedClusterAddOn>>>,
}

impl AddonAgent {
    pub fn new(
        hub: kube::Client,
        spoke: kube::Client,
        cluster: String,
        agent_id: String,
        endpoint: Endpoint,
        expiration_seconds: Option<u64>,
    ) -> AddonAgent {
        let (store, writer) = reflector::store();
        AddonAgent {
            hub,
            spoke,
            cluster,
            agent_id,
            endpoint,
            expiration_seconds,
            store,
            writer: Mutex::new(Some(writer)),
        }
    }

    fn addons(&self) -> Api<ManagedClusterAddOn> {
        Api::namespaced(self.hub.clone(), &self.cluster)
    }

    /// The add-on as last seen by the reflector.
    fn cached(&self, name: &str) -> Option<Arc<ManagedClusterAddOn>> {
        self.store
            .get(&ObjectRef::<ManagedClusterAddOn>::new(name).within(&self.cluster))
    }

    /// Runs until aborted (or until it was already run once).
    pub async fn run(self) {
        let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let agent = Arc::new(self);
        let events = reflector::reflector(
            writer,
            watcher::watcher(agent.addons(), watcher::Config::default()),
        )
        .default_backoff();
        let mut events = Box::pin(events);
        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        let mut resync = tokio::time::interval(RESYNC);
        resync.tick().await;
        loop {
            let names: BTreeSet<String> = tokio::select! {
                event = events.next() => match event {
                    None => return,
                    Some(Ok(Event::Apply(a) | Event::InitApply(a) | Event::Delete(a))) => {
                        [a.name_any()].into()
                    }
                    Some(Ok(Event::Init)) => continue,
                    Some(Ok(Event::InitDone)) => agent.all_names(&running),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "watching the ManagedClusterAddOns");
                        continue;
                    }
                },
                _ = resync.tick() => agent.all_names(&running),
            };
            for name in names {
                agent.reconcile(&name, &mut running).await;
            }
        }
    }

    /// Every add-on known to the store or running here.
    fn all_names(&self, running: &BTreeMap<String, Running>) -> BTreeSet<String> {
        self.store
            .state()
            .iter()
            .map(|a| a.name_any())
            .chain(running.keys().cloned())
            .collect()
    }

    /// Brings what runs for `name` in line with the add-on as the store has it.
    async fn reconcile(self: &Arc<Self>, name: &str, running: &mut BTreeMap<String, Running>) {
        let Some(addon) = self.cached(name) else {
            if let Some(mut gone) = running.remove(name) {
                gone.lease = None;
                self.stop_registrations(name, &mut gone, &BTreeSet::new())
                    .await;
                if !gone.registrations.is_empty() {
                    running.insert(name.to_string(), gone);
                }
            }
            return;
        };
        if addon.meta().deletion_timestamp.is_some() {
            // Keep everything: the add-on's agent may need its credentials to clean up.
            return;
        }
        match self.ensure_driver(name, addon.status.as_ref()).await {
            Ok(true) => return, // the status write comes back as an event
            Ok(false) => {}
            Err(e) => tracing::debug!(addon = name, error = %e, "setting kubeClientDriver"),
        }
        let namespace = install_namespace(&addon);
        let entry = running.entry(name.to_string()).or_default();
        let registrations = addon
            .status
            .as_ref()
            .map(|s| s.registrations.clone())
            .unwrap_or_default();
        let wanted: BTreeMap<RegistrationKey, Registration> = registrations
            .iter()
            .map(|r| {
                let key = RegistrationKey::new(&r.signer_name, r.subject.as_ref(), &namespace);
                let registration = Registration {
                    addon: name.to_string(),
                    signer: r.signer_name.clone(),
                    subject: registration::subject(
                        &self.cluster,
                        name,
                        &self.agent_id,
                        &r.signer_name,
                        r.subject.as_ref(),
                    ),
                    namespace: namespace.clone(),
                    secret: registration::secret_name(name, &r.signer_name),
                };
                (key, registration)
            })
            .collect();
        let keep: BTreeSet<RegistrationKey> = wanted.keys().cloned().collect();
        self.stop_registrations(name, entry, &keep).await;
        for (key, registration) in wanted {
            if entry.registrations.contains_key(&key) {
                continue;
            }
            tracing::debug!(
                addon = name,
                signer = registration.signer,
                "starting add-on registration"
            );
            entry.registrations.insert(
                key,
                RunningRegistration {
                    namespace: registration.namespace.clone(),
                    secret: registration.secret.clone(),
                    _task: Some(AbortOnDrop(tokio::spawn(registration::run(
                        self.clone(),
                        registration,
                    )))),
                },
            );
        }
        let customized = addon
            .status
            .as_ref()
            .and_then(|s| s.health_check.as_ref())
            .and_then(|h| h.mode)
            == Some(HealthCheckMode::Customized);
        let same_lease = entry.lease.as_ref().filter(|l| l.namespace == namespace);
        if customized {
            entry.lease = None;
        } else if let Some(lease) = same_lease {
            lease.nudge.notify_one();
        } else {
            let nudge = Arc::new(Notify::new());
            entry.lease = Some(RunningLease {
                namespace: namespace.clone(),
                nudge: nudge.clone(),
                _task: AbortOnDrop(tokio::spawn(lease::run(
                    self.clone(),
                    name.to_string(),
                    namespace,
                    nudge,
                ))),
            });
        }
        if entry.registrations.is_empty() && entry.lease.is_none() {
            running.remove(name);
        }
    }

    /// Stops the registrations of `addon` not in `keep` and deletes their Secrets; one whose
    /// Secret could not be deleted stays listed (without a task) for the next pass.
    async fn stop_registrations(
        &self,
        addon: &str,
        entry: &mut Running,
        keep: &BTreeSet<RegistrationKey>,
    ) {
        let stale: Vec<RegistrationKey> = entry
            .registrations
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in stale {
            let Some(mut stopped) = entry.registrations.remove(&key) else {
                continue;
            };
            stopped._task = None;
            let secrets: Api<Secret> = Api::namespaced(self.spoke.clone(), &stopped.namespace);
            match secrets
                .delete(&stopped.secret, &DeleteParams::default())
                .await
            {
                Ok(_) => tracing::info!(
                    addon,
                    namespace = stopped.namespace,
                    secret = stopped.secret,
                    "add-on registration removed; deleted its Secret"
                ),
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => {
                    tracing::warn!(addon, secret = stopped.secret, error = %e, "deleting an add-on's Secret; retrying later");
                    entry.registrations.insert(key, stopped);
                }
            }
        }
    }

    /// Sets `status.kubeClientDriver`; true when it was written.
    async fn ensure_driver(
        &self,
        name: &str,
        status: Option<&ManagedClusterAddOnStatus>,
    ) -> Result<bool, kube::Error> {
        let wanted = driver(status);
        if status.and_then(|s| s.kube_client_driver) == wanted {
            return Ok(false);
        }
        self.edit_status(name, |s| {
            let changed = s.kube_client_driver != wanted;
            s.kube_client_driver = wanted;
            changed
        })
        .await
    }

    /// Edits the add-on's status on the hub: reads it, applies `edit`, and when that says
    /// it changed something writes the changed fields with a merge patch conditional on the
    /// resourceVersion read (a conflict reads again). True when written.
    async fn edit_status(
        &self,
        name: &str,
        edit: impl Fn(&mut ManagedClusterAddOnStatus) -> bool,
    ) -> Result<bool, kube::Error> {
        let api = self.addons();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = api.get(name).await?;
            let before = current.status.clone().unwrap_or_default();
            let mut after = before.clone();
            if !edit(&mut after) {
                return Ok(false);
            }
            let patch = json!({
                "metadata": {"resourceVersion": current.resource_version()},
                "status": status_diff(&before, &after),
            });
            match api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if api_code(&e) == Some(409) && attempts < 5 => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Records a certificate rotation (or its failure) in the add-on's
    /// `ClusterCertificateRotated` condition, as upstream does.
    async fn record_rotation(&self, addon: &str, status: &str, reason: &str, message: &str) {
        let written = self
            .edit_status(addon, |s| {
                crate::api::meta::set_status_condition(
                    &mut s.conditions,
                    "ClusterCertificateRotated",
                    status,
                    reason,
                    message,
                    None,
                )
            })
            .await;
        if let Err(e) = written
            && api_code(&e) != Some(404)
        {
            tracing::debug!(addon, error = %e, "recording the certificate rotation");
        }
    }
}

/// The top-level status fields that differ, as a merge patch (`null` removes).
fn status_diff(before: &ManagedClusterAddOnStatus, after: &ManagedClusterAddOnStatus) -> Value {
    let as_map = |s: &ManagedClusterAddOnStatus| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (as_map(before), as_map(after));
    let mut diff = serde_json::Map::new();
    for key in before.keys().chain(after.keys()) {
        if before.get(key) != after.get(key) {
            diff.insert(key.clone(), after.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    Value::Object(diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ocm::{ManagedClusterAddOnSpec, RegistrationConfig};

    fn addon(spec_ns: Option<&str>, status_ns: Option<&str>) -> ManagedClusterAddOn {
        let mut a = ManagedClusterAddOn::new(
            "hello",
            ManagedClusterAddOnSpec {
                install_namespace: spec_ns.map(String::from),
                ..ManagedClusterAddOnSpec::default()
            },
        );
        a.status = Some(ManagedClusterAddOnStatus {
            namespace: status_ns.map(String::from),
            ..ManagedClusterAddOnStatus::default()
        });
        a
    }

    #[test]
    fn install_namespace_prefers_status_then_spec_then_default() {
        assert_eq!(
            install_namespace(&addon(Some("spec"), Some("status"))),
            "status"
        );
        assert_eq!(install_namespace(&addon(Some("spec"), None)), "spec");
        assert_eq!(install_namespace(&addon(Some("spec"), Some(""))), "spec");
        assert_eq!(
            install_namespace(&addon(None, None)),
            "open-cluster-management-agent-addon"
        );
    }

    #[test]
    fn driver_is_csr_only_with_a_client_registration() {
        let with = |signer: &str| ManagedClusterAddOnStatus {
            registrations: vec![RegistrationConfig {
                signer_name: signer.into(),
                subject: None,
            }],
            ..ManagedClusterAddOnStatus::default()
        };
        assert_eq!(
            driver(Some(&with(CLIENT_SIGNER))),
            Some(KubeClientDriver::Csr)
        );
        assert_eq!(driver(Some(&with("example.com/signer"))), None);
        assert_eq!(driver(None), None);
    }

    #[test]
    fn status_diffs_name_changed_fields_only() {
        let before = ManagedClusterAddOnStatus {
            namespace: Some("ns".into()),
            kube_client_driver: Some(KubeClientDriver::Csr),
            ..ManagedClusterAddOnStatus::default()
        };
        let mut after = before.clone();
        after.kube_client_driver = None;
        assert_eq!(
            status_diff(&before, &after),
            json!({"kubeClientDriver": null})
        );
        assert_eq!(status_diff(&before, &before), json!({}));
    }
}
