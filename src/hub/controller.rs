//! The controller machinery every hub controller runs on: a keyed work queue (a key is
//! never reconciled twice at once, and a key added while it is being reconciled runs again
//! afterwards), workers that call a reconcile function, and feeds that list-and-watch one
//! kind and turn each change into queue keys.
//!
//! Reconcilers read the current state from the registry every time, so a lost event costs
//! at most one resync period, never correctness. The queue itself never loses a key: a lock
//! poisoned by a panic elsewhere is recovered (every change to the state is one call that
//! cannot leave it half done).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::api::Kind;
use crate::api::status::Status;
use crate::registry::{Filter, Registry};
use crate::storage::ListOptions;

/// What a reconcile asks for next: nothing, or another run after a delay.
pub type Requeue = Option<Duration>;

/// A reconcile function: `key → future of the outcome`.
pub type ReconcileFn = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Requeue, Status>> + Send>> + Send + Sync,
>;

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    active: HashSet<String>,
    dirty: HashSet<String>,
    /// Keys added with a delay: when each is due (one entry per key, the earliest) ...
    due_at: HashMap<String, Instant>,
    /// ... and the same entries in due order, for the one timer task.
    timers: BTreeSet<(Instant, String)>,
}

/// A deduplicating queue of keys.
#[derive(Clone, Default)]
pub struct Queue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    /// Woken when the last key waiting or running is done.
    drained: Arc<Notify>,
    /// `workqueue_depth` of the controller running this queue, set by [`run`].
    depth: Arc<std::sync::OnceLock<prometheus_client::metrics::gauge::Gauge>>,
    /// Woken when a delayed key becomes due earlier than every other.
    timers_changed: Arc<Notify>,
    /// Whether the timer task of delayed keys runs (started by the first [`Queue::add_after`]).
    timer_started: Arc<AtomicBool>,
}

/// Locks `m`, recovering the guard of a poisoned lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    /// Adds a key unless it is already waiting; a key being reconciled runs once more.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut state = lock(&self.state);
        if state.active.contains(&key) {
            state.dirty.insert(key);
            return;
        }
        if state.queued.insert(key.clone()) {
            state.queue.push_back(key);
            self.report_depth(&state);
            drop(state);
            self.notify.notify_one();
        }
    }

    fn report_depth(&self, state: &State) {
        if let Some(gauge) = self.depth.get() {
            gauge.set(i64::try_from(state.queue.len()).unwrap_or(i64::MAX));
        }
    }

    /// Adds a key after `delay`. A key already waiting for its delay keeps the earlier of
    /// the two times (reconcilers ask again when they still need to), so a key that is
    /// requeued on every change has one timer, not one per change. All delayed keys of a
    /// queue share one timer task.
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        let at = Instant::now() + delay;
        let earliest = {
            let mut state = lock(&self.state);
            match state.due_at.get(&key) {
                Some(&current) if current <= at => return,
                Some(&current) => {
                    state.timers.remove(&(current, key.clone()));
                }
                None => {}
            }
            state.due_at.insert(key.clone(), at);
            state.timers.insert((at, key));
            state.timers.first().is_some_and(|(first, _)| *first == at)
        };
        if !self.timer_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run_timers());
        } else if earliest {
            self.timers_changed.notify_one();
        }
    }

    /// Moves delayed keys into the queue as they become due, forever.
    async fn run_timers(self) {
        loop {
            let changed = self.timers_changed.notified();
            let (due, next) = {
                let mut state = lock(&self.state);
                let now = Instant::now();
                let mut due = Vec::new();
                while state.timers.first().is_some_and(|(at, _)| *at <= now)
                    && let Some((_, key)) = state.timers.pop_first()
                {
                    state.due_at.remove(&key);
                    due.push(key);
                }
                (due, state.timers.first().map(|(at, _)| *at))
            };
            for key in due {
                self.add(key);
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Number of keys waiting (not counting those being reconciled).
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// True when no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns once no key is waiting or being reconciled.
    pub async fn idle(&self) {
        loop {
            let drained = self.drained.notified();
            {
                let state = lock(&self.state);
                if state.queue.is_empty() && state.active.is_empty() {
                    return;
                }
            }
            drained.await;
        }
    }

    async fn next(&self) -> String {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = lock(&self.state);
                if let Some(key) = state.queue.pop_front() {
                    self.report_depth(&state);
                    state.queued.remove(&key);
                    state.active.insert(key.clone());
                    if !state.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    fn done(&self, key: &str) {
        let (again, drained) = {
            let mut state = lock(&self.state);
            state.active.remove(key);
            let again = state.dirty.remove(key);
            (
                again,
                !again && state.queue.is_empty() && state.active.is_empty(),
            )
        };
        if again {
            self.add(key.to_string());
        }
        if drained {
            self.drained.notify_waiters();
        }
    }
}

/// Starts `workers` tasks reconciling keys from `queue`. Errors are logged and retried with
/// a growing delay (per key, capped at 30 s).
pub fn run(name: &'static str, queue: Queue, workers: usize, reconcile: ReconcileFn) {
    let failures: Arc<Mutex<std::collections::HashMap<String, u32>>> = Arc::default();
    let labels = crate::metrics::QueueLabels { name: name.into() };
    let gauge = crate::metrics::get()
        .queue_depth
        .get_or_create(&labels)
        .clone();
    gauge.set(i64::try_from(queue.len()).unwrap_or(i64::MAX));
    let _ = queue.depth.set(gauge);
    for _ in 0..workers.max(1) {
        let (queue, reconcile, failures) = (queue.clone(), reconcile.clone(), failures.clone());
        tokio::spawn(async move {
            let labels = crate::metrics::QueueLabels { name: name.into() };
            let m = crate::metrics::get();
            loop {
                let key = queue.next().await;
                let started = std::time::Instant::now();
                let outcome = reconcile(key.clone()).await;
                m.reconcile_duration
                    .get_or_create(&labels)
                    .observe(started.elapsed().as_secs_f64());
                queue.done(&key);
                match outcome {
                    Ok(requeue) => {
                        lock(&failures).remove(&key);
                        if let Some(delay) = requeue {
                            queue.add_after(key, delay);
                        }
                    }
                    Err(e) => {
                        m.reconcile_errors.get_or_create(&labels).inc();
                        let attempt = {
                            let mut f = lock(&failures);
                            let n = f.entry(key.clone()).or_insert(0);
                            *n = n.saturating_add(1);
                            *n
                        };
                        let delay = Duration::from_millis((100u64 << attempt.min(9)).min(30_000));
                        if e.reason == "Conflict" {
                            tracing::debug!(controller = name, key, "conflict; retrying");
                        } else {
                            tracing::warn!(controller = name, key, error = %e.message, "reconcile failed; retrying");
                        }
                        queue.add_after(key, delay);
                    }
                }
            }
        });
    }
}

/// Maps an object of a watched kind to the queue keys it affects.
pub type KeysOf = Arc<dyn Fn(&Value) -> Vec<String> + Send + Sync>;

/// Lists and watches `kind` (in `namespace`, or everywhere) and adds the keys of every
/// object seen to `queue`, forever: a failed list is retried, a broken watch relists. A
/// store that cannot be listed (say, an undecodable object) degrades the controller, it
/// does not stop the hub.
///
/// `keys_of` is shown each object's `apiVersion`, `kind` and `metadata` only: most keys
/// are names, namespaces, labels or owners, and decoding whole objects for them cost
/// every watching controller a full parse of every change. [`feed_objects`] shows whole
/// objects.
pub fn feed(
    registry: &Registry,
    kind: Arc<Kind>,
    namespace: Option<String>,
    filter: Filter,
    queue: Queue,
    keys_of: KeysOf,
) {
    feed_shaped(registry, kind, namespace, filter, queue, keys_of, true);
}

/// [`feed`] whose `keys_of` reads more than the metadata.
pub fn feed_objects(
    registry: &Registry,
    kind: Arc<Kind>,
    namespace: Option<String>,
    filter: Filter,
    queue: Queue,
    keys_of: KeysOf,
) {
    feed_shaped(registry, kind, namespace, filter, queue, keys_of, false);
}

fn feed_shaped(
    registry: &Registry,
    kind: Arc<Kind>,
    namespace: Option<String>,
    filter: Filter,
    queue: Queue,
    keys_of: KeysOf,
    metadata_only: bool,
) {
    let registry = registry.clone();
    let keys_of: KeysOf = if metadata_only {
        Arc::new(move |o: &Value| keys_of(&metadata_of(o)))
    } else {
        keys_of
    };
    tokio::spawn(async move {
        loop {
            let revision = match list_into(
                &registry,
                &kind,
                namespace.as_deref(),
                &filter,
                &queue,
                &keys_of,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(kind = %kind.kind, error = %e.message, "controller list failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let (ns, filter) = (namespace.as_deref(), filter.clone());
            let watched = if metadata_only {
                registry
                    .watch_metadata(kind.clone(), ns, revision, filter)
                    .await
                    .map(StreamExt::boxed)
            } else {
                registry
                    .watch(kind.clone(), ns, revision, filter)
                    .await
                    .map(StreamExt::boxed)
            };
            match watched {
                Ok(mut events) => {
                    while let Some(event) = events.next().await {
                        match event {
                            Ok(event) => {
                                for key in keys_of(&event.object) {
                                    queue.add(key);
                                }
                            }
                            Err(e) => {
                                tracing::debug!(kind = %kind.kind, error = %e.message, "watch ended; relisting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(kind = %kind.kind, error = %e.message, "watch failed"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// What a metadata-only feed shows of an object (a metadata watch's events already are
/// this; listed objects are cut down to it, so both look the same to `keys_of`).
fn metadata_of(o: &Value) -> std::borrow::Cow<'_, Value> {
    let Some(map) = o.as_object() else {
        return std::borrow::Cow::Borrowed(o);
    };
    if map
        .keys()
        .all(|k| matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
    {
        return std::borrow::Cow::Borrowed(o);
    }
    let kept = map
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    std::borrow::Cow::Owned(Value::Object(kept))
}

/// Lists every page and queues the keys; returns the list's revision.
async fn list_into(
    registry: &Registry,
    kind: &Kind,
    namespace: Option<&str>,
    filter: &Filter,
    queue: &Queue,
    keys_of: &KeysOf,
) -> Result<u64, Status> {
    let list = registry
        .list_filtered(kind, namespace, ListOptions::default(), filter)
        .await?;
    if let Some(items) = list.get("items").and_then(Value::as_array) {
        for item in items {
            for key in keys_of(item) {
                queue.add(key);
            }
        }
    }
    Ok(list
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0))
}

/// The key of an object: its name (cluster-scoped kinds).
pub fn by_name() -> KeysOf {
    Arc::new(|o: &Value| {
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(|n| vec![n.to_string()])
            .unwrap_or_default()
    })
}

/// The key of an object: its namespace (objects that stand for their namespace's owner,
/// such as a cluster's lease).
pub fn by_namespace() -> KeysOf {
    Arc::new(|o: &Value| {
        o.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(|n| vec![n.to_string()])
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_dedupes_and_reruns_keys_added_while_active() {
        let q = Queue::default();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let first = q.next().await;
        assert_eq!(first, "a");
        q.add("a"); // while active: marked dirty, not queued twice
        assert_eq!(q.len(), 1);
        q.done("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, "b");
        assert_eq!(q.next().await, "a");
    }

    /// Waits (bounded) for the next key; `None` if none comes within `within`.
    async fn next_within(q: &Queue, within: Duration) -> Option<String> {
        tokio::time::timeout(within, q.next()).await.ok()
    }

    #[tokio::test]
    async fn delayed_keys_arrive_once_at_their_earliest_time() {
        let q = Queue::default();
        q.add_after("late-then-early", Duration::from_secs(3600));
        q.add_after("late-then-early", Duration::from_millis(20));
        q.add_after("early-then-late", Duration::from_millis(30));
        q.add_after("early-then-late", Duration::from_secs(3600));
        let mut got = vec![
            next_within(&q, Duration::from_secs(10)).await,
            next_within(&q, Duration::from_secs(10)).await,
        ];
        got.sort();
        assert_eq!(
            got,
            [
                Some("early-then-late".into()),
                Some("late-then-early".into())
            ]
        );
        let state = lock(&q.state);
        assert!(
            state.timers.is_empty() && state.due_at.is_empty(),
            "each key had one timer, the earliest"
        );
    }

    #[tokio::test]
    async fn a_sooner_delay_wakes_the_timer_waiting_for_a_later_one() {
        let q = Queue::default();
        q.add_after("hour", Duration::from_secs(3600));
        // The timer task now sleeps until the hour; this key must not wait for it.
        tokio::task::yield_now().await;
        q.add_after("soon", Duration::from_millis(10));
        assert_eq!(
            next_within(&q, Duration::from_secs(10)).await.as_deref(),
            Some("soon")
        );
        assert_eq!(lock(&q.state).timers.len(), 1, "the hour is still waiting");
    }

    #[tokio::test]
    async fn idle_waits_for_waiting_and_running_keys() {
        use futures::FutureExt;
        let q = Queue::default();
        assert!(q.idle().now_or_never().is_some(), "an empty queue is idle");
        q.add("a");
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.idle().await })
        };
        assert!(q.idle().now_or_never().is_none(), "a key waits");
        let key = q.next().await;
        assert!(q.idle().now_or_never().is_none(), "a key runs");
        q.done(&key);
        waiter
            .await
            .expect("the waiter is woken when the last key is done");
        assert!(q.idle().now_or_never().is_some());
    }

    #[tokio::test]
    async fn the_depth_gauge_follows_adds_and_takes() {
        let q = Queue::default();
        let gauge = prometheus_client::metrics::gauge::Gauge::default();
        let _ = q.depth.set(gauge.clone());
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(gauge.get(), 2, "a waiting key is counted once");
        let _ = q.next().await;
        assert_eq!(gauge.get(), 1);
    }

    #[tokio::test]
    async fn a_poisoned_lock_loses_no_key() {
        let q = Queue::default();
        q.add("a");
        let first = q.next().await;
        let state = q.state.clone();
        let _ = std::thread::spawn(move || {
            let _guard = state.lock();
            panic!("poison the queue's lock");
        })
        .join();
        assert!(q.state.is_poisoned());
        // Waiting, while active (dirty) and after: every key is kept and runs.
        q.add("b");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 1);
        q.done(&first);
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, "b");
        assert_eq!(q.next().await, "a");
        assert!(q.is_empty());
    }
}
