//! Completed ManifestWorks go after `spec.deleteOption.ttlSecondsAfterFinished` (feature
//! gate `CleanUpCompletedManifestWork`, as upstream's work manager): once a work's
//! `Complete` condition is True (set by a condition rule on the agent), it is deleted
//! that many seconds after the condition's transition (at once for 0). Works of a
//! ManifestWorkReplicaSet are left to their replica set.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::controller::{self, Queue, Requeue};
use super::objects::Objects;
use super::replicaset::OWNER_LABEL;
use crate::api::Kind;
use crate::api::status::Status;
use crate::registry::Filter;

/// When a work is due for deletion: `None` when it is not (yet) to be collected.
pub fn due(work: &Value) -> Option<Timestamp> {
    if work.pointer("/metadata/deletionTimestamp").is_some()
        || work
            .pointer("/metadata/labels")
            .and_then(|l| l.get(OWNER_LABEL))
            .is_some()
    {
        return None;
    }
    let ttl = work
        .pointer("/spec/deleteOption/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)?;
    let complete = work
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "Complete" && c["status"] == "True")?;
    let since: Timestamp = complete["lastTransitionTime"].as_str()?.parse().ok()?;
    let ns = since
        .as_nanosecond()
        .saturating_add(i128::from(ttl.max(0)) * 1_000_000_000);
    Timestamp::from_nanosecond(ns).ok()
}

struct Collector {
    objects: Objects,
    works: Arc<Kind>,
}

impl Collector {
    async fn reconcile(&self, key: &str) -> Result<Requeue, Status> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(None);
        };
        let Some(work) = self.objects.get(&self.works, Some(namespace), name).await? else {
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
            .delete(&self.works, Some(namespace), name)
            .await?;
        Ok(None)
    }
}

/// Starts the collector.
pub async fn start(objects: &Objects) -> Result<(), Status> {
    let works = objects.kind("work.open-cluster-management.io", "manifestworks")?;
    let queue = Queue::default();
    let this = Arc::new(Collector {
        objects: objects.clone(),
        works: works.clone(),
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
    controller::feed(
        &objects.registry,
        works,
        None,
        Filter::default(),
        queue,
        Arc::new(|o: &Value| {
            if due(o).is_none() {
                return Vec::new();
            }
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            let name = o.pointer("/metadata/name").and_then(Value::as_str);
            match (ns, name) {
                (Some(ns), Some(name)) => vec![format!("{ns}/{name}")],
                _ => Vec::new(),
            }
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn completed_works_with_a_ttl_are_due_after_it() {
        let work = |ttl: Value, complete: &str, labels: Value| {
            json!({"metadata": {"labels": labels}, "spec": {"deleteOption": {"ttlSecondsAfterFinished": ttl}},
                "status": {"conditions": [{"type": "Complete", "status": complete,
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
        };
        let at = due(&work(json!(60), "True", json!({}))).expect("due");
        assert_eq!(at.to_string(), "2026-01-01T00:01:00Z");
        assert!(due(&work(json!(60), "False", json!({}))).is_none());
        assert!(due(&work(Value::Null, "True", json!({}))).is_none());
        assert!(due(&work(json!(0), "True", json!({OWNER_LABEL: "ns.rs"}))).is_none());
    }
}
