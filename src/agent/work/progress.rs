//! Whether an applied resource is still rolling out, or cannot: the work-level
//! `Progressing` and `Degraded` a rollout (`hub::rollout`) waits on. Upstream's agent sets
//! them only from user-written condition rules, so a progressive rollout of an ordinary
//! workload never advances there; ours judges the common workloads by their own status,
//! as `kubectl rollout status` does: a Deployment, StatefulSet or DaemonSet progresses
//! until its controller has seen the latest spec and every replica is updated and
//! available, and is degraded when its progress deadline passed or its replicas cannot be
//! created; a Job progresses until
//! it completes and is degraded when it failed. Other kinds are done once applied.

use serde_json::Value;

/// A resource's rollout state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Done,
    /// Still rolling out; why.
    Progressing(String),
    /// Cannot progress; why.
    Degraded(String),
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn is(c: Option<&Value>, field: &str, value: &str) -> bool {
    c.and_then(|c| c.get(field)).and_then(Value::as_str) == Some(value)
}

/// The state of `object` (group `group`, kind `kind`) as its controller reports it.
pub fn progress(group: &str, kind: &str, object: &Value) -> Progress {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let generation = int(object, "/metadata/generation").unwrap_or(0);
    let observed = int(object, "/status/observedGeneration").unwrap_or(0);
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") if observed < generation => {
            Progress::Progressing(format!(
                "{kind} {name}: its controller has not seen the latest spec"
            ))
        }
        ("apps", "Deployment") => {
            if is(
                condition(object, "Progressing"),
                "reason",
                "ProgressDeadlineExceeded",
            ) {
                return Progress::Degraded(format!(
                    "Deployment {name} exceeded its progress deadline"
                ));
            }
            let failure = condition(object, "ReplicaFailure");
            if is(failure, "status", "True") {
                let why = failure
                    .and_then(|c| c.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("its replicas cannot be created");
                return Progress::Degraded(format!("Deployment {name}: {why}"));
            }
            let wanted = int(object, "/spec/replicas").unwrap_or(1);
            let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
            let replicas = int(object, "/status/replicas").unwrap_or(0);
            let available = int(object, "/status/availableReplicas").unwrap_or(0);
            if updated < wanted {
                Progress::Progressing(format!(
                    "Deployment {name}: {updated} of {wanted} replicas updated"
                ))
            } else if replicas > updated {
                Progress::Progressing(format!(
                    "Deployment {name}: {} old replicas pending termination",
                    replicas - updated
                ))
            } else if available < updated {
                Progress::Progressing(format!(
                    "Deployment {name}: {available} of {updated} updated replicas available"
                ))
            } else {
                Progress::Done
            }
        }
        ("apps", "StatefulSet") => {
            let wanted = int(object, "/spec/replicas").unwrap_or(1);
            let ready = int(object, "/status/readyReplicas").unwrap_or(0);
            let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
            if ready < wanted || updated < wanted {
                Progress::Progressing(format!(
                    "StatefulSet {name}: {ready} of {wanted} replicas ready, {updated} updated"
                ))
            } else {
                Progress::Done
            }
        }
        ("apps", "DaemonSet") => {
            let wanted = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int(object, "/status/updatedNumberScheduled").unwrap_or(0);
            let available = int(object, "/status/numberAvailable").unwrap_or(0);
            if updated < wanted || available < wanted {
                Progress::Progressing(format!(
                    "DaemonSet {name}: {updated} of {wanted} pods updated, {available} available"
                ))
            } else {
                Progress::Done
            }
        }
        ("batch", "Job") => {
            if is(condition(object, "Failed"), "status", "True") {
                Progress::Degraded(format!("Job {name} failed"))
            } else if is(condition(object, "Complete"), "status", "True") {
                Progress::Done
            } else {
                Progress::Progressing(format!("Job {name} has not finished"))
            }
        }
        _ => Progress::Done,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deployments_progress_until_every_replica_is_updated_and_available() {
        let d = |status: Value| json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2}, "status": status});
        let state = |status| progress("apps", "Deployment", &d(status));
        assert!(matches!(
            state(json!({"observedGeneration": 1})),
            Progress::Progressing(_)
        ));
        assert!(matches!(
            state(
                json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 2, "availableReplicas": 2})
            ),
            Progress::Progressing(_)
        ));
        assert!(matches!(
            state(
                json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1})
            ),
            Progress::Progressing(_)
        ));
        assert_eq!(
            state(
                json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2})
            ),
            Progress::Done
        );
        assert!(matches!(
            state(
                json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
            ),
            Progress::Degraded(_)
        ));
        assert!(matches!(
            state(
                json!({"observedGeneration": 2, "conditions": [{"type": "ReplicaFailure", "status": "True", "message": "exceeded quota"}]})
            ),
            Progress::Degraded(_)
        ));
    }

    #[test]
    fn jobs_progress_until_they_finish_and_other_kinds_are_done() {
        let job = |conditions: Value| json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}});
        assert!(matches!(
            progress("batch", "Job", &job(json!([]))),
            Progress::Progressing(_)
        ));
        assert_eq!(
            progress(
                "batch",
                "Job",
                &job(json!([{"type": "Complete", "status": "True"}]))
            ),
            Progress::Done
        );
        assert!(matches!(
            progress(
                "batch",
                "Job",
                &job(json!([{"type": "Failed", "status": "True"}]))
            ),
            Progress::Degraded(_)
        ));
        assert_eq!(progress("", "ConfigMap", &json!({})), Progress::Done);
    }
}
