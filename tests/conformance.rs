//! Differential conformance: the same requests to a real kube-apiserver 1.37 (the kube
//! peer, with the OCM CRDs our hub serves) and to our hub, answers normalized and compared.
//!
//! Cases are data under `tests/conformance/`: `cases/*.yaml` (scenarios), `templates/*.yaml`
//! (scenarios instantiated for every kind of `kinds.yaml` they select), `fixtures/*.yaml`
//! (objects created on both servers first). A difference kept on purpose is listed, with
//! its reason, in `explained.yaml`; any other difference fails the test. The full report
//! (every difference, explained or not) is written to
//! `$CARGO_TARGET_TMPDIR/conformance-report.txt`.
//!
//! `CONFORMANCE_CASES=<glob>` runs only the matching cases; `CONFORMANCE_FULL=1` keeps
//! whole values in the report; `CONFORMANCE_WORKERS=<n>`
//! sets how many cases run at once (default 6); `CONFORMANCE_PEER_DIR=<dir>` uses a
//! `kube-peer up --dir <dir>` that is already running instead of starting one (to iterate
//! on cases quickly; namespaces then get a per-run prefix).

#[path = "common/mod.rs"]
mod common;

#[path = "conformance/case.rs"]
mod case;
#[path = "conformance/diff.rs"]
mod diff;
#[path = "conformance/normalize.rs"]
mod normalize;
#[path = "conformance/run.rs"]
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::kube_peer::{self, KubePeer};
use common::{Hub, wait_until_within};
use diff::{Difference, Explanation};
use run::{Server, Transcript};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The outcome of one case.
struct Outcome {
    name: String,
    ns: String,
    differences: Vec<(Difference, Option<usize>)>,
    took: Duration,
}

#[test]
fn same_answers_as_kube_apiserver() {
    const TEST: &str = "same_answers_as_kube_apiserver";
    if !kube_peer::available(TEST) {
        return;
    }
    let started = Instant::now();
    let kubectl = common::kubectl();
    let reuse = std::env::var_os("CONFORMANCE_PEER_DIR").map(PathBuf::from);
    let peer_thread = std::thread::spawn({
        let reuse = reuse.clone();
        move || match reuse {
            Some(dir) => running_peer(&dir),
            None => {
                let p = KubePeer::shared();
                (p.dir().to_path_buf(), p.url().to_string(), p.kubeconfig())
            }
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    // The API server alone: the real one runs no OCM controllers either (they would add
    // finalizers and labels the peer never sees).
    let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
    hub.wait_ready();
    let (peer_dir, peer_url, peer_kubeconfig) = peer_thread.join().expect("kube peer");
    let boot = started.elapsed();

    let peer_pki = peer_dir.join("pki");
    let mut peer_server = Server::new(
        "peer",
        peer_url,
        &peer_pki.join("ca.crt"),
        &peer_pki.join("admin.crt"),
        &peer_pki.join("admin.key"),
        peer_kubeconfig,
        kubectl.clone(),
    );
    let hub_cert = hub.data_dir.join("cert");
    let mut hub_server = Server::new(
        "hub",
        format!("https://127.0.0.1:{}", hub.port),
        &hub_cert.join("ca.crt"),
        &hub_cert.join("admin.crt"),
        &hub_cert.join("admin.key"),
        hub.kubeconfig(),
        kubectl,
    );
    for server in [&mut peer_server, &mut hub_server] {
        server.admin_user = whoami(server);
    }
    install_ocm_crds(&peer_server);
    let fixtures = case::fixtures(&root());
    for server in [&peer_server, &hub_server] {
        create_fixtures(server, &fixtures);
    }
    let setup = started.elapsed();

    let mut cases = case::load(&root());
    let prefix = match reuse {
        // A reused peer still has the namespaces of earlier runs.
        Some(_) => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
            let tag: String = (0..3)
                .map(|i| digits[(secs / 36u64.pow(i) % 36) as usize] as char)
                .collect();
            format!("c{tag}")
        }
        None => "cf".to_string(),
    };
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    let namespaces: BTreeMap<String, String> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), format!("{prefix}{i:04}")))
        .collect();
    if let Ok(filter) = std::env::var("CONFORMANCE_CASES") {
        cases.retain(|c| diff::glob(&filter, &c.name));
    }
    let explanations: Vec<Explanation> = case::yaml_documents(
        &std::fs::read_to_string(root().join("explained.yaml")).expect("explained.yaml"),
    )
    .expect("explained.yaml")
    .into_iter()
    .flat_map(|doc| match doc {
        Value::Array(entries) => entries,
        other => vec![other],
    })
    .map(|e| serde_json::from_value(e).expect("explained.yaml entry"))
    .collect();

    let workers: usize = std::env::var("CONFORMANCE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(6);
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let ns = &namespaces[&case.name];
                    let case_started = Instant::now();
                    let (on_peer, on_hub) = std::thread::scope(|inner| {
                        let p = inner.spawn(|| run::run_case(&peer_server, case, ns));
                        let h = run::run_case(&hub_server, case, ns);
                        (p.join().expect("peer run"), h)
                    });
                    let differences = compare(&on_peer, &on_hub)
                        .into_iter()
                        .map(|d| {
                            let why = explanations.iter().position(|e| e.covers(&case.name, &d));
                            (d, why)
                        })
                        .collect();
                    outcomes.lock().expect("outcomes").push(Outcome {
                        name: case.name.clone(),
                        ns: ns.clone(),
                        differences,
                        took: case_started.elapsed(),
                    });
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("outcomes");
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    report(&outcomes, &explanations, boot, setup, started.elapsed());
}

/// A kube peer started by hand (`kube-peer up --dir DIR`): its directory, URL and admin
/// kubeconfig.
fn running_peer(dir: &Path) -> (PathBuf, String, PathBuf) {
    let kubeconfig = dir.join("admin.kubeconfig");
    let text = std::fs::read_to_string(&kubeconfig).expect("the peer's admin.kubeconfig");
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server in the kubeconfig")
        .trim()
        .to_string();
    (dir.to_path_buf(), url, kubeconfig)
}

/// The admin's user name on a server (SelfSubjectReview).
fn whoami(server: &Server) -> String {
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let (status, answer) = server.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(&review),
    );
    assert_eq!(status, 201, "{}: SelfSubjectReview: {answer}", server.name);
    answer["status"]["userInfo"]["username"]
        .as_str()
        .expect("username")
        .to_string()
}

/// The OCM CRDs as our hub serves them, on the real server. The three add-on kinds with
/// two versions are stored as v1alpha1 on both; the peer has no conversion webhook, so
/// the cases use v1alpha1, which it then answers as a converting server would.
fn install_ocm_crds(peer: &Server) {
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let mut names = Vec::new();
    for crd in multicluster_controlplane::api::ocm::crds().iter() {
        let body = serde_json::to_value(crd).expect("crd json");
        let (status, answer) = peer.request("POST", path, Some(&body));
        assert!(
            status == 201 || status == 409,
            "installing {:?} on the peer: {status} {answer}",
            crd.metadata.name
        );
        names.push(crd.metadata.name.clone().unwrap_or_default());
    }
    wait_established(peer, &names);
}

/// Creates the fixtures (`path` and `body` each) on a server; CRDs among them must be
/// Established before the cases run.
fn create_fixtures(server: &Server, fixtures: &[Value]) {
    let mut crds = Vec::new();
    for f in fixtures {
        let path = f["path"].as_str().expect("fixture path");
        let (status, answer) = server.request("POST", path, Some(&f["body"]));
        // 409: a reused peer has them from an earlier run.
        assert!(
            status == 201 || status == 409,
            "{}: fixture {path}: {status} {answer}",
            server.name
        );
        if f["body"]["kind"] == "CustomResourceDefinition" {
            crds.push(
                f["body"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    wait_established(server, &crds);
}

fn wait_established(server: &Server, names: &[String]) {
    for name in names {
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
        wait_until_within(
            &format!("{name} Established on {}", server.name),
            120,
            || {
                let (_, crd) = server.request("GET", &path, None);
                crd["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            },
        );
    }
}

/// The differences between two transcripts of the same case.
fn compare(peer: &Transcript, hub: &Transcript) -> Vec<Difference> {
    let mut out = Vec::new();
    let len = peer.observations.len().max(hub.observations.len());
    for i in 0..len {
        let (p, h) = (peer.observations.get(i), hub.observations.get(i));
        let (Some(p), Some(h)) = (p, h) else {
            out.push(Difference {
                path: format!("step {i}"),
                peer: p.map_or(Value::Null, |o| o.value.clone()),
                hub: h.map_or(Value::Null, |o| o.value.clone()),
            });
            continue;
        };
        let mut pv = p.value.clone();
        run::reduce_pair(&mut pv, &h.value, &h.reduce);
        if p.failed_setup || h.failed_setup {
            out.push(Difference {
                path: format!("{}.setup", h.label),
                peer: pv,
                hub: h.value.clone(),
            });
            continue;
        }
        diff::diff(&h.label, &pv, &h.value, &mut out);
    }
    out
}

/// A value for the report, cut at 400 characters unless `CONFORMANCE_FULL` is set.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 400 && std::env::var_os("CONFORMANCE_FULL").is_none() {
        format!(
            "{}…",
            &text[..text.char_indices().nth(400).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// Prints the summary and the unexplained differences, writes the full report, and fails
/// on any unexplained difference.
fn report(
    outcomes: &[Outcome],
    explanations: &[Explanation],
    boot: Duration,
    setup: Duration,
    total: Duration,
) {
    let mut full = String::new();
    let (mut identical, mut explained, mut different) = (0, 0, 0);
    let mut used = vec![false; explanations.len()];
    let mut failures = String::new();
    for o in outcomes {
        for (_, why) in &o.differences {
            if let Some(i) = why {
                used[*i] = true;
            }
        }
        let unexplained = o.differences.iter().filter(|(_, w)| w.is_none()).count();
        let verdict = if o.differences.is_empty() {
            identical += 1;
            "identical"
        } else if unexplained == 0 {
            explained += 1;
            "explained"
        } else {
            different += 1;
            "DIFFERENT"
        };
        full.push_str(&format!("{verdict:9} {} ({})\n", o.name, o.ns));
        for (d, why) in &o.differences {
            let line = format!(
                "    {}\n      peer: {}\n      hub:  {}\n",
                d.path,
                short(&d.peer),
                short(&d.hub)
            );
            full.push_str(&line);
            match why {
                Some(i) => {
                    full.push_str(&format!("      explained: {}\n", explanations[*i].reason))
                }
                None => {
                    if failures.len() < 200_000 {
                        failures.push_str(&format!("{} ({}):\n{line}", o.name, o.ns));
                    }
                }
            }
        }
    }
    let unused: Vec<String> = explanations
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(e, _)| format!("  {} {}: {}", e.case, e.path, e.reason))
        .collect();
    let summary = format!(
        "{} cases, {identical} identical, {explained} explained, {different} different \
         (peer and hub up in {:.0?}, setup {:.0?}, total {:.0?})",
        outcomes.len(),
        boot,
        setup,
        total
    );
    let mut slowest: Vec<&Outcome> = outcomes.iter().collect();
    slowest.sort_by_key(|o| std::cmp::Reverse(o.took));
    full.push_str("\nslowest cases:\n");
    for o in slowest.iter().take(20) {
        full.push_str(&format!("  {:>6.1?} {}\n", o.took, o.name));
    }
    full.push_str(&format!("\n{summary}\n"));
    if !unused.is_empty() {
        full.push_str(&format!(
            "explanations that matched nothing this run:\n{}\n",
            unused.join("\n")
        ));
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-report.txt");
    let _ = std::fs::write(&path, &full);
    if !failures.is_empty() {
        eprintln!("unexplained differences:\n{failures}");
    }
    if !unused.is_empty() {
        eprintln!(
            "explanations that matched nothing this run:\n{}",
            unused.join("\n")
        );
    }
    // Written to the process's stderr directly, past the test harness's capture, so CI
    // logs show the counts whether the test passes or fails.
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{summary}\nreport: {}", path.display());
    }
    assert_eq!(
        different,
        0,
        "{summary}: {different} cases differ in ways explained.yaml does not list (report: {})",
        path.display()
    );
}
