//! Background upkeep of the RocksDB store: TTL expiry and periodic compaction.
//!
//! Expiry deletes due keys through the ordinary delete path (guarded by the revision that
//! set the deadline), so watchers see a DELETED event. Periodic compaction is the shared
//! `storage::compactor`; the physical cleanup it triggers is `compact_blocking` here.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use super::codec::{self, LogEntry};
use super::{RocksStore, Shared, now_ms};
use crate::storage::{Revision, Store, StoreError};

/// Log entries cleaned per write batch during compaction.
const COMPACTION_CHUNK: usize = 10_000;

#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    pub compaction_interval: Duration,
    pub history_retention: Duration,
    /// How often due TTL keys are looked for.
    pub ttl_check_interval: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            compaction_interval: Duration::from_secs(300),
            history_retention: Duration::from_secs(300),
            ttl_check_interval: Duration::from_secs(1),
        }
    }
}

pub fn spawn(store: Arc<RocksStore>, config: MaintenanceConfig) {
    tokio::spawn(expire_loop(
        Arc::downgrade(&store),
        config.ttl_check_interval,
    ));
    crate::storage::compactor::spawn(&store, config.compaction_interval, config.history_retention);
}

async fn expire_loop(store: Weak<RocksStore>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        let shared = store.shared.clone();
        let due = tokio::task::spawn_blocking(move || due_keys(&shared, now_ms(), 1000)).await;
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading expiring keys failed");
                continue;
            }
            Err(_) => continue,
        };
        for (key, rev) in due {
            match store.delete(&key, Some(rev)).await {
                Ok(_) => tracing::trace!(%key, "expired"),
                // Rewritten (new deadline) or deleted meanwhile: the stale entry was already
                // removed by that write.
                Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(%key, error = %e, "expiring key failed"),
            }
        }
    }
}

/// Up to `max` keys whose deadline has passed, with the revision that set it.
fn due_keys(shared: &Shared, now: u64, max: usize) -> Result<Vec<(String, Revision)>, StoreError> {
    let cf = shared.cf(codec::CF_TTL)?;
    let mut read = ReadOptions::default();
    read.set_iterate_upper_bound((now + 1).to_be_bytes().to_vec());
    let mut out = Vec::new();
    for item in shared.db.iterator_cf_opt(&cf, read, IteratorMode::Start) {
        let (k, v) = item.map_err(|e| shared.io(e))?;
        let (_, key) =
            codec::split_ttl_key(&k).ok_or_else(|| shared.corrupt("malformed ttl key"))?;
        let rev = codec::be_u64(&v).ok_or_else(|| shared.corrupt("malformed ttl value"))?;
        out.push((key.to_string(), rev));
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// Compacts history below `target` (etcd's rule: `target` itself stays readable): first
/// promises it (so reads below it fail with `Compacted`), then removes versions superseded
/// before `target` and tombstones, then the log entries below `target`.
pub fn compact_blocking(shared: &Shared, target: Revision) -> Result<(), StoreError> {
    let _guard = shared.compaction.lock().unwrap_or_else(|p| p.into_inner());
    let current = shared.current.load(Ordering::Acquire);
    if target > current {
        return Err(StoreError::FutureRevision {
            requested: target,
            current,
        });
    }
    let promised = shared.meta_u64(None, codec::META_COMPACT)?;
    let meta = shared.cf(codec::CF_META)?;
    let log = shared.cf(codec::CF_LOG)?;
    let hist = shared.cf(codec::CF_HIST)?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    if target > promised {
        shared
            .db
            .put_cf_opt(&meta, codec::META_COMPACT, target.to_be_bytes(), &sync)
            .map_err(|e| shared.io(e))?;
        shared.compacted.store(target, Ordering::Release);
    }
    // Clean everything promised but not yet cleaned (also after a crash mid-compaction).
    // Log entries below `goal` are cleaned; `cleaned` is the last one already done.
    let goal = target.max(promised);
    let cleaned = shared.meta_u64(None, codec::META_COMPACT_CLEANED)?;
    if goal <= cleaned + 1 {
        return Ok(());
    }
    let mut read = ReadOptions::default();
    read.set_iterate_upper_bound(goal.to_be_bytes().to_vec());
    let start = (cleaned + 1).to_be_bytes();
    let mut batch = WriteBatch::default();
    let mut pending = 0;
    for item in
        shared
            .db
            .iterator_cf_opt(&log, read, IteratorMode::From(&start, Direction::Forward))
    {
        let (k, v) = item.map_err(|e| shared.io(e))?;
        let rev = codec::be_u64(&k).ok_or_else(|| shared.corrupt("malformed log key"))?;
        let entry = LogEntry::decode(&v)
            .ok_or_else(|| shared.corrupt(format!("malformed log entry {rev}")))?;
        if entry.prev_revision > 0 {
            batch.delete_cf(&hist, codec::hist_key(&entry.key, entry.prev_revision));
        }
        if entry.delete {
            batch.delete_cf(&hist, codec::hist_key(&entry.key, rev));
        }
        pending += 1;
        if pending >= COMPACTION_CHUNK {
            shared
                .db
                .write(std::mem::take(&mut batch))
                .map_err(|e| shared.io(e))?;
            pending = 0;
        }
    }
    batch.delete_range_cf(&log, 0u64.to_be_bytes(), goal.to_be_bytes());
    batch.put_cf(&meta, codec::META_COMPACT_CLEANED, (goal - 1).to_be_bytes());
    shared
        .db
        .write_opt(batch, &sync)
        .map_err(|e| shared.io(e))?;
    Ok(())
}
