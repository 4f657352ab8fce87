//! `events.k8s.io/v1` Events about placements, as upstream's `placement-controller`
//! records them (regarding the Placement, related to a PlacementDecision). They are
//! best effort: queued to a background writer and dropped when it falls behind, so
//! recording never delays scheduling. The writer also gives way to scheduling: while
//! placements are being scheduled it writes a few events at a time between pauses, so
//! the decisions the events report are written first.
//!
//! Repeats form a series, as client-go's events recorder (which upstream uses) does: the
//! first event of a kind is created, the second turns it into a series (`series.count`
//! 2), later ones only count in memory; a series is written again when it has been quiet
//! for [`FINISH`] (its final count) or every [`REFRESH`] while it goes on. Two
//! differences, both deliberate: the key leaves out the placement's resourceVersion
//! (client-go's includes it, and every status write changes it, so upstream's series
//! rarely form and each rescheduling writes new events), and a series write carries the
//! newest note (client-go keeps the first), so the scores it shows are current.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use tokio::sync::mpsc;

use super::super::controller::Queue;
use super::super::objects::Objects;
use crate::api::ocm::Placement;
use crate::registry::Target;

/// The reporting controller, as upstream names it.
pub const REPORTING_CONTROLLER: &str = "placement-controller";
/// Events waiting to be written before new ones are dropped.
const BACKLOG: usize = 4096;
/// While placements are being scheduled: events written between pauses, and the longest
/// pause (the writer goes on at once when scheduling is done).
const BURST: usize = 32;
const PAUSE: Duration = Duration::from_millis(200);
/// The longest event note (kube's limit is 1 KiB).
const NOTE_LIMIT: usize = 1024;
/// A series quiet this long is finished (client-go's `finishTime`).
const FINISH: Duration = Duration::from_secs(6 * 60);
/// A series going on is written this often (client-go's `refreshTime`).
const REFRESH: Duration = Duration::from_secs(30 * 60);
/// How often finished and due series are looked for.
const SWEEP: Duration = Duration::from_secs(60);

/// Makes event names unique within a nanosecond.
static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What makes two events one series: everything but the note and the time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    type_: &'static str,
    reason: &'static str,
    action: &'static str,
    namespace: Option<String>,
    placement: String,
    uid: Option<String>,
    decision: Option<String>,
}

/// One recorded occurrence, as queued to the writer.
struct Occurrence {
    key: Key,
    /// The placement's resourceVersion, for the `regarding` reference of a new event.
    resource_version: Option<String>,
    note: String,
    at: Timestamp,
}

/// A series (or a single event) the writer has written.
struct Series {
    /// The stored event's name.
    name: String,
    resource_version: Option<String>,
    first: Timestamp,
    /// When it was seen last, and how often.
    last: Timestamp,
    count: i32,
    /// The newest note, when the stored event does not show the newest count yet.
    pending: Option<String>,
    seen: Instant,
    written: Instant,
}

/// Records events in the background.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Occurrence>,
}

impl Recorder {
    /// Starts the writer; `scheduling` is the scheduler's queue, which it gives way to.
    pub fn start(objects: Objects, scheduling: Queue) -> Recorder {
        let (tx, rx) = mpsc::channel::<Occurrence>(BACKLOG);
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let writer = Writer {
            objects,
            scheduling,
            instance: format!("{REPORTING_CONTROLLER}-{host}"),
            series: HashMap::new(),
            burst: 0,
        };
        tokio::spawn(writer.run(rx));
        Recorder { tx }
    }

    /// Records an event about `placement`, related to PlacementDecision `decision`.
    pub fn record(
        &self,
        placement: &Placement,
        decision: Option<&str>,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        let mut note = note;
        if note.len() > NOTE_LIMIT {
            let mut cut = NOTE_LIMIT;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let occurrence = Occurrence {
            key: Key {
                type_,
                reason,
                action,
                namespace: placement.namespace(),
                placement: placement.name_any(),
                uid: placement.metadata.uid.clone(),
                decision: decision.map(str::to_string),
            },
            resource_version: placement.metadata.resource_version.clone(),
            note,
            at: Timestamp::now(),
        };
        if self.tx.try_send(occurrence).is_err() {
            tracing::debug!("placement event backlog full; an event was dropped");
        }
    }
}

/// The background writer and its series.
struct Writer {
    objects: Objects,
    scheduling: Queue,
    instance: String,
    series: HashMap<Key, Series>,
    /// Writes since the last pause.
    burst: usize,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Occurrence>) {
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                occurrence = rx.recv() => match occurrence {
                    Some(o) => self.occurred(o).await,
                    None => return,
                },
                _ = sweep.tick() => self.sweep(Instant::now()).await,
            }
        }
    }

    /// Creates the first event of a key, turns the second into a series, counts the rest.
    async fn occurred(&mut self, o: Occurrence) {
        let now = Instant::now();
        if let Some(s) = self.series.get_mut(&o.key) {
            s.count = s.count.saturating_add(1);
            s.last = o.at;
            s.seen = now;
            if s.count > 2 {
                s.pending = Some(o.note);
                return;
            }
            let (key, note) = (o.key, o.note);
            self.write(&key, note).await;
            return;
        }
        let name = format!(
            "{}.{:x}{:04x}",
            o.key.placement,
            o.at.as_nanosecond(),
            SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff
        );
        let series = Series {
            name,
            resource_version: o.resource_version,
            first: o.at,
            last: o.at,
            count: 1,
            pending: None,
            seen: now,
            written: now,
        };
        let event = self.event(&o.key, &series, o.note);
        self.give_way().await;
        match self.objects.create_as(&event).await {
            Ok(_) => {
                self.series.insert(o.key, series);
            }
            Err(e) => tracing::debug!(error = %e.message, "recording a placement event failed"),
        }
    }

    /// Writes series `key` with `note` and its current count.
    async fn write(&mut self, key: &Key, note: String) {
        let Some(s) = self.series.get(key) else {
            return;
        };
        let event = self.event(key, s, note);
        self.give_way().await;
        // Events may be replaced without a resourceVersion, and a PUT of an expired one
        // creates it again.
        match self.objects.update_as(&event, Target::Main).await {
            Ok(_) => {
                if let Some(s) = self.series.get_mut(key) {
                    s.written = Instant::now();
                    s.pending = None;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e.message, "updating a placement event series failed")
            }
        }
    }

    /// Writes the final count of series quiet for [`FINISH`] and forgets them (and single
    /// events as old), and writes the count of series going on for [`REFRESH`].
    async fn sweep(&mut self, now: Instant) {
        let mut due = Vec::new();
        self.series.retain(|key, s| {
            let finished = now.duration_since(s.seen) >= FINISH;
            let refresh = now.duration_since(s.written) >= REFRESH;
            if let Some(note) = &s.pending
                && (finished || refresh)
            {
                due.push((key.clone(), note.clone(), finished));
            }
            !finished || s.pending.is_some()
        });
        for (key, note, finished) in due {
            self.write(&key, note).await;
            if finished {
                self.series.remove(&key);
            }
        }
    }

    /// Lets scheduling go first: after [`BURST`] writes, waits until the scheduler's
    /// queue is idle or [`PAUSE`] has passed.
    async fn give_way(&mut self) {
        if self.burst == BURST {
            let _ = tokio::time::timeout(PAUSE, self.scheduling.idle()).await;
            self.burst = 0;
        }
        self.burst += 1;
    }

    /// The stored form of series `s` of `key` with `note`.
    fn event(&self, key: &Key, s: &Series, note: String) -> Event {
        let reference =
            |kind: &str, name: &str, uid: Option<String>, rv: Option<String>| ObjectReference {
                api_version: Some("cluster.open-cluster-management.io/v1beta1".into()),
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: key.namespace.clone(),
                uid,
                resource_version: rv,
                field_path: None,
            };
        Event {
            metadata: ObjectMeta {
                name: Some(s.name.clone()),
                namespace: key.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(s.first)),
            series: (s.count > 1).then_some(EventSeries {
                count: s.count,
                last_observed_time: MicroTime(s.last),
            }),
            action: Some(key.action.into()),
            reason: Some(key.reason.into()),
            note: Some(note),
            type_: Some(key.type_.into()),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            regarding: Some(reference(
                "Placement",
                &key.placement,
                key.uid.clone(),
                s.resource_version.clone(),
            )),
            related: key
                .decision
                .as_deref()
                .map(|d| reference("PlacementDecision", d, None, None)),
            ..Event::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::registry::Registry;
    use crate::storage::rocks::{RocksOptions, RocksStore};

    fn occurrence(reason: &'static str, decision: &str, note: &str) -> Occurrence {
        Occurrence {
            key: Key {
                type_: "Normal",
                reason,
                action: "DecisionUpdated",
                namespace: Some("default".into()),
                placement: "p".into(),
                uid: Some("u1".into()),
                decision: Some(decision.into()),
            },
            resource_version: Some("7".into()),
            note: note.into(),
            at: Timestamp::now(),
        }
    }

    #[tokio::test]
    async fn repeats_form_a_series_written_when_it_starts_and_when_it_finishes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            RocksStore::open(&dir.path().join("db"), &RocksOptions::default()).expect("open");
        let registry = Registry::new(store as Arc<dyn crate::storage::Store>);
        let objects = Objects::new(registry);
        let mut ns = k8s_openapi::api::core::v1::Namespace::default();
        ns.metadata.name = Some("default".into());
        objects.create_as(&ns).await.expect("namespace");
        let mut writer = Writer {
            objects: objects.clone(),
            scheduling: Queue::default(),
            instance: "placement-controller-test".into(),
            series: HashMap::new(),
            burst: 0,
        };
        let stored = || async {
            let mut events: Vec<Event> = objects.list_as(Some("default")).await.expect("list");
            events.sort_by(|a, b| a.note.cmp(&b.note));
            events
        };

        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-1", "one"))
            .await;
        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-2", "other"))
            .await;
        let events = stored().await;
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.series.is_none()));
        let first = &events[0];
        assert_eq!(first.note.as_deref(), Some("one"));
        assert_eq!(
            first.reporting_instance.as_deref(),
            Some("placement-controller-test")
        );
        let regarding = first.regarding.as_ref().expect("regarding");
        assert_eq!(regarding.name.as_deref(), Some("p"));
        assert_eq!(regarding.resource_version.as_deref(), Some("7"));
        assert_eq!(
            first.related.as_ref().and_then(|r| r.name.as_deref()),
            Some("p-decision-1")
        );

        // The second occurrence makes the first a series of two, with the newest note.
        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-1", "two"))
            .await;
        let events = stored().await;
        assert_eq!(events.len(), 2);
        let series = events.iter().find(|e| e.note.as_deref() == Some("two"));
        let series = series.expect("the series").series.as_ref().expect("series");
        assert_eq!(series.count, 2);

        // Later ones are counted, not written, until the series has been quiet.
        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-1", "three"))
            .await;
        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-1", "four"))
            .await;
        let events = stored().await;
        assert!(events.iter().any(|e| e.note.as_deref() == Some("two")));
        writer.sweep(Instant::now()).await;
        assert!(
            stored()
                .await
                .iter()
                .any(|e| e.note.as_deref() == Some("two"))
        );

        writer.sweep(Instant::now() + FINISH).await;
        let events = stored().await;
        assert_eq!(events.len(), 2);
        let last = events.iter().find(|e| e.note.as_deref() == Some("four"));
        let last = last
            .expect("the final count")
            .series
            .as_ref()
            .expect("series");
        assert_eq!(last.count, 4);
        // Both are forgotten: the next occurrence starts a new event.
        assert!(writer.series.is_empty());
        writer
            .occurred(occurrence("DecisionUpdate", "p-decision-1", "five"))
            .await;
        assert_eq!(stored().await.len(), 3);
    }
}
