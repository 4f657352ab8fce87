//! The watch hub: fans committed events out to watchers, each through its own bounded
//! queue. Publishing never blocks: a watcher whose queue is full is cut off and told the
//! last revision it received, so it can resume from there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::storage::{Event, Revision};

/// Why a watcher's channel closed.
#[derive(Debug, Default)]
pub struct CutOff {
    /// Set when the hub dropped the watcher for being too slow.
    pub lagged: std::sync::atomic::AtomicBool,
}

struct Slot {
    prefix: String,
    tx: mpsc::Sender<Arc<Event>>,
    cut_off: Arc<CutOff>,
}

/// Shared by the writer (which publishes) and `watch` (which subscribes).
pub struct Hub {
    slots: Mutex<Vec<Slot>>,
    /// Everything at or below this revision has been published.
    published: AtomicU64,
    queue_length: usize,
}

/// A live subscription: events after `from`, and how to tell a slow cut-off.
pub struct Subscription {
    pub rx: mpsc::Receiver<Arc<Event>>,
    pub cut_off: Arc<CutOff>,
    /// Events at or below this revision will not arrive here; read them from the log.
    pub from: Revision,
}

impl Hub {
    pub fn new(published: Revision, queue_length: usize) -> Hub {
        Hub {
            slots: Mutex::new(Vec::new()),
            published: AtomicU64::new(published),
            queue_length: queue_length.max(1),
        }
    }

    /// Registers a watcher of `prefix`; it receives every event published from now on.
    pub fn subscribe(&self, prefix: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue_length);
        let cut_off = Arc::new(CutOff::default());
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Read under the lock: publish() updates it under the same lock.
        let from = self.published.load(Ordering::Acquire);
        slots.push(Slot {
            prefix: prefix.to_string(),
            tx,
            cut_off: cut_off.clone(),
        });
        Subscription { rx, cut_off, from }
    }

    /// Delivers committed events, in revision order, to every matching watcher.
    pub fn publish(&self, events: &[Arc<Event>]) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            slots.retain(|slot| {
                if !event.kv.key.starts_with(&slot.prefix) {
                    return !slot.tx.is_closed();
                }
                match slot.tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(
                            prefix = %slot.prefix,
                            revision = event.revision,
                            queued = self.queue_length,
                            "a watcher fell too far behind and was cut off"
                        );
                        slot.cut_off.lagged.store(true, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            self.published.store(event.revision, Ordering::Release);
        }
    }
}
