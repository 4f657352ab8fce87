//! Prometheus metrics of the hub and of the agent, served as OpenMetrics text (which
//! Prometheus scrapes natively): the hub's on `/metrics` of its API port (authorized like
//! kube-apiserver's: `get` on the non-resource URL `/metrics`, which the default
//! `system:monitoring` role grants), the agent's on a port of its own
//! (`agent --metrics-bind-address`).
//!
//! Names follow kube-apiserver and client-go where they measure the same thing
//! (`apiserver_request_total`, `apiserver_request_duration_seconds`,
//! `apiserver_longrunning_requests`, `workqueue_depth`, `workqueue_work_duration_seconds`),
//! and Prometheus conventions otherwise (base units, `_total` counters). Every layer records
//! into the one process-wide set ([`get`]); this module sits at the bottom so storage can
//! too. Recording is a few atomic operations.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub code: String,
}

/// Labels of a request's latency (no code, as kube-apiserver's histogram).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: String,
    pub group: String,
    pub resource: String,
}

/// Labels naming a controller (its work queue).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub name: String,
}

/// Labels of the managed-cluster count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// The `ManagedClusterConditionAvailable` status: True, False or Unknown.
    pub available: String,
}

/// Labels of an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 1 ms to about 33 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Storage latency buckets from 50 µs to about 1.6 s.
fn storage_latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric this process records.
pub struct Metrics {
    hub: Registry,
    agent: Registry,
    /// API requests by verb, group, resource, subresource and HTTP code.
    pub requests: Family<RequestLabels, Counter>,
    /// API request latency (to the response head; watches are long-running).
    pub request_duration: Histograms<VerbLabels>,
    /// Watches open now.
    pub watches: Family<VerbLabels, Gauge>,
    /// Time to commit one batch of writes in the embedded store (every write arriving
    /// meanwhile joins the batch).
    pub storage_commit: Histogram,
    /// Time of the durable write (and fsync, with `storage.sync`) of one batch.
    pub storage_fsync: Histogram,
    /// Time of one write transaction on external etcd (a quorum write).
    pub etcd_write: Histogram,
    /// Keys waiting in a controller's queue.
    pub queue_depth: Family<QueueLabels, Gauge>,
    /// Time of one reconcile.
    pub reconcile_duration: Histograms<QueueLabels>,
    /// Reconciles that failed (and were retried).
    pub reconcile_errors: Family<QueueLabels, Counter>,
    /// Managed clusters by their Available condition.
    pub clusters: Family<ClusterLabels, Gauge>,
    /// 1 while this replica leads (runs the hub controllers), else 0.
    pub leader: Gauge,
    /// Agent: manifests applied to the managed cluster.
    pub works_applied: Counter,
    /// Agent: manifests that failed to apply.
    pub apply_errors: Counter,
    /// Agent: lease renewals by result (`ok`, `error`).
    pub lease_renewals: Family<ResultLabels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            hub: Registry::default(),
            agent: Registry::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency),
            watches: Family::default(),
            storage_commit: storage_latency(),
            storage_fsync: storage_latency(),
            etcd_write: storage_latency(),
            queue_depth: Family::default(),
            reconcile_duration: Family::new_with_constructor(latency),
            reconcile_errors: Family::default(),
            clusters: Family::default(),
            leader: Gauge::default(),
            works_applied: Counter::default(),
            apply_errors: Counter::default(),
            lease_renewals: Family::default(),
        };
        let mut hub = Registry::default();
        hub.register(
            "apiserver_request",
            "API requests by verb, group, resource, subresource and HTTP code",
            m.requests.clone(),
        );
        hub.register(
            "apiserver_request_duration_seconds",
            "API request latency until the response head, by verb, group and resource",
            m.request_duration.clone(),
        );
        hub.register(
            "apiserver_longrunning_requests",
            "Long-running requests (watches) open now",
            m.watches.clone(),
        );
        hub.register(
            "storage_batch_commit_duration_seconds",
            "Time to commit one batch of writes in the embedded store",
            m.storage_commit.clone(),
        );
        hub.register(
            "storage_fsync_duration_seconds",
            "Time of the durable write (with fsync when storage.sync is on) of one batch in the embedded store",
            m.storage_fsync.clone(),
        );
        hub.register(
            "etcd_write_duration_seconds",
            "Time of one write transaction on external etcd, retries included",
            m.etcd_write.clone(),
        );
        hub.register(
            "workqueue_depth",
            "Keys waiting in a controller's work queue",
            m.queue_depth.clone(),
        );
        hub.register(
            "workqueue_work_duration_seconds",
            "Time of one reconcile of a controller",
            m.reconcile_duration.clone(),
        );
        hub.register(
            "controller_reconcile_errors",
            "Reconciles of a controller that failed and were retried",
            m.reconcile_errors.clone(),
        );
        hub.register(
            "ocm_managed_clusters",
            "Managed clusters by their ManagedClusterConditionAvailable status",
            m.clusters.clone(),
        );
        hub.register(
            "leader_election_master_status",
            "1 while this replica holds the hub controllers' lease (runs the controllers), else 0",
            m.leader.clone(),
        );
        let mut agent = Registry::default();
        agent.register(
            "ocm_agent_manifests_applied",
            "Manifests the agent applied to its managed cluster",
            m.works_applied.clone(),
        );
        agent.register(
            "ocm_agent_manifest_apply_errors",
            "Manifests that failed to apply to the managed cluster",
            m.apply_errors.clone(),
        );
        agent.register(
            "ocm_agent_lease_renewals",
            "Renewals of the cluster's lease on the hub, by result",
            m.lease_renewals.clone(),
        );
        Metrics { hub, agent, ..m }
    }

    /// Counts one API request.
    pub fn request(&self, labels: RequestLabels, elapsed: Duration) {
        self.request_duration
            .get_or_create(&VerbLabels {
                verb: labels.verb.clone(),
                group: labels.group.clone(),
                resource: labels.resource.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// The hub's metrics as OpenMetrics text.
    pub fn hub_text(&self) -> String {
        encode(&self.hub)
    }

    /// The agent's metrics as OpenMetrics text.
    pub fn agent_text(&self) -> String {
        encode(&self.agent)
    }
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// The content type of [`Metrics::hub_text`] and [`Metrics::agent_text`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The process-wide metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Decrements a gauge when dropped (an open watch, say).
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    /// Increments `gauge` now and decrements it when the guard goes.
    pub fn hold(gauge: Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_follow_conventions() {
        let m = Metrics::new();
        m.request(
            RequestLabels {
                verb: "GET".into(),
                group: "".into(),
                resource: "namespaces".into(),
                subresource: "".into(),
                code: "200".into(),
            },
            Duration::from_millis(3),
        );
        m.works_applied.inc();
        {
            let _watch = GaugeGuard::hold(
                m.watches
                    .get_or_create(&VerbLabels {
                        verb: "WATCH".into(),
                        group: "".into(),
                        resource: "pods".into(),
                    })
                    .clone(),
            );
        }
        let hub = m.hub_text();
        assert!(
            hub.contains(r#"apiserver_request_total{verb="GET",group="",resource="namespaces",subresource="",code="200"} 1"#),
            "{hub}"
        );
        assert!(
            hub.contains("apiserver_request_duration_seconds_bucket"),
            "{hub}"
        );
        assert!(
            hub.contains(
                r#"apiserver_longrunning_requests{verb="WATCH",group="",resource="pods"} 0"#
            ),
            "{hub}"
        );
        assert!(hub.ends_with("# EOF\n"), "{hub}");
        assert!(
            !hub.contains("ocm_agent"),
            "the hub shows only its own metrics"
        );
        let agent = m.agent_text();
        assert!(
            agent.contains("ocm_agent_manifests_applied_total 1"),
            "{agent}"
        );
    }
}
