//! Watch over HTTP, as kube-apiserver streams it: one compact JSON event per line;
//! initial `ADDED` events for `resourceVersion` "" or "0" and for `sendInitialEvents=true`
//! (then a BOOKMARK annotated `k8s.io/initial-events-end`); periodic bookmarks when asked;
//! `timeoutSeconds`; an in-stream `ERROR` event with a 410 `Status` when history is gone
//! (HTTP status stays 200, which is what makes clients relist).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::Kind;
use crate::api::status::Status;
use crate::registry::watch::WatchLine;
use crate::registry::{Filter, Registry, WatchEvent};
use crate::storage::ListOptions;

/// Bookmarks are sent this often when `allowWatchBookmarks` is set.
const BOOKMARK_PERIOD: Duration = Duration::from_secs(60);
/// Default lifetime of a watch without `timeoutSeconds` (kube picks 30 to 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v == "true" || v == "1")
}

fn bookmark(kind: &Kind, revision: u64, initial_end: bool) -> WatchEvent {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    WatchEvent {
        type_: "BOOKMARK",
        object: json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": metadata}),
        revision,
    }
}

fn error_event(status: &Status) -> WatchEvent {
    WatchEvent {
        type_: "ERROR",
        object: serde_json::to_value(status).unwrap_or(Value::Null),
        revision: 0,
    }
}

/// Serves `?watch=true` on a collection.
pub async fn serve(
    registry: &Registry,
    kind: Arc<Kind>,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
    filter: Filter,
    representation: super::table::Representation,
) -> Result<Response, Status> {
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let send_initial = flag(query, "sendInitialEvents");
    let bookmarks = flag(query, "allowWatchBookmarks");
    let timeout = match query.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| Status::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => DEFAULT_TIMEOUT,
    };
    let legacy_initial = rv.is_empty() || rv == "0";
    let mut initial: Vec<WatchEvent> = Vec::new();
    let start = if send_initial || legacy_initial {
        let list = registry
            .list_filtered(&kind, namespace, ListOptions::default(), &filter)
            .await?;
        let revision: u64 = list["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        for object in list["items"].as_array().cloned().unwrap_or_default() {
            initial.push(WatchEvent {
                type_: "ADDED",
                object,
                revision,
            });
        }
        // The end marker needs bookmarks (kube's isListWatchRequest).
        if send_initial && bookmarks {
            initial.push(bookmark(&kind, revision, true));
        }
        revision
    } else {
        let revision = rv
            .parse()
            .map_err(|_| Status::unparsable_resource_version(rv))?;
        registry.wait_for_revision(revision).await?;
        revision
    };
    // One representer for the initial and the live events (a Table's columns come once).
    let reduce = Arc::new(representer(
        &kind,
        representation,
        super::table::include(query),
    ));
    let initial = initial.into_iter().map(|e| reduce(e)).collect();
    // Whole objects without selectors: lines straight from the stored bytes.
    let events = if filter.is_everything() && representation == super::table::Representation::Full {
        registry
            .watch_lines(kind.clone(), namespace, start)
            .await
            .map(StreamExt::boxed)
    } else {
        let reduce = reduce.clone();
        registry
            .watch(kind.clone(), namespace, start, filter)
            .await
            .map(|events| {
                events
                    .map(move |item| item.map(|e| WatchLine::of(&reduce(e))))
                    .boxed()
            })
    };
    let events = match events {
        Ok(events) => events,
        // History already gone: still a 200 stream, with one ERROR event.
        Err(status) if status.code == 410 => futures::stream::iter([Err(status)]).boxed(),
        Err(status) => return Err(status),
    };
    let body = event_stream(kind, initial, events, start, bookmarks, timeout);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// How each event's object is represented, as the client negotiated: metadata watchers
/// (client-go metadata informers) get `PartialObjectMetadata`; Table watchers (`kubectl
/// get -w`) a one-row Table per event, bookmarks included, with the column definitions in
/// the first event only (`null` afterwards), as kube-apiserver's watch encoder does. ERROR
/// events keep their `Status`.
fn representer(
    kind: &Arc<Kind>,
    representation: super::table::Representation,
    include: super::table::Include,
) -> impl Fn(WatchEvent) -> WatchEvent + Send + Sync + 'static {
    use super::table::Representation;
    use std::sync::atomic::{AtomicBool, Ordering};
    let kind = kind.clone();
    let headers_sent = AtomicBool::new(false);
    move |mut e: WatchEvent| {
        if e.type_ == "ERROR" {
            return e;
        }
        match representation {
            Representation::Metadata if e.type_ != "BOOKMARK" => {
                e.object = super::table::partial(&e.object);
            }
            Representation::Table => {
                let metadata =
                    json!({"resourceVersion": e.object.pointer("/metadata/resourceVersion")});
                let mut table =
                    super::table::table(&kind, std::slice::from_ref(&e.object), metadata, include);
                if headers_sent.swap(true, Ordering::Relaxed) {
                    table["columnDefinitions"] = Value::Null;
                }
                e.object = table;
            }
            _ => {}
        }
        e
    }
}

fn event_stream(
    kind: Arc<Kind>,
    initial: Vec<WatchEvent>,
    events: futures::stream::BoxStream<'static, Result<WatchLine, Status>>,
    start: u64,
    bookmarks: bool,
    timeout: Duration,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        events: futures::stream::BoxStream<'static, Result<WatchLine, Status>>,
        last: u64,
        deadline: tokio::time::Instant,
        ticker: tokio::time::Interval,
        done: bool,
        /// Counts the watch in `apiserver_longrunning_requests` while the stream lives.
        _open: crate::metrics::GaugeGuard,
    }
    let mut ticker = tokio::time::interval(BOOKMARK_PERIOD);
    ticker.reset();
    let open = crate::metrics::get()
        .watches
        .get_or_create(&crate::metrics::VerbLabels {
            verb: "WATCH".into(),
            group: kind.group.clone(),
            resource: kind.plural.clone(),
        })
        .clone();
    let state = State {
        events,
        last: start,
        deadline: tokio::time::Instant::now() + timeout,
        ticker,
        done: false,
        _open: crate::metrics::GaugeGuard::hold(open),
    };
    let initial = futures::stream::iter(initial.into_iter().map(|e| Ok(WatchLine::of(&e).bytes)));
    let live = futures::stream::unfold(state, move |mut s| {
        let kind = kind.clone();
        async move {
            if s.done {
                return None;
            }
            tokio::select! {
                item = s.events.next() => match item {
                    Some(Ok(event)) => {
                        s.last = s.last.max(event.revision);
                        Some((Ok(event.bytes), s))
                    }
                    Some(Err(status)) => {
                        s.done = true;
                        Some((Ok(WatchLine::of(&error_event(&status)).bytes), s))
                    }
                    None => None,
                },
                _ = s.ticker.tick(), if bookmarks => {
                    let event = bookmark(&kind, s.last, false);
                    Some((Ok(WatchLine::of(&event).bytes), s))
                }
                _ = tokio::time::sleep_until(s.deadline) => None,
            }
        }
    });
    initial.chain(live)
}
