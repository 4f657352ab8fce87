//! HA benchmark: one hub as 1, 2 and 3 replicas on the same three-member etcd cluster
//! (Debian's etcd on loopback, every write a quorum write).
//!
//! - Writes: ConfigMap creates from 32 concurrent clients spread round-robin over the
//!   replicas, 3,000 per configuration; writes/s and p50/p99 latency. One replica is the
//!   reference; the others are reported as ratios to it.
//! - Failover: 10 times, kill -9 of the leader, then the time until the controllers act
//!   again (a ManagedCluster created through a survivor gets its finalizer); median and
//!   max, with the lease timings used (3 s lease, 1 s retry).
//!
//! Run: `cargo bench --bench ha` (`-- --quick`: 600 writes per configuration, 3 kills).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::ha::{
    admin_client, async_admin_client, create_cluster, has_cleanup_finalizer, one_leader,
    start_replicas,
};
use serde_json::json;

const CLIENTS: usize = 32;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let writes = if quick { 600 } else { 3_000 };
    let kills = if quick { 3 } else { 10 };
    let etcd = EtcdCluster::start(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut replicas, ca) = start_replicas(tmp.path(), &etcd, 3);
    let client = admin_client(&ca, &replicas[0]);
    one_leader(&client, &replicas, 30);

    println!(
        "ha: {writes} ConfigMap creates per configuration, {CLIENTS} concurrent clients, 3 etcd members"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut reference = None;
    for n in 1..=3 {
        let ports: Vec<u16> = replicas[..n].iter().map(|r| r.port).collect();
        let client = async_admin_client(&ca, &replicas[0]);
        let (rate, p50, p99) = runtime.block_on(write_load(client, &ports, n, writes));
        let base = *reference.get_or_insert(rate);
        println!(
            "  through {n} replica(s): {rate:8.0} writes/s ({:.2}x the single replica), p50 {p50:6.1} ms, p99 {p99:6.1} ms",
            rate / base
        );
    }

    let mut times = Vec::new();
    for k in 0..kills {
        let leader = one_leader(&client, &replicas, 60);
        let survivor = (leader + 1) % replicas.len();
        let killed = Instant::now();
        replicas[leader].kill();
        let name = format!("failover-{k}");
        create_cluster(&client, &replicas[survivor], &name);
        while !has_cleanup_finalizer(&client, &replicas[survivor], &name) {
            assert!(
                killed.elapsed() < Duration::from_secs(120),
                "no failover within 120 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        times.push(killed.elapsed().as_secs_f64());
        replicas[leader].start();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "  failover (leader kill -9 until the controllers act), lease 3 s / retry 1 s, {kills} kills: median {:.2} s, max {:.2} s",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// `total` creates from [`CLIENTS`] tasks over `ports` round-robin; (writes/s, p50, p99 ms).
async fn write_load(
    client: reqwest::Client,
    ports: &[u16],
    round: usize,
    total: usize,
) -> (f64, f64, f64) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let next = next.clone();
        let ports = ports.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let port = ports[i % ports.len()];
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("bench-{round}-{i}")}, "data": {"i": i.to_string()}});
                let t = Instant::now();
                let resp = client
                    .post(format!("https://127.0.0.1:{port}/api/v1/namespaces/default/configmaps"))
                    .json(&body)
                    .send()
                    .await
                    .expect("create");
                let status = common::read_status(resp).await.as_u16();
                assert_eq!(status, 201, "create through {port}");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    (rate, at(0.5), at(0.99))
}
