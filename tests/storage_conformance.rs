//! One conformance suite, run against both storage backends: embedded RocksDB and a real
//! etcd started by the harness on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use multicluster_controlplane::storage::etcd::{EtcdOptions, EtcdStore};
use multicluster_controlplane::storage::rocks::{MaintenanceConfig, RocksOptions, RocksStore};
use multicluster_controlplane::storage::{
    EventKind, ListOptions, MAX_VALUE_BYTES, Store, StoreError, WatchStream,
};

use common::etcd::Etcd;

/// A backend under test, with whatever keeps it alive.
struct Backend {
    store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn rocks_with(options: RocksOptions) -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(&dir.path().join("db"), &options).expect("open rocks");
    store.start_maintenance(MaintenanceConfig {
        compaction_interval: Duration::from_secs(3600),
        history_retention: Duration::from_secs(3600),
        ttl_check_interval: Duration::from_millis(100),
    });
    Backend {
        store,
        _keep: Box::new(dir),
    }
}

async fn rocks() -> Backend {
    rocks_with(RocksOptions::default()).await
}

async fn etcd_store(etcd: &Etcd, prefix: &str) -> EtcdStore {
    EtcdStore::connect(&EtcdOptions {
        endpoints: vec![etcd.endpoint()],
        prefix: prefix.to_string(),
        ..Default::default()
    })
    .await
    .expect("connect etcd")
}

/// Each etcd test gets its own etcd: compaction and restarts are cluster-wide.
async fn etcd() -> Backend {
    let etcd = tokio::task::spawn_blocking(Etcd::start)
        .await
        .expect("start etcd");
    let store = etcd_store(&etcd, "/registry").await;
    Backend {
        store: Arc::new(store),
        _keep: Box::new(etcd),
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(w: &mut WatchStream) -> multicluster_controlplane::storage::Event {
    tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("watch event within 30 s")
        .expect("stream open")
        .expect("event, not error")
}

async fn crud_and_revisions(store: Arc<dyn Store>) {
    let start = store.current_revision().await.expect("rev");
    let a = store.create("/t/a", b("1"), None).await.expect("create");
    assert!(a.mod_revision > start && a.create_revision == a.mod_revision);
    assert_eq!(
        store.create("/t/a", b("x"), None).await.expect_err("dup"),
        StoreError::AlreadyExists { key: "/t/a".into() }
    );
    let got = store.get("/t/a").await.expect("get").expect("present");
    assert_eq!((got.value, got.mod_revision), (b("1"), a.mod_revision));
    match store
        .update("/t/a", b("2"), a.mod_revision + 100, None)
        .await
    {
        Err(StoreError::Conflict {
            actual: Some(r), ..
        }) => assert_eq!(r, a.mod_revision),
        other => panic!("expected conflict, got {other:?}"),
    }
    let a2 = store
        .update("/t/a", b("2"), a.mod_revision, None)
        .await
        .expect("update");
    assert!(a2.mod_revision > a.mod_revision);
    assert_eq!(a2.create_revision, a.create_revision);
    assert!(matches!(
        store.delete("/t/a", Some(a.mod_revision)).await,
        Err(StoreError::Conflict { .. })
    ));
    let d = store
        .delete("/t/a", Some(a2.mod_revision))
        .await
        .expect("delete");
    assert!(d.revision > a2.mod_revision);
    assert_eq!(d.prev.value, b("2"));
    assert_eq!(store.get("/t/a").await.expect("get"), None);
    assert!(matches!(
        store.update("/t/a", b("3"), d.revision, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete("/t/a", None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.current_revision().await.expect("rev") >= d.revision);
}

async fn concurrent_cas_loses_no_update(store: Arc<dyn Store>) {
    store
        .create("/t/counter", b("0"), None)
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                loop {
                    let cur = store
                        .get("/t/counter")
                        .await
                        .expect("get")
                        .expect("present");
                    let n: u64 = std::str::from_utf8(&cur.value)
                        .expect("utf8")
                        .parse()
                        .expect("num");
                    match store
                        .update(
                            "/t/counter",
                            b(&(n + 1).to_string()),
                            cur.mod_revision,
                            None,
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => panic!("update failed: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let v = store
        .get("/t/counter")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(v.value, b("320"), "lost updates");
}

async fn concurrent_creates_get_unique_monotonic_revisions(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(&format!("/t/m/{i:03}"), b("v"), None)
                .await
                .expect("create")
                .mod_revision
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.expect("task"));
    }
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(revs.len(), 64, "revisions must be unique");
    let list = store
        .list("/t/m/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(list.items.len(), 64);
    assert!(list.revision >= *revs.last().expect("last"));
}

async fn list_at_past_revision(store: Arc<dyn Store>) {
    let a = store.create("/t/p/a", b("a1"), None).await.expect("a");
    let bb = store.create("/t/p/b", b("b1"), None).await.expect("b");
    let snap = store
        .list("/t/p/", ListOptions::default())
        .await
        .expect("list")
        .revision;
    assert!(snap >= bb.mod_revision);
    store
        .update("/t/p/a", b("a2"), a.mod_revision, None)
        .await
        .expect("update");
    store.delete("/t/p/b", None).await.expect("delete");
    store.create("/t/p/c", b("c1"), None).await.expect("c");
    store
        .create("/t/q/x", b("other prefix"), None)
        .await
        .expect("x");
    let old = store
        .list(
            "/t/p/",
            ListOptions {
                revision: Some(snap),
                ..Default::default()
            },
        )
        .await
        .expect("old list");
    assert_eq!(old.revision, snap);
    let pairs: Vec<(String, Bytes)> = old.items.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(
        pairs,
        vec![("/t/p/a".into(), b("a1")), ("/t/p/b".into(), b("b1"))]
    );
    let now = store
        .list("/t/p/", ListOptions::default())
        .await
        .expect("list");
    let pairs: Vec<(String, Bytes)> = now.items.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(
        pairs,
        vec![("/t/p/a".into(), b("a2")), ("/t/p/c".into(), b("c1"))]
    );
    let future = store.current_revision().await.expect("rev") + 1000;
    assert!(matches!(
        store
            .list(
                "/t/p/",
                ListOptions {
                    revision: Some(future),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::FutureRevision { .. })
    ));
}

async fn pagination_is_stable_under_concurrent_writes(store: Arc<dyn Store>) {
    for i in 0..50 {
        store
            .create(&format!("/t/pg/{i:03}"), b(&format!("v{i}")), None)
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut token = None;
    let mut revision = None;
    let mut pages = 0;
    loop {
        let page = store
            .list(
                "/t/pg/",
                ListOptions {
                    limit: Some(7),
                    continue_token: token.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("page");
        assert!(page.items.len() <= 7);
        if let Some(r) = revision {
            assert_eq!(page.revision, r, "every page reads the same snapshot");
        }
        revision = Some(page.revision);
        seen.extend(page.items.into_iter().map(|kv| (kv.key, kv.value)));
        pages += 1;
        // Concurrent writes between pages: new keys, updates and deletes.
        store
            .create(&format!("/t/pg/{:03}x", pages), b("new"), None)
            .await
            .expect("create");
        let _ = store
            .delete(&format!("/t/pg/{:03}", 49 - pages), None)
            .await;
        match page.continue_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 8);
    let expected: Vec<(String, Bytes)> = (0..50)
        .map(|i| (format!("/t/pg/{i:03}"), b(&format!("v{i}"))))
        .collect();
    assert_eq!(seen, expected);
    assert!(matches!(
        store
            .list(
                "/t/pg/",
                ListOptions {
                    continue_token: Some("garbage!".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::InvalidContinue(_))
    ));
}

async fn watch_orders_events_with_previous_values(store: Arc<dyn Store>) {
    let from = store.current_revision().await.expect("rev");
    let mut w = store.watch("/t/w/", from).await.expect("watch");
    let c = store.create("/t/w/a", b("1"), None).await.expect("create");
    store
        .create("/t/elsewhere", b("not watched"), None)
        .await
        .expect("create");
    let u = store
        .update("/t/w/a", b("2"), c.mod_revision, None)
        .await
        .expect("update");
    let d = store.delete("/t/w/a", None).await.expect("delete");
    let e1 = next_event(&mut w).await;
    assert_eq!(
        (e1.kind, e1.revision, e1.prev.clone()),
        (EventKind::Put, c.mod_revision, None)
    );
    let e2 = next_event(&mut w).await;
    assert_eq!((e2.kind, e2.revision), (EventKind::Put, u.mod_revision));
    assert_eq!(e2.prev.expect("prev").value, b("1"));
    assert_eq!(e2.kv.value, b("2"));
    let e3 = next_event(&mut w).await;
    assert_eq!(
        (e3.kind, e3.revision, e3.kv.mod_revision),
        (EventKind::Delete, d.revision, d.revision)
    );
    assert_eq!(e3.kv.value, b("2"), "a deleted key carries its last value");
    assert_eq!(e3.prev.expect("prev").value, b("2"));
}

async fn watch_replays_from_an_old_revision(store: Arc<dyn Store>) {
    store
        .create("/t/r/before", b("0"), None)
        .await
        .expect("create");
    let mark = store.current_revision().await.expect("rev");
    let mut expected = Vec::new();
    for i in 0..10 {
        expected.push(
            store
                .create(&format!("/t/r/{i}"), b("v"), None)
                .await
                .expect("create")
                .mod_revision,
        );
    }
    let mut w = store.watch("/t/r/", mark).await.expect("watch");
    let live = store
        .create("/t/r/live", b("v"), None)
        .await
        .expect("create")
        .mod_revision;
    expected.push(live);
    for rev in expected {
        assert_eq!(next_event(&mut w).await.revision, rev);
    }
}

/// Creates `/t/big/<w>-<i>` (and, every fourth, a key of another prefix) with 16
/// writers; returns the revisions of the `/t/big/` writes, in order.
async fn big_writes(store: &Arc<dyn Store>, tag: &str, per_writer: usize) -> Vec<u64> {
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (store, tag) = (store.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..per_writer {
                let key = format!("/t/big/{tag}{w}-{i}");
                revs.push(
                    store
                        .create(&key, b("v"), None)
                        .await
                        .expect("create")
                        .mod_revision,
                );
                if i % 4 == 0 {
                    let other = format!("/t/bigger/{tag}{w}-{i}");
                    store.create(&other, b("v"), None).await.expect("create");
                }
            }
            revs
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.extend(t.await.expect("writer"));
    }
    revs.sort_unstable();
    revs
}

/// A watch whose backlog is thousands of events, with writes going on while it is read:
/// every event once, in revision order, across the hand-over to live events.
async fn watch_replays_a_large_backlog_across_the_hand_over(store: Arc<dyn Store>) {
    let mark = store.current_revision().await.expect("rev");
    let mut expected = big_writes(&store, "old", 200).await;
    let mut w = store.watch("/t/big/", mark).await.expect("watch");
    let live = {
        let store = store.clone();
        tokio::spawn(async move { big_writes(&store, "new", 40).await })
    };
    let mut got = Vec::new();
    for _ in 0..expected.len() / 2 {
        got.push(next_event(&mut w).await);
    }
    expected.extend(live.await.expect("live writes"));
    while got.len() < expected.len() {
        got.push(next_event(&mut w).await);
    }
    let revs: Vec<u64> = got.iter().map(|e| e.revision).collect();
    assert_eq!(revs.len(), 16 * 240);
    assert_eq!(revs, expected, "every event once, in order");
    assert!(
        got.iter()
            .all(|e| e.kv.key.starts_with("/t/big/") && e.kind == EventKind::Put)
    );
    // Nothing more is pending: the next event is a later write's.
    let marker = store
        .create("/t/big/marker", b("m"), None)
        .await
        .expect("marker");
    let next = next_event(&mut w).await;
    assert_eq!(
        (next.kv.key.as_str(), next.revision),
        ("/t/big/marker", marker.mod_revision)
    );
}

async fn compaction_makes_old_revisions_gone(store: Arc<dyn Store>) {
    let first = store.create("/t/c/k", b("0"), None).await.expect("create");
    let mut last = first.clone();
    for i in 1..=10 {
        last = store
            .update("/t/c/k", b(&i.to_string()), last.mod_revision, None)
            .await
            .expect("update");
    }
    let mid = last.mod_revision;
    for i in 11..=15 {
        last = store
            .update("/t/c/k", b(&i.to_string()), last.mod_revision, None)
            .await
            .expect("update");
    }
    store.compact(mid).await.expect("compact");
    assert!(store.compacted_revision().await.expect("compacted") >= mid);
    match store
        .list(
            "/t/c/",
            ListOptions {
                revision: Some(first.mod_revision),
                ..Default::default()
            },
        )
        .await
    {
        Err(StoreError::Compacted { .. }) => {}
        other => panic!("list below compaction: {other:?}"),
    }
    let at_mid = store
        .list(
            "/t/c/",
            ListOptions {
                revision: Some(mid),
                ..Default::default()
            },
        )
        .await
        .expect("list at compaction point");
    assert_eq!(at_mid.items[0].value, b("10"));
    match store.watch("/t/c/", first.mod_revision).await {
        Err(StoreError::Compacted { .. }) => {}
        Ok(mut w) => match tokio::time::timeout(Duration::from_secs(30), w.next())
            .await
            .expect("answer")
        {
            Some(Err(StoreError::Compacted { .. })) => {}
            other => panic!("watch below compaction gave {other:?}"),
        },
        Err(e) => panic!("unexpected {e}"),
    }
    // History from the compaction point on is intact.
    let mut w = store
        .watch("/t/c/", mid)
        .await
        .expect("watch after compaction");
    assert_eq!(next_event(&mut w).await.kv.value, b("11"));
    assert_eq!(
        store
            .get("/t/c/k")
            .await
            .expect("get")
            .expect("present")
            .value,
        b("15")
    );
}

async fn ttl_expiry_emits_a_delete(store: Arc<dyn Store>) {
    let from = store.current_revision().await.expect("rev");
    let mut w = store.watch("/t/ttl/", from).await.expect("watch");
    store
        .create("/t/ttl/event", b("e"), Some(Duration::from_secs(1)))
        .await
        .expect("create");
    store
        .create("/t/ttl/keep", b("k"), None)
        .await
        .expect("create");
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let e = next_event(&mut w).await;
        kinds.push((e.kind, e.kv.key));
    }
    assert_eq!(kinds[2], (EventKind::Delete, "/t/ttl/event".to_string()));
    assert_eq!(store.get("/t/ttl/event").await.expect("get"), None);
    assert!(store.get("/t/ttl/keep").await.expect("get").is_some());
}

async fn oversize_values_are_rejected(store: Arc<dyn Store>) {
    let big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
    assert!(matches!(
        store.create("/t/big", big.clone(), None).await,
        Err(StoreError::TooLarge { .. })
    ));
    let ok = store
        .create("/t/big", b("small"), None)
        .await
        .expect("create");
    assert!(matches!(
        store.update("/t/big", big, ok.mod_revision, None).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        store
            .get("/t/big")
            .await
            .expect("get")
            .expect("present")
            .value,
        b("small")
    );
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod rocksdb_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::rocks().await;
                    super::$name(backend.store.clone()).await;
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::etcd().await;
                    super::$name(backend.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    crud_and_revisions,
    concurrent_cas_loses_no_update,
    concurrent_creates_get_unique_monotonic_revisions,
    list_at_past_revision,
    pagination_is_stable_under_concurrent_writes,
    watch_orders_events_with_previous_values,
    watch_replays_from_an_old_revision,
    watch_replays_a_large_backlog_across_the_hand_over,
    compaction_makes_old_revisions_gone,
    ttl_expiry_emits_a_delete,
    oversize_values_are_rejected,
);

/// etcd stops and comes back while a watch is open: nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_restart_mid_watch_loses_and_duplicates_nothing() {
    let mut etcd = tokio::task::spawn_blocking(Etcd::start)
        .await
        .expect("start etcd");
    let store = etcd_store(&etcd, "/registry").await;
    let from = store.current_revision().await.expect("rev");
    let mut w = store.watch("/t/rs/", from).await.expect("watch");
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(
            store
                .create(&format!("/t/rs/a{i}"), b("v"), None)
                .await
                .expect("create")
                .mod_revision,
        );
    }
    assert_eq!(next_event(&mut w).await.revision, expected[0]);
    let etcd = tokio::task::spawn_blocking(move || {
        etcd.restart();
        etcd
    })
    .await
    .expect("restart");
    for i in 0..5 {
        // The client reconnects on its own; retry while the new process settles.
        let key = format!("/t/rs/b{i}");
        let rev = loop {
            match store.create(&key, b("v"), None).await {
                Ok(kv) => break kv.mod_revision,
                Err(StoreError::Unavailable(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("create after restart: {e}"),
            }
        };
        expected.push(rev);
    }
    for rev in &expected[1..] {
        assert_eq!(next_event(&mut w).await.revision, *rev);
    }
    // Nothing more (no duplicates) arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), w.next())
            .await
            .is_err()
    );
    drop(etcd);
}

/// Two "replicas" on one etcd compact concurrently; the marker CAS keeps it consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compaction_from_two_replicas_is_safe() {
    let etcd = tokio::task::spawn_blocking(Etcd::start)
        .await
        .expect("start etcd");
    let a = Arc::new(etcd_store(&etcd, "/registry").await);
    let b2 = Arc::new(etcd_store(&etcd, "/registry").await);
    let mut last = a.create("/t/k", b("0"), None).await.expect("create");
    for i in 0..20 {
        last = a
            .update("/t/k", b(&i.to_string()), last.mod_revision, None)
            .await
            .expect("update");
    }
    let target = last.mod_revision - 5;
    let (r1, r2) = tokio::join!(a.compact(target), b2.compact(target));
    r1.expect("replica a");
    r2.expect("replica b");
    assert_eq!(a.compacted_revision().await.expect("rev"), target);
    assert_eq!(b2.compacted_revision().await.expect("rev"), target);
    assert_eq!(
        a.get("/t/k").await.expect("get").expect("present").value,
        b("19")
    );
    drop(etcd);
}

/// A watcher that does not read is cut off with a resumable error; writers never wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocksdb_slow_watcher_is_cut_off_and_can_resume() {
    let backend = rocks_with(RocksOptions {
        watch_queue_length: 4,
        ..Default::default()
    })
    .await;
    let store = backend.store.clone();
    let from = store.current_revision().await.expect("rev");
    let mut w = store.watch("/t/slow/", from).await.expect("watch");
    let mut revs = Vec::new();
    for i in 0..50 {
        revs.push(
            store
                .create(&format!("/t/slow/{i:02}"), b("v"), None)
                .await
                .expect("writer never blocks")
                .mod_revision,
        );
    }
    let mut got = Vec::new();
    let last = loop {
        match tokio::time::timeout(Duration::from_secs(30), w.next())
            .await
            .expect("item")
        {
            Some(Ok(e)) => got.push(e.revision),
            Some(Err(StoreError::WatcherTooSlow { last_revision })) => break last_revision,
            other => panic!("expected a cut-off, got {other:?}"),
        }
    };
    assert!(got.len() < 50);
    assert_eq!(got.last().copied().unwrap_or(from), last);
    let mut resumed = store.watch("/t/slow/", last).await.expect("resume");
    for rev in revs.into_iter().filter(|r| *r > last) {
        assert_eq!(next_event(&mut resumed).await.revision, rev);
    }
}

/// TLS with a client certificate, as configured by `etcd.caFile/certFile/keyFile`; a
/// client without the certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_over_tls_with_client_certificates() {
    let etcd = tokio::task::spawn_blocking(Etcd::start_tls)
        .await
        .expect("start etcd");
    let tls = etcd.tls.as_ref().expect("tls files");
    let read = |p: &std::path::Path| Some(std::fs::read(p).expect("pem"));
    let options = EtcdOptions {
        endpoints: vec![etcd.endpoint()],
        prefix: "/registry".into(),
        ca_pem: read(&tls.ca),
        cert_pem: read(&tls.client_cert),
        key_pem: read(&tls.client_key),
    };
    // etcd may still be electing itself right after it starts listening.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let store = loop {
        match EtcdStore::connect(&options).await {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("TLS connect: {e}"),
        }
    };
    crud_and_revisions(Arc::new(store)).await;
    let without_cert = EtcdOptions {
        cert_pem: None,
        key_pem: None,
        ..options.clone()
    };
    assert!(matches!(
        EtcdStore::connect(&without_cert).await,
        Err(StoreError::Unavailable(_))
    ));
}

/// Several endpoints: a dead one in the list does not stop the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_a_dead_endpoint_in_the_list_still_works() {
    let etcd = tokio::task::spawn_blocking(Etcd::start)
        .await
        .expect("start etcd");
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let store = EtcdStore::connect(&EtcdOptions {
        endpoints: vec![dead, etcd.endpoint()],
        prefix: "/registry".into(),
        ..Default::default()
    })
    .await
    .expect("connect with one live endpoint");
    let store: Arc<dyn Store> = Arc::new(store);
    for i in 0..20 {
        store
            .create(&format!("/t/ep/{i}"), b("v"), None)
            .await
            .expect("create");
    }
    assert_eq!(
        store
            .list("/t/ep/", ListOptions::default())
            .await
            .expect("list")
            .items
            .len(),
        20
    );
}
