//! Add-on health from leases: an add-on agent renews a Lease named after its add-on in
//! its install namespace on the managed cluster, and the agent turns that into the
//! ManagedClusterAddOn's `Available` condition on the hub (upstream's add-on lease
//! controller; skipped for `Customized` health checks).
//!
//! Upstream looks every 30 s; here a watch on that one Lease reacts at once, a timer fires
//! at the instant a renewal goes stale, and a resync every minute covers the rest.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;

use super::AddonAgent;
use crate::agent::Backoff;
use crate::api::ocm::addon_conditions::AVAILABLE;

/// A renewal counts this long: 5 × the 60 s upstream add-on agents renew at.
pub const GRACE: Duration = Duration::from_secs(5 * 60);
/// How often the lease is looked at without any event.
const RESYNC: Duration = Duration::from_secs(60);

/// What a lease says about an add-on: its `Available` condition, and until when that holds
/// (a fresh renewal goes stale at `until`).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub until: Option<Timestamp>,
}

/// The verdict on `addon` from its lease (`None`: there is none) at `now`: True while the
/// last renewal is younger than `grace`, False after, Unknown without a lease. A lease never
/// renewed counts as stopped.
pub fn verdict(addon: &str, lease: Option<&Lease>, now: Timestamp, grace: Duration) -> Verdict {
    let Some(lease) = lease else {
        return Verdict {
            status: "Unknown",
            reason: "ManagedClusterAddOnLeaseNotFound",
            message: format!("The status of {addon} add-on is unknown."),
            until: None,
        };
    };
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    let until = lease
        .spec
        .as_ref()
        .and_then(|s| s.renew_time.as_ref())
        .and_then(|t| t.0.checked_add(grace).ok());
    match until {
        Some(until) if now < until => Verdict {
            status: "True",
            reason: "ManagedClusterAddOnLeaseUpdated",
            message: format!("{addon} add-on is available."),
            until: Some(until),
        },
        _ => Verdict {
            status: "False",
            reason: "ManagedClusterAddOnLeaseUpdateStopped",
            message: format!("{addon} add-on is not available."),
            until: None,
        },
    }
}

/// Keeps `addon`'s `Available` condition following its lease in `namespace` until aborted;
/// `nudge` asks for a look now (the add-on changed on the hub).
pub async fn run(agent: Arc<AddonAgent>, addon: String, namespace: String, nudge: Arc<Notify>) {
    let leases: Api<Lease> = Api::namespaced(agent.spoke.clone(), &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={addon}"));
    let mut changes = Box::pin(watcher(leases.clone(), config).default_backoff());
    let mut backoff = Backoff::default();
    let mut failures = 0u32;
    loop {
        let delay = match check(&agent, &leases, &addon).await {
            Ok(until) => {
                backoff = Backoff::default();
                failures = 0;
                let stale_in = until
                    .map(|u| u.duration_since(Timestamp::now()).unsigned_abs())
                    .unwrap_or(RESYNC);
                // A little after the instant, so the renewal is stale when looked at.
                (stale_in + Duration::from_millis(100)).min(RESYNC)
            }
            Err(e) => {
                failures += 1;
                if failures == 3 {
                    tracing::warn!(addon, namespace, error = %e, "add-on lease check keeps failing; retrying");
                } else {
                    tracing::debug!(addon, namespace, error = %e, "add-on lease check; retrying");
                }
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = nudge.notified() => {}
            Some(_) = changes.next() => {}
        }
    }
}

/// Reads the lease and writes the verdict; returns until when it holds.
async fn check(
    agent: &AddonAgent,
    leases: &Api<Lease>,
    addon: &str,
) -> Result<Option<Timestamp>, String> {
    let lease = leases
        .get_opt(addon)
        .await
        .map_err(|e| format!("reading the lease on the managed cluster: {e}"))?;
    let v = verdict(addon, lease.as_ref(), Timestamp::now(), GRACE);
    let recorded = agent.cached(addon).is_some_and(|a| {
        a.status
            .as_ref()
            .and_then(|s| crate::api::meta::find_condition(&s.conditions, AVAILABLE))
            .is_some_and(|c| c.status == v.status && c.reason == v.reason && c.message == v.message)
    });
    if recorded {
        return Ok(v.until);
    }
    let changed = agent
        .edit_status(addon, |status| {
            crate::api::meta::set_status_condition(
                &mut status.conditions,
                AVAILABLE,
                v.status,
                v.reason,
                &v.message,
                None,
            )
        })
        .await
        .map_err(|e| format!("writing the add-on's status on the hub: {e}"))?;
    if changed {
        tracing::debug!(
            addon,
            status = v.status,
            reason = v.reason,
            "add-on availability"
        );
    }
    Ok(v.until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(renewed: Option<Timestamp>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: renewed.map(MicroTime),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn lease_verdicts() {
        let now = Timestamp::now();
        let missing = verdict("hello", None, now, GRACE);
        assert_eq!(
            (missing.status, missing.reason, missing.message.as_str()),
            (
                "Unknown",
                "ManagedClusterAddOnLeaseNotFound",
                "The status of hello add-on is unknown."
            )
        );
        let fresh_at = now - SignedDuration::from_secs(10);
        let fresh = verdict("hello", Some(&lease(Some(fresh_at))), now, GRACE);
        assert_eq!(
            (fresh.status, fresh.reason, fresh.message.as_str()),
            (
                "True",
                "ManagedClusterAddOnLeaseUpdated",
                "hello add-on is available."
            )
        );
        assert_eq!(fresh.until, Some(fresh_at + SignedDuration::from_secs(300)));
        let old = verdict(
            "hello",
            Some(&lease(Some(now - SignedDuration::from_secs(301)))),
            now,
            GRACE,
        );
        assert_eq!(
            (old.status, old.reason, old.message.as_str()),
            (
                "False",
                "ManagedClusterAddOnLeaseUpdateStopped",
                "hello add-on is not available."
            )
        );
        assert_eq!(
            verdict("hello", Some(&lease(None)), now, GRACE).status,
            "False"
        );
    }
}
