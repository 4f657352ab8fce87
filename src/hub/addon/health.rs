//! Per managed cluster: every add-on's `Available` becomes `Unknown` (with the cluster's
//! reason and message) when the cluster's does (its agent, which reports add-on health,
//! stopped), and the cluster carries `feature.open-cluster-management.io/addon-<name>` =
//! `available`, `unhealthy` or `unreachable` for each add-on it has, per the add-on's
//! `Available` condition; labels of add-ons that are gone are removed.

use std::collections::BTreeMap;

use crate::api::meta::{find_condition, set_status_condition};
use crate::api::ocm::{ManagedCluster, ManagedClusterAddOn};
use crate::api::status::Status;
use crate::hub::controller::Requeue;
use crate::hub::objects::Objects;
use crate::registry::Target;

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
        self.labels(cluster, &current).await?;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(None),
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
