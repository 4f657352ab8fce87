//! Watches in Kubernetes terms: store events of one kind (and namespace) become
//! `ADDED` / `MODIFIED` / `DELETED` events of decoded objects, with selector transitions
//! (an object leaving a selector is `DELETED` for that watcher, one entering it `ADDED`).

use std::sync::Arc;

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::selector::{FieldSelector, LabelSelector};
use super::{Registry, decode};
use crate::api::Kind;
use crate::api::status::Status;
use crate::storage::{Event, EventKind, Revision, StoreError};

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
    fn is_everything(&self) -> bool {
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
        let prefix = kind.namespace_prefix(namespace);
        let events = self
            .store
            .watch(&prefix, after)
            .await
            .map_err(|e| Status::from_store(e, &kind, ""))?;
        Ok(events.filter_map(move |item| {
            let out = match item {
                Ok(event) => translate(&kind, &filter, &event).map(Ok),
                Err(e) => Some(Err(store_error(&kind, e))),
            };
            futures::future::ready(out)
        }))
    }
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
