//! The `server` command end to end: PKI on disk, HTTPS, health, version, kubectl, restarts,
//! CA handling, certificate renewal, signals and systemd readiness.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Hub, client, kubectl_run, run};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pki")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn kubectl_reaches_version_and_readyz_without_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    let ready_line = hub.wait_ready();
    assert!(
        ready_line.contains(&format!("https://127.0.0.1:{}", hub.port)),
        "{ready_line}"
    );

    let out = kubectl_run(&hub, &["version", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "kubectl warned: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["serverVersion"]["major"], "1");

    let out = kubectl_run(&hub, &["get", "--raw", "/readyz"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    assert!(String::from_utf8_lossy(&out.stderr).trim().is_empty());

    let out = kubectl_run(&hub, &["get", "--raw", "/readyz?verbose"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[+]ping ok") && text.contains("readyz check passed"),
        "{text}"
    );

    // The admin kubeconfig printed by `kubeconfig` is the one on disk.
    let printed = run(&[
        "kubeconfig",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
    ]);
    assert!(printed.status.success());
    assert_eq!(
        printed.stdout,
        std::fs::read(hub.kubeconfig()).expect("kubeconfig")
    );
    let status = hub.terminate();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn anonymous_requests_reach_only_public_endpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let anon = client(dir.path(), false);
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let r = anon.get(hub.url(path)).send().expect("send");
        assert_eq!(r.status(), 200, "{path}");
    }
    // Everything else is RBAC's call; system:anonymous holds only public-info-viewer.
    for path in ["/api", "/readyz/ping", "/api/v1/namespaces"] {
        let r = anon.get(hub.url(path)).send().expect("send");
        assert_eq!(r.status(), 403, "{path}");
        let s: serde_json::Value = r.json().expect("status json");
        assert_eq!(
            (s["kind"].as_str(), s["reason"].as_str()),
            (Some("Status"), Some("Forbidden"))
        );
    }
    // A presented credential that does not authenticate is 401, never anonymous.
    let r = anon
        .get(hub.url("/healthz"))
        .bearer_auth("abcdef.0123456789abcdef")
        .send()
        .expect("send");
    assert_eq!(r.status(), 401);
    let s: serde_json::Value = r.json().expect("status json");
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "Unauthorized");
    assert_eq!(s["code"], 401);

    let admin = client(dir.path(), true);
    let r = admin.get(hub.url("/no/such/path")).send().expect("send");
    assert_eq!(r.status(), 404);
    let s: serde_json::Value = r.json().expect("status json");
    assert_eq!(s["reason"], "NotFound");
    let r = admin
        .get(hub.url("/readyz/no-such-check"))
        .send()
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[test]
fn pki_files_are_private_and_restart_reuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let cert = dir.path().join("cert");
    for key in [
        "ca.key",
        "apiserver.key",
        "admin.key",
        "kube-aggregator.kubeconfig",
    ] {
        let mode = std::fs::metadata(cert.join(key))
            .expect(key)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let snapshot = |name: &str| std::fs::read(cert.join(name)).expect(name);
    let (ca, serving, admin) = (
        snapshot("ca.crt"),
        snapshot("apiserver.crt"),
        snapshot("admin.crt"),
    );
    assert!(hub.terminate().success());

    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    assert_eq!(ca, snapshot("ca.crt"), "CA changed across restart");
    assert_eq!(
        serving,
        snapshot("apiserver.crt"),
        "serving cert changed across restart"
    );
    assert_eq!(
        admin,
        snapshot("admin.crt"),
        "admin cert changed across restart"
    );
    // The old kubeconfig still works against the restarted server.
    let out = kubectl_run(&hub, &["get", "--raw", "/version"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn second_server_on_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let out = run(&[
        "server",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        "--port",
        &common::free_port().to_string(),
        "--bind-address",
        "127.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another"));
}

fn config_file(dir: &Path, body: &str) -> String {
    let path = dir.join("hub.json");
    std::fs::write(&path, body).expect("write config");
    path.display().to_string()
}

#[test]
fn user_ca_pair_is_used_and_mismatched_pair_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A Go/OpenSSL style CA: RSA key in PKCS#1.
    let good = config_file(
        dir.path(),
        &format!(
            r#"{{"apiserver": {{"caFile": "{}", "caKeyFile": "{}"}}}}"#,
            fixture("rsa-ca.crt"),
            fixture("rsa-pkcs1.key")
        ),
    );
    let mut hub = Hub::start(&data, &["--config", &good]);
    hub.wait_ready();
    let out = kubectl_run(
        &hub,
        &[
            "--certificate-authority",
            &fixture("rsa-ca.crt"),
            "get",
            "--raw",
            "/readyz",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !data.join("cert/ca.key").exists(),
        "user CA key copied into the data dir"
    );
    drop(hub);

    let bad = config_file(
        dir.path(),
        &format!(
            r#"{{"apiserver": {{"caFile": "{}", "caKeyFile": "{}"}}}}"#,
            fixture("rsa-ca.crt"),
            fixture("ec-sec1.key")
        ),
    );
    let out = run(&[
        "server",
        "--config",
        &bad,
        "--data-dir",
        data.to_str().expect("utf8"),
        "--port",
        &common::free_port().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not belong to the CA certificate"),
        "{err}"
    );
    assert!(err.contains("ec-sec1.key"), "{err}");
}

#[test]
fn only_one_ca_file_means_self_generated_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = config_file(
        dir.path(),
        &format!(
            r#"{{"apiserver": {{"caFile": "{}"}}}}"#,
            fixture("rsa-ca.crt")
        ),
    );
    let mut hub = Hub::start(&data, &["--config", &cfg]);
    hub.wait_ready();
    assert!(data.join("cert/ca.key").exists());
    let ours = std::fs::read(data.join("cert/ca.crt")).expect("ca");
    assert_ne!(ours, std::fs::read(fixture("rsa-ca.crt")).expect("fixture"));
    let warned = hub
        .stderr_lines
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    assert!(warned.contains("only one of apiserver.caFile"), "{warned}");
}

/// The serial number of the certificate the server presents right now.
fn served_serial(port: u16) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -serial"))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn serving_certificate_is_renewed_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 60 s certificates renewed in their last 90 %, checked every second: the first check
    // after start renews (the certificate is backdated 5 minutes).
    let cfg = config_file(
        dir.path(),
        r#"{"pki": {"servingCertValiditySeconds": 60, "renewBeforeExpiryPercent": 90, "renewCheckIntervalSeconds": 1}}"#,
    );
    let mut hub = Hub::start(&dir.path().join("data"), &["--config", &cfg]);
    hub.wait_ready();
    let first = served_serial(hub.port);
    assert!(first.starts_with("serial="), "{first}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = served_serial(hub.port);
        if now != first && now.starts_with("serial=") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serving certificate never renewed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Same process, still serving kubectl with the renewed certificate.
    assert!(hub.child.try_wait().expect("try_wait").is_none());
    let out = kubectl_run(&hub, &["get", "--raw", "/readyz"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigint_and_sigterm_stop_cleanly_and_systemd_is_notified() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut hub = Hub::start_with_env(
        &dir.path().join("data"),
        &[],
        &[("NOTIFY_SOCKET", sock_path.to_str().expect("utf8"))],
    );
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 datagram");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    hub.wait_ready();
    common::signal(&hub.child, "INT");
    let n = sock.recv(&mut buf).expect("STOPPING=1 datagram");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    let status = common::wait_exit(&mut hub.child, Duration::from_secs(30));
    assert!(status.success(), "SIGINT exit {status}");
}

#[test]
fn json_logs_are_one_object_per_line_and_hold_no_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_file(
        dir.path(),
        r#"{"logging": {"format": "json", "level": "trace"}}"#,
    );
    let mut hub = Hub::start(&dir.path().join("data"), &["--config", &cfg]);
    hub.wait_ready();
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l: &String| l.contains("serving HTTPS")) {
        assert!(
            Instant::now() < deadline,
            "no 'serving HTTPS' log line: {lines:?}"
        );
        if let Ok(line) = hub.stderr_lines.recv_timeout(Duration::from_millis(100)) {
            lines.push(line);
        }
    }
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(
            !line.contains("PRIVATE KEY"),
            "key material in logs: {line}"
        );
    }
}

#[test]
fn hub_on_external_etcd_becomes_ready_and_stores_under_its_prefix() {
    let etcd = common::etcd::Etcd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("ocmconfig.yaml");
    std::fs::write(
        &cfg,
        format!(
            "dataDirectory: {}\netcd:\n  mode: external\n  prefix: /hub-a\n  servers:\n  - {}\n",
            dir.path().join("data").display(),
            etcd.endpoint()
        ),
    )
    .expect("config");
    let mut hub = Hub::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("utf8")],
    );
    hub.wait_ready();
    let out = kubectl_run(&hub, &["get", "--raw", "/readyz/storage"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No embedded store was created next to the certificates.
    assert!(!dir.path().join("data/db").exists());
    // An unreachable etcd keeps the server from starting, with a clear error.
    drop(hub);
    drop(etcd);
    let out = run(&[
        "server",
        "--config",
        cfg.to_str().expect("utf8"),
        "--port",
        &common::free_port().to_string(),
        "--bind-address",
        "127.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("etcd"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Many requests multiplexed on one HTTP/2 connection, twice as many at once as the server's
/// stream limit (client-go shares one connection among all of a process's clients): every
/// one is answered and the connection is never torn down.
#[test]
fn one_http2_connection_carries_many_concurrent_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let http = common::async_client(dir.path(), true, false);
    let base = hub.url("/api/v1/namespaces/default/configmaps");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    const TASKS: usize = 400;
    const ROUNDS: usize = 8;
    let failures = runtime.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (http, base) = (http.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let mut failures = Vec::new();
                for r in 0..ROUNDS {
                    let name = format!("c-{t}-{r}");
                    let body = serde_json::json!({"metadata": {"name": name}, "data": {"k": "v"}});
                    let create = http.post(&base).json(&body).send();
                    if let Err(e) = answered(create, 201).await {
                        failures.push(format!("create {name}: {e}"));
                    }
                    let get = http.get(format!("{base}/{name}")).send();
                    if let Err(e) = answered(get, 200).await {
                        failures.push(format!("get {name}: {e}"));
                    }
                }
                failures
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("task"));
        }
        all
    });
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, first: {:?}",
        failures.len(),
        TASKS * ROUNDS * 2,
        &failures[..failures.len().min(5)]
    );
}

/// Awaits a request and reads its whole body (a dropped body is a stream the client cancels),
/// failing unless the status is `want`.
async fn answered(
    request: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    want: u16,
) -> Result<(), String> {
    let response = request.await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("{e:?}"))?;
    if status == want {
        Ok(())
    } else {
        Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
    }
}

/// A client that reconnects resumes its TLS 1.3 session from the hub's ticket (no
/// certificate exchange), even after hundreds of other clients connected in between (the
/// hub keeps no per-session state, so none is evicted), and the hub still authenticates it
/// by the client certificate of the first handshake: the resumed connection is the same
/// user as the full one.
#[test]
fn resumed_tls_sessions_keep_the_client_certificate_identity() {
    use rustls::HandshakeKind;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    let cert = dir.path().join("cert");
    // A client with its own session store, presenting the admin certificate.
    let connector = || {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(cert.join("ca.crt")).expect("ca") {
            roots.add(ca.expect("ca pem")).expect("ca added");
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert.join("admin.crt"))
                .expect("admin.crt")
                .collect::<Result<_, _>>()
                .expect("admin chain");
        let key = PrivateKeyDer::from_pem_file(cert.join("admin.key")).expect("admin.key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client auth");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
    };
    let address = hub.url("").trim_start_matches("https://").to_string();
    let review = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let request = format!(
        "POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{review}",
        review.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // One request per connection, read to its end (the tickets arrive after the handshake).
    let ask = |connector: tokio_rustls::TlsConnector| {
        let (address, request) = (address.clone(), request.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect");
            let name = ServerName::try_from("127.0.0.1").expect("server name");
            let mut tls = connector.connect(name, tcp).await.expect("handshake");
            let kind = tls.get_ref().1.handshake_kind();
            tls.write_all(request.as_bytes()).await.expect("request");
            let mut response = Vec::new();
            // A peer that closes without close_notify ends the read with an error; what was
            // read before it is kept and judged below.
            let _ = tls.read_to_end(&mut response).await;
            let text = String::from_utf8_lossy(&response).into_owned();
            let body = text
                .find('{')
                .zip(text.rfind('}'))
                .and_then(|(from, to)| {
                    serde_json::from_str::<serde_json::Value>(&text[from..=to]).ok()
                })
                .unwrap_or_else(|| panic!("no JSON in the response: {text}"));
            (kind, body["status"]["userInfo"].clone())
        }
    };
    let agent = connector();
    let (first_kind, first_user) = runtime.block_on(ask(agent.clone()));
    // More sessions than rustls's default server-side cache holds (256).
    let others = connector();
    for _ in 0..300 {
        runtime.block_on(ask(others.clone()));
    }
    let (second_kind, second_user) = runtime.block_on(ask(agent));
    assert_eq!(first_kind, Some(HandshakeKind::Full));
    assert_eq!(
        second_kind,
        Some(HandshakeKind::Resumed),
        "the second connection did not resume"
    );
    let name = first_user["username"].as_str().unwrap_or_default();
    assert!(
        !name.is_empty() && name != "system:anonymous",
        "{first_user}"
    );
    assert_eq!(second_user["username"], first_user["username"]);
    assert_eq!(second_user["groups"], first_user["groups"]);
}
