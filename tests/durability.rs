//! Acknowledged writes survive `kill -9`: a child process writes as fast as it can and
//! prints every acknowledged key; the parent kills it at a random moment, reopens the store
//! and checks that every acknowledged key is there with its value, and that revisions
//! continue upward. Repeated over several rounds on the same store.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use multicluster_controlplane::storage::Store;
use multicluster_controlplane::storage::rocks::{RocksOptions, RocksStore};

const CHILD_ENV: &str = "MCP_DURABILITY_CHILD_DB";
const ROUNDS: usize = 8;

/// The child: never returns; writes until killed. Run only by the parent test.
#[test]
#[ignore = "child process of acknowledged_writes_survive_kill_9"]
fn durability_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let store =
            RocksStore::open(std::path::Path::new(&path), &RocksOptions::default()).expect("open");
        let round = std::env::var("MCP_DURABILITY_ROUND").unwrap_or_default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for writer in 0..16 {
            let store: Arc<RocksStore> = store.clone();
            let tx = tx.clone();
            let round = round.clone();
            tokio::spawn(async move {
                for i in 0u64.. {
                    let key = format!("/d/{round}/{writer}/{i}");
                    let value = format!("value-of-{key}");
                    let kv = store
                        .create(&key, Bytes::from(value), None)
                        .await
                        .expect("create");
                    let _ = tx.send(format!("{key} {}", kv.mod_revision));
                }
            });
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(line) = rx.recv().await {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let exe = std::env::current_exe().expect("test binary");
    let mut total_acked = 0usize;
    let mut last_max_rev = 0u64;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durability_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .env("MCP_DURABILITY_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        // Kill after a pseudo-random number of acknowledgements (50..2000).
        let kill_after = 50 + (rand_u64(round as u64) % 1950) as usize;
        let mut acked: Vec<(String, u64)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some((key, rev)) = line.split_once(' ') else {
                continue;
            };
            let Ok(rev) = rev.parse() else { continue };
            acked.push((key.to_string(), rev));
            if acked.len() >= kill_after || Instant::now() > deadline {
                common::signal(&child, "KILL");
                break;
            }
        }
        let _ = child.wait();
        assert!(
            !acked.is_empty(),
            "round {round}: child acknowledged nothing"
        );
        total_acked += acked.len();

        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let store =
                RocksStore::open(&db, &RocksOptions::default()).expect("reopen after kill -9");
            for (key, rev) in &acked {
                let kv = store
                    .get(key)
                    .await
                    .expect("get")
                    .unwrap_or_else(|| panic!("round {round}: acknowledged {key} lost"));
                assert_eq!(kv.mod_revision, *rev, "{key}");
                assert_eq!(kv.value, Bytes::from(format!("value-of-{key}")));
            }
            let max = acked.iter().map(|(_, r)| *r).max().unwrap_or(0);
            assert!(
                max > last_max_rev,
                "revisions must keep growing across rounds"
            );
            let current = store.current_revision().await.expect("rev");
            assert!(current >= max);
            let next = store
                .create(&format!("/d/after/{round}"), Bytes::from_static(b"x"), None)
                .await
                .expect("write after reopen");
            assert!(next.mod_revision > current);
            last_max_rev = next.mod_revision;
        });
    }
    eprintln!("durability: {ROUNDS} kill -9 rounds, {total_acked} acknowledged writes, none lost");
}

/// A small deterministic mix (splitmix64) so the kill points vary but runs are repeatable.
fn rand_u64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
