//! Work benchmark.
//!
//! 1. Propagation: one real agent (against a stand-in managed cluster); 200 ManifestWorks
//!    with a ConfigMap each, created one after the other; time from the create on the hub
//!    to `Applied=True` visible on the hub (polled every 2 ms). Reference: the create
//!    itself followed by one GET (the API round trip without an agent).
//! 2. Scale, the Go project's test shape: simulated clusters (`sim/`) join, then 5
//!    ManifestWorks with a ConfigMap each are created per cluster (64 creates in flight);
//!    each simulated agent watches its namespace with its own identity and reports its
//!    works Applied. Reported: time from the first create until every work is Applied, hub
//!    RSS and CPU. 1,000 × 5, then 10,000 × 5.
//!
//! Run: `cargo bench --bench work` (`-- --quick` stops at 1,000 clusters).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "sim/mod.rs"]
mod sim;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sim::{config_map_work as work, cpu_seconds, pct};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, token) = sim::start_hub(dir.path());
    propagation(&hub, &token, dir.path(), 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(scale(&hub, quick));
}

fn propagation(hub: &common::Hub, token: &common::ocm::Token, dir: &std::path::Path, works: usize) {
    // The managed cluster is a real Kubernetes control plane (hack/install-kube-peer.sh).
    let spoke = common::kube_peer::KubePeer::start(&dir.join("spoke"));
    let _agent =
        common::ocm::Agent::start("prop", &hub.url(""), token, &spoke, &dir.join("agent"), &[]);
    let http = common::client(&hub.data_dir, true);
    let started = Instant::now();
    while !common::ocm::has_condition(hub, "prop", "ManagedClusterConditionAvailable", "True") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the agent did not join"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let base = hub.url("/apis/work.open-cluster-management.io/v1/namespaces/prop/manifestworks");
    let (mut times, mut reference) = (Vec::new(), Vec::new());
    for i in 0..works {
        let name = format!("w{i}");
        let t0 = Instant::now();
        let r = http
            .post(&base)
            .json(&work("prop", &name))
            .send()
            .expect("create");
        assert_eq!(r.status(), 201);
        let first = http.get(format!("{base}/{name}")).send().expect("get");
        assert!(first.status().is_success());
        reference.push(t0.elapsed().as_secs_f64() * 1000.0);
        loop {
            let w: Value = http
                .get(format!("{base}/{name}"))
                .send()
                .expect("get")
                .json()
                .expect("json");
            if common::ocm::condition(&w, "Applied").is_some_and(|c| c.0 == "True") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{name} was not applied"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
    let r50 = pct(&mut reference, 0.5);
    println!(
        "propagation, ManifestWork created on the hub → Applied=True on the hub, one real agent, {works} works:"
    );
    println!(
        "  median {p50:.1} ms, p99 {p99:.1} ms (goal p99 ≤ 300 ms; upstream's status loop runs every 10 s)"
    );
    println!(
        "  reference: create + GET without an agent {r50:.1} ms median ({:.1}× of it is the agent)",
        p50 / r50.max(0.001)
    );
}

async fn scale(hub: &common::Hub, quick: bool) {
    let population = sim::Population::start(hub, Duration::from_secs(60), true);
    // One HTTP/1.1 connection per in-flight create (as the other benchmarks' writers).
    let admin = common::async_client(&hub.data_dir, true, true);
    let pid = hub.child.id();
    let mut steps = vec![1_000usize];
    if !quick {
        steps.push(10_000);
    }
    println!(
        "\nscale: simulated clusters × 5 ManifestWorks (a ConfigMap each), 64 creates in flight"
    );
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>10} {:>10}",
        "clusters", "works", "join s", "applied s", "RSS MB", "CPU %"
    );
    let baseline_available = *population.available.lock().expect("count");
    let mut started = 0;
    for target in steps {
        population.spawn(started, target);
        let join_s = sim::Population::wait_for(
            &population.available,
            baseline_available + target,
            "Available",
        )
        .await;
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        let creating = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::new();
        for i in started..target {
            for j in 0..5 {
                let (admin, creating) = (admin.clone(), creating.clone());
                let cluster = format!("sim-{i}");
                let url = hub.url(&format!(
                    "/apis/work.open-cluster-management.io/v1/namespaces/{cluster}/manifestworks"
                ));
                tasks.push(tokio::spawn(async move {
                    let _permit = creating.acquire_owned().await.expect("semaphore");
                    let r = admin
                        .post(&url)
                        .json(&work(&cluster, &format!("work-{j}")))
                        .send()
                        .await
                        .expect("create");
                    let status = r.status();
                    assert_eq!(
                        status,
                        201,
                        "create work: {}",
                        r.text().await.unwrap_or_default()
                    );
                }));
            }
        }
        for t in tasks {
            t.await.expect("create");
        }
        sim::Population::wait_for(&population.applied, target * 5, "works Applied").await;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = (cpu_seconds(pid) - cpu0) / elapsed * 100.0;
        println!(
            "{target:>8} {:>8} {join_s:>12.1} {elapsed:>12.1} {:>10.1} {cpu:>10.1}",
            target * 5,
            common::rss_mb(pid)
        );
        started = target;
    }
    population
        .sim
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    println!("goal: 10,000 × 5 all Applied within 120 s in ≤ 2,048 MB RSS");
}
