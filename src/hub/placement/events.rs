//! `events.k8s.io/v1` Events about placements, as upstream's `placement-controller`
//! records them (regarding the Placement, related to a PlacementDecision). They are
//! best effort: queued to a background writer and dropped when it falls behind, so
//! recording never delays scheduling. The writer also gives way to scheduling: while
//! placements are being scheduled it writes a few events at a time between pauses, so
//! the decisions the events report are written first.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::ResourceExt;
use tokio::sync::mpsc;

use super::super::controller::Queue;
use super::super::objects::Objects;
use crate::api::ocm::Placement;

/// The reporting controller, as upstream names it.
pub const REPORTING_CONTROLLER: &str = "placement-controller";
/// Events waiting to be written before new ones are dropped.
const BACKLOG: usize = 4096;
/// While placements are being scheduled: events written between pauses, and the longest
/// pause (the writer goes on at once when scheduling is done).
const BURST: usize = 32;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(200);
/// The longest event note (kube's limit is 1 KiB).
const NOTE_LIMIT: usize = 1024;

/// Makes event names unique within a nanosecond.
static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records events in the background.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Event>,
    instance: String,
}

impl Recorder {
    /// Starts the writer; `scheduling` is the scheduler's queue, which it gives way to.
    pub fn start(objects: Objects, scheduling: Queue) -> Recorder {
        let (tx, mut rx) = mpsc::channel::<Event>(BACKLOG);
        tokio::spawn(async move {
            let mut burst = 0;
            while let Some(event) = rx.recv().await {
                if burst == BURST {
                    let _ = tokio::time::timeout(PAUSE, scheduling.idle()).await;
                    burst = 0;
                }
                burst += 1;
                if let Err(e) = objects.create_as(&event).await {
                    tracing::debug!(error = %e.message, "recording a placement event failed");
                }
            }
        });
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Recorder {
            tx,
            instance: format!("{REPORTING_CONTROLLER}-{host}"),
        }
    }

    /// Records an event about `placement`, related to PlacementDecision `decision`.
    pub fn record(
        &self,
        placement: &Placement,
        decision: Option<&str>,
        type_: &str,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let now = k8s_openapi::jiff::Timestamp::now();
        let name = placement.name_any();
        let namespace = placement.namespace();
        let mut note = note;
        if note.len() > NOTE_LIMIT {
            let mut cut = NOTE_LIMIT;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let reference =
            |kind: &str, name: &str, uid: Option<String>, rv: Option<String>| ObjectReference {
                api_version: Some("cluster.open-cluster-management.io/v1beta1".into()),
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: namespace.clone(),
                uid,
                resource_version: rv,
                field_path: None,
            };
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{name}.{:x}{:04x}",
                    now.as_nanosecond(),
                    SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff
                )),
                namespace: namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(action.into()),
            reason: Some(reason.into()),
            note: Some(note),
            type_: Some(type_.into()),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            regarding: Some(reference(
                "Placement",
                &name,
                placement.metadata.uid.clone(),
                placement.metadata.resource_version.clone(),
            )),
            related: decision.map(|d| reference("PlacementDecision", d, None, None)),
            ..Event::default()
        };
        if self.tx.try_send(event).is_err() {
            tracing::debug!("placement event backlog full; an event was dropped");
        }
    }
}
