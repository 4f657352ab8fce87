//! The single writer: one thread owns every mutation of the RocksDB store.
//!
//! It takes all requests waiting in its queue, checks each precondition against the
//! latest state (including earlier requests of the same batch), assigns consecutive
//! revisions, and commits the whole batch as one `WriteBatch` with one fsync (group
//! commit). Only then are the callers answered and the events published, in revision
//! order. A failed commit fails the batch and stops all later writes (fail-stop, as etcd
//! does on a disk error): data already acknowledged is never contradicted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rocksdb::{WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot};

use super::codec::{self, LogEntry, Record};
use super::{Shared, now_ms};
use crate::storage::{Deleted, Event, EventKind, KeyValue, Revision, StoreError};

/// Largest number of requests committed in one batch.
const MAX_BATCH: usize = 1024;

pub enum Op {
    Create {
        ttl: Option<Duration>,
    },
    Update {
        expected: Revision,
        ttl: Option<Duration>,
    },
    Delete {
        expected: Option<Revision>,
    },
}

pub enum Outcome {
    Put(KeyValue),
    Deleted(Deleted),
}

pub struct Request {
    pub key: String,
    pub value: Bytes,
    pub op: Op,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// Starts the writer thread; it stops when every sender is dropped.
pub fn spawn(
    shared: Arc<Shared>,
) -> std::io::Result<(mpsc::Sender<Request>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Request>(4096);
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(shared, rx))?;
    Ok((tx, thread))
}

fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Request>) {
    let mut write_options = WriteOptions::default();
    write_options.set_sync(shared.sync);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if let Some(reason) = shared.failed() {
            for r in batch {
                let _ = r.reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
            continue;
        }
        let started = std::time::Instant::now();
        commit(&shared, batch, &write_options);
        crate::metrics::get()
            .storage_commit
            .observe(started.elapsed().as_secs_f64());
    }
}

fn commit(shared: &Shared, batch: Vec<Request>, write_options: &WriteOptions) {
    let db = &shared.db;
    let (Some(kv_cf), Some(hist_cf), Some(log_cf), Some(ttl_cf), Some(meta_cf)) = (
        db.cf_handle(codec::CF_KV),
        db.cf_handle(codec::CF_HIST),
        db.cf_handle(codec::CF_LOG),
        db.cf_handle(codec::CF_TTL),
        db.cf_handle(codec::CF_META),
    ) else {
        for r in batch {
            let _ = r
                .reply
                .send(Err(StoreError::Unavailable("column family missing".into())));
        }
        return;
    };
    let start = shared.current.load(Ordering::Acquire);
    let mut rev = start;
    let mut overlay: HashMap<String, Option<Record>> = HashMap::new();
    let mut wb = WriteBatch::default();
    let mut replies = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let now = now_ms();

    for req in batch {
        let current = match overlay.get(&req.key) {
            Some(state) => state.clone(),
            None => match shared.read_kv(&req.key) {
                Ok(r) => r,
                Err(e) => {
                    replies.push((req.reply, Err(e)));
                    continue;
                }
            },
        };
        let key = req.key;
        // Precondition checks; `prev` is the version this write replaces.
        let checked = match (&req.op, &current) {
            (Op::Create { .. }, Some(_)) => Err(StoreError::AlreadyExists { key: key.clone() }),
            (Op::Update { .. } | Op::Delete { .. }, None) => {
                Err(StoreError::NotFound { key: key.clone() })
            }
            (Op::Update { expected, .. }, Some(c))
            | (
                Op::Delete {
                    expected: Some(expected),
                },
                Some(c),
            ) if c.mod_revision != *expected => Err(StoreError::Conflict {
                key: key.clone(),
                expected: *expected,
                actual: Some(c.mod_revision),
            }),
            _ => Ok(()),
        };
        if let Err(e) = checked {
            replies.push((req.reply, Err(e)));
            continue;
        }
        rev += 1;
        let prev_kv = current.as_ref().map(|c| KeyValue {
            key: key.clone(),
            value: c.value.clone(),
            create_revision: c.create_revision,
            mod_revision: c.mod_revision,
        });
        if let Some(c) = &current
            && c.deadline_ms != 0
        {
            wb.delete_cf(&ttl_cf, codec::ttl_key(c.deadline_ms, &key));
        }
        let prev_revision = current.as_ref().map_or(0, |c| c.mod_revision);
        let is_delete = matches!(req.op, Op::Delete { .. });
        match req.op {
            Op::Create { ttl } | Op::Update { ttl, .. } => {
                let deadline_ms = ttl.map_or(0, |t| {
                    now + u64::try_from(t.as_millis()).unwrap_or(u64::MAX / 2)
                });
                let record = Record {
                    create_revision: current.as_ref().map_or(rev, |c| c.create_revision),
                    mod_revision: rev,
                    deadline_ms,
                    value: req.value,
                };
                let encoded = record.encode();
                wb.put_cf(&kv_cf, key.as_bytes(), &encoded);
                wb.put_cf(&hist_cf, codec::hist_key(&key, rev), &encoded);
                if deadline_ms != 0 {
                    wb.put_cf(
                        &ttl_cf,
                        codec::ttl_key(deadline_ms, &key),
                        rev.to_be_bytes(),
                    );
                }
                let kv = KeyValue {
                    key: key.clone(),
                    value: record.value.clone(),
                    create_revision: record.create_revision,
                    mod_revision: rev,
                };
                events.push(Arc::new(Event {
                    kind: EventKind::Put,
                    revision: rev,
                    kv: kv.clone(),
                    prev: prev_kv,
                }));
                overlay.insert(key.clone(), Some(record));
                replies.push((req.reply, Ok(Outcome::Put(kv))));
            }
            Op::Delete { .. } => {
                wb.delete_cf(&kv_cf, key.as_bytes());
                wb.put_cf(&hist_cf, codec::hist_key(&key, rev), codec::tombstone());
                // The precondition check above guarantees the key exists.
                let prev = prev_kv.unwrap_or_else(|| KeyValue {
                    key: key.clone(),
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: 0,
                });
                let mut gone = prev.clone();
                gone.mod_revision = rev;
                events.push(Arc::new(Event {
                    kind: EventKind::Delete,
                    revision: rev,
                    kv: gone,
                    prev: Some(prev.clone()),
                }));
                overlay.insert(key.clone(), None);
                replies.push((
                    req.reply,
                    Ok(Outcome::Deleted(Deleted {
                        prev,
                        revision: rev,
                    })),
                ));
            }
        }
        let entry = LogEntry {
            delete: is_delete,
            prev_revision,
            key,
        };
        wb.put_cf(&log_cf, rev.to_be_bytes(), entry.encode());
    }

    if rev != start {
        wb.put_cf(&meta_cf, codec::META_CURRENT, rev.to_be_bytes());
        let written = std::time::Instant::now();
        let result = db.write_opt(wb, write_options);
        crate::metrics::get()
            .storage_fsync
            .observe(written.elapsed().as_secs_f64());
        if let Err(e) = result {
            let reason = format!("write to {} failed: {e}", shared.path.display());
            tracing::error!(%reason, "storage write failed; refusing further writes");
            shared.fail(reason.clone());
            for (reply, result) in replies {
                let result = result.and(Err(StoreError::Unavailable(reason.clone())));
                let _ = reply.send(result);
            }
            return;
        }
        shared.current.store(rev, Ordering::Release);
        shared.hub.publish(&events);
    }
    for (reply, result) in replies {
        let _ = reply.send(result);
    }
}
