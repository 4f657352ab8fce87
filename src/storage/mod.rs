//! The storage layer: an MVCC key-value store with Kubernetes/etcd semantics, behind one
//! small async trait, with two backends: embedded RocksDB (default) and external etcd.
//!
//! Semantics, identical for both backends (the conformance suite in
//! `tests/storage_conformance.rs` holds them to it):
//! - one global revision counter; every write gets the next revision, which becomes the
//!   object's `resourceVersion`;
//! - `create` only if absent; `update`/`delete` guarded by the expected modification
//!   revision (compare-and-swap);
//! - `list` of a prefix at the latest revision or at an older one, paged with opaque
//!   continue tokens that pin the snapshot revision;
//! - `watch` of a prefix from a revision: history first, then live events, in revision
//!   order, each with the previous value; a slow watcher is cut off with a resumable error;
//! - compaction to revision C drops history below C (C itself stays readable, as in etcd);
//!   listing at a revision below C, or watching for events older than C, is `Compacted`
//!   ("410 Gone");
//! - keys may carry a time to live (Events): expiry is an ordinary delete, seen by watchers.
//!
//! Values are opaque bytes (JSON objects without `resourceVersion`). This layer knows
//! nothing about kinds, namespaces or selectors.

pub mod compactor;
pub mod continuation;
pub mod etcd;
pub mod rocks;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

/// A store revision (`resourceVersion`): positive, strictly increasing across all keys.
pub type Revision = u64;

/// The largest value accepted, as kube-apiserver's request limit (3 MiB).
pub const MAX_VALUE_BYTES: usize = 3 * 1024 * 1024;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// Revision of the last write (the `resourceVersion`).
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as seen by watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The revision of this change.
    pub revision: Revision,
    /// For `Put`: the new value. For `Delete`: the key with its last value, and
    /// `mod_revision` set to the deletion revision (as kube reports deleted objects).
    pub kv: KeyValue,
    /// The value before this change (`None` for a create).
    pub prev: Option<KeyValue>,
}

/// Options of a list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Read at this revision instead of the latest. Ignored with `continue_token`, which
    /// carries its own.
    pub revision: Option<Revision>,
    /// At most this many items (`None` or 0: all).
    pub limit: Option<usize>,
    /// Resume a paged list: the token of the previous page.
    pub continue_token: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The snapshot revision the page was read at.
    pub revision: Revision,
    /// Present when more items follow.
    pub continue_token: Option<String>,
    /// How many items follow this page, when known.
    pub remaining: Option<u64>,
}

/// Result of a delete: the last value, and the revision of the deletion.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub prev: KeyValue,
    pub revision: Revision,
}

/// Typed storage errors; the API layer maps each to a Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("key {key} not found")]
    NotFound { key: String },
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    /// The key's modification revision is not the expected one.
    #[error("conflict on {key}: expected revision {expected}, found {actual:?}")]
    Conflict {
        key: String,
        expected: Revision,
        /// The current modification revision, `None` if the key is gone.
        actual: Option<Revision>,
    },
    /// The requested revision has been compacted away ("410 Gone").
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is in the future (current is {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("value of {key} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        key: String,
        size: usize,
        limit: usize,
    },
    #[error("invalid continue token: {0}")]
    InvalidContinue(String),
    /// A watcher fell too far behind and was cut off; it may resume after `last_revision`.
    #[error("watcher fell behind and was disconnected after revision {last_revision}")]
    WatcherTooSlow { last_revision: Revision },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Data on disk cannot be read. Never silently discarded: the server stops.
    #[error("corrupt or unreadable data in {path}: {reason}")]
    Corrupt { path: String, reason: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A watch: events in revision order, ending with an error when it cannot continue.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// The storage trait shared by both backends.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest committed revision.
    async fn current_revision(&self) -> Result<Revision>;
    /// The oldest revision still readable (everything below it may be gone).
    async fn compacted_revision(&self) -> Result<Revision>;
    /// The latest value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Keys starting with `prefix`, in key order.
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult>;
    /// Creates `key` if it does not exist. A `ttl` makes it expire (with a delete event).
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue>;
    /// Replaces `key` if its modification revision is `expected`.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue>;
    /// Deletes `key`, if its modification revision is `expected` when given.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted>;
    /// Events under `prefix` with a revision greater than `after`.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;
    /// Drops history below `revision`.
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// Rejects values over [`MAX_VALUE_BYTES`].
pub fn check_size(key: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// The first key after every key starting with `prefix` (etcd's range end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // An all-0xff (or empty) prefix: everything to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
    }

    #[test]
    fn oversize_values_are_rejected() {
        assert!(check_size("k", &vec![0; MAX_VALUE_BYTES]).is_ok());
        assert!(matches!(
            check_size("k", &vec![0; MAX_VALUE_BYTES + 1]),
            Err(StoreError::TooLarge { .. })
        ));
    }
}
