//! `/healthz`, `/livez` and `/readyz`, with kube-apiserver's behaviour: `ok` when every
//! check passes, `?verbose` lists each check as `[+]name ok` / `[-]name failed`,
//! `?exclude=name` skips one, `/readyz/<name>` asks for one, and a failing check gives 500.
//!
//! Liveness only says the process serves requests. Readiness (and healthz) also needs every
//! registered check (storage, controllers, ...) to have reported ready, and turns false
//! again when shutdown begins, so load balancers stop sending traffic first.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One named readiness condition, flipped by whoever owns it.
#[derive(Clone, Debug)]
pub struct Check {
    name: &'static str,
    ok: Arc<AtomicBool>,
}

impl Check {
    pub fn set(&self, ok: bool) {
        self.ok.store(ok, Ordering::Release);
    }
    pub fn is_ok(&self) -> bool {
        self.ok.load(Ordering::Acquire)
    }
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The set of readiness checks of a server.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<std::sync::Mutex<Vec<Check>>>,
}

impl Readiness {
    /// Registers a check that starts out failing and returns the handle to flip it.
    pub fn register(&self, name: &'static str) -> Check {
        let check = Check {
            name,
            ok: Arc::new(AtomicBool::new(false)),
        };
        if let Ok(mut checks) = self.checks.lock() {
            checks.push(check.clone());
        }
        check
    }

    fn snapshot(&self) -> Vec<Check> {
        self.checks.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// True when every check passes.
    pub fn is_ready(&self) -> bool {
        self.snapshot().iter().all(Check::is_ok)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Live,
    Ready,
}

pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/livez/{check}", get(livez_one))
        .route("/readyz", get(readyz))
        .route("/readyz/{check}", get(readyz_one))
        .route("/healthz", get(readyz))
        .route("/healthz/{check}", get(readyz_one))
        .with_state(readiness)
}

async fn livez(State(r): State<Readiness>, Query(q): Query<HashMap<String, String>>) -> Response {
    report(&r, Endpoint::Live, &q, None)
}
async fn livez_one(
    State(r): State<Readiness>,
    Path(check): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    report(&r, Endpoint::Live, &q, Some(&check))
}
async fn readyz(State(r): State<Readiness>, Query(q): Query<HashMap<String, String>>) -> Response {
    report(&r, Endpoint::Ready, &q, None)
}
async fn readyz_one(
    State(r): State<Readiness>,
    Path(check): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    report(&r, Endpoint::Ready, &q, Some(&check))
}

fn report(
    readiness: &Readiness,
    endpoint: Endpoint,
    query: &HashMap<String, String>,
    only: Option<&str>,
) -> Response {
    // `ping` is always there; liveness has nothing else.
    let mut results: Vec<(&str, bool)> = vec![("ping", true)];
    if endpoint == Endpoint::Ready {
        let checks = readiness.snapshot();
        results.extend(checks.iter().map(|c| (c.name(), c.is_ok())));
    }
    let excluded: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k.as_str() == "exclude")
        .map(|(_, v)| v.as_str())
        .collect();
    results.retain(|(name, _)| !excluded.contains(name));
    if let Some(name) = only {
        results.retain(|(n, _)| *n == name);
        if results.is_empty() {
            return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
        }
    }
    let all_ok = results.iter().all(|(_, ok)| *ok);
    let verbose = query.contains_key("verbose") || !all_ok;
    let kind = match endpoint {
        Endpoint::Live => "livez",
        Endpoint::Ready => "readyz",
    };
    let body = if verbose {
        let mut text = String::new();
        for (name, ok) in &results {
            if *ok {
                text.push_str(&format!("[+]{name} ok\n"));
            } else {
                text.push_str(&format!("[-]{name} failed: reason withheld\n"));
            }
        }
        for name in &excluded {
            text.push_str(&format!("[+]{name} excluded: ok\n"));
        }
        if all_ok {
            text.push_str(&format!("{kind} check passed\n"));
        } else {
            text.push_str(&format!("{kind} check failed\n"));
        }
        text
    } else {
        "ok".to_string()
    };
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        code,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: Response) -> (StatusCode, String) {
        let code = r.status();
        let bytes = futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
            .expect("body");
        (code, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[test]
    fn readiness_follows_checks() {
        let r = Readiness::default();
        let storage = r.register("storage");
        let q = HashMap::new();
        let (code, text) = body(report(&r, Endpoint::Ready, &q, None));
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(text.contains("[-]storage failed"), "{text}");
        assert_eq!(body(report(&r, Endpoint::Live, &q, None)).0, StatusCode::OK);
        storage.set(true);
        assert_eq!(
            body(report(&r, Endpoint::Ready, &q, None)),
            (StatusCode::OK, "ok".into())
        );
        let mut verbose = HashMap::new();
        verbose.insert("verbose".to_string(), String::new());
        let (_, text) = body(report(&r, Endpoint::Ready, &verbose, None));
        assert!(text.contains("[+]storage ok") && text.ends_with("readyz check passed\n"));
        assert_eq!(
            body(report(&r, Endpoint::Ready, &q, Some("nope"))).0,
            StatusCode::NOT_FOUND
        );
        storage.set(false);
        let mut exclude = HashMap::new();
        exclude.insert("exclude".to_string(), "storage".to_string());
        assert_eq!(
            body(report(&r, Endpoint::Ready, &exclude, None)).0,
            StatusCode::OK
        );
    }
}
