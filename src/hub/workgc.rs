//! Completed ManifestWorks go after `spec.deleteOption.ttlSecondsAfterFinished` (feature
//! gate `CleanUpCompletedManifestWork`, as upstream's work manager): once a work's
//! `Complete` condition is True (set by a condition rule on the agent), it is deleted
//! that many seconds after the condition's transition (at once for 0). Works of a
//! ManifestWorkReplicaSet are left to their replica set.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::controller::{self, Queue, Requeue};
use super::objects::Objects;
use super::replicaset::OWNER_LABEL;
use crate::api::ocm::ManifestWork;
use crate::api::ocm::work_conditions::COMPLETE;
use crate::api::status::Status;
use crate::registry::Filter;

/// When a work is due for deletion: `None` when it is not (yet) to be collected.
pub fn due(work: &ManifestWork) -> Option<Timestamp> {
    let meta = &work.metadata;
    if meta.deletion_timestamp.is_some()
        || meta
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(OWNER_LABEL))
    {
        return None;
    }
    let ttl = work
        .spec
        .delete_option
        .as_ref()?
        .ttl_seconds_after_finished?;
    let complete = work
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == COMPLETE && c.status == "True")?;
    let ns = complete
        .last_transition_time
        .0
        .as_nanosecond()
        .saturating_add(i128::from(ttl.max(0)) * 1_000_000_000);
    Timestamp::from_nanosecond(ns).ok()
}

/// The queue key (`namespace/name`) of a stored work that is due, as the feed sees it.
fn due_key(object: &Value) -> Option<String> {
    let work = ManifestWork::deserialize(object).ok()?;
    due(&work)?;
    let ns = work.metadata.namespace?;
    let name = work.metadata.name?;
    Some(format!("{ns}/{name}"))
}

struct Collector {
    objects: Objects,
}

impl Collector {
    /// Deletes the work `namespace/name` when it is due, or requeues it for then.
    async fn reconcile(&self, key: &str) -> Result<Requeue, Status> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(None);
        };
        let Some(work) = self
            .objects
            .get_as::<ManifestWork>(Some(namespace), name)
            .await?
        else {
            return Ok(None);
        };
        let Some(at) = due(&work) else {
            return Ok(None);
        };
        let wait = at.as_nanosecond() - Timestamp::now().as_nanosecond();
        if wait > 0 {
            return Ok(Some(Duration::from_nanos(
                u64::try_from(wait).unwrap_or(u64::MAX),
            )));
        }
        tracing::info!(
            work = key,
            "completed; deleted after ttlSecondsAfterFinished"
        );
        self.objects
            .delete_as::<ManifestWork>(Some(namespace), name)
            .await?;
        Ok(None)
    }
}

/// Starts the collector.
pub async fn start(objects: &Objects) -> Result<(), Status> {
    let works = objects.kind_of::<ManifestWork>()?;
    let queue = Queue::default();
    let this = Arc::new(Collector {
        objects: objects.clone(),
    });
    controller::run(
        "manifestwork-gc",
        queue.clone(),
        2,
        Arc::new(move |key: String| {
            let this = this.clone();
            Box::pin(async move { this.reconcile(&key).await })
        }),
    );
    controller::feed_objects(
        &objects.registry,
        works,
        None,
        Filter::default(),
        queue,
        Arc::new(|o: &Value| due_key(o).into_iter().collect()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn completed_works_with_a_ttl_are_due_after_it() {
        let raw = |ttl: Value, complete: &str, labels: Value| {
            json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                "metadata": {"labels": labels}, "spec": {"deleteOption": {"ttlSecondsAfterFinished": ttl}},
                "status": {"conditions": [{"type": "Complete", "status": complete, "reason": "R",
                    "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
        };
        let work = |ttl: Value, complete: &str, labels: Value| -> ManifestWork {
            serde_json::from_value(raw(ttl, complete, labels)).expect("a ManifestWork")
        };
        let at = due(&work(json!(60), "True", json!({}))).expect("due");
        assert_eq!(at.to_string(), "2026-01-01T00:01:00Z");
        assert!(due(&work(json!(60), "False", json!({}))).is_none());
        assert!(due(&work(Value::Null, "True", json!({}))).is_none());
        assert!(due(&work(json!(0), "True", json!({OWNER_LABEL: "ns.rs"}))).is_none());
        let mut keyed = raw(json!(0), "True", json!({}));
        keyed["metadata"]["namespace"] = json!("c1");
        keyed["metadata"]["name"] = json!("w");
        assert_eq!(due_key(&keyed).as_deref(), Some("c1/w"));
    }
}
