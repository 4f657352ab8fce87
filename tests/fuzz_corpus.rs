//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same bodies the
//! cargo-fuzz targets run (`tests/fuzz_cases/<target>.rs`, included by both), so
//! every seed and every input the fuzzer found worth keeping is a regression test
//! on stable Rust. An input fails the test when its body panics (a crash or a
//! broken invariant); the failures name the corpus files.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "fuzz_cases/apply.rs"]
mod apply;
#[path = "fuzz_cases/decode_body.rs"]
mod decode_body;
#[path = "fuzz_cases/decode_protobuf.rs"]
mod decode_protobuf;
#[path = "fuzz_cases/patch.rs"]
mod patch;

/// Fewer seeds than this means the corpus went missing, not that all is well.
const MIN_INPUTS: usize = 10;

/// Inputs slower than this are named in the output (a fuzz input should take milliseconds).
const SLOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Open bugs the fuzz bodies find, by target and panic message: inputs that panic
/// with one of these are counted, not failed, so the suite stays green until the fix
/// lands (then drop the entry). Minimized inputs are in `fuzz/known_issues/`.
const KNOWN_PANICS: &[(&str, &str)] = &[
    // ssa::apply: re-applying `metadata: null` onto the object it created bumps the time.
    ("apply", "re-applying moved a managedFields time"),
];

fn known_panic(target: &str, message: &str) -> bool {
    KNOWN_PANICS
        .iter()
        .any(|(t, m)| *t == target && message.contains(m))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
        .to_owned()
}

/// A fuzz body: runs one input, panics on a failure.
type Body = fn(&[u8]);

fn replay(target: &str, body: Body) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    // FUZZ_CORPUS_TRACE=1 names each input before running it (to find a hang).
    let trace = std::env::var_os("FUZZ_CORPUS_TRACE").is_some();
    let started = Instant::now();
    let (mut failures, mut known) = (Vec::new(), 0);
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if trace {
            println!("fuzz corpus {target}: {}", file.display());
        }
        let one = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| body(&data)));
        if one.elapsed() > SLOW {
            println!(
                "fuzz corpus {target}: {} took {:?}",
                file.display(),
                one.elapsed()
            );
        }
        if let Err(panic) = outcome {
            let message = panic_message(&*panic);
            if known_panic(target, &message) {
                known += 1;
            } else {
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    println!(
        "fuzz corpus {target}: replayed {} inputs in {:?} ({known} hit known issues)",
        files.len(),
        started.elapsed()
    );
    assert!(
        files.len() >= MIN_INPUTS,
        "{target}: only {} inputs in {}",
        files.len(),
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn decode_protobuf_corpus() {
    replay("decode_protobuf", decode_protobuf::run);
}

#[test]
fn decode_body_corpus() {
    replay("decode_body", decode_body::run);
}

#[test]
fn patch_corpus() {
    replay("patch", patch::run);
}

#[test]
fn apply_corpus() {
    replay("apply", apply::run);
}

// ---------------------------------------------------------------------------------
// Mutation driver: a small, deterministic stand-in for cargo fuzz on stable Rust.

/// Inputs per target and run; `FUZZ_ITERATIONS=<n>` multiplies them for longer runs.
const MUTATIONS: [(&str, usize); 4] = [
    ("decode_protobuf", 200_000),
    ("decode_body", 20_000),
    ("patch", 100_000),
    ("apply", 30_000),
];

/// A single input running longer than this counts as a hang.
const HANG: std::time::Duration = std::time::Duration::from_secs(10);

/// Byte strings the mutator splices in: JSON/YAML structure, Kubernetes keys and patch
/// directives, protobuf tags and varints.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\n",
    b"null",
    b"true",
    b"0",
    b"-1",
    b"1e999",
    b"\"\"",
    b"{}",
    b"[]",
    b"\"metadata\":",
    b"\"name\":\"x\"",
    b"\"spec\":{",
    b"\"status\":{",
    b"\"managedFields\":[]",
    b"\"$patch\":\"delete\"",
    b"\"$patch\":\"replace\"",
    b"\"$retainKeys\":[",
    b"\"$setElementOrder/secrets\":[",
    b"\"$deleteFromPrimitiveList/finalizers\":[",
    b"{\"op\":\"remove\",\"path\":\"/metadata\"}",
    b"\"taints\":[{\"key\":\"k\",\"effect\":\"NoSelect\"}]",
    b"\"f:spec\":{",
    b"\"k:{\\\"uid\\\":\\\"u\\\"}\":{",
    b"\".\":{}",
    b"&a ",
    b"*a",
    b"- ",
    b"? ",
    b"!!binary ",
    b"k8s\0",
    b"\x0a",
    b"\x12",
    b"\x1a",
    b"\x08",
    b"\xff\xff\xff\xff\x0f",
    b"\x80",
];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four edits of `input`, some of them splicing in `other` (another seed).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(9) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = [0, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'['][rng.below(8)];
            }
            2 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 | 4 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            5 if at < data.len() => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                let chunk = data[at..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, chunk);
            }
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            7 if !data.is_empty() => {
                // Keep the selector byte meaningful: bodies read byte 0 as flags.
                data[0] = rng.next() as u8;
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read seed"))
        .collect()
}

/// Runs mutated corpus inputs through `body`; a panic or a hang fails the test and
/// leaves the input in the temporary directory for `cargo fuzz`-style replay.
fn mutate_and_run(target: &'static str, body: Body) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let iterations = MUTATIONS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, n)| *n)
        .unwrap_or(1_000)
        * std::env::var("FUZZ_ITERATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
    let seeds = corpus(target);
    let done = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let known = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (done, current, known) = (done.clone(), current.clone(), known.clone());
        std::thread::spawn(move || {
            // A fixed seed per target: the same inputs on every run.
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
            let mut failures = Vec::new();
            for i in 0..iterations {
                let seed = &seeds[rng.below(seeds.len())];
                let other = &seeds[rng.below(seeds.len())];
                let input = mutate(&mut rng, seed, other);
                *current.lock().unwrap_or_else(|p| p.into_inner()) = input.clone();
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&input))) {
                    let message = panic_message(&*panic);
                    if known_panic(target, &message) {
                        known.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let file = std::env::temp_dir().join(format!("fuzz-{target}-crash-{i}"));
                    let _ = std::fs::write(&file, &input);
                    failures.push(format!("{}: {message}", file.display()));
                    if failures.len() >= 10 {
                        break;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            failures
        })
    };
    let (mut seen, mut since) = (0, Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = done.load(Ordering::Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() > HANG {
            let input = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let file = std::env::temp_dir().join(format!("fuzz-{target}-hang"));
            let _ = std::fs::write(&file, &input);
            panic!(
                "{target}: input {seen} runs longer than {HANG:?}; saved as {}",
                file.display()
            );
        }
    }
    let failures = worker
        .join()
        .expect("the driver thread itself does not panic");
    println!(
        "fuzz mutations {target}: ran {} inputs in {:?} ({} hit known issues)",
        done.load(Ordering::Relaxed),
        started.elapsed(),
        known.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{target}: mutated inputs panicked:\n{}",
        failures.join("\n")
    );
}

#[test]
fn decode_protobuf_mutations() {
    mutate_and_run("decode_protobuf", decode_protobuf::run);
}

#[test]
fn decode_body_mutations() {
    mutate_and_run("decode_body", decode_body::run);
}

#[test]
fn patch_mutations() {
    mutate_and_run("patch", patch::run);
}

#[test]
fn apply_mutations() {
    mutate_and_run("apply", apply::run);
}

/// Inputs that still fail (crash, broken invariant or a run over [`KNOWN_ISSUE_LIMIT`]),
/// kept under `fuzz/known_issues/<target>/` until the code is fixed; then they move
/// to the corpus. `cargo test --test fuzz_corpus -- --ignored known_issues`.
#[test]
#[ignore = "inputs of open bugs; see fuzz/README.md"]
fn known_issues() {
    let bodies: [(&str, Body); 4] = [
        ("decode_protobuf", decode_protobuf::run),
        ("decode_body", decode_body::run),
        ("patch", patch::run),
        ("apply", apply::run),
    ];
    let mut failures = Vec::new();
    for (target, body) in bodies {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/known_issues")
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let file = entry.expect("a directory entry").path();
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            // In a thread, so a hang is reported instead of waited for.
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| body(&data)));
                let _ = done.send(outcome.is_ok());
            });
            match finished.recv_timeout(KNOWN_ISSUE_LIMIT) {
                Ok(true) => println!(
                    "{}: passes now; move it to fuzz/corpus/{target}/",
                    file.display()
                ),
                Ok(false) => failures.push(format!("{}: panicked", file.display())),
                Err(_) => failures.push(format!(
                    "{}: still running after {KNOWN_ISSUE_LIMIT:?}",
                    file.display()
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "known issues:\n{}",
        failures.join("\n")
    );
}

/// How long one input of a known issue may run (a fuzz input takes milliseconds).
const KNOWN_ISSUE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes the protobuf seeds of `fuzz/corpus/decode_protobuf/` (`pb-*`), encoded
/// with `k8s-pb` as client-go would send them, plus envelope variants (truncated,
/// mislabelled, encoded, unknown kind). Run after changing the decoder's kinds:
/// `cargo test --test fuzz_corpus -- --ignored write_protobuf_seeds`.
#[test]
#[ignore = "writes files; run by hand to refresh the seeds"]
fn write_protobuf_seeds() {
    use k8s_pb::api::authentication::v1 as authn;
    use k8s_pb::api::authorization::v1 as authz;
    use k8s_pb::api::certificates::v1 as certs;
    use k8s_pb::api::coordination::v1 as coord;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::api::events::v1 as events;
    use k8s_pb::api::rbac::v1 as rbac;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    use prost::Message;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }
    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }
    fn smap(v: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }
    fn time(seconds: i64) -> Option<meta::Time> {
        Some(meta::Time {
            seconds: Some(seconds),
            nanos: Some(0),
        })
    }
    fn micro(seconds: i64, nanos: i32) -> Option<meta::MicroTime> {
        Some(meta::MicroTime {
            seconds: Some(seconds),
            nanos: Some(nanos),
        })
    }
    fn envelope_with(api_version: &str, kind: &str, raw: Vec<u8>, encoding: &str) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: s(api_version),
                kind: s(kind),
            }),
            raw: Some(raw),
            content_encoding: s(encoding),
            content_type: s(""),
        };
        [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
    }
    fn envelope(api_version: &str, kind: &str, msg: &impl Message) -> Vec<u8> {
        envelope_with(api_version, kind, msg.encode_to_vec(), "")
    }
    const T: i64 = 1_704_164_645;
    let full_meta = meta::ObjectMeta {
        name: s("cm"),
        generate_name: s("cm-"),
        namespace: s("default"),
        uid: s("7a3c9c5e-0000-4000-8000-000000000001"),
        resource_version: s("42"),
        generation: Some(3),
        creation_timestamp: time(T),
        deletion_timestamp: time(T + 60),
        deletion_grace_period_seconds: Some(30),
        labels: smap(&[
            ("app", "x"),
            ("cluster.open-cluster-management.io/clusterset", "default"),
        ]),
        annotations: smap(&[("a/b", "c"), ("empty", "")]),
        owner_references: vec![meta::OwnerReference {
            api_version: s("apps/v1"),
            kind: s("Deployment"),
            name: s("d"),
            uid: s("u-2"),
            controller: Some(true),
            block_owner_deletion: Some(false),
        }],
        finalizers: strs(&["cluster.open-cluster-management.io/api-resource-cleanup"]),
        managed_fields: vec![meta::ManagedFieldsEntry {
            manager: s("kubectl"),
            operation: s("Update"),
            api_version: s("v1"),
            time: time(T),
            fields_type: s("FieldsV1"),
            fields_v1: Some(meta::FieldsV1 {
                raw: Some(br#"{"f:data":{".":{},"f:k":{}}}"#.to_vec()),
            }),
            subresource: s(""),
        }],
        ..Default::default()
    };
    let named = |name: &str, namespace: &str| {
        Some(meta::ObjectMeta {
            name: s(name),
            namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
            ..Default::default()
        })
    };
    let config_map = core::ConfigMap {
        metadata: Some(full_meta.clone()),
        immutable: Some(false),
        data: smap(&[("k", "v"), ("e", "")]),
        binary_data: [("bin".to_owned(), vec![0xff, 0x00, 0xfe])].into(),
    };
    let reference = core::ObjectReference {
        kind: s("ManagedCluster"),
        name: s("cluster1"),
        uid: s("u"),
        api_version: s("cluster.open-cluster-management.io/v1"),
        ..Default::default()
    };
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("configmap-full", envelope("v1", "ConfigMap", &config_map)),
        (
            "configmap-minimal",
            envelope(
                "v1",
                "ConfigMap",
                &core::ConfigMap {
                    metadata: Some(meta::ObjectMeta {
                        name: s("cm"),
                        creation_timestamp: Some(meta::Time::default()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
        ),
        (
            "secret",
            envelope(
                "v1",
                "Secret",
                &core::Secret {
                    metadata: named("hub-kubeconfig-secret", "open-cluster-management-agent"),
                    immutable: Some(true),
                    data: [("kubeconfig".to_owned(), b"apiVersion: v1\n".to_vec())].into(),
                    string_data: smap(&[("cluster-name", "cluster1")]),
                    r#type: s("Opaque"),
                },
            ),
        ),
        (
            "namespace",
            envelope(
                "v1",
                "Namespace",
                &core::Namespace {
                    metadata: named("cluster1", ""),
                    spec: Some(core::NamespaceSpec {
                        finalizers: strs(&["kubernetes"]),
                    }),
                    status: Some(core::NamespaceStatus {
                        phase: s("Active"),
                        conditions: vec![core::NamespaceCondition {
                            r#type: s("NamespaceDeletionContentFailure"),
                            status: s("False"),
                            last_transition_time: Some(meta::Time::default()),
                            ..Default::default()
                        }],
                    }),
                },
            ),
        ),
        (
            "serviceaccount",
            envelope(
                "v1",
                "ServiceAccount",
                &core::ServiceAccount {
                    metadata: named("klusterlet", "open-cluster-management-agent"),
                    secrets: vec![core::ObjectReference {
                        name: s("tok"),
                        ..Default::default()
                    }],
                    image_pull_secrets: vec![core::LocalObjectReference { name: s("pull") }],
                    automount_service_account_token: Some(false),
                },
            ),
        ),
        (
            "event-core",
            envelope(
                "v1",
                "Event",
                &core::Event {
                    metadata: named("cluster1.17a", "cluster1"),
                    involved_object: Some(reference.clone()),
                    reason: s("ManagedClusterAvailable"),
                    message: s("cluster1 is available"),
                    source: Some(core::EventSource {
                        component: s("registration-controller"),
                        host: s(""),
                    }),
                    first_timestamp: time(T),
                    last_timestamp: time(T + 1),
                    count: Some(2),
                    r#type: s("Normal"),
                    event_time: micro(T, 123_456_000),
                    ..Default::default()
                },
            ),
        ),
        (
            "event-events-v1",
            envelope(
                "events.k8s.io/v1",
                "Event",
                &events::Event {
                    metadata: named("e1", "cluster1"),
                    event_time: micro(T, 5),
                    reporting_controller: s("open-cluster-management.io/registration"),
                    reporting_instance: s("hub-0"),
                    action: s("Accept"),
                    reason: s("Accepted"),
                    regarding: Some(reference.clone()),
                    note: s("accepted by the hub"),
                    r#type: s("Normal"),
                    ..Default::default()
                },
            ),
        ),
        (
            "lease",
            envelope(
                "coordination.k8s.io/v1",
                "Lease",
                &coord::Lease {
                    metadata: named("managed-cluster-lease", "cluster1"),
                    spec: Some(coord::LeaseSpec {
                        holder_identity: s("cluster1"),
                        lease_duration_seconds: Some(60),
                        acquire_time: micro(T, 0),
                        renew_time: micro(T + 30, 999_999_000),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                },
            ),
        ),
        (
            "csr",
            envelope(
                "certificates.k8s.io/v1",
                "CertificateSigningRequest",
                &certs::CertificateSigningRequest {
                    metadata: Some(meta::ObjectMeta {
                        generate_name: s("cluster1-"),
                        labels: smap(&[("open-cluster-management.io/cluster-name", "cluster1")]),
                        ..Default::default()
                    }),
                    spec: Some(certs::CertificateSigningRequestSpec {
                        request: Some(b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n".to_vec()),
                        signer_name: s("kubernetes.io/kube-apiserver-client"),
                        expiration_seconds: Some(3600),
                        usages: strs(&["digital signature", "key encipherment", "client auth"]),
                        username: s("system:open-cluster-management:cluster1"),
                        groups: strs(&["system:authenticated"]),
                        ..Default::default()
                    }),
                    status: None,
                },
            ),
        ),
        (
            "clusterrole",
            envelope(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                &rbac::ClusterRole {
                    metadata: named("open-cluster-management:managedcluster:cluster1", ""),
                    rules: vec![rbac::PolicyRule {
                        verbs: strs(&["get", "list", "watch"]),
                        api_groups: strs(&["cluster.open-cluster-management.io"]),
                        resources: strs(&["managedclusters"]),
                        resource_names: strs(&["cluster1"]),
                        non_resource_ur_ls: vec![],
                    }],
                    aggregation_rule: None,
                },
            ),
        ),
        (
            "rolebinding",
            envelope(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                &rbac::RoleBinding {
                    metadata: named("agent", "cluster1"),
                    subjects: vec![rbac::Subject {
                        kind: s("Group"),
                        api_group: s("rbac.authorization.k8s.io"),
                        name: s("system:open-cluster-management:cluster1"),
                        namespace: s(""),
                    }],
                    role_ref: Some(rbac::RoleRef {
                        api_group: s("rbac.authorization.k8s.io"),
                        kind: s("ClusterRole"),
                        name: s("agent"),
                    }),
                },
            ),
        ),
        (
            "tokenreview",
            envelope(
                "authentication.k8s.io/v1",
                "TokenReview",
                &authn::TokenReview {
                    metadata: None,
                    spec: Some(authn::TokenReviewSpec {
                        token: s("eyJhbGciOiJFUzI1NiJ9.e30.sig"),
                        audiences: strs(&["https://hub"]),
                    }),
                    status: None,
                },
            ),
        ),
        (
            "subjectaccessreview",
            envelope(
                "authorization.k8s.io/v1",
                "SubjectAccessReview",
                &authz::SubjectAccessReview {
                    metadata: None,
                    spec: Some(authz::SubjectAccessReviewSpec {
                        resource_attributes: Some(authz::ResourceAttributes {
                            namespace: s("cluster1"),
                            verb: s("update"),
                            group: s("work.open-cluster-management.io"),
                            resource: s("manifestworks"),
                            subresource: s("status"),
                            ..Default::default()
                        }),
                        user: s("system:open-cluster-management:cluster1:agent"),
                        groups: strs(&["system:open-cluster-management:cluster1"]),
                        ..Default::default()
                    }),
                    status: None,
                },
            ),
        ),
        (
            "deleteoptions",
            envelope(
                "meta.k8s.io/v1",
                "DeleteOptions",
                &meta::DeleteOptions {
                    grace_period_seconds: Some(0),
                    preconditions: Some(meta::Preconditions {
                        uid: s("u-1"),
                        resource_version: s("42"),
                    }),
                    propagation_policy: s("Foreground"),
                    dry_run: strs(&["All"]),
                    ..Default::default()
                },
            ),
        ),
    ];
    // Envelope and wire variants the decoder must refuse without panicking.
    let full = envelope("v1", "ConfigMap", &config_map);
    let cm_raw = config_map.encode_to_vec();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("bad-truncated-half", full[..full.len() / 2].to_vec()),
        ("bad-truncated-one", full[..full.len() - 1].to_vec()),
        ("bad-magic-only", b"k8s\0".to_vec()),
        ("bad-no-magic", full[4..].to_vec()),
        (
            "bad-wrong-kind",
            envelope_with("v1", "Secret", cm_raw.clone(), ""),
        ),
        (
            "bad-unknown-kind",
            envelope_with("apps/v1", "Deployment", cm_raw.clone(), ""),
        ),
        (
            "bad-gzip",
            envelope_with("v1", "ConfigMap", cm_raw.clone(), "gzip"),
        ),
        (
            "bad-json-raw",
            envelope_with(
                "v1",
                "ConfigMap",
                br#"{"metadata":{"name":"x"}}"#.to_vec(),
                "",
            ),
        ),
        ("bad-time-out-of-range", {
            let cm = core::ConfigMap {
                metadata: Some(meta::ObjectMeta {
                    name: s("t"),
                    creation_timestamp: Some(meta::Time {
                        seconds: Some(i64::MAX),
                        nanos: Some(-1),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            envelope("v1", "ConfigMap", &cm)
        }),
        ("bad-fieldsv1", {
            let mut cm = config_map.clone();
            if let Some(m) = cm.metadata.as_mut() {
                m.managed_fields[0].fields_v1 = Some(meta::FieldsV1 {
                    raw: Some(b"{not json".to_vec()),
                });
            }
            envelope("v1", "ConfigMap", &cm)
        }),
        ("bad-utf8-name", {
            let mut raw = meta::ObjectMeta {
                name: s("abc"),
                ..Default::default()
            }
            .encode_to_vec();
            let last = raw.len() - 1;
            raw[last] = 0xff;
            // ConfigMap { metadata (1): raw }
            let mut cm = vec![0x0a, raw.len() as u8];
            cm.extend(raw);
            envelope_with("v1", "ConfigMap", cm, "")
        }),
        (
            "bad-huge-length",
            [
                b"k8s\0".as_slice(),
                &[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00],
            ]
            .concat(),
        ),
        (
            "bad-varint-overlong",
            [b"k8s\0".as_slice(), &[0x08; 1], &[0xff; 11]].concat(),
        ),
        (
            "bad-group-wiretype",
            [b"k8s\0".as_slice(), &[0x0b, 0x0c, 0x13, 0x14]].concat(),
        ),
        ("bad-deep-nesting", {
            // metadata.ownerReferences nested in themselves, field 1 over and over.
            let mut raw = Vec::new();
            for _ in 0..64 {
                let mut outer = vec![0x0a];
                let mut len = raw.len();
                while len >= 0x80 {
                    outer.push((len as u8 & 0x7f) | 0x80);
                    len >>= 7;
                }
                outer.push(len as u8);
                outer.extend(raw);
                raw = outer;
            }
            envelope_with("v1", "ConfigMap", raw, "")
        }),
    ];
    seeds.extend(variants);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_protobuf");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("pb-{name}")), bytes).expect("write seed");
    }
}
