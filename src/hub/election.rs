//! Leader election among hub replicas sharing one etcd, with kube's `coordination.k8s.io`
//! Lease protocol and timings (client-go's `leaderelection`): the replica holding the Lease
//! `kube-system/multicluster-controlplane` runs the hub controllers; the others serve the
//! API only.
//!
//! - A candidate takes the Lease when it is free or its holder has not renewed it for
//!   `leaseDuration`, measured on the candidate's own clock from the moment it last saw the
//!   record change (so clock skew between replicas does not matter).
//! - The leader renews every `retryPeriod`; when it has not renewed for `renewDeadline`
//!   (`< leaseDuration`) it stops leading at once, before anyone else may take over.
//! - Every write is a compare-and-swap on the Lease's resourceVersion.
//! - A leader that stops cleanly releases the Lease, so the next one need not wait.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Resource;

use super::objects::Objects;
use crate::api::status::Status;
use crate::registry::Target;

/// Where the Lease lives.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "multicluster-controlplane";

/// The timings (kube-controller-manager's defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// One replica's candidacy.
pub struct Elector {
    objects: Objects,
    identity: String,
    timings: Timings,
    /// The record last seen and when it was seen (our clock).
    observed: Option<(String, Instant)>,
}

impl Elector {
    pub fn new(objects: Objects, identity: String, timings: Timings) -> Elector {
        Elector {
            objects,
            identity,
            timings,
            observed: None,
        }
    }

    /// This replica's identity in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Campaigns until `stop` fires: `lead()` runs each time this replica is elected, and
    /// what it returns is dropped the moment leadership is lost (or at stop, after the
    /// Lease is released).
    pub async fn run<F, T>(mut self, mut lead: F, mut stop: tokio::sync::watch::Receiver<bool>)
    where
        F: FnMut() -> T,
        T: Send,
    {
        loop {
            // Candidate.
            loop {
                if *stop.borrow() {
                    return;
                }
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => tracing::debug!(error = %e.message, "leader election"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.timings.retry_period) => {}
                    _ = stop.changed() => {}
                }
            }
            tracing::info!(identity = %self.identity, "elected leader: starting the hub controllers");
            let term = lead();
            crate::metrics::get().leader.set(1);
            // Leader: renew until a renewal deadline passes without success.
            let mut renewed = Instant::now();
            let released = loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.timings.retry_period) => {}
                    _ = stop.changed() => {
                        if *stop.borrow() {
                            break true;
                        }
                    }
                }
                match self.try_acquire_or_renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => break false, // someone else holds it now
                    Err(e) => tracing::debug!(error = %e.message, "lease renewal failed"),
                }
                if renewed.elapsed() >= self.timings.renew_deadline {
                    break false;
                }
            };
            drop(term);
            crate::metrics::get().leader.set(0);
            if released {
                self.release().await;
                tracing::info!("stopped leading: the lease is released");
                return;
            }
            tracing::warn!(identity = %self.identity, "lost leadership: the hub controllers stopped");
        }
    }

    /// One step of client-go's `tryAcquireOrRenew`: true when this replica holds the Lease.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, Status> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let seconds = i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self
            .objects
            .get_as::<Lease>(Some(LEASE_NAMESPACE), LEASE_NAME)
            .await?
        else {
            let mut lease = Lease {
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
                ..Lease::default()
            };
            lease.meta_mut().name = Some(LEASE_NAME.into());
            lease.meta_mut().namespace = Some(LEASE_NAMESPACE.into());
            return match self.objects.create_as(&lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(e) if e.reason == "AlreadyExists" => Ok(false),
                Err(e) => Err(e),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.get_or_insert_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        let expired = holder.is_empty()
            || self
                .observed
                .as_ref()
                .is_none_or(|(_, seen)| seen.elapsed() >= self.timings.lease_duration);
        if !ours && !expired {
            return Ok(false);
        }
        if !ours {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(seconds);
        match self.objects.update_as(&lease, Target::Main).await {
            Ok(updated) => {
                self.observe(&updated);
                Ok(true)
            }
            Err(e) if e.reason == "Conflict" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remembers when the record last changed (by resourceVersion), on our clock.
    fn observe(&mut self, lease: &Lease) {
        let version = lease.meta().resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(v, _)| *v != version) {
            self.observed = Some((version, Instant::now()));
        }
    }

    /// Gives the Lease up (holder empty), so the next leader need not wait it out.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self
            .objects
            .get_as::<Lease>(Some(LEASE_NAMESPACE), LEASE_NAME)
            .await
        else {
            return;
        };
        let spec = lease.spec.get_or_insert_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(e) = self.objects.update_as(&lease, Target::Main).await {
            tracing::debug!(error = %e.message, "releasing the lease");
        }
    }
}
