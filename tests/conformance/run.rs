//! Running a case's steps against one server and recording what it answered: one
//! observation per step, normalized once the case is over (names generated anywhere in the
//! case are known by then).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::case::{self, Case, Compare, Identity, Reduce, Step};
use super::normalize::Context;

/// `kubectl get`'s Accept header.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// Aggregated discovery, as client-go asks for it.
pub const DISCOVERY: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
/// The User-Agent of raw requests: the default field manager is its product name.
const USER_AGENT: &str = "conformance/v1.0.0 (differential suite)";

/// One of the two servers under comparison.
pub struct Server {
    /// `peer` or `hub`.
    pub name: &'static str,
    /// `https://host:port`.
    pub base: String,
    pub admin_user: String,
    pub admin: reqwest::blocking::Client,
    /// Async clients for watches, read on [`RUNTIME`] by tasks aborted when their case
    /// ends (a blocking reader could not be stopped, and open streams would pile up on
    /// the shared HTTP/2 connection until they hit its stream limit).
    pub streaming: reqwest::Client,
    pub streaming_anonymous: reqwest::Client,
    pub anonymous: reqwest::blocking::Client,
    pub kubeconfig: PathBuf,
    pub kubectl_cache: PathBuf,
    pub kubectl: PathBuf,
}

impl Server {
    /// Clients trusting `ca`, the admin ones presenting `cert` and `key`.
    pub fn new(
        name: &'static str,
        base: String,
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
        kubeconfig: PathBuf,
        kubectl: PathBuf,
    ) -> Server {
        let ca = std::fs::read(ca).expect("ca");
        let mut identity = std::fs::read(cert).expect("admin cert");
        identity.extend(std::fs::read(key).expect("admin key"));
        let build = |admin: bool, timeout: Option<Duration>| {
            let mut b = reqwest::blocking::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
                .user_agent(USER_AGENT)
                .timeout(timeout);
            if admin {
                b = b.identity(reqwest::Identity::from_pem(&identity).expect("identity"));
            }
            b.build().expect("client")
        };
        let build_async = |admin: bool| {
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
                .user_agent(USER_AGENT);
            if admin {
                b = b.identity(reqwest::Identity::from_pem(&identity).expect("identity"));
            }
            b.build().expect("client")
        };
        let kubectl_cache = kubeconfig.with_extension("conformance-cache");
        Server {
            name,
            base,
            admin_user: String::new(),
            admin: build(true, Some(Duration::from_secs(60))),
            streaming: build_async(true),
            streaming_anonymous: build_async(false),
            anonymous: build(false, Some(Duration::from_secs(60))),
            kubeconfig,
            kubectl_cache,
            kubectl,
        }
    }

    /// `host:port`.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("https://")
    }

    /// An admin request outside any case (setup): method, path, JSON body.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self
            .admin
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/json");
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        match r.send() {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(e) => (0, Value::String(format!("{e}"))),
        }
    }
}

/// How an observation is normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// JSON throughout.
    Json,
    /// `stdout`/`stderr`/`lines` hold kubectl's text.
    Text,
}

/// What one step observed on one server.
#[derive(Debug, Clone)]
pub struct Observation {
    /// `<step index>:<step kind>`.
    pub label: String,
    pub value: Value,
    pub shape: Shape,
    /// Reductions applied when comparing (they need both servers' answers).
    pub reduce: Vec<Reduce>,
    /// A setup step failed: always a difference.
    pub failed_setup: bool,
}

/// Everything one server answered in one case, normalized.
pub struct Transcript {
    pub observations: Vec<Observation>,
}

/// The runtime watch streams are read on.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

struct Running {
    watches: HashMap<String, mpsc::Receiver<Option<Value>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    kubectls: HashMap<String, (Child, mpsc::Receiver<String>)>,
}

/// Whether a case needs its namespace: explicitly, or when a step names `${ns}` as a
/// namespace (in a path, a body's `metadata.namespace` or kubectl's `-n`).
pub fn needs_namespace(case: &Case) -> bool {
    if let Some(explicit) = case.namespace {
        return explicit;
    }
    let text = serde_json::to_string(&case.steps).unwrap_or_default();
    [
        "namespaces/${ns}/",
        "\"namespace\":\"${ns}\"",
        "\"-n\",\"${ns}\"",
        "\"--namespace=${ns}\"",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Runs `case` on `server` with namespace (and name prefix) `ns`.
pub fn run_case(server: &Server, case: &Case, ns: &str) -> Transcript {
    let mut vars = BTreeMap::from([
        ("ns".to_string(), ns.to_string()),
        ("case".to_string(), case.name.clone()),
    ]);
    let mut running = Running {
        watches: HashMap::new(),
        readers: Vec::new(),
        kubectls: HashMap::new(),
    };
    let mut observations = Vec::new();
    if needs_namespace(case) {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let (status, answer) = server.request("POST", "/api/v1/namespaces", Some(&body));
        if status != 201 {
            observations.push(Observation {
                label: "namespace".into(),
                value: json!({"server": server.name, "status": status, "body": answer}),
                shape: Shape::Json,
                reduce: Vec::new(),
                failed_setup: true,
            });
        }
    }
    for (i, step) in case.steps.iter().enumerate() {
        let template = serde_json::to_value(step).unwrap_or(Value::Null);
        let kind = template
            .as_object()
            .and_then(|o| o.keys().next())
            .cloned()
            .unwrap_or_default();
        let label = format!("{i}:{kind}");
        let observation = match case::substitute(&template, &vars)
            .and_then(|v| serde_json::from_value::<Step>(v).map_err(|e| e.to_string()))
        {
            Ok(step) => execute(server, &step, &mut vars, &mut running),
            Err(e) => Observed::json(json!({"error": e})),
        };
        observations.push(Observation {
            label,
            value: observation.value,
            shape: observation.shape,
            reduce: observation.reduce,
            failed_setup: observation.failed_setup,
        });
    }
    for reader in running.readers.drain(..) {
        reader.abort();
    }
    for (_, (mut child, _)) in running.kubectls.drain() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Normalize with what the whole case taught about generated names.
    let mut ctx = Context {
        address: server.address().to_string(),
        admin: server.admin_user.clone(),
        generated: Vec::new(),
    };
    for o in &observations {
        ctx.learn_all(&o.value);
    }
    for o in &mut observations {
        o.value = normalize(&ctx, &o.value, o.shape);
    }
    Transcript { observations }
}

fn normalize(ctx: &Context, v: &Value, shape: Shape) -> Value {
    if shape == Shape::Json {
        return ctx.value(v);
    }
    let mut out = serde_json::Map::new();
    for (k, x) in v.as_object().into_iter().flatten() {
        let normalized = match (k.as_str(), x) {
            ("stdout" | "stderr", Value::String(text)) => {
                match serde_json::from_str::<Value>(text) {
                    Ok(parsed) if parsed.is_object() => ctx.value(&parsed),
                    _ => Value::Array(ctx.lines(text)),
                }
            }
            ("lines", Value::Array(lines)) => Value::Array(
                lines
                    .iter()
                    .flat_map(|l| ctx.lines(l.as_str().unwrap_or_default()))
                    .collect(),
            ),
            _ => ctx.value(x),
        };
        out.insert(k.clone(), normalized);
    }
    Value::Object(out)
}

struct Observed {
    value: Value,
    shape: Shape,
    reduce: Vec<Reduce>,
    failed_setup: bool,
}

impl Observed {
    fn json(value: Value) -> Observed {
        Observed {
            value,
            shape: Shape::Json,
            reduce: Vec::new(),
            failed_setup: false,
        }
    }
}

fn execute(
    server: &Server,
    step: &Step,
    vars: &mut BTreeMap<String, String>,
    running: &mut Running,
) -> Observed {
    match step {
        Step::Http(h) => {
            let answer = send(
                server,
                &h.method,
                &h.path,
                &h.query,
                h.body.as_ref(),
                h.raw.as_deref(),
                h.content_type.as_deref(),
                h.accept.as_deref(),
                &h.headers,
                &h.identity,
            );
            let (status, content_type, warnings, body) = match answer {
                Ok(a) => a,
                Err(e) => return Observed::json(json!({"error": e})),
            };
            for (var, pointer) in &h.capture {
                let value = body.pointer(pointer).map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                match value {
                    Some(v) => vars.insert(var.clone(), v),
                    None => vars.remove(var),
                };
            }
            let body = match &h.reduce[..] {
                [] => body,
                reductions => select_only(body, reductions),
            };
            let value = json!({"status": status, "contentType": content_type, "warnings": warnings, "body": body});
            compared(
                server,
                h.compare,
                value,
                status < 400,
                Shape::Json,
                h.reduce.clone(),
            )
        }
        Step::Watch(w) => {
            let mut query = w.query.clone();
            if !w.path.contains("timeoutSeconds") {
                query
                    .entry("timeoutSeconds".into())
                    .or_insert_with(|| "60".into());
            }
            let url = url(server, &w.path, &query);
            let client = if w.identity.anonymous || w.identity.bearer.is_some() {
                &server.streaming_anonymous
            } else {
                &server.streaming
            };
            let mut request = client
                .get(&url)
                .header("Accept", accept(w.accept.as_deref()));
            for (k, v) in identity_headers(&w.identity) {
                request = request.header(k, v);
            }
            let response = match RUNTIME.block_on(request.send()) {
                Ok(r) => r,
                Err(e) => return Observed::json(json!({"error": e.to_string()})),
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map_or(Value::Null, |v| Value::String(v.to_string()));
            if status != 200 {
                let text = RUNTIME.block_on(response.text()).unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                return Observed::json(
                    json!({"status": status, "contentType": content_type, "body": body}),
                );
            }
            let (tx, rx) = mpsc::channel();
            let reader = RUNTIME.spawn(async move {
                let mut response = response;
                let mut buffer = Vec::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    buffer.extend_from_slice(&chunk);
                    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line).trim().to_string();
                        if line.is_empty() {
                            continue;
                        }
                        let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                        if tx.send(Some(v)).is_err() {
                            return;
                        }
                    }
                }
                let _ = tx.send(None);
            });
            running.readers.push(reader);
            running.watches.insert(w.id.clone(), rx);
            Observed::json(json!({"status": status, "contentType": content_type}))
        }
        Step::Events(e) => {
            let Some(rx) = running.watches.get(&e.watch) else {
                return Observed::json(
                    json!({"error": format!("watch {} is not running", e.watch)}),
                );
            };
            let deadline = Instant::now() + Duration::from_secs(e.timeout);
            let mut events = Vec::new();
            let mut closed = false;
            let mut timed_out = false;
            while e.until_closed || events.len() < e.count {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(Some(event)) => {
                        let t = event["type"].as_str().unwrap_or_default().to_string();
                        if e.types.is_empty() || e.types.contains(&t) {
                            events.push(event);
                        }
                    }
                    Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        closed = true;
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        timed_out = true;
                        break;
                    }
                }
            }
            let mut value = json!({"events": events});
            if e.until_closed {
                value["closed"] = json!(closed);
            }
            if timed_out {
                value["timedOut"] = json!(true);
            }
            let ok = !timed_out;
            compared(server, e.compare, value, ok, Shape::Json, Vec::new())
        }
        Step::Kubectl(k) => {
            let (exit, stdout, stderr) = kubectl(server, &k.args, k.stdin.as_deref(), k.timeout);
            let value = json!({"exit": exit, "stdout": stdout, "stderr": stderr});
            compared(server, k.compare, value, exit == 0, Shape::Text, Vec::new())
        }
        Step::KubectlWatch(k) => {
            let mut cmd = kubectl_command(server, &k.args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return Observed::json(json!({"error": e.to_string()})),
            };
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            running.kubectls.insert(k.id.clone(), (child, rx));
            Observed::json(json!({"started": true}))
        }
        Step::Lines(l) => {
            let Some((_, rx)) = running.kubectls.get(&l.watch) else {
                return Observed::json(
                    json!({"error": format!("kubectl {} is not running", l.watch)}),
                );
            };
            let deadline = Instant::now() + Duration::from_secs(l.timeout);
            let mut lines = Vec::new();
            let mut timed_out = false;
            while lines.len() < l.count {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(line) => lines.push(Value::String(line)),
                    Err(_) => {
                        timed_out = true;
                        break;
                    }
                }
            }
            let mut value = json!({"lines": lines});
            if timed_out {
                value["timedOut"] = json!(true);
            }
            Observed {
                value,
                shape: Shape::Text,
                reduce: Vec::new(),
                failed_setup: false,
            }
        }
        Step::WaitFor(w) => {
            let want = w.status.unwrap_or(200);
            let deadline = Instant::now() + Duration::from_secs(w.timeout);
            loop {
                let (status, body) = server.request(&w.method, &w.path, w.body.as_ref());
                let holds = status == want
                    && match (&w.pointer, &w.equals) {
                        (Some(p), Some(v)) => body.pointer(p) == Some(v),
                        (Some(p), None) => body.pointer(p).is_some(),
                        _ => true,
                    };
                if holds {
                    return Observed::json(json!({"satisfied": true}));
                }
                if Instant::now() > deadline {
                    return Observed::json(
                        json!({"satisfied": false, "server": server.name, "status": status, "body": body}),
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The recorded value for a step's comparison mode.
fn compared(
    server: &Server,
    compare: Compare,
    value: Value,
    ok: bool,
    shape: Shape,
    reduce: Vec<Reduce>,
) -> Observed {
    let (value, failed_setup) = match compare {
        Compare::All => (value, false),
        Compare::Status => (
            json!({"status": value.get("status").or(value.get("exit")).cloned()}),
            false,
        ),
        Compare::None if ok => (json!({"ok": true}), false),
        Compare::None => (json!({"setupFailed": server.name, "answer": value}), true),
    };
    Observed {
        value,
        shape,
        reduce,
        failed_setup,
    }
}

/// `Select` reductions need only this server's body; the others wait for the comparison.
fn select_only(body: Value, reductions: &[Reduce]) -> Value {
    let mut body = body;
    for r in reductions {
        if let Reduce::Sort { at, key } = r {
            let paths: Vec<String> = find(&body, at).into_iter().map(|(p, _)| p).collect();
            for path in paths {
                if let Some(Value::Array(items)) = body.pointer_mut(&path) {
                    items.sort_by_key(|i| i.pointer(key).map(Value::to_string).unwrap_or_default());
                }
            }
        }
        if let Reduce::Select(pointers) = r {
            let mut out = serde_json::Map::new();
            for p in pointers {
                for (path, v) in find(&body, p) {
                    out.insert(path, v.clone());
                }
            }
            body = Value::Object(out);
        }
    }
    body
}

/// Every (concrete pointer, value) matching a pointer whose `*` segments stand for any key
/// or index.
pub fn find<'a>(v: &'a Value, pointer: &str) -> Vec<(String, &'a Value)> {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut out = Vec::new();
    walk(v, &segments, String::new(), &mut out);
    out
}

fn walk<'a>(v: &'a Value, rest: &[String], at: String, out: &mut Vec<(String, &'a Value)>) {
    let Some((first, tail)) = rest.split_first() else {
        out.push((at, v));
        return;
    };
    let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
    match v {
        Value::Object(o) if first == "*" => {
            for (k, x) in o {
                walk(x, tail, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) if first == "*" => {
            for (i, x) in a.iter().enumerate() {
                walk(x, tail, format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            if let Some(x) = o.get(first.as_str()) {
                walk(x, tail, format!("{at}/{}", escape(first)), out);
            }
        }
        Value::Array(a) => {
            if let Some(x) = first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                walk(x, tail, format!("{at}/{first}"), out);
            }
        }
        _ => {}
    }
}

/// Applies the reductions that depend on the hub's answer to the peer's.
pub fn reduce_pair(peer: &mut Value, hub: &Value, reductions: &[Reduce]) {
    for r in reductions {
        match r {
            Reduce::KeepItems { at, key } => {
                let hub_keys: Vec<Value> = find(hub, &format!("/body{at}"))
                    .into_iter()
                    .filter_map(|(_, v)| v.as_array())
                    .flatten()
                    .filter_map(|item| item.pointer(key).cloned())
                    .collect();
                let paths: Vec<String> = find(peer, &format!("/body{at}"))
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
                for path in paths {
                    if let Some(Value::Array(items)) = peer.pointer_mut(&path) {
                        items
                            .retain(|item| item.pointer(key).is_some_and(|k| hub_keys.contains(k)));
                    }
                }
            }
            Reduce::KeepKeys { at } => {
                let hub_keys: Vec<String> = find(hub, &format!("/body{at}"))
                    .into_iter()
                    .filter_map(|(_, v)| v.as_object())
                    .flat_map(|o| o.keys().cloned())
                    .collect();
                let paths: Vec<String> = find(peer, &format!("/body{at}"))
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
                for path in paths {
                    if let Some(Value::Object(o)) = peer.pointer_mut(&path) {
                        o.retain(|k, _| hub_keys.contains(k));
                    }
                }
            }
            Reduce::Select(_) | Reduce::Sort { .. } => {}
        }
    }
}

fn url(server: &Server, path: &str, query: &BTreeMap<String, String>) -> String {
    let mut url = format!("{}{path}", server.base);
    if !query.is_empty() {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&encoded);
    }
    url
}

/// Impersonation and bearer headers of an identity.
fn identity_headers(identity: &Identity) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(token) = &identity.bearer {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
    if let Some(user) = &identity.as_user {
        headers.push(("Impersonate-User", user.clone()));
    }
    for g in &identity.as_groups {
        headers.push(("Impersonate-Group", g.clone()));
    }
    headers
}

fn authorize(
    server: &Server,
    admin: &reqwest::blocking::Client,
    identity: &Identity,
    method: &str,
    url: &str,
) -> reqwest::blocking::RequestBuilder {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let client = if identity.anonymous || identity.bearer.is_some() {
        &server.anonymous
    } else {
        admin
    };
    let mut r = client.request(method, url);
    for (k, v) in identity_headers(identity) {
        r = r.header(k, v);
    }
    r
}

fn accept(shortcut: Option<&str>) -> &str {
    match shortcut {
        None => "application/json",
        Some("table") => TABLE,
        Some("metadata") => {
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        }
        Some("metadata-list") => {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        }
        Some("discovery") => DISCOVERY,
        Some(other) => other,
    }
}

fn content_type<'a>(shortcut: Option<&'a str>, method: &str) -> &'a str {
    match shortcut {
        None if method == "PATCH" => "application/merge-patch+json",
        None => "application/json",
        Some("merge") => "application/merge-patch+json",
        Some("json") => "application/json-patch+json",
        Some("strategic") => "application/strategic-merge-patch+json",
        Some("apply") => "application/apply-patch+yaml",
        Some("yaml") => "application/yaml",
        Some(other) => other,
    }
}

fn header(response: &reqwest::blocking::Response, name: &str) -> Value {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| Value::String(v.to_string()))
}

/// One request; returns status, content type, warnings and the body (JSON when it parses).
#[allow(clippy::too_many_arguments)]
fn send(
    server: &Server,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    body: Option<&Value>,
    raw: Option<&str>,
    content_type_shortcut: Option<&str>,
    accept_shortcut: Option<&str>,
    headers: &BTreeMap<String, String>,
    identity: &Identity,
) -> Result<(u16, Value, Vec<String>, Value), String> {
    let url = url(server, path, query);
    let mut r = authorize(server, &server.admin, identity, method, &url)
        .header("Accept", accept(accept_shortcut));
    let payload = match (body, raw) {
        (Some(b), _) => Some(b.to_string()),
        (None, Some(raw)) => Some(raw.to_string()),
        (None, None) => None,
    };
    if let Some(payload) = payload {
        r = r
            .header("Content-Type", content_type(content_type_shortcut, method))
            .body(payload);
    }
    for (k, v) in headers {
        r = r.header(k.as_str(), v.as_str());
    }
    let response = r.send().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let mut bytes = Vec::new();
    let mut response = response;
    response
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, content_type, warnings, body))
}

fn kubectl_command(server: &Server, args: &[String]) -> Command {
    let mut cmd = Command::new(&server.kubectl);
    cmd.arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .arg("--cache-dir")
        .arg(&server.kubectl_cache)
        .args(args);
    cmd
}

/// Runs kubectl; kills it after `timeout` seconds (exit code -1 then).
fn kubectl(
    server: &Server,
    args: &[String],
    stdin: Option<&str>,
    timeout: u64,
) -> (i32, String, String) {
    let mut cmd = kubectl_command(server, args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (-1, String::new(), format!("cannot run kubectl: {e}")),
    };
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        let _ = input.write_all(text.as_bytes());
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(timeout)) {
        Ok(Ok(out)) => (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Ok(Err(e)) => (-1, String::new(), e.to_string()),
        Err(_) => {
            // Ours to stop: the kubectl this step started.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            (
                -1,
                String::new(),
                format!("kubectl timed out after {timeout} s"),
            )
        }
    }
}
