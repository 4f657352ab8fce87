//! API benchmark: the real server over HTTPS with the admin client certificate.
//! Single-object create / get / update latency and throughput at 1, 16 and 128 concurrent
//! clients; a list of 10k objects; watch fan-out of one update stream to 1 and 1,000
//! watchers (the single watcher is the reference); the server's RSS holding 100k
//! ManagedClusters.
//! Reference in the same run: the same creates against the storage layer alone
//! (RocksDB through the `Store` trait, in process), so the ratio is the API's overhead.
//!
//! Run: `cargo bench --bench api` (`-- --quick` skips the 100k step).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use multicluster_controlplane::storage::Store;
use multicluster_controlplane::storage::rocks::{RocksOptions, RocksStore};
use serde_json::{Value, json};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = common::Hub::start(&dir.path().join("hub"), &[]);
    hub.wait_ready();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&hub, dir.path(), quick));
}

fn client(data: &std::path::Path) -> reqwest::Client {
    common::async_client(data, true, false)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len().saturating_sub(1)) as f64 * q) as usize)
        .copied()
        .unwrap_or(0.0)
}

async fn run(hub: &common::Hub, dir: &std::path::Path, quick: bool) {
    let http = client(&dir.join("hub"));
    let base = hub.url("/api/v1/namespaces/default/configmaps");
    println!("API benchmark over HTTPS (admin client certificate), 3 s per level");
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "clients",
        "create p50",
        "create p99",
        "get p50",
        "get p99",
        "update p50",
        "update p99",
        "writes/s"
    );
    let mut api_rate_16 = 0.0;
    for clients in [1usize, 16, 128] {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let http = http.clone();
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let (mut cr, mut gt, mut up) = (Vec::new(), Vec::new(), Vec::new());
                let mut i = 0;
                while Instant::now() < deadline {
                    let name = format!("b{clients}-{c}-{i}");
                    let t = Instant::now();
                    let created: Value = http
                        .post(&base)
                        .json(&json!({"metadata": {"name": name}, "data": {"k": "v"}}))
                        .send()
                        .await
                        .expect("post")
                        .json()
                        .await
                        .expect("json");
                    cr.push(t.elapsed().as_secs_f64() * 1000.0);
                    let t = Instant::now();
                    let mut got: Value = http
                        .get(format!("{base}/{name}"))
                        .send()
                        .await
                        .expect("get")
                        .json()
                        .await
                        .expect("json");
                    gt.push(t.elapsed().as_secs_f64() * 1000.0);
                    got["data"]["k"] = json!("w");
                    let t = Instant::now();
                    let r = http
                        .put(format!("{base}/{name}"))
                        .json(&got)
                        .send()
                        .await
                        .expect("put");
                    let status = common::read_status(r).await;
                    assert!(
                        status.is_success(),
                        "update of {}",
                        created["metadata"]["name"]
                    );
                    up.push(t.elapsed().as_secs_f64() * 1000.0);
                    i += 1;
                }
                (cr, gt, up)
            }));
        }
        let started = Instant::now();
        let (mut cr, mut gt, mut up) = (Vec::new(), Vec::new(), Vec::new());
        for t in tasks {
            let (a, b, c) = t.await.expect("client");
            cr.extend(a);
            gt.extend(b);
            up.extend(c);
        }
        let writes = (cr.len() + up.len()) as f64 / started.elapsed().as_secs_f64();
        if clients == 16 {
            api_rate_16 = cr.len() as f64 / started.elapsed().as_secs_f64();
        }
        println!(
            "{clients:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {writes:>12.0}",
            pct(&mut cr, 0.5),
            pct(&mut cr, 0.99),
            pct(&mut gt, 0.5),
            pct(&mut gt, 0.99),
            pct(&mut up, 0.5),
            pct(&mut up, 0.99)
        );
    }

    // Reference: creates straight into the storage layer, 16 writers, same machine.
    let store =
        RocksStore::open(&dir.join("reference-db"), &RocksOptions::default()).expect("store");
    let deadline = Instant::now() + Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store: Arc<RocksStore> = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                store
                    .create(
                        &format!("/ref/{w}/{n}"),
                        Bytes::from_static(b"{\"data\":{\"k\":\"v\"}}"),
                        None,
                    )
                    .await
                    .expect("create");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer");
    }
    let store_rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "reference: storage layer alone, 16 writers: {store_rate:.0} creates/s; API creates at 16 clients are {:.0}% of it",
        100.0 * api_rate_16 / store_rate.max(1.0)
    );

    // List of 10k objects in one namespace.
    let ns = hub.url("/api/v1/namespaces");
    http.post(&ns)
        .json(&json!({"metadata": {"name": "list10k"}}))
        .send()
        .await
        .expect("ns");
    let list_base = hub.url("/api/v1/namespaces/list10k/configmaps");
    fill(
        &http,
        &list_base,
        10_000,
        |i| json!({"metadata": {"name": format!("c{i:05}")}, "data": {"k": "v"}}),
    )
    .await;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let list: Value = http
            .get(&list_base)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        // The 10,000 and the namespace's `kube-root-ca.crt`.
        assert_eq!(list["items"].as_array().map(Vec::len), Some(10_001));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "list of 10,000 ConfigMaps: median {:.1} ms",
        pct(&mut times, 0.5)
    );

    watch_fan_out(hub, dir).await;

    if !quick {
        let mcl = hub.url("/apis/cluster.open-cluster-management.io/v1/managedclusters");
        let started = Instant::now();
        fill(&http, &mcl, 100_000, |i| json!({"metadata": {"name": format!("cluster-{i:06}"), "labels": {"env": "bench"}}, "spec": {"hubAcceptsClient": true, "leaseDurationSeconds": 60}})).await;
        println!(
            "created 100,000 ManagedClusters in {:.1} s; server RSS {:.1} MB",
            started.elapsed().as_secs_f64(),
            common::rss_mb(hub.child.id())
        );
    }
}

async fn fill(
    http: &reqwest::Client,
    url: &str,
    n: usize,
    body: impl Fn(usize) -> Value + Send + Sync + Copy + 'static,
) {
    let per = n.div_ceil(64);
    let mut tasks = Vec::new();
    for w in 0..64 {
        let http = http.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            for i in (w * per)..((w + 1) * per).min(n) {
                let r = http.post(&url).json(&body(i)).send().await.expect("post");
                let status = common::read_status(r).await;
                assert!(status.is_success(), "fill {i}: {status}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("fill");
    }
}

/// Delivery latency of 100 updates (written one after another) to `watchers` watch
/// connections: for each update, the time until the last watcher has it. Returns (p50,
/// p99) in ms.
async fn fan_out_once(
    hub: &common::Hub,
    dir: &std::path::Path,
    watchers: usize,
    round: usize,
) -> (f64, f64, f64) {
    const UPDATES: usize = 100;
    let http = client(&dir.join("hub"));
    let base = hub.url("/api/v1/namespaces/default/configmaps");
    let name = format!("fanout-{round}");
    let created: Value = http
        .post(&base)
        .json(&json!({"metadata": {"name": name}, "data": {"seq": "0"}}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    // HTTP/1.1 clients, one connection per watch (a handful of clients share the pool).
    let clients: Vec<reqwest::Client> = (0..8)
        .map(|_| common::async_client(&dir.join("hub"), true, true))
        .collect();
    let url = format!(
        "{base}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3D{name}&timeoutSeconds=120"
    );
    let mut tasks = Vec::new();
    for w in 0..watchers {
        let response = clients[w % clients.len()]
            .get(&url)
            .send()
            .await
            .expect("watch");
        assert!(response.status().is_success());
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            use futures::StreamExt;
            let mut stream = response.bytes_stream();
            let mut buffer = Vec::new();
            let mut seen = 0;
            while seen < UPDATES {
                let Some(Ok(chunk)) = stream.next().await else {
                    break;
                };
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let event: Value = serde_json::from_slice(&line).expect("event");
                    if let Some(seq) = event["object"]["data"]["seq"]
                        .as_str()
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|s| *s > 0)
                    {
                        let _ = tx.send((seq, Instant::now()));
                        seen += 1;
                    }
                }
            }
        }));
    }
    drop(tx);
    let rss = common::rss_mb(hub.child.id());
    let mut sent = Vec::with_capacity(UPDATES + 1);
    sent.push(Instant::now());
    let mut current = created;
    for seq in 1..=UPDATES {
        current["data"]["seq"] = json!(seq.to_string());
        sent.push(Instant::now());
        current = http
            .put(format!("{base}/{name}"))
            .json(&current)
            .send()
            .await
            .expect("put")
            .json()
            .await
            .expect("json");
    }
    let mut last = vec![sent[0]; UPDATES + 1];
    let mut count = 0;
    while let Some((seq, at)) = rx.recv().await {
        if at > last[seq] {
            last[seq] = at;
        }
        count += 1;
    }
    assert_eq!(count, UPDATES * watchers, "every watcher saw every update");
    for t in tasks {
        t.await.expect("watcher");
    }
    let mut lat: Vec<f64> = (1..=UPDATES)
        .map(|s| (last[s] - sent[s]).as_secs_f64() * 1000.0)
        .collect();
    (pct(&mut lat, 0.5), pct(&mut lat, 0.99), rss)
}

async fn watch_fan_out(hub: &common::Hub, dir: &std::path::Path) {
    let (r50, r99, rss_one) = fan_out_once(hub, dir, 1, 0).await;
    println!("watch fan-out, 1 watcher (reference): delivery p50 {r50:.2} ms, p99 {r99:.2} ms");
    let (p50, p99, rss) = fan_out_once(hub, dir, 1_000, 1).await;
    println!(
        "watch fan-out, 1,000 watchers: last delivery p50 {p50:.2} ms, p99 {p99:.2} ms ({:.1}x the single watcher at p50); server RSS {rss:.1} MB with them open ({rss_one:.1} MB with one)",
        p50 / r50.max(0.001)
    );
}
