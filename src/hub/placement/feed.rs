//! List-then-watch of one kind into the placement state: the list replaces what the state
//! held of the kind, then each watch event is applied as it comes; a broken watch lists
//! again. The first list of every kind is awaited ([`Synced`]) before anything is
//! scheduled, so no placement is ever scheduled on a partial view of the hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Notify;

use crate::api::Kind;
use crate::registry::{Filter, Registry};
use crate::storage::ListOptions;

/// What a feed delivers.
pub enum Change {
    /// An object was created or changed.
    Upsert(Value),
    /// An object was deleted (its last state).
    Delete(Value),
    /// A (re)list: exactly these objects exist. `first` is the feed's first list.
    Relist { items: Vec<Value>, first: bool },
}

/// Counts down the feeds that have not listed yet.
pub struct Synced {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Synced {
    pub fn new(feeds: usize) -> Arc<Synced> {
        Arc::new(Synced {
            remaining: AtomicUsize::new(feeds),
            notify: Notify::new(),
        })
    }

    fn done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.notify_waiters();
        }
    }

    /// Waits until every feed has listed once.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.remaining.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Tells the watch which changes (by storage key and revision) the state holds already,
/// so they are not decoded.
pub type Held = Arc<dyn Fn(&str, u64) -> bool + Send + Sync>;

/// Lists and watches `kind` forever, handing every change to `apply` except those `held`
/// says the state has.
pub fn run(
    registry: &Registry,
    kind: Arc<Kind>,
    apply: Arc<dyn Fn(Change) + Send + Sync>,
    held: Option<Held>,
    synced: Arc<Synced>,
) {
    let registry = registry.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let list = match registry
                .list_filtered(&kind, None, ListOptions::default(), &Filter::default())
                .await
            {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(kind = %kind.kind, error = %e.message, "placement list failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let revision = list
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse().ok())
                .unwrap_or(0);
            let items = match list.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            let count = items.len();
            apply(Change::Relist { items, first });
            tracing::debug!(kind = %kind.kind, count, first, "placement state listed");
            if first {
                first = false;
                synced.done();
            }
            let held = held.clone();
            let skip = move |key: &str, revision| held.as_ref().is_some_and(|h| h(key, revision));
            match registry
                .watch_skipping(kind.clone(), None, revision, Filter::default(), skip)
                .await
            {
                Ok(mut events) => {
                    while let Some(event) = events.next().await {
                        match event {
                            Ok(e) if e.type_ == "DELETED" => apply(Change::Delete(e.object)),
                            Ok(e) if e.type_ == "ADDED" || e.type_ == "MODIFIED" => {
                                apply(Change::Upsert(e.object))
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(kind = %kind.kind, error = %e.message, "placement watch ended; relisting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(kind = %kind.kind, error = %e.message, "placement watch failed")
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
