//! One reconcile per ClusterManagementAddOn, in upstream's order: install (the
//! `Placements` strategy creates a ManagedClusterAddOn in every cluster its placements
//! decide and deletes those of clusters no longer decided; `Manual` leaves them to users,
//! so a disabled add-on stays disabled), owner references (every add-on named after the
//! CMA is controlled by it, so deleting the CMA removes them all), configuration (each
//! add-on's desired configs rolled out under its placement's strategy; `Configured`), and
//! the CMA's status (`defaultconfigReferences`, `installProgressions`).
//!
//! Add-ons whose CMA carries `addon.open-cluster-management.io/lifecycle: self` are left
//! to their own manager.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::config::{self, DesiredConfigs, Hashes};
use super::managed_by_addon_manager;
use crate::api::Kind;
use crate::api::meta::set_status_condition;
use crate::api::ocm::{
    ClusterManagementAddOn, ClusterManagementAddOnStatus, DefaultConfigReference,
    InstallConfigReference, InstallProgression, InstallStrategyType, ManagedClusterAddOn,
    ManagedClusterAddOnSpec, RolloutStrategy, RolloutType,
};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::hub::objects::Objects;
use crate::hub::rollout::{self, Groups, Status as Rollout};
use crate::registry::Target;

/// Requeues longer than this wait for the next change.
const MAX_RECHECK: Duration = Duration::from_secs(30 * 60);

pub struct Manager {
    objects: Objects,
    placements: Arc<Kind>,
    addons: Arc<Kind>,
}

/// A placement of the install strategy: its clusters and how changes roll out there.
struct PlacementNode {
    namespace: String,
    name: String,
    strategy: RolloutStrategy,
    groups: Groups,
    /// Every cluster of the groups.
    clusters: BTreeSet<String>,
    desired: DesiredConfigs,
    children: Vec<usize>,
    counts: Counts,
}

/// A placement's rollout counts for its install progression.
#[derive(Default, Clone, Copy)]
struct Counts {
    upgrading: usize,
    succeeded: usize,
    failed: usize,
    timed_out: usize,
    total: usize,
}

impl Manager {
    pub fn new(objects: Objects) -> Result<Self, Status> {
        Ok(Manager {
            placements: objects.kind("cluster.open-cluster-management.io", "placements")?,
            addons: objects.kind_of::<ManagedClusterAddOn>()?,
            objects,
        })
    }

    pub async fn reconcile(&self, name: &str) -> Result<Requeue, Status> {
        let Some(cma) = self
            .objects
            .get_as::<ClusterManagementAddOn>(None, name)
            .await?
        else {
            return Ok(None);
        };
        if !managed_by_addon_manager(&cma) || cma.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let strategy = cma.spec.install_strategy.clone().unwrap_or_default();
        let mut nodes = Vec::new();
        for p in &strategy.placements {
            let Some(placement) = self
                .objects
                .get(&self.placements, Some(&p.namespace), &p.name)
                .await?
            else {
                tracing::debug!(addon = name, placement = %p.name, "placement not found");
                continue;
            };
            let groups = rollout::placement_groups(&self.objects, &p.namespace, &p.name).await?;
            let clusters = groups
                .all_clusters()
                .into_iter()
                .map(str::to_string)
                .collect();
            nodes.push(PlacementNode {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                strategy: with_default_concurrency(p.rollout_strategy.clone(), &placement),
                groups,
                clusters,
                desired: DesiredConfigs::new(),
                children: Vec::new(),
                counts: Counts::default(),
            });
        }
        let mut addons = self.addons_named(name).await?;
        if strategy.type_ == InstallStrategyType::Placements {
            let wanted: BTreeSet<String> = nodes
                .iter()
                .flat_map(|n| n.clusters.iter().cloned())
                .collect();
            if self.install(&cma, &addons, &wanted).await? {
                addons = self.addons_named(name).await?;
            }
        }
        for addon in &mut addons {
            self.ensure_owner(&cma, addon).await?;
        }
        let (base, recheck) = self.configure(&cma, &mut nodes, &addons).await?;
        self.write_status(&cma, &base, &nodes).await?;
        Ok(recheck.map(|r| r.min(MAX_RECHECK)))
    }

    /// Every ManagedClusterAddOn named `name`, in any cluster namespace.
    async fn addons_named(&self, name: &str) -> Result<Vec<ManagedClusterAddOn>, Status> {
        let fields = crate::registry::selector::FieldSelector::parse_for(
            &format!("metadata.name={name}"),
            &self.addons,
        )
        .map_err(Status::internal)?;
        let filter = crate::registry::Filter {
            fields,
            ..Default::default()
        };
        let list = self
            .objects
            .registry
            .list_filtered(
                &self.addons,
                None,
                crate::storage::ListOptions::default(),
                &filter,
            )
            .await?;
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| Status::internal(format!("decoding a ManagedClusterAddOn: {e}")))
            })
            .collect()
    }

    /// Creates the add-on in clusters `wanted` lacks and deletes it elsewhere; true when
    /// something changed.
    async fn install(
        &self,
        cma: &ClusterManagementAddOn,
        addons: &[ManagedClusterAddOn],
        wanted: &BTreeSet<String>,
    ) -> Result<bool, Status> {
        let name = cma.metadata.name.clone().unwrap_or_default();
        let existing: BTreeSet<String> = addons
            .iter()
            .filter_map(|a| a.metadata.namespace.clone())
            .collect();
        let mut creates = Vec::new();
        for cluster in wanted.difference(&existing) {
            let mut addon = ManagedClusterAddOn::new(&name, ManagedClusterAddOnSpec::default());
            addon.metadata.namespace = Some(cluster.clone());
            addon.metadata.owner_references = Some(vec![owner(cma)]);
            creates.push(async move {
                match self.objects.create_as(&addon).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.reason == "AlreadyExists" => Ok(false),
                    Err(e) => Err(e),
                }
            });
        }
        let mut results = concurrently(creates).await;
        let mut deletes = Vec::new();
        for cluster in existing.difference(wanted) {
            let name = &name;
            deletes.push(async move {
                self.objects
                    .delete_as::<ManagedClusterAddOn>(Some(cluster), name)
                    .await
                    .map(|()| true)
            });
        }
        results.extend(concurrently(deletes).await);
        let mut changed = false;
        for r in results {
            changed |= r?;
        }
        Ok(changed)
    }

    /// Makes the CMA the add-on's controller owner.
    async fn ensure_owner(
        &self,
        cma: &ClusterManagementAddOn,
        addon: &mut ManagedClusterAddOn,
    ) -> Result<(), Status> {
        let wanted = owner(cma);
        let refs = addon.metadata.owner_references.get_or_insert_with(Vec::new);
        if refs.iter().any(|r| r.uid == wanted.uid) {
            return Ok(());
        }
        // Another controller owner gives way, as upstream's merge does.
        if refs.iter().any(|r| r.controller == Some(true)) {
            for r in refs.iter_mut() {
                r.controller = None;
            }
        }
        refs.push(wanted);
        match self.objects.update_as(addon, Target::Main).await {
            Ok(stored) => {
                *addon = stored;
                Ok(())
            }
            Err(e) if e.reason == "NotFound" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resolves each add-on's desired configs, rolls changes out under the placements'
    /// strategies (all at once outside any placement) and writes `configReferences` and
    /// `Configured`. Returns when to look again.
    async fn configure(
        &self,
        cma: &ClusterManagementAddOn,
        nodes: &mut [PlacementNode],
        addons: &[ManagedClusterAddOn],
    ) -> Result<(DesiredConfigs, Option<Duration>), Status> {
        let mut hashes = Hashes::new(&self.objects);
        let mut base = config::defaults(cma);
        hashes.fill(&mut base).await?;
        let strategies = &cma
            .spec
            .install_strategy
            .as_ref()
            .map(|s| s.placements.clone())
            .unwrap_or_default();
        for node in nodes.iter_mut() {
            let configs = strategies
                .iter()
                .find(|p| p.namespace == node.namespace && p.name == node.name)
                .map(|p| p.configs.clone())
                .unwrap_or_default();
            node.desired = config::overridden(&base, &configs);
            hashes.fill(&mut node.desired).await?;
        }
        // Each add-on belongs to the last placement deciding its cluster, or to none.
        let mut desired = Vec::with_capacity(addons.len());
        let mut orphans = Vec::new();
        for (i, addon) in addons.iter().enumerate() {
            let cluster = addon.metadata.namespace.as_deref().unwrap_or("");
            let node = nodes
                .iter_mut()
                .rev()
                .find(|n| n.clusters.contains(cluster));
            let inherited = match node {
                Some(n) => {
                    n.children.push(i);
                    &n.desired
                }
                None => {
                    orphans.push(i);
                    &base
                }
            };
            let mut mine = config::overridden(inherited, &addon.spec.configs);
            hashes.fill(&mut mine).await?;
            desired.push(mine);
        }
        let statuses: Vec<_> = addons
            .iter()
            .zip(&desired)
            .map(|(a, d)| config::rollout_status(a, d))
            .collect();
        let now = Timestamp::now();
        let mut update = BTreeSet::new();
        let mut recheck: Option<Duration> = None;
        for node in nodes.iter_mut() {
            let existing: Vec<_> = node.children.iter().map(|&i| statuses[i].clone()).collect();
            let result = match rollout::rollout(Some(&node.strategy), &node.groups, &existing, now)
            {
                Ok(result) => result,
                Err(e) => {
                    tracing::warn!(placement = %node.name, error = %e.0, "invalid rollout strategy");
                    continue;
                }
            };
            if let Some(r) = result.recheck_after {
                recheck = Some(recheck.map_or(r, |o| o.min(r)));
            }
            let rolling: BTreeSet<&str> = result
                .to_rollout
                .iter()
                .map(|s| s.cluster.as_str())
                .collect();
            let mut counts = Counts {
                timed_out: result.timed_out.len(),
                total: node.clusters.len(),
                ..Counts::default()
            };
            for &i in &node.children {
                let cluster = addons[i].metadata.namespace.as_deref().unwrap_or("");
                if rolling.contains(cluster) {
                    update.insert(i);
                    counts.upgrading += 1;
                } else if desired[i] == node.desired {
                    match statuses[i].status {
                        Rollout::Succeeded => counts.succeeded += 1,
                        Rollout::Failed => counts.failed += 1,
                        _ => {}
                    }
                }
            }
            node.counts = counts;
        }
        for &i in &orphans {
            if statuses[i].status != Rollout::Succeeded {
                update.insert(i);
            }
        }
        let mut changed = Vec::new();
        for (i, addon) in addons.iter().enumerate() {
            let mut next = addon.clone();
            let status = next.status.get_or_insert_with(Default::default);
            if update.contains(&i) {
                status.config_references = config::merged(&status.config_references, &desired[i]);
                configured(&mut status.conditions, true);
            } else if statuses[i].status == Rollout::ToApply {
                configured(&mut status.conditions, false);
            } else if statuses[i].status == Rollout::Succeeded {
                configured(&mut status.conditions, true);
            }
            if next.status != addon.status {
                changed.push(next);
            }
        }
        let mut writes = Vec::new();
        for next in &changed {
            writes.push(async move {
                match self.objects.update_as(next, Target::Status).await {
                    Err(e) if e.reason != "NotFound" => Err(e),
                    _ => Ok(()),
                }
            });
        }
        for r in concurrently(writes).await {
            r?;
        }
        Ok((base, recheck))
    }

    /// The CMA's `defaultconfigReferences` and one install progression per placement of
    /// the strategy (its configs, what was last applied, and a `Progressing` condition).
    async fn write_status(
        &self,
        cma: &ClusterManagementAddOn,
        base: &DesiredConfigs,
        nodes: &[PlacementNode],
    ) -> Result<(), Status> {
        let old = cma.status.clone().unwrap_or_default();
        // In the order of `supportedConfigs`, as upstream lists them.
        let mut status = ClusterManagementAddOnStatus {
            default_config_references: cma
                .spec
                .supported_configs
                .iter()
                .filter_map(|c| base.get(&(c.group.clone(), c.resource.clone())))
                .flatten()
                .map(|r| DefaultConfigReference {
                    group: r.group.clone(),
                    resource: r.resource.clone(),
                    desired_config: r.desired_config.clone(),
                })
                .collect(),
            install_progressions: Vec::new(),
        };
        let strategies = cma
            .spec
            .install_strategy
            .as_ref()
            .map(|s| s.placements.clone())
            .unwrap_or_default();
        for p in &strategies {
            let node = nodes
                .iter()
                .find(|n| n.namespace == p.namespace && n.name == p.name);
            let desired = match node {
                Some(n) => n.desired.clone(),
                None => config::overridden(base, &p.configs),
            };
            let previous = old
                .install_progressions
                .iter()
                .find(|o| o.namespace == p.namespace && o.name == p.name);
            let mut progression = InstallProgression {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                config_references: config::flatten(&desired)
                    .into_iter()
                    .map(|r| {
                        let before = previous.and_then(|o| {
                            o.config_references.iter().find(|c| {
                                c.group == r.group
                                    && c.resource == r.resource
                                    && c.desired_config.as_ref().map(|d| (&d.namespace, &d.name))
                                        == r.desired_config
                                            .as_ref()
                                            .map(|d| (&d.namespace, &d.name))
                            })
                        });
                        InstallConfigReference {
                            group: r.group,
                            resource: r.resource,
                            desired_config: r.desired_config,
                            last_known_good_config: before
                                .and_then(|b| b.last_known_good_config.clone()),
                            last_applied_config: before.and_then(|b| b.last_applied_config.clone()),
                        }
                    })
                    .collect(),
                conditions: previous.map(|o| o.conditions.clone()).unwrap_or_default(),
            };
            if let Some(node) = node {
                progress(&mut progression, node.counts);
            }
            status.install_progressions.push(progression);
        }
        if Some(&status) == cma.status.as_ref()
            || (cma.status.is_none() && status == ClusterManagementAddOnStatus::default())
        {
            return Ok(());
        }
        let mut next = cma.clone();
        next.status = Some(status);
        match self.objects.update_as(&next, Target::Status).await {
            Ok(_) => Ok(()),
            Err(e) if e.reason == "NotFound" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An install progression's `Progressing` condition; once every cluster succeeded, the
/// desired configs become the last applied and last known good ones.
fn progress(p: &mut InstallProgression, c: Counts) {
    if c.succeeded != c.total || c.total == 0 {
        set_status_condition(
            &mut p.conditions,
            "Progressing",
            "True",
            "Progressing",
            &format!(
                "{}/{} progressing..., {} failed {} timeout.",
                c.upgrading + c.succeeded,
                c.total,
                c.failed,
                c.timed_out
            ),
            None,
        );
    } else {
        for r in &mut p.config_references {
            r.last_applied_config = r.desired_config.clone();
            r.last_known_good_config = r.desired_config.clone();
        }
        set_status_condition(
            &mut p.conditions,
            "Progressing",
            "False",
            "Completed",
            &format!(
                "{}/{} completed with no errors, {} failed {} timeout.",
                c.succeeded, c.total, c.failed, c.timed_out
            ),
            None,
        );
    }
}

/// Runs `tasks` with up to `WRITERS` in flight (the store commits concurrent writes in one
/// batch); their results, in no particular order.
async fn concurrently<T, F: std::future::Future<Output = T>>(tasks: Vec<F>) -> Vec<T> {
    use futures::StreamExt;
    futures::stream::iter(tasks)
        .buffer_unordered(WRITERS)
        .collect()
        .await
}

/// How many writes one reconcile keeps in flight.
const WRITERS: usize = 32;

/// The CMA as its add-ons' controller owner.
fn owner(cma: &ClusterManagementAddOn) -> OwnerReference {
    OwnerReference {
        api_version: "addon.open-cluster-management.io/v1alpha1".into(),
        kind: "ClusterManagementAddOn".into(),
        name: cma.metadata.name.clone().unwrap_or_default(),
        uid: cma.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn configured(
    conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    yes: bool,
) {
    if yes {
        set_status_condition(
            conditions,
            "Configured",
            "True",
            "ConfigurationsConfigured",
            "Configurations configured",
            None,
        );
    } else {
        set_status_condition(
            conditions,
            "Configured",
            "False",
            "ConfigurationsNotConfigured",
            "Configurations updated and not configured yet",
            None,
        );
    }
}

/// A `Progressive` strategy without `maxConcurrency` takes the placement's
/// `clustersPerDecisionGroup`, as upstream's add-on manager does.
fn with_default_concurrency(
    strategy: Option<RolloutStrategy>,
    placement: &Value,
) -> RolloutStrategy {
    let mut strategy = strategy.unwrap_or_default();
    if strategy.type_ == Some(RolloutType::Progressive) {
        let progressive = strategy.progressive.get_or_insert_with(Default::default);
        if progressive.max_concurrency.is_none() {
            progressive.max_concurrency = placement
                .pointer("/spec/decisionStrategy/groupStrategy/clustersPerDecisionGroup")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
        }
    }
    strategy
}
