//! The embedded backend: an MVCC store on RocksDB (the default).
//!
//! Layout in `codec`; all mutations go through the single group-committing writer in
//! `writer`; live events fan out through `hub`; TTL expiry and periodic compaction run in
//! `maintenance`. Reads that may wait for the disk run on tokio's blocking pool: lists,
//! watch replay, and point reads the memtables and block cache cannot answer (those that
//! can are answered in place, without I/O). A watch replays the log in bounded chunks,
//! each from its own snapshot, then hands over to the live events.

mod codec;
mod hub;
mod maintenance;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options,
    ReadOptions, ReadTier, SnapshotWithThreadMode,
};
use tokio::sync::{mpsc, oneshot};

use self::codec::{LogEntry, Record};
use super::continuation::Continue;
use super::{
    Deleted, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store,
    StoreError, WatchStream, check_size, prefix_end,
};

pub use maintenance::MaintenanceConfig;

/// Table files RocksDB keeps open at most (its default is all of them): the server keeps
/// this many descriptors, and more, out of reach of client connections.
pub const MAX_OPEN_FILES: i32 = 256;

/// Threads per column family that load table readers at open: two keep a large store's
/// open short without a burst of threads.
const FILE_OPENING_THREADS: i32 = 2;

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

    /// The latest record of `key`, if any. May wait for the disk.
    fn read_kv(&self, key: &str) -> Result<Option<Record>> {
        let cf = self.cf(codec::CF_KV)?;
        match self.db.get_pinned_cf(&cf, key.as_bytes()) {
            Ok(found) => self.decode_kv(key, found.as_deref()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The latest record of `key` if the memtables and block cache can tell (`Some`), or
    /// `None` when that needs the disk. Never waits for I/O.
    fn read_kv_cached(&self, key: &str) -> Result<Option<Option<Record>>> {
        let cf = self.cf(codec::CF_KV)?;
        let mut memory_only = ReadOptions::default();
        memory_only.set_read_tier(ReadTier::BlockCache);
        match self.db.get_pinned_cf_opt(&cf, key.as_bytes(), &memory_only) {
            Ok(found) => self.decode_kv(key, found.as_deref()).map(Some),
            Err(e) if e.kind() == rocksdb::ErrorKind::Incomplete => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn decode_kv(&self, key: &str, bytes: Option<&[u8]>) -> Result<Option<Record>> {
        match bytes.map(Record::decode) {
            None => Ok(None),
            Some(Some(Some(r))) => Ok(Some(r)),
            Some(_) => Err(self.corrupt(format!("undecodable record for key {key}"))),
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
        // A clean stop writes the memtables out, so the next start has no WAL to replay
        // into memtables and write out itself (a third of a warm start's work). After a
        // crash the WAL is replayed as before.
        let cfs: Vec<_> = codec::ALL_CFS
            .iter()
            .filter_map(|name| self.shared.db.cf_handle(name))
            .collect();
        if let Err(e) = self
            .shared
            .db
            .flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default())
        {
            tracing::warn!(error = %e, "flushing the store on close failed; the next start replays the WAL");
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
            // RocksDB compacts a table again as soon as it is the bottommost one, only to
            // zero its sequence numbers ("BottommostFiles"): with the memtables flushed at
            // every clean close, that was a compaction at every start. An hour later does
            // the same. (The option has no setter of its own in the rocksdb crate.)
            let mut o = Options::default()
                .get_options_from_string("bottommost_file_compaction_delay=3600")
                .unwrap_or_default();
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
        db_options.set_max_open_files(MAX_OPEN_FILES);
        // RocksDB starts this many threads per column family at open to load table
        // readers, however few tables there are (16 by default: 80 threads started and
        // ended at every start of a hub with five column families).
        db_options.set_max_file_opening_threads(FILE_OPENING_THREADS);
        // RocksDB's own LOG (in the data directory) at its default level starts with every
        // option of every column family, formatted at each open: a tenth of a warm start.
        // Warnings and errors only, unless the hub runs with debug logging.
        db_options.set_log_level(if tracing::enabled!(tracing::Level::DEBUG) {
            rocksdb::LogLevel::Info
        } else {
            rocksdb::LogLevel::Warn
        });
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

    /// `Store::watch` with the backlog read in chunks of `limits`. The hub subscription
    /// comes first, so every later event reaches it; the first chunk is read before
    /// returning, so a compacted start is this call's error.
    async fn watch_with(
        &self,
        prefix: &str,
        after: Revision,
        limits: ReplayLimits,
    ) -> Result<WatchStream> {
        let hub::Subscription {
            rx,
            cut_off,
            from: until,
        } = self.shared.hub.subscribe(prefix);
        let (shared, p) = (self.shared.clone(), prefix.to_string());
        let first =
            blocking(move || Self::replay_blocking(&shared, &p, after, until, limits)).await?;
        let state = WatchState {
            shared: self.shared.clone(),
            prefix: prefix.to_string(),
            limits,
            backlog: first.events.into(),
            read_to: first.read_to,
            until,
            floor: after.max(until),
            rx,
            cut_off,
            last: after,
            done: false,
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            s.next_item().await.map(|item| (item, s))
        })
        .boxed())
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

    /// The first events of `prefix` in (after, until], read from the log of one snapshot:
    /// at most `limits.events` events, `limits.scan` log entries and (about)
    /// `limits.bytes` of values. `Compacted` when events after `after` may be gone.
    fn replay_blocking(
        shared: &Shared,
        prefix: &str,
        after: Revision,
        until: Revision,
        limits: ReplayLimits,
    ) -> Result<ReplayChunk> {
        let snapshot = shared.db.snapshot();
        let compacted = shared.meta_u64(Some(&snapshot), codec::META_COMPACT)?;
        // Events from `compacted` on are kept; older ones are gone.
        if after + 1 < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        let mut chunk = ReplayChunk {
            events: Vec::new(),
            read_to: until,
        };
        if after >= until {
            return Ok(chunk);
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
        let (mut scanned, mut bytes) = (0usize, 0usize);
        for item in
            shared
                .db
                .iterator_cf_opt(&log, read, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| shared.io(e))?;
            let rev = codec::be_u64(&k).ok_or_else(|| shared.corrupt("malformed log key"))?;
            let full = scanned >= limits.scan
                || chunk.events.len() >= limits.events
                || bytes >= limits.bytes;
            if full && scanned > 0 {
                // The next chunk starts at this entry (every chunk reads at least one).
                chunk.read_to = rev - 1;
                break;
            }
            scanned += 1;
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
            bytes += event.kv.value.len() + event.prev.as_ref().map_or(0, |p| p.value.len());
            chunk.events.push(event);
        }
        Ok(chunk)
    }
}

/// How much one replay read may gather.
#[derive(Debug, Clone, Copy)]
struct ReplayLimits {
    /// Events returned.
    events: usize,
    /// Log entries looked at (most may belong to other prefixes).
    scan: usize,
    /// Bytes of values (new and previous) after which no further event is added.
    bytes: usize,
}

impl ReplayLimits {
    const DEFAULT: ReplayLimits = ReplayLimits {
        events: 1024,
        scan: 16 * 1024,
        bytes: 4 << 20,
    };
}

/// One bounded read of a watch's backlog.
struct ReplayChunk {
    events: Vec<Event>,
    /// The log has been read up to here: the next read starts after it.
    read_to: Revision,
}

/// An open watch: the log's backlog (after the start, up to where the hub took over) in
/// bounded chunks, then the live events the hub queued meanwhile, skipping those the
/// backlog already covered.
struct WatchState {
    shared: Arc<Shared>,
    prefix: String,
    limits: ReplayLimits,
    /// Backlog events read but not delivered yet.
    backlog: VecDeque<Event>,
    /// The backlog has been read up to here.
    read_to: Revision,
    /// The hub delivers the events after this revision; the backlog the others.
    until: Revision,
    /// Live events at or below this were (or would have been) replayed.
    floor: Revision,
    rx: mpsc::Receiver<Arc<Event>>,
    cut_off: Arc<hub::CutOff>,
    /// The last revision delivered, or the start.
    last: Revision,
    done: bool,
}

impl WatchState {
    async fn next_item(&mut self) -> Option<Result<Event>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.revision;
                return Some(Ok(event));
            }
            if self.read_to < self.until {
                let (shared, prefix) = (self.shared.clone(), self.prefix.clone());
                let (after, until, limits) = (self.read_to, self.until, self.limits);
                match blocking(move || {
                    RocksStore::replay_blocking(&shared, &prefix, after, until, limits)
                })
                .await
                {
                    Ok(chunk) => {
                        self.backlog = chunk.events.into();
                        self.read_to = chunk.read_to;
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            match self.rx.recv().await {
                Some(event) if event.revision <= self.floor => continue,
                Some(event) => {
                    self.last = event.revision;
                    return Some(Ok(Event::clone(&event)));
                }
                None => {
                    self.done = true;
                    return self.cut_off.lagged.load(Ordering::Acquire).then(|| {
                        Err(StoreError::WatcherTooSlow {
                            last_revision: self.last,
                        })
                    });
                }
            }
        }
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
        // Answered in place when memory can; a read that needs the disk waits on the
        // blocking pool, not on an async worker.
        let record = match self.shared.read_kv_cached(key)? {
            Some(found) => found,
            None => {
                let (shared, k) = (self.shared.clone(), key.to_string());
                blocking(move || shared.read_kv(&k)).await?
            }
        };
        Ok(record.map(|r| to_kv(key, r)))
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
        self.watch_with(prefix, after, ReplayLimits::DEFAULT).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let shared = self.shared.clone();
        blocking(move || maintenance::compact_blocking(&shared, revision)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Arc<RocksStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = RocksOptions {
            sync: false,
            ..Default::default()
        };
        let store = RocksStore::open(&dir.path().join("db"), &options).expect("open");
        (dir, store)
    }

    fn value(i: usize) -> Bytes {
        Bytes::from(format!("value {i}"))
    }

    /// Writes under `/w/a/` (creates, updates, deletes) interleaved with `/w/b/`; returns
    /// the revisions of the `/w/a/` events.
    async fn churn(store: &RocksStore, from: usize, to: usize) -> Vec<Revision> {
        let mut revs = Vec::new();
        for i in from..to {
            let key = format!("/w/a/{i}");
            let kv = store.create(&key, value(i), None).await.expect("create");
            revs.push(kv.mod_revision);
            store
                .create(&format!("/w/b/{i}"), value(i), None)
                .await
                .expect("create other");
            if i % 3 == 0 {
                let kv = store
                    .update(&key, value(i + 1), kv.mod_revision, None)
                    .await
                    .expect("update");
                revs.push(kv.mod_revision);
            }
            if i % 5 == 0 {
                revs.push(store.delete(&key, None).await.expect("delete").revision);
            }
        }
        revs
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_replay_read_is_bounded() {
        let (_dir, store) = open();
        let start = store.current_revision().await.expect("rev");
        let revs = churn(&store, 0, 20).await;
        let until = store.current_revision().await.expect("rev");
        let read =
            |limits| RocksStore::replay_blocking(&store.shared, "/w/a/", start, until, limits);
        let tiny = ReplayLimits {
            events: 3,
            scan: usize::MAX,
            bytes: usize::MAX,
        };
        let chunk = read(tiny).expect("chunk");
        let got: Vec<Revision> = chunk.events.iter().map(|e| e.revision).collect();
        assert_eq!(got, revs[..3]);
        assert!(chunk.read_to >= revs[2] && chunk.read_to < revs[3]);
        let scan = read(ReplayLimits {
            scan: 4,
            ..ReplayLimits::DEFAULT
        })
        .expect("chunk");
        assert_eq!(scan.read_to, start + 4);
        let bytes = read(ReplayLimits {
            bytes: 1,
            ..ReplayLimits::DEFAULT
        })
        .expect("chunk");
        assert_eq!(bytes.events.len(), 1);
        let all = read(ReplayLimits::DEFAULT).expect("chunk");
        assert_eq!(all.read_to, until);
        assert_eq!(all.events.len(), revs.len());
    }

    /// A backlog read a few events at a time while writes go on: every event once, in
    /// order, across the hand-over to live events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunked_replay_hands_over_without_gaps_or_duplicates() {
        let (_dir, store) = open();
        let start = store.current_revision().await.expect("rev");
        let mut expected = churn(&store, 0, 60).await;
        let limits = ReplayLimits {
            events: 3,
            scan: 5,
            bytes: 64,
        };
        let mut w = store
            .watch_with("/w/a/", start, limits)
            .await
            .expect("watch");
        let writer = {
            let store = store.clone();
            tokio::spawn(async move { churn(&store, 60, 120).await })
        };
        let mut got = Vec::new();
        // Read part of the backlog while the writer runs, then the rest.
        while got.len() < expected.len() / 2 {
            got.push(w.next().await.expect("open").expect("event"));
        }
        expected.extend(writer.await.expect("writer"));
        while got.len() < expected.len() {
            let e = tokio::time::timeout(Duration::from_secs(30), w.next())
                .await
                .expect("event within 30 s")
                .expect("open")
                .expect("event");
            got.push(e);
        }
        let revs: Vec<Revision> = got.iter().map(|e| e.revision).collect();
        assert_eq!(revs, expected);
        for e in &got {
            assert!(e.kv.key.starts_with("/w/a/"), "{}", e.kv.key);
            assert_eq!(e.kv.mod_revision, e.revision);
        }
        // Nothing more is pending: the next event is a later write's.
        let marker = store
            .create("/w/a/marker", value(0), None)
            .await
            .expect("marker");
        let next = w.next().await.expect("open").expect("event");
        assert_eq!(
            (next.kv.key.as_str(), next.revision),
            ("/w/a/marker", marker.mod_revision)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_compacted_start_is_the_watch_call_error() {
        let (_dir, store) = open();
        let start = store.current_revision().await.expect("rev");
        churn(&store, 0, 10).await;
        let current = store.current_revision().await.expect("rev");
        store.compact(current).await.expect("compact");
        let limits = ReplayLimits {
            events: 1,
            ..ReplayLimits::DEFAULT
        };
        assert!(matches!(
            store.watch_with("/w/a/", start, limits).await,
            Err(StoreError::Compacted { .. })
        ));
    }

    /// A store closed cleanly leaves no WAL to replay: every write is in table files, and a
    /// store opened on them reads it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clean_close_leaves_nothing_to_replay() {
        let (dir, store) = open();
        for i in 0..20 {
            store
                .create(&format!("/c/{i}"), value(i), None)
                .await
                .expect("create");
        }
        let wal_bytes = |dir: &Path| -> u64 {
            std::fs::read_dir(dir.join("db"))
                .expect("read dir")
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        };
        assert!(wal_bytes(dir.path()) > 0, "the writes are in the WAL first");
        drop(store);
        assert_eq!(
            wal_bytes(dir.path()),
            0,
            "nothing left in the WAL after a clean close"
        );
        let options = RocksOptions {
            sync: false,
            ..Default::default()
        };
        let store = RocksStore::open(&dir.path().join("db"), &options).expect("reopen");
        let got = store.get("/c/19").await.expect("get").expect("present");
        assert_eq!(got.value, value(19));
    }

    /// Without debug logging RocksDB's LOG gets warnings and errors only, not the dump of
    /// every option it used to format at each open.
    #[test]
    fn the_rocksdb_log_is_quiet_by_default() {
        let (dir, store) = open();
        drop(store);
        let log = std::fs::read_to_string(dir.path().join("db").join("LOG")).expect("LOG");
        assert!(!log.contains("Options.max_open_files"), "{log}");
    }

    /// Point reads the memory tiers cannot answer go to the blocking pool and still find
    /// the value; once its block is cached the next read is answered in place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_that_need_the_disk_are_answered() {
        let (_dir, store) = open();
        store.create("/r/k", value(1), None).await.expect("create");
        assert!(matches!(
            store.shared.read_kv_cached("/r/k"),
            Ok(Some(Some(_)))
        ));
        assert!(matches!(
            store.shared.read_kv_cached("/r/absent"),
            Ok(Some(None))
        ));
        let kv = store.shared.cf(codec::CF_KV).expect("cf");
        store.shared.db.flush_cf(&kv).expect("flush");
        assert!(
            matches!(store.shared.read_kv_cached("/r/k"), Ok(None)),
            "a flushed value is on disk only"
        );
        let got = store.get("/r/k").await.expect("get").expect("present");
        assert_eq!(got.value, value(1));
        assert!(matches!(
            store.shared.read_kv_cached("/r/k"),
            Ok(Some(Some(_)))
        ));
        assert!(store.get("/r/absent").await.expect("get").is_none());
    }
}
