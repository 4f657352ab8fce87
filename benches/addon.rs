//! Add-on manager benchmark (issue #20).
//!
//! Simulated clusters (`sim/`) join the hub (the `default` cluster set, bound in one
//! namespace, one Placement selecting all of them); each simulated agent watches its
//! namespace with its own identity and reports its works Applied and Available. Then,
//! each measured from its first request:
//! 1. reference: three ManifestWorks per cluster created directly (64 creates in flight),
//!    until every one is Applied;
//! 2. three template add-ons (each a ConfigMap, default configs: the template and an
//!    AddOnDeploymentConfig) installed by one `Placements` strategy each, until every
//!    ManagedClusterAddOn is Available (its deploy work rendered, acknowledged, and its
//!    health probed from the work).
//!
//! Reported: the times, their ratio to the reference, and the hub's RSS before and after.
//!
//! Goal (issue #20): 1,000 clusters × 3 add-ons Available ≤ 60 s, ≤ 200 MB added RSS.
//!
//! Run: `cargo bench --bench addon` (`-- --clusters N`, default 1,000).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "sim/mod.rs"]
mod sim;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sim::arg_value;

const NS: &str = "bench";
const ADDONS: &[&str] = &["alpha", "beta", "gamma"];

fn main() {
    let clusters: usize = arg_value("--clusters")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _token) = sim::start_hub(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&hub, clusters));
}

fn manifests(name: &str) -> Value {
    json!([{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"}, "data": {"cluster": "{{CLUSTER_NAME}}"}}])
}

/// Add-ons Available, counted from one list of every ManagedClusterAddOn.
async fn available(admin: &reqwest::Client, hub: &common::Hub) -> usize {
    let url = hub.url("/apis/addon.open-cluster-management.io/v1alpha1/managedclusteraddons");
    let Ok(r) = admin.get(url).send().await else {
        return 0;
    };
    let list: Value = r.json().await.unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| sim::condition_true(a, "Available"))
        .count()
}

async fn run(hub: &common::Hub, clusters: usize) {
    let (population, admin, before_mb) = sim::joined_with_placement(hub, clusters, NS).await;
    let pid = hub.child.id();

    // 1. Reference: the same number of works created directly.
    let t0 = Instant::now();
    sim::create_works(&admin, hub, 0..clusters, |_| {
        ADDONS
            .iter()
            .map(|name| {
                json!({"metadata": {"name": format!("direct-{name}")},
                    "spec": {"workload": {"manifests": manifests(name)}}})
            })
            .collect()
    })
    .await;
    let works = clusters * ADDONS.len();
    sim::Population::wait_for(&population.applied, works, "direct works Applied").await;
    let direct_s = t0.elapsed().as_secs_f64();
    let direct_mb = common::rss_mb(pid);

    // 2. Three template add-ons through the Placements strategy.
    let t0 = Instant::now();
    let base = "/apis/addon.open-cluster-management.io/v1alpha1";
    for name in ADDONS {
        sim::post(&admin, hub, &format!("{base}/namespaces/{NS}/addondeploymentconfigs"),
            &json!({"metadata": {"name": name}, "spec": {"customizedVariables": [{"name": "X", "value": "1"}]}})).await;
        sim::post(
            &admin,
            hub,
            &format!("{base}/addontemplates"),
            &json!({"metadata": {"name": name}, "spec": {"addonName": name,
                "agentSpec": {"workload": {"manifests": manifests(name)}}}}),
        )
        .await;
        sim::post(&admin, hub, &format!("{base}/clustermanagementaddons"),
            &json!({"metadata": {"name": name}, "spec": {
                "supportedConfigs": [
                    {"group": "addon.open-cluster-management.io", "resource": "addontemplates",
                     "defaultConfig": {"name": name}},
                    {"group": "addon.open-cluster-management.io", "resource": "addondeploymentconfigs",
                     "defaultConfig": {"namespace": NS, "name": name}}],
                "installStrategy": {"type": "Placements", "placements": [{"namespace": NS, "name": "all"}]}}})).await;
    }
    let mut last = (0, Instant::now());
    loop {
        let n = available(&admin, hub).await;
        if n >= works {
            break;
        }
        if n != last.0 || last.1.elapsed() > Duration::from_secs(10) {
            println!(
                "  {n}/{works} add-ons Available after {:.0} s",
                t0.elapsed().as_secs_f64()
            );
            last = (n, Instant::now());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "add-ons never became Available"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let addons_s = t0.elapsed().as_secs_f64();
    let addons_mb = common::rss_mb(pid);
    population
        .sim
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    println!(
        "\n{:<52} {:>10} {:>12} {:>10}",
        format!("{works} ({clusters} clusters × 3)"),
        "seconds",
        "× reference",
        "RSS MB"
    );
    println!(
        "{:<52} {direct_s:>10.1} {:>12.2} {direct_mb:>10.0}",
        "direct ManifestWorks Applied (reference)", 1.0
    );
    println!(
        "{:<52} {addons_s:>10.1} {:>12.2} {addons_mb:>10.0}",
        "template add-ons Available (Placements)",
        addons_s / direct_s
    );
    println!(
        "RSS added by the add-ons: {:.0} MB (before them {direct_mb:.0} MB, with the clusters {before_mb:.0} MB)",
        addons_mb - direct_mb
    );
    println!("goal: 1,000 clusters × 3 add-ons Available ≤ 60 s, ≤ 200 MB added RSS");
}
