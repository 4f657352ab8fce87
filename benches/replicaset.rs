//! ManifestWorkReplicaSet benchmark (issue #19).
//!
//! Simulated clusters (`sim/`) join the hub (the `default` cluster set, bound in one
//! namespace, one Placement selecting all of them); each simulated agent watches its
//! namespace with its own identity and reports its works Applied, Available and no
//! longer Progressing. Then, one after the other, each measured from its first request
//! until every cluster's work is Applied:
//! 1. reference: one ManifestWork per cluster created directly (64 creates in flight);
//! 2. one ManifestWorkReplicaSet with a ConfigMap and the `All` strategy;
//! 3. one with `Progressive`, `maxConcurrency: 10%`.
//!
//! Reported: the times, their ratio to the reference, and the hub's RSS before and after.
//!
//! Goals (issue #19): `All` over 10,000 clusters ≤ 60 s, ≤ 300 MB added RSS.
//!
//! Run: `cargo bench --bench replicaset` (`-- --clusters N`, default 10,000).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "sim/mod.rs"]
mod sim;

use std::time::Instant;

use serde_json::{Value, json};
use sim::arg_value;

const NS: &str = "bench";

fn main() {
    let clusters: usize = arg_value("--clusters")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _token) = sim::start_hub(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&hub, clusters));
}

fn template() -> Value {
    json!({"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "bench", "namespace": "default"}, "data": {"a": "b"}}]}})
}

async fn run(hub: &common::Hub, clusters: usize) {
    let (population, admin, before_mb) = sim::joined_with_placement(hub, clusters, NS).await;
    let pid = hub.child.id();

    // 1. Reference: the works created directly.
    let t0 = Instant::now();
    sim::create_works(&admin, hub, 0..clusters, |_| {
        vec![json!({"metadata": {"name": "direct"}, "spec": template()})]
    })
    .await;
    sim::Population::wait_for(&population.applied, clusters, "direct works Applied").await;
    let direct_s = t0.elapsed().as_secs_f64();

    // 2 and 3: replica sets.
    let mut rows = vec![(
        "direct ManifestWorks (reference)",
        direct_s,
        common::rss_mb(pid),
    )];
    for (i, (what, strategy)) in [
        ("ManifestWorkReplicaSet, All", json!({"type": "All"})),
        (
            "ManifestWorkReplicaSet, Progressive 10%",
            json!({"type": "Progressive", "progressive": {"maxConcurrency": "10%"}}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let t0 = Instant::now();
        sim::post(
            &admin,
            hub,
            &format!("/apis/work.open-cluster-management.io/v1alpha1/namespaces/{NS}/manifestworkreplicasets"),
            &json!({"metadata": {"name": format!("rs{i}")},
                "spec": {"placementRefs": [{"name": "all", "rolloutStrategy": strategy}],
                    "manifestWorkTemplate": template()}}),
        )
        .await;
        sim::Population::wait_for(&population.applied, clusters * (i + 2), what).await;
        rows.push((what, t0.elapsed().as_secs_f64(), common::rss_mb(pid)));
    }
    population
        .sim
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    println!(
        "\n{:<42} {:>10} {:>12} {:>10}",
        "every cluster's work Applied", "seconds", "× reference", "RSS MB"
    );
    for (what, s, mb) in rows {
        println!("{what:<42} {s:>10.1} {:>12.2} {mb:>10.0}", s / direct_s);
    }
    println!("RSS with the clusters before the works: {before_mb:.0} MB");
    println!("goal: All over 10,000 clusters ≤ 60 s, ≤ 300 MB added RSS");
}
