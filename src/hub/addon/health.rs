//! Per managed cluster: every add-on's `Available` becomes `Unknown` (with the cluster's
//! reason and message) when the cluster's does (its agent, which reports add-on health,
//! stopped), and the cluster carries `feature.open-cluster-management.io/addon-<name>` =
//! `available`, `unhealthy` or `unreachable` for each add-on it has, per the add-on's
//! `Available` condition; labels of add-ons that are gone are removed. Add-ons installed by
//! a `Placements` strategy carry the cluster's `addon.open-cluster-management.io/*`
//! annotations (upstream v1.3's add-on annotation controller).

use std::collections::BTreeMap;

use crate::api::meta::{find_condition, set_status_condition};
use crate::api::ocm::{
    ClusterManagementAddOn, InstallStrategyType, ManagedCluster, ManagedClusterAddOn,
};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::hub::objects::Objects;
use crate::registry::Target;

/// The prefix of the cluster annotations copied to its add-ons.
const ANNOTATION_PREFIX: &str = "addon.open-cluster-management.io";

/// The prefix of the add-on feature labels on clusters.
pub const FEATURE_PREFIX: &str = "feature.open-cluster-management.io/addon-";

pub struct HealthController {
    objects: Objects,
}

impl HealthController {
    pub fn new(objects: Objects) -> Result<Self, Status> {
        Ok(HealthController { objects })
    }

    pub async fn reconcile(&self, cluster_name: &str) -> Result<Requeue, Status> {
        let Some(cluster) = self
            .objects
            .get_as::<ManagedCluster>(None, cluster_name)
            .await?
        else {
            return Ok(None);
        };
        let conditions = cluster
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or(&[]);
        let Some(available) =
            find_condition(conditions, "ManagedClusterConditionAvailable").cloned()
        else {
            return Ok(None);
        };
        let addons = self
            .objects
            .list_as::<ManagedClusterAddOn>(Some(cluster_name))
            .await?;
        let mut errors = Vec::new();
        let mut current = Vec::with_capacity(addons.len());
        for addon in addons {
            if available.status == "Unknown" {
                let mut next = addon.clone();
                let status = next.status.get_or_insert_with(Default::default);
                if set_status_condition(
                    &mut status.conditions,
                    "Available",
                    "Unknown",
                    &available.reason,
                    &available.message,
                    None,
                ) {
                    match self.objects.update_as(&next, Target::Status).await {
                        Ok(stored) => {
                            current.push(stored);
                            continue;
                        }
                        Err(e) if e.reason == "NotFound" => continue,
                        Err(e) => errors.push(e),
                    }
                }
            }
            current.push(addon);
        }
        for addon in &current {
            if let Err(e) = self.annotations(&cluster, addon).await {
                errors.push(e);
            }
        }
        self.labels(cluster, &current).await?;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Copies the cluster's add-on annotations to an add-on its CMA installs by
    /// placements (and drops those the cluster no longer has).
    async fn annotations(
        &self,
        cluster: &ManagedCluster,
        addon: &ManagedClusterAddOn,
    ) -> Result<(), Status> {
        let name = addon.metadata.name.as_deref().unwrap_or("");
        let Some(cma) = self
            .objects
            .get_as::<ClusterManagementAddOn>(None, name)
            .await?
        else {
            return Ok(());
        };
        let placements = cma
            .spec
            .install_strategy
            .as_ref()
            .is_some_and(|s| s.type_ == InstallStrategyType::Placements);
        if !placements {
            return Ok(());
        }
        let ours = |k: &String| k.starts_with(ANNOTATION_PREFIX);
        let wanted: BTreeMap<String, String> = cluster
            .metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| ours(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut next = addon.clone();
        let annotations = next
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.retain(|k, _| !ours(k) || wanted.contains_key(k));
        annotations.extend(wanted);
        let unchanged = next.metadata.annotations.as_ref().filter(|a| !a.is_empty())
            == addon
                .metadata
                .annotations
                .as_ref()
                .filter(|a| !a.is_empty());
        if unchanged {
            return Ok(());
        }
        match self.objects.update_as(&next, Target::Main).await {
            Err(e) if e.reason != "NotFound" => Err(e),
            _ => Ok(()),
        }
    }

    async fn labels(
        &self,
        cluster: ManagedCluster,
        addons: &[ManagedClusterAddOn],
    ) -> Result<(), Status> {
        let wanted: BTreeMap<String, &str> = addons
            .iter()
            .filter(|a| a.metadata.deletion_timestamp.is_none())
            .map(|a| {
                let name = a.metadata.name.clone().unwrap_or_default();
                (format!("{FEATURE_PREFIX}{name}"), label_value(a))
            })
            .collect();
        let mut next = cluster.clone();
        let labels = next.metadata.labels.get_or_insert_with(Default::default);
        labels.retain(|k, _| !k.starts_with(FEATURE_PREFIX) || wanted.contains_key(k));
        for (k, v) in wanted {
            labels.insert(k, v.to_string());
        }
        let empty = labels.is_empty();
        if next.metadata.labels == cluster.metadata.labels
            || (cluster.metadata.labels.is_none() && empty)
        {
            return Ok(());
        }
        match self.objects.update_as(&next, Target::Main).await {
            Ok(_) => Ok(()),
            Err(e) if e.reason == "NotFound" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `available`, `unhealthy` or `unreachable`, from the add-on's `Available` condition.
pub fn label_value(addon: &ManagedClusterAddOn) -> &'static str {
    let conditions = addon
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or(&[]);
    match find_condition(conditions, "Available").map(|c| c.status.as_str()) {
        Some("True") => "available",
        Some("False") => "unhealthy",
        _ => "unreachable",
    }
}
