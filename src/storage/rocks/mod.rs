//! The embedded backend: an MVCC store on RocksDB (the default).
//!
//! Layout in `codec`; all mutations go through the single group-committing writer in
//! `writer`; live events fan out through `hub`; TTL expiry and periodic compaction run in
//! `maintenance`. Reads go straight to RocksDB (snapshots for consistent lists and watch
//! replay).

mod codec;
mod hub;
mod maintenance;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options,
    ReadOptions, SnapshotWithThreadMode,
};
use tokio::sync::{mpsc, oneshot};

use self::codec::{LogEntry, Record};
use super::continuation::Continue;
use super::{
    Deleted, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store,
    StoreError, WatchStream, check_size, prefix_end,
};

pub use maintenance::MaintenanceConfig;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// fsync every commit before acknowledging it.
    pub sync: bool,
    /// Events buffered per watcher before it is cut off.
    pub watch_queue_length: usize,
    /// RocksDB block cache size.
    pub block_cache_bytes: usize,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            sync: true,
            watch_queue_length: 10_000,
            block_cache_bytes: 32 << 20,
        }
    }
}

/// State shared by the store handle, the writer thread and maintenance tasks.
pub(crate) struct Shared {
    db: DB,
    path: PathBuf,
    sync: bool,
    current: AtomicU64,
    compacted: AtomicU64,
    hub: hub::Hub,
    failure: Mutex<Option<String>>,
    compaction: Mutex<()>,
}

impl Shared {
    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| self.corrupt(format!("column family {name} missing")))
    }

    fn failed(&self) -> Option<String> {
        self.failure.lock().map(|f| f.clone()).unwrap_or(None)
    }

    fn fail(&self, reason: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(reason);
        }
    }

    /// The latest record of `key`, if any.
    fn read_kv(&self, key: &str) -> Result<Option<Record>> {
        let cf = self.cf(codec::CF_KV)?;
        match self.db.get_pinned_cf(&cf, key.as_bytes()) {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) => match Record::decode(&bytes) {
                Some(Some(r)) => Ok(Some(r)),
                _ => Err(self.corrupt(format!("undecodable record for key {key}"))),
            },
            Err(e) => Err(self.io(e)),
        }
    }

    fn io(&self, e: rocksdb::Error) -> StoreError {
        if e.kind() == rocksdb::ErrorKind::Corruption {
            self.corrupt(e.to_string())
        } else {
            StoreError::Unavailable(format!("{}: {e}", self.path.display()))
        }
    }

    fn meta_u64(
        &self,
        snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
        name: &[u8],
    ) -> Result<u64> {
        let cf = self.cf(codec::CF_META)?;
        let got = match snapshot {
            Some(s) => s.get_cf(&cf, name),
            None => self.db.get_cf(&cf, name),
        }
        .map_err(|e| self.io(e))?;
        match got {
            None => Ok(0),
            Some(v) => codec::be_u64(&v).ok_or_else(|| {
                self.corrupt(format!(
                    "meta {} is malformed",
                    String::from_utf8_lossy(name)
                ))
            }),
        }
    }
}

/// The embedded store. Dropping it stops the writer thread and waits for it, so the
/// database is closed before the process exits.
pub struct RocksStore {
    shared: Arc<Shared>,
    writer: Option<mpsc::Sender<writer::Request>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        self.writer.take();
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl RocksStore {
    /// Opens (or creates) the store in `path`. Corrupt or unreadable data is an error naming
    /// the path; nothing is discarded.
    pub fn open(path: &Path, options: &RocksOptions) -> Result<Arc<RocksStore>> {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(path).map_err(|e| corrupt(e.to_string()))?;
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let cf_options = |write_buffer: usize| {
            let mut o = Options::default();
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            o.set_block_based_table_factory(&table);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(write_buffer);
            o.set_max_write_buffer_number(2);
            o
        };
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_db_write_buffer_size(48 << 20);
        db_options.set_max_background_jobs(2);
        db_options.set_keep_log_file_num(3);
        db_options.set_max_total_wal_size(64 << 20);
        db_options.set_paranoid_checks(true);
        let cfs = codec::ALL_CFS.iter().map(|name| {
            let size = match *name {
                codec::CF_KV | codec::CF_HIST => 16 << 20,
                _ => 4 << 20,
            };
            ColumnFamilyDescriptor::new(*name, cf_options(size))
        });
        let db =
            DB::open_cf_descriptors(&db_options, path, cfs).map_err(|e| corrupt(e.to_string()))?;

        let shared_probe = Shared {
            db,
            path: path.to_path_buf(),
            sync: options.sync,
            current: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
            hub: hub::Hub::new(0, options.watch_queue_length),
            failure: Mutex::new(None),
            compaction: Mutex::new(()),
        };
        let format = shared_probe.meta_u64(None, codec::META_FORMAT)?;
        let mut current = shared_probe.meta_u64(None, codec::META_CURRENT)?;
        if format == 0 && current == 0 {
            // A new store: revisions start at 1, as in etcd, so the first write is 2.
            let meta = shared_probe.cf(codec::CF_META)?;
            let mut batch = rocksdb::WriteBatch::default();
            batch.put_cf(
                &meta,
                codec::META_FORMAT,
                codec::FORMAT_VERSION.to_be_bytes(),
            );
            batch.put_cf(&meta, codec::META_CURRENT, 1u64.to_be_bytes());
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            shared_probe
                .db
                .write_opt(batch, &wo)
                .map_err(|e| corrupt(e.to_string()))?;
            current = 1;
        } else if format != codec::FORMAT_VERSION {
            return Err(corrupt(format!(
                "unknown storage format version {format} (this binary reads version {})",
                codec::FORMAT_VERSION
            )));
        }
        let compacted = shared_probe.meta_u64(None, codec::META_COMPACT)?;
        shared_probe.current.store(current, Ordering::Release);
        shared_probe.compacted.store(compacted, Ordering::Release);
        let shared = Arc::new(Shared {
            hub: hub::Hub::new(current, options.watch_queue_length),
            ..shared_probe
        });
        let (writer, thread) = writer::spawn(shared.clone())
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        tracing::debug!(path = %path.display(), revision = current, compacted, "opened RocksDB store");
        Ok(Arc::new(RocksStore {
            shared,
            writer: Some(writer),
            writer_thread: Some(thread),
        }))
    }

    /// Starts TTL expiry and periodic compaction on the current tokio runtime.
    pub fn start_maintenance(self: &Arc<Self>, config: MaintenanceConfig) {
        maintenance::spawn(self.clone(), config);
    }

    /// Writes a consistent RocksDB checkpoint (hard links where possible) into `dir`,
    /// which must not exist yet.
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let checkpoint =
            rocksdb::checkpoint::Checkpoint::new(&self.shared.db).map_err(|e| self.shared.io(e))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| StoreError::Unavailable(format!("checkpoint into {}: {e}", dir.display())))
    }

    async fn submit(&self, key: &str, value: Bytes, op: writer::Op) -> Result<writer::Outcome> {
        let (reply, rx) = oneshot::channel();
        let request = writer::Request {
            key: key.to_string(),
            value,
            op,
            reply,
        };
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("storage is closing".into()))?;
        writer
            .send(request)
            .await
            .map_err(|_| StoreError::Unavailable("storage writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("storage writer stopped".into()))?
    }

    fn list_blocking(shared: &Shared, prefix: &str, options: &ListOptions) -> Result<ListResult> {
        let snapshot = shared.db.snapshot();
        let latest = shared.meta_u64(Some(&snapshot), codec::META_CURRENT)?;
        let compacted = shared.meta_u64(Some(&snapshot), codec::META_COMPACT)?;
        let (revision, after) = match &options.continue_token {
            Some(token) => {
                let c = Continue::decode(token, prefix)?;
                (c.revision, Some(c.last_key))
            }
            None => (options.revision.filter(|r| *r > 0).unwrap_or(latest), None),
        };
        if revision > latest {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: latest,
            });
        }
        if revision < compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted,
            });
        }
        let limit = options.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let want = limit.map_or(usize::MAX, |l| l + 1);
        let end = prefix_end(prefix.as_bytes());
        let start: Vec<u8> = match &after {
            // Strictly after the last key: that key followed by 0x01 sorts after all of its
            // `hist` entries (key ‖ 0x00 ‖ rev) and before any longer key.
            Some(k) => {
                let mut s = k.as_bytes().to_vec();
                s.push(1);
                s
            }
            None => prefix.as_bytes().to_vec(),
        };
        let mut read = ReadOptions::default();
        read.set_snapshot(&snapshot);
        read.set_iterate_upper_bound(end);
        if revision == latest {
            let cf = shared.cf(codec::CF_KV)?;
            let iter = shared.db.iterator_cf_opt(
                &cf,
                read,
                IteratorMode::From(&start, Direction::Forward),
            );
            for item in iter {
                let (k, v) = item.map_err(|e| shared.io(e))?;
                let key = std::str::from_utf8(&k).map_err(|_| shared.corrupt("non-UTF-8 key"))?;
                let Some(Some(r)) = Record::decode(&v) else {
                    return Err(shared.corrupt(format!("undecodable record for key {key}")));
                };
                items.push(to_kv(key, r));
                if items.len() >= want {
                    break;
                }
            }
        } else {
            let cf = shared.cf(codec::CF_HIST)?;
            let iter = shared.db.iterator_cf_opt(
                &cf,
                read,
                IteratorMode::From(&start, Direction::Forward),
            );
            let mut pending: Option<(String, Option<Record>)> = None;
            for item in iter {
                let (k, v) = item.map_err(|e| shared.io(e))?;
                let (key, rev) = codec::split_hist_key(&k)
                    .ok_or_else(|| shared.corrupt("malformed history key"))?;
                if pending.as_ref().is_some_and(|(p, _)| p != key) {
                    if let Some((pk, Some(r))) = pending.take() {
                        items.push(to_kv(&pk, r));
                        if items.len() >= want {
                            break;
                        }
                    }
                    pending = None;
                }
                if rev > revision {
                    continue;
                }
                let record = Record::decode(&v)
                    .ok_or_else(|| shared.corrupt(format!("undecodable history for {key}")))?;
                pending = Some((key.to_string(), record));
            }
            if items.len() < want
                && let Some((pk, Some(r))) = pending
            {
                items.push(to_kv(&pk, r));
            }
        }
        let continue_token = match limit {
            Some(l) if items.len() > l => {
                items.truncate(l);
                items.last().map(|last| {
                    Continue {
                        revision,
                        last_key: last.key.clone(),
                    }
                    .encode()
                })
            }
            _ => None,
        };
        Ok(ListResult {
            items,
            revision,
            continue_token,
            remaining: None,
        })
    }

    /// Events of `prefix` in (after, until], read from the log of one snapshot.
    fn replay_blocking(
        shared: &Shared,
        prefix: &str,
        after: Revision,
        until: Revision,
    ) -> Result<Vec<Event>> {
        let snapshot = shared.db.snapshot();
        let compacted = shared.meta_u64(Some(&snapshot), codec::META_COMPACT)?;
        // Events from `compacted` on are kept; older ones are gone.
        if after + 1 < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        let mut events = Vec::new();
        if after >= until {
            return Ok(events);
        }
        let log = shared.cf(codec::CF_LOG)?;
        let hist = shared.cf(codec::CF_HIST)?;
        let mut read = ReadOptions::default();
        read.set_snapshot(&snapshot);
        read.set_iterate_upper_bound((until + 1).to_be_bytes().to_vec());
        let start = (after + 1).to_be_bytes();
        let load = |key: &str, rev: Revision| -> Result<Record> {
            match snapshot
                .get_cf(&hist, codec::hist_key(key, rev))
                .map_err(|e| shared.io(e))?
            {
                Some(bytes) => match Record::decode(&bytes) {
                    Some(Some(r)) => Ok(r),
                    _ => Err(shared.corrupt(format!("history of {key} at {rev} is not a value"))),
                },
                None => Err(shared.corrupt(format!("history of {key} at {rev} is missing"))),
            }
        };
        for item in
            shared
                .db
                .iterator_cf_opt(&log, read, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| shared.io(e))?;
            let rev = codec::be_u64(&k).ok_or_else(|| shared.corrupt("malformed log key"))?;
            let entry = LogEntry::decode(&v)
                .ok_or_else(|| shared.corrupt(format!("malformed log entry {rev}")))?;
            if !entry.key.starts_with(prefix) {
                continue;
            }
            let prev = if entry.prev_revision > 0 {
                Some(to_kv(&entry.key, load(&entry.key, entry.prev_revision)?))
            } else {
                None
            };
            let event = if entry.delete {
                let mut kv = prev.clone().ok_or_else(|| {
                    shared.corrupt(format!("delete at {rev} without a previous value"))
                })?;
                kv.mod_revision = rev;
                Event {
                    kind: EventKind::Delete,
                    revision: rev,
                    kv,
                    prev,
                }
            } else {
                Event {
                    kind: EventKind::Put,
                    revision: rev,
                    kv: to_kv(&entry.key, load(&entry.key, rev)?),
                    prev,
                }
            };
            events.push(event);
        }
        Ok(events)
    }
}

fn to_kv(key: &str, r: Record) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: r.value,
        create_revision: r.create_revision,
        mod_revision: r.mod_revision,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
}

#[async_trait::async_trait]
impl Store for RocksStore {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.current.load(Ordering::Acquire))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.compacted.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.shared.read_kv(key)?.map(|r| to_kv(key, r)))
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let shared = self.shared.clone();
        let prefix = prefix.to_string();
        blocking(move || Self::list_blocking(&shared, &prefix, &options)).await
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        check_size(key, &value)?;
        match self.submit(key, value, writer::Op::Create { ttl }).await? {
            writer::Outcome::Put(kv) => Ok(kv),
            writer::Outcome::Deleted(_) => {
                Err(StoreError::Unavailable("unexpected writer outcome".into()))
            }
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue> {
        check_size(key, &value)?;
        match self
            .submit(key, value, writer::Op::Update { expected, ttl })
            .await?
        {
            writer::Outcome::Put(kv) => Ok(kv),
            writer::Outcome::Deleted(_) => {
                Err(StoreError::Unavailable("unexpected writer outcome".into()))
            }
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        match self
            .submit(key, Bytes::new(), writer::Op::Delete { expected })
            .await?
        {
            writer::Outcome::Deleted(d) => Ok(d),
            writer::Outcome::Put(_) => {
                Err(StoreError::Unavailable("unexpected writer outcome".into()))
            }
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let subscription = self.shared.hub.subscribe(prefix);
        let until = subscription.from;
        let shared = self.shared.clone();
        let p = prefix.to_string();
        let replayed = blocking(move || Self::replay_blocking(&shared, &p, after, until)).await?;
        let floor = after.max(until);
        let last = replayed.last().map_or(after, |e| e.revision);
        let hub::Subscription { rx, cut_off, .. } = subscription;
        let live = futures::stream::unfold(
            (rx, cut_off, last.max(after), false),
            move |(mut rx, cut_off, last, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match rx.recv().await {
                        Some(event) if event.revision <= floor => continue,
                        Some(event) => {
                            let rev = event.revision;
                            return Some((Ok(Event::clone(&event)), (rx, cut_off, rev, false)));
                        }
                        None if cut_off.lagged.load(Ordering::Acquire) => {
                            return Some((
                                Err(StoreError::WatcherTooSlow {
                                    last_revision: last,
                                }),
                                (rx, cut_off, last, true),
                            ));
                        }
                        None => return None,
                    }
                }
            },
        );
        Ok(futures::stream::iter(replayed.into_iter().map(Ok))
            .chain(live)
            .boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let shared = self.shared.clone();
        blocking(move || maintenance::compact_blocking(&shared, revision)).await
    }
}
