//! The watch hub: fans committed events out to watchers, each through its own bounded
//! queue. Publishing never blocks: a watcher whose queue is full is cut off and told the
//! last revision it received, so it can resume from there.
//!
//! Watchers are indexed by their key prefix, so an event costs one lookup per distinct
//! prefix length (a handful) instead of a comparison per watcher: with one watcher per
//! managed cluster (each agent watches its namespace), scanning them all on every write
//! took most of a 10,000-cluster hub's CPU.

use std::collections::{BTreeMap, HashMap};
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

/// The watchers by prefix, and how many distinct prefixes there are of each length.
#[derive(Default)]
struct Slots {
    by_prefix: HashMap<String, Vec<Slot>>,
    lengths: BTreeMap<usize, usize>,
    /// Subscriptions since the last sweep of closed watchers.
    since_sweep: usize,
}

/// Closed watchers of prefixes that see no events are removed every this many
/// subscriptions (those that see events are removed on the next one).
const SWEEP_EVERY: usize = 1024;

impl Slots {
    fn add(&mut self, slot: Slot) {
        let group = self.by_prefix.entry(slot.prefix.clone()).or_default();
        if group.is_empty() {
            *self.lengths.entry(slot.prefix.len()).or_default() += 1;
        }
        group.push(slot);
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.by_prefix.retain(|_, group| {
                group.retain(|slot| !slot.tx.is_closed());
                !group.is_empty()
            });
            self.lengths.clear();
            for prefix in self.by_prefix.keys() {
                *self.lengths.entry(prefix.len()).or_default() += 1;
            }
        }
    }

    /// Keeps the watchers of `prefix` for which `keep` holds; forgets an emptied prefix.
    fn retain(&mut self, prefix: &str, keep: impl FnMut(&Slot) -> bool) {
        let Some(group) = self.by_prefix.get_mut(prefix) else {
            return;
        };
        group.retain(keep);
        if group.is_empty() {
            self.by_prefix.remove(prefix);
            if let Some(n) = self.lengths.get_mut(&prefix.len()) {
                *n -= 1;
                if *n == 0 {
                    self.lengths.remove(&prefix.len());
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_prefix.values().map(Vec::len).sum()
    }
}

/// Shared by the writer (which publishes) and `watch` (which subscribes).
pub struct Hub {
    slots: Mutex<Slots>,
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
            slots: Mutex::new(Slots::default()),
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
        slots.add(Slot {
            prefix: prefix.to_string(),
            tx,
            cut_off: cut_off.clone(),
        });
        Subscription { rx, cut_off, from }
    }

    /// Delivers committed events, in revision order, to every matching watcher.
    pub fn publish(&self, events: &[Arc<Event>]) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut lengths = Vec::new();
        for event in events {
            let key = event.kv.key.as_str();
            lengths.clear();
            lengths.extend(slots.lengths.range(..=key.len()).map(|(len, _)| *len));
            for &len in &lengths {
                let Some(prefix) = key.get(..len) else {
                    continue;
                };
                slots.retain(prefix, |slot| match slot.tx.try_send(event.clone()) {
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
                });
            }
            self.published.store(event.revision, Ordering::Release);
        }
    }

    /// Watchers registered and not yet found closed.
    #[cfg(test)]
    fn watchers(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{EventKind, KeyValue};

    fn event(key: &str, revision: Revision) -> Arc<Event> {
        Arc::new(Event {
            kind: EventKind::Put,
            revision,
            kv: KeyValue {
                key: key.to_string(),
                value: bytes::Bytes::from_static(b"{}"),
                create_revision: revision,
                mod_revision: revision,
            },
            prev: None,
        })
    }

    fn received(sub: &mut Subscription) -> Vec<String> {
        let mut keys = Vec::new();
        while let Ok(e) = sub.rx.try_recv() {
            keys.push(e.kv.key.clone());
        }
        keys
    }

    #[test]
    fn events_reach_exactly_the_watchers_whose_prefix_they_match() {
        let hub = Hub::new(0, 16);
        let mut all = hub.subscribe("/registry/");
        let mut works = hub.subscribe("/registry/works/");
        let mut ns1 = hub.subscribe("/registry/works/ns1/");
        let mut ns10 = hub.subscribe("/registry/works/ns10/");
        let mut one = hub.subscribe("/registry/works/ns1/a");
        let mut other = hub.subscribe("/registry/leases/");
        hub.publish(&[
            event("/registry/works/ns1/a", 1),
            event("/registry/works/ns10/b", 2),
            event("/registry/works/ns1/ab", 3),
        ]);
        assert_eq!(
            received(&mut all),
            [
                "/registry/works/ns1/a",
                "/registry/works/ns10/b",
                "/registry/works/ns1/ab"
            ]
        );
        assert_eq!(received(&mut works).len(), 3);
        assert_eq!(
            received(&mut ns1),
            ["/registry/works/ns1/a", "/registry/works/ns1/ab"]
        );
        assert_eq!(received(&mut ns10), ["/registry/works/ns10/b"]);
        // A prefix, not a name: "a" also matches "ab", as etcd's prefix watches do.
        assert_eq!(
            received(&mut one),
            ["/registry/works/ns1/a", "/registry/works/ns1/ab"]
        );
        assert!(received(&mut other).is_empty());
        assert_eq!(hub.published.load(Ordering::Acquire), 3);
    }

    #[test]
    fn closed_and_lagging_watchers_are_dropped() {
        let hub = Hub::new(0, 1);
        let gone = hub.subscribe("/a/");
        let slow = hub.subscribe("/a/");
        let idle = hub.subscribe("/never/");
        drop(gone);
        drop(idle);
        hub.publish(&[event("/a/x", 1), event("/a/y", 2)]);
        // The slow one took one event, was full at the second and was cut off.
        assert!(slow.cut_off.lagged.load(Ordering::Acquire));
        assert_eq!(hub.watchers(), 1, "only the closed idle watcher is left");
        // Closed watchers of prefixes without events go at the next sweep.
        let _keep: Vec<Subscription> = (0..SWEEP_EVERY).map(|_| hub.subscribe("/b/")).collect();
        assert_eq!(hub.watchers(), SWEEP_EVERY);
        let slots = hub.slots.lock().expect("lock");
        assert_eq!(slots.lengths.get(&"/never/".len()), None);
        assert_eq!(slots.lengths.get(&"/b/".len()), Some(&1));
    }
}
