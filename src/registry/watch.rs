//! Watches in Kubernetes terms: store events of one kind (and namespace) become
//! `ADDED` / `MODIFIED` / `DELETED` events of decoded objects, with selector transitions
//! (an object leaving a selector is `DELETED` for that watcher, one entering it `ADDED`).
//! [`Registry::watch_lines`] gives an unfiltered watcher its events already as kube's
//! stream lines, spliced from the stored bytes without decoding them.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::selector::{FieldSelector, LabelSelector};
use super::{Registry, Served, decode, served_bytes, stored_as_served};
use crate::api::Kind;
use crate::api::status::Status;
use crate::storage::{Event, EventKind, KeyValue, Revision, StoreError};

/// One event as a watcher sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub type_: &'static str,
    pub object: Value,
    /// The store revision of the event (for bookmarks: the revision they mark).
    pub revision: Revision,
}

/// Which objects a watcher wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// True when no selector is given: every object matches.
    pub fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

impl Registry {
    /// Events of `kind` (in `namespace`, or all) after revision `after`. The stream ends
    /// with an `Err` when it cannot continue (compacted history, cut off as too slow).
    pub async fn watch(
        &self,
        kind: Arc<Kind>,
        namespace: Option<&str>,
        after: Revision,
        filter: Filter,
    ) -> Result<impl Stream<Item = Result<WatchEvent, Status>> + Send + 'static, Status> {
        self.store_events(kind, namespace, after, move |kind, event| {
            translate(kind, &filter, event)
        })
        .await
    }

    /// [`Registry::watch`] without the changes `skip(key, revision)` turns down, before
    /// they are decoded: a watcher that already holds an object at that revision (its own
    /// write) need not read it again. Deletions are always shown.
    pub async fn watch_skipping(
        &self,
        kind: Arc<Kind>,
        namespace: Option<&str>,
        after: Revision,
        filter: Filter,
        skip: impl Fn(&str, Revision) -> bool + Send + 'static,
    ) -> Result<impl Stream<Item = Result<WatchEvent, Status>> + Send + 'static, Status> {
        self.store_events(kind, namespace, after, move |kind, event| {
            if event.kind == EventKind::Put && skip(&event.kv.key, event.revision) {
                return None;
            }
            translate(kind, &filter, event)
        })
        .await
    }

    /// [`Registry::watch`] showing only each object's `apiVersion`, `kind` and `metadata`
    /// (what kube's metadata-only watches show), for watchers that key on names,
    /// namespaces, labels or owners: the rest of the stored object is skipped while
    /// parsing, never built. A field selector may read the rest, so with one the objects
    /// are decoded whole (and shown whole).
    pub async fn watch_metadata(
        &self,
        kind: Arc<Kind>,
        namespace: Option<&str>,
        after: Revision,
        filter: Filter,
    ) -> Result<impl Stream<Item = Result<WatchEvent, Status>> + Send + 'static, Status> {
        let read = if filter.fields.is_empty() {
            decode_metadata
        } else {
            decode
        };
        self.store_events(kind, namespace, after, move |kind, event| {
            translate_with(kind, &filter, event, read)
        })
        .await
    }

    /// The store's events of `kind` after `after`, each turned into what a watcher is
    /// shown (`None`: nothing); store errors end the stream as kube's.
    async fn store_events<T: Send + 'static>(
        &self,
        kind: Arc<Kind>,
        namespace: Option<&str>,
        after: Revision,
        show: impl Fn(&Kind, &Event) -> Option<T> + Send + 'static,
    ) -> Result<impl Stream<Item = Result<T, Status>> + Send + 'static, Status> {
        let prefix = kind.namespace_prefix(namespace);
        let events = self
            .store
            .watch(&prefix, after)
            .await
            .map_err(|e| Status::from_store(e, &kind, ""))?;
        Ok(events.filter_map(move |item| {
            let out = match item {
                Ok(event) => show(&kind, &event).map(Ok),
                Err(e) => Some(Err(store_error(&kind, e))),
            };
            futures::future::ready(out)
        }))
    }
}

/// The `apiVersion`, `kind` and `metadata` of a stored object. Conversion can move fields
/// into or out of the metadata (annotations), so an object stored at another version than
/// the one served is decoded whole and converted first.
fn decode_metadata(kind: &Kind, kv: &KeyValue) -> Result<Value, Status> {
    #[derive(serde::Deserialize)]
    struct Partial {
        #[serde(default)]
        metadata: Value,
    }
    if !stored_as_served(kind, &kv.value) {
        let mut whole = decode(kind, kv)?;
        let metadata = whole.get_mut("metadata").map(Value::take);
        return Ok(json!({"apiVersion": kind.api_version(), "kind": kind.kind,
            "metadata": metadata.unwrap_or(Value::Null)}));
    }
    let partial: Partial = serde_json::from_slice(&kv.value).map_err(|e| {
        Status::internal(format!(
            "stored {} at {} is not JSON: {e}",
            kind.kind, kv.key
        ))
    })?;
    Ok(json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": partial.metadata}))
}

/// One event as a line of kube's watch stream: `{"type":…,"object":…}` and a newline.
#[derive(Debug, Clone)]
pub struct WatchLine {
    pub revision: Revision,
    pub bytes: Bytes,
}

impl WatchLine {
    /// The line of a decoded event.
    pub fn of(event: &WatchEvent) -> WatchLine {
        let mut bytes = serde_json::to_vec(&json!({"type": event.type_, "object": event.object}))
            .unwrap_or_default();
        bytes.push(b'\n');
        WatchLine {
            revision: event.revision,
            bytes: Bytes::from(bytes),
        }
    }
}

impl Registry {
    /// [`Registry::watch`] without selectors, as stream lines. Objects stored as they are
    /// served are not decoded: their bytes are copied with the resourceVersion spliced in
    /// (most of an unfiltered watch's cost is otherwise parsing and re-encoding each object
    /// for each watcher).
    pub async fn watch_lines(
        &self,
        kind: Arc<Kind>,
        namespace: Option<&str>,
        after: Revision,
    ) -> Result<impl Stream<Item = Result<WatchLine, Status>> + Send + 'static, Status> {
        let everything = Filter::default();
        self.store_events(kind, namespace, after, move |kind, event| {
            raw_line(kind, event)
                .or_else(|| translate(kind, &everything, event).map(|e| WatchLine::of(&e)))
        })
        .await
    }
}

/// The stream line of an event for an unfiltered watcher, from the stored bytes; `None`
/// when they must be decoded (stored at another version, or not shaped as expected) or
/// the event is not shown (the deletion of an object the watcher never saw).
fn raw_line(kind: &Kind, event: &Event) -> Option<WatchLine> {
    let type_ = match (event.kind, event.prev.is_some()) {
        (EventKind::Delete, true) => "DELETED",
        (EventKind::Delete, false) => return None,
        (EventKind::Put, true) => "MODIFIED",
        (EventKind::Put, false) => "ADDED",
    };
    if !stored_as_served(kind, &event.kv.value) {
        return None;
    }
    let object = served_bytes(&event.kv.value, event.revision, Served::Whole)?;
    let mut bytes = Vec::with_capacity(object.len() + 32);
    bytes.extend_from_slice(b"{\"type\":\"");
    bytes.extend_from_slice(type_.as_bytes());
    bytes.extend_from_slice(b"\",\"object\":");
    bytes.extend_from_slice(&object);
    bytes.extend_from_slice(b"}\n");
    Some(WatchLine {
        revision: event.revision,
        bytes: Bytes::from(bytes),
    })
}

/// Watch-ending store errors become kube's 410 `Expired`, which makes every client relist.
fn store_error(kind: &Kind, e: StoreError) -> Status {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => Status::expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StoreError::WatcherTooSlow { last_revision } => Status::expired(format!(
            "the watch fell behind after resource version {last_revision}; relist"
        )),
        other => Status::from_store(other, kind, ""),
    }
}

fn translate(kind: &Kind, filter: &Filter, event: &Event) -> Option<WatchEvent> {
    translate_with(kind, filter, event, decode)
}

/// What one store event shows a watcher, with objects read by `decode`.
fn translate_with(
    kind: &Kind,
    filter: &Filter,
    event: &Event,
    decode: fn(&Kind, &KeyValue) -> Result<Value, Status>,
) -> Option<WatchEvent> {
    let new = match decode(kind, &event.kv) {
        Ok(v) => v,
        Err(e) => {
            return Some(WatchEvent {
                type_: "ERROR",
                object: serde_json::to_value(&e).unwrap_or(Value::Null),
                revision: event.revision,
            });
        }
    };
    // Without selectors the previous object is only needed to know it existed; decoding
    // it is half the cost of every event for the usual unfiltered watcher.
    let (old, old_matched) = if filter.is_everything() {
        (None, event.prev.is_some())
    } else {
        let old = event.prev.as_ref().and_then(|p| decode(kind, p).ok());
        let matched = old.as_ref().is_some_and(|o| filter.matches(o));
        (old, matched)
    };
    let (type_, new) = match event.kind {
        EventKind::Delete if old_matched => ("DELETED", new),
        EventKind::Delete => return None,
        EventKind::Put => match (old_matched, filter.matches(&new)) {
            (false, true) => ("ADDED", new),
            (true, true) => ("MODIFIED", new),
            // Leaving the selector: the last state this watcher saw matching, at the
            // event's revision (kube's cache watcher).
            (true, false) => ("DELETED", old.unwrap_or(new)),
            (false, false) => return None,
        },
    };
    let mut object = new;
    object["metadata"]["resourceVersion"] = Value::String(event.revision.to_string());
    Some(WatchEvent {
        type_,
        object,
        revision: event.revision,
    })
}
