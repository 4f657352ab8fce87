//! Storage benchmark: embedded RocksDB and a real etcd, through the same `Store` trait, in
//! the same run, both durable (fsync per commit).
//!
//! Sections: durable creates at 1/16/256 writers, paged lists, point reads at 1/16
//! readers, a watch replaying the 10k-key list's backlog (time to the first and to the
//! last event), watch fan-out, memory.
//!
//! Run: `cargo bench --bench storage` (`-- --quick` for a shorter run, `-- --big` to add
//! the 100k-key list and 10k-watcher fan-out). Needs `etcd` on PATH (hack/test.sh installs
//! Debian's etcd-server).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use multicluster_controlplane::storage::etcd::{EtcdOptions, EtcdStore};
use multicluster_controlplane::storage::rocks::{RocksOptions, RocksStore};
use multicluster_controlplane::storage::{ListOptions, Store};

struct Args {
    seconds: f64,
    big: bool,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let args = Args {
        seconds: if argv.iter().any(|a| a == "--quick") {
            1.0
        } else {
            3.0
        },
        big: argv.iter().any(|a| a == "--big"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rocks =
        RocksStore::open(&tmp.path().join("rocks"), &RocksOptions::default()).expect("rocks");
    let etcd = tokio::task::spawn_blocking(common::etcd::Etcd::start)
        .await
        .expect("etcd");
    let etcd_pid = etcd_pid(etcd.client_port);
    let etcd_store = Arc::new(
        EtcdStore::connect(&EtcdOptions {
            endpoints: vec![etcd.endpoint()],
            prefix: "/registry".into(),
            ..Default::default()
        })
        .await
        .expect("connect etcd"),
    );
    let backends: Vec<(&str, Arc<dyn Store>)> =
        vec![("rocksdb", rocks.clone()), ("etcd", etcd_store.clone())];

    println!(
        "storage benchmark ({} s per write level), values of 2 KiB, fsync on both",
        args.seconds
    );
    println!("\n## durable creates");
    println!(
        "{:<8} {:>8} {:>12} {:>10} {:>10}",
        "backend", "writers", "creates/s", "p50 ms", "p99 ms"
    );
    let mut at256 = Vec::new();
    for writers in [1usize, 16, 256] {
        for (name, store) in &backends {
            let (rate, p50, p99) = creates(
                store.clone(),
                writers,
                args.seconds,
                &format!("/bench/w{writers}/"),
            )
            .await;
            println!("{name:<8} {writers:>8} {rate:>12.0} {p50:>10.2} {p99:>10.2}");
            if writers == 256 {
                at256.push(rate);
            }
        }
    }
    if let [r, e] = at256[..] {
        println!(
            "ratio at 256 writers: rocksdb/etcd = {:.1}x",
            r / e.max(1e-9)
        );
    }

    println!("\n## list");
    let sizes: &[usize] = if args.big {
        &[10_000, 100_000]
    } else {
        &[10_000]
    };
    let mut backlogs = Vec::new();
    for &n in sizes {
        for (name, store) in &backends {
            let before = store.current_revision().await.expect("rev");
            fill(store.clone(), &format!("/bench/list{n}/"), n).await;
            backlogs.push((*name, store.clone(), n, before));
            let started = Instant::now();
            let mut token = None;
            let mut count = 0;
            loop {
                let page = store
                    .list(
                        &format!("/bench/list{n}/"),
                        ListOptions {
                            limit: Some(10_000),
                            continue_token: token,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("list");
                count += page.items.len();
                token = page.continue_token;
                if token.is_none() {
                    break;
                }
            }
            assert_eq!(count, n);
            println!(
                "{name:<8} list {n:>7} keys: {:>8.1} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }

    println!("\n## point reads (random keys of the 10k-key list)");
    println!(
        "{:<8} {:>8} {:>12} {:>10} {:>10}",
        "backend", "readers", "gets/s", "p50 us", "p99 us"
    );
    for readers in [1usize, 16] {
        for (name, store) in &backends {
            let (rate, p50, p99) = gets(
                store.clone(),
                readers,
                args.seconds,
                "/bench/list10000/",
                10_000,
            )
            .await;
            println!("{name:<8} {readers:>8} {rate:>12.0} {p50:>10.1} {p99:>10.1}");
        }
    }

    println!("\n## watch replay (a watch from before the list fill: its whole backlog)");
    for (name, store, n, before) in &backlogs {
        let (first, all) = replay(store.clone(), &format!("/bench/list{n}/"), *before, *n).await;
        println!("{name:<8} {n:>7} events: first {first:>8.2} ms, all {all:>8.1} ms");
    }

    println!("\n## watch fan-out (time until every watcher has the event, median of 5 writes)");
    let fanouts: &[usize] = if args.big { &[1_000, 10_000] } else { &[1_000] };
    for &n in fanouts {
        for (name, store) in &backends {
            match fanout(store.clone(), n).await {
                Ok(ms) => println!("{name:<8} {n:>6} watchers: {ms:>8.1} ms"),
                Err(e) => println!("{name:<8} {n:>6} watchers: failed ({e})"),
            }
        }
    }

    println!("\n## memory with 100k objects of 2 KiB");
    fill(rocks.clone(), "/bench/mem/", 100_000).await;
    fill(etcd_store.clone(), "/bench/mem/", 100_000).await;
    println!(
        "rocksdb  (this process, store open) RSS: {:>7.1} MB",
        common::rss_mb(std::process::id())
    );
    if let Some(pid) = etcd_pid {
        println!(
            "etcd     (etcd process)             RSS: {:>7.1} MB",
            common::rss_mb(pid)
        );
    }
    drop(etcd);
}

fn value() -> Bytes {
    Bytes::from(vec![b'x'; 2048])
}

async fn creates(
    store: Arc<dyn Store>,
    writers: usize,
    seconds: f64,
    prefix: &str,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                store
                    .create(&format!("{prefix}{w}/{i}"), value(), None)
                    .await
                    .expect("create");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        all.get(((all.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (all.len() as f64 / elapsed, pct(0.5), pct(0.99))
}

/// Random point reads of `prefix{0..n}` by `readers` tasks for `seconds`: (gets/s, p50 µs,
/// p99 µs).
async fn gets(
    store: Arc<dyn Store>,
    readers: usize,
    seconds: f64,
    prefix: &str,
    n: u64,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for r in 0..readers {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            // xorshift64: a cheap spread of keys without a dependency.
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (r as u64 + 1);
            while Instant::now() < deadline {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("{prefix}{:07}", x % n);
                let t = Instant::now();
                let got = store.get(&key).await.expect("get");
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                assert!(got.is_some(), "{key} present");
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("reader"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        all.get(((all.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (all.len() as f64 / elapsed, pct(0.5), pct(0.99))
}

/// A watch of `prefix` from `after` expecting `n` replayed events: (ms to the first, ms to
/// the last).
async fn replay(store: Arc<dyn Store>, prefix: &str, after: u64, n: usize) -> (f64, f64) {
    let started = Instant::now();
    let mut w = store.watch(prefix, after).await.expect("watch");
    let mut first = 0.0;
    for i in 0..n {
        let e = w.next().await;
        assert!(matches!(e, Some(Ok(_))), "replayed event {i}");
        if i == 0 {
            first = started.elapsed().as_secs_f64() * 1000.0;
        }
    }
    (first, started.elapsed().as_secs_f64() * 1000.0)
}

async fn fill(store: Arc<dyn Store>, prefix: &str, n: usize) {
    let mut tasks = Vec::new();
    let per = n.div_ceil(64);
    for w in 0..64 {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            for i in (w * per)..((w + 1) * per).min(n) {
                store
                    .create(&format!("{prefix}{i:07}"), value(), None)
                    .await
                    .expect("fill");
            }
        }));
    }
    for t in tasks {
        t.await.expect("fill task");
    }
}

async fn fanout(store: Arc<dyn Store>, watchers: usize) -> Result<f64, String> {
    let prefix = format!("/bench/fan{watchers}/");
    let from = store.current_revision().await.expect("rev");
    let mut streams = Vec::new();
    for _ in 0..watchers {
        streams.push(
            store
                .watch(&prefix, from)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let mut times = Vec::new();
    let mut streams_opt: Vec<_> = streams.into_iter().map(Some).collect();
    for round in 0..5 {
        let started = Instant::now();
        store
            .create(&format!("{prefix}{round}"), value(), None)
            .await
            .map_err(|e| e.to_string())?;
        let mut pending = Vec::new();
        for slot in streams_opt.iter_mut() {
            let mut s = slot.take().expect("stream");
            pending.push(tokio::spawn(async move {
                let e = s.next().await;
                assert!(matches!(e, Some(Ok(_))), "watch event");
                s
            }));
        }
        for (slot, p) in streams_opt.iter_mut().zip(pending) {
            *slot = Some(p.await.expect("watcher"));
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

/// The pid of the etcd listening on `port` (found through /proc, no extra tools).
fn etcd_pid(port: u16) -> Option<u32> {
    let needle = format!("127.0.0.1:{port}");
    for entry in std::fs::read_dir("/proc").ok()? {
        let entry = entry.ok()?;
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.starts_with("etcd") && cmdline.contains(&needle) {
            return Some(pid);
        }
    }
    None
}
