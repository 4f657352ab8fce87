//! `backup --to` against a running server, restore, and refusal to start on corrupt data.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{Hub, run};
use multicluster_controlplane::storage::Store;
use multicluster_controlplane::storage::rocks::{RocksOptions, RocksStore};

fn with_store<T>(db: &Path, f: impl AsyncFnOnce(std::sync::Arc<RocksStore>) -> T) -> T {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = RocksStore::open(db, &RocksOptions::default()).expect("open");
        f(store).await
    })
}

#[test]
fn online_backup_restores_the_same_data_and_pki() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let written = with_store(&data.join("db"), async |store| {
        let mut revs = Vec::new();
        for i in 0..100 {
            revs.push(
                store
                    .create(
                        &format!("/core/configmaps/default/cm{i}"),
                        Bytes::from(format!("payload {i}")),
                        None,
                    )
                    .await
                    .expect("create")
                    .mod_revision,
            );
        }
        revs
    });
    let mut hub = Hub::start(&data, &[]);
    hub.wait_ready();
    let target = dir.path().join("backup");
    let out = run(&[
        "backup",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--to",
        target.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server kept running and serving while the backup was taken.
    assert!(hub.child.try_wait().expect("try_wait").is_none());
    let again = run(&[
        "backup",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--to",
        target.to_str().expect("utf8"),
    ]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "backup into a non-empty directory must fail"
    );
    assert!(hub.terminate().success());

    // Restore into a fresh data directory, as the README describes.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("mkdir");
    std::fs::rename(target.join("db"), restored.join("db")).expect("move db");
    std::fs::rename(target.join("cert"), restored.join("cert")).expect("move cert");
    assert_eq!(
        std::fs::read(restored.join("cert/ca.crt")).expect("ca"),
        std::fs::read(data.join("cert/ca.crt")).expect("ca")
    );
    with_store(&restored.join("db"), async |store| {
        for (i, rev) in written.iter().enumerate() {
            let kv = store
                .get(&format!("/core/configmaps/default/cm{i}"))
                .await
                .expect("get")
                .expect("restored");
            assert_eq!(kv.mod_revision, *rev);
            assert_eq!(kv.value, Bytes::from(format!("payload {i}")));
        }
    });
    let mut hub = Hub::start(&restored, &[]);
    hub.wait_ready();
}

#[test]
fn offline_backup_works_without_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("cert")).expect("mkdir");
    with_store(&data.join("db"), async |store| {
        store
            .create("/k", Bytes::from_static(b"v"), None)
            .await
            .expect("create");
    });
    let target = dir.path().join("b");
    let out = run(&[
        "backup",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--to",
        target.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    with_store(&target.join("db"), async |store| {
        assert!(store.get("/k").await.expect("get").is_some());
    });
}

#[test]
fn corrupt_store_stops_the_server_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    with_store(&data.join("db"), async |store| {
        store
            .create("/k", Bytes::from_static(b"v"), None)
            .await
            .expect("create");
    });
    std::fs::write(data.join("db/CURRENT"), b"garbage-that-names-no-manifest\n").expect("corrupt");
    let out = run(&[
        "server",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--port",
        &common::free_port().to_string(),
        "--bind-address",
        "127.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&data.join("db").display().to_string()),
        "{err}"
    );
    assert!(err.contains("corrupt or unreadable"), "{err}");
    // Nothing was discarded: the damaged file is still there for inspection.
    assert_eq!(
        std::fs::read(data.join("db/CURRENT")).expect("current"),
        b"garbage-that-names-no-manifest\n"
    );
}
