//! Footprint benchmark: what an idle hub holds, and what each kind of object (and each
//! open watch) adds to it, so a hub can be sized.
//!
//! Run: `cargo bench --bench footprint` (options: `-- --objects 5000 --watches 1000`;
//! `MCP_BIN` picks another binary). One hub, fresh data directory. Its resident memory is
//! read from `/proc/<pid>/status` as three figures: `RssAnon` (the hub's own memory:
//! heap, RocksDB's memtables and block cache, thread stacks), `RssFile` (mapped pages of
//! the executable and shared libraries: code, shared with every other process mapping
//! them and dropped by the kernel under pressure) and their sum `VmRSS`. For each kind,
//! a fresh hub gets `--objects` objects through the API (32 requests in flight), is left
//! to settle (its controllers finish what the objects started), and the growth of its
//! `RssAnon` is divided by the number of objects. The reference in the same run is the
//! idle hub itself; the per-object figures include the storage engine's share (memtable,
//! cache) and allocator slack, which is what a user sizing a hub pays.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

/// Memory figures of one process, in MB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    anon: f64,
    file: f64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        Memory {
            anon: common::status_mb(pid, "RssAnon"),
            file: common::status_mb(pid, "RssFile"),
        }
    }

    fn total(&self) -> f64 {
        self.anon + self.file
    }
}

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// One kind measured: its name in the table, the collection it is created in, and a
/// body for object `i`.
struct Case {
    what: &'static str,
    collection: fn(usize) -> String,
    body: fn(usize) -> Value,
}

const GROUP: &str = "/apis/cluster.open-cluster-management.io";

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "Namespace",
            collection: |_| "/api/v1/namespaces".into(),
            body: |i| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("fp-ns-{i}")}}),
        },
        Case {
            what: "ConfigMap (1 key, 64 B)",
            collection: |_| "/api/v1/namespaces/fp/configmaps".into(),
            body: |i| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")},
                "data": {"k": "x".repeat(64)}})
            },
        },
        Case {
            what: "Lease",
            collection: |_| "/apis/coordination.k8s.io/v1/namespaces/fp/leases".into(),
            body: |i| {
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": format!("lease-{i}")},
                "spec": {"holderIdentity": format!("agent-{i}"), "leaseDurationSeconds": 60}})
            },
        },
        Case {
            what: "Role (one rule; RBAC index)",
            collection: |_| "/apis/rbac.authorization.k8s.io/v1/namespaces/fp/roles".into(),
            body: |i| {
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": format!("role-{i}")},
                "rules": [{"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks"],
                    "verbs": ["get", "list", "watch", "update", "patch"]}]})
            },
        },
        Case {
            what: "ManifestWork (one ConfigMap manifest)",
            collection: |_| {
                "/apis/work.open-cluster-management.io/v1/namespaces/fp/manifestworks".into()
            },
            body: |i| {
                json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                "metadata": {"name": format!("work-{i}")},
                "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "namespace": "default"}, "data": {"k": "v"}}]}}})
            },
        },
        Case {
            what: "ManagedCluster (not accepted)",
            collection: |_| format!("{GROUP}/v1/managedclusters"),
            body: |i| {
                json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                "metadata": {"name": format!("fp-cluster-{i}"), "labels": {"bench": "footprint"}},
                "spec": {"hubAcceptsClient": false}})
            },
        },
        Case {
            what: "ManagedCluster (accepted: + namespace, RBAC)",
            collection: |_| format!("{GROUP}/v1/managedclusters"),
            body: |i| {
                json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                "metadata": {"name": format!("fp-accepted-{i}")},
                "spec": {"hubAcceptsClient": true}})
            },
        },
    ]
}

async fn post(http: &reqwest::Client, url: String, body: &Value) {
    for attempt in 0..8u64 {
        match http.post(&url).json(body).send().await {
            Ok(r) if r.status().is_success() || r.status().as_u16() == 409 => {
                common::read_status(r).await;
                return;
            }
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {}
            Ok(r) => {
                let code = r.status();
                panic!("POST {url}: {code} {}", r.text().await.unwrap_or_default())
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
    }
    panic!("POST {url}: gave up after retries");
}

/// RssAnon once it stops growing: sampled every 200 ms until two seconds pass without a
/// new high (controllers still working on the objects), at most `limit`.
async fn settled(pid: u32, limit: Duration) -> Memory {
    let started = Instant::now();
    let mut best = Memory::of(pid);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Memory::of(pid);
        if now.anon > best.anon + 0.1 {
            since = Instant::now();
        }
        if now.anon > best.anon {
            best = now;
        }
    }
    Memory::of(pid)
}

/// A hub of its own for one measurement, so no kind pays for another's memtable or
/// allocator growth: started on a fresh data directory, with the namespace `fp`, settled.
struct Fresh {
    hub: common::Hub,
    http: reqwest::Client,
    before: Memory,
    _dir: tempfile::TempDir,
}

impl Fresh {
    async fn start() -> Fresh {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut hub = common::Hub::start(dir.path(), &[]);
        hub.wait_ready();
        let http = common::async_client(dir.path(), true, true);
        post(
            &http,
            hub.url("/api/v1/namespaces"),
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fp"}}),
        )
        .await;
        let before = settled(hub.child.id(), Duration::from_secs(10)).await;
        Fresh {
            hub,
            http,
            before,
            _dir: dir,
        }
    }

    /// RssAnon added since start, in MB, once settled.
    async fn added(&self, limit: Duration) -> f64 {
        settled(self.hub.child.id(), limit).await.anon - self.before.anon
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let objects = arg("--objects", 5000);
    let watches = arg("--watches", 1000);
    println!(
        "footprint benchmark: {objects} objects per kind, {watches} watches, a fresh hub for each row, binary {}",
        common::bin()
    );
    let idle = Fresh::start().await.before;
    println!(
        "idle hub: VmRSS {:.1} MB = RssAnon {:.1} MB (own memory) + RssFile {:.1} MB (mapped code)",
        idle.total(),
        idle.anon,
        idle.file
    );
    println!(
        "\n{:<46} {:>12} {:>14} {:>10}",
        "kind", "RssAnon MB", "bytes/object", "create/s"
    );
    for case in cases() {
        let f = Fresh::start().await;
        let started = Instant::now();
        futures::stream::iter(0..objects)
            .map(|i| {
                let url = f.hub.url(&(case.collection)(i));
                let body = (case.body)(i);
                let http = &f.http;
                async move { post(http, url, &body).await }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
        let rate = objects as f64 / started.elapsed().as_secs_f64();
        let added = f.added(Duration::from_secs(120)).await;
        println!(
            "{:<46} {:>12.1} {:>14.0} {:>10.0}",
            case.what,
            added,
            added * 1024.0 * 1024.0 / objects as f64,
            rate
        );
    }
    // Watches: each its own HTTP/1.1 connection, as agents hold them, from the current
    // revision (no initial events).
    let f = Fresh::start().await;
    let works = "/apis/work.open-cluster-management.io/v1/namespaces/fp/manifestworks";
    let list: Value = f
        .http
        .get(f.hub.url(&format!("{works}?limit=1")))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list json");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string();
    let mut streams = Vec::new();
    for _ in 0..watches {
        let r = f
            .http
            .get(f.hub.url(&format!("{works}?watch=1&resourceVersion={rv}")))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => streams.push(r),
            Ok(r) => panic!("watch: {}", r.status()),
            Err(e) => panic!("watch: {e}"),
        }
    }
    let added = f.added(Duration::from_secs(30)).await;
    println!(
        "{:<46} {:>12.1} {:>14.0} {:>10}",
        "watch (own connection, TLS)",
        added,
        added * 1024.0 * 1024.0 / watches.max(1) as f64,
        "-"
    );
    drop(streams);
}
