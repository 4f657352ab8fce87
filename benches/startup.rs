//! Startup benchmark: cold start (empty data directory, keys generated) and warm start
//! (existing data directory) of `multicluster-controlplane server`, measured from spawn to
//! the first `200` from `/readyz`, plus resident memory once idle.
//!
//! Run: `cargo bench --bench startup` (optionally `-- --runs 30`; `MCP_BIN` picks another
//! binary, e.g. a release build measured by a debug build of this client). When an `etcd` binary is
//! on PATH it is measured in the same invocation as a reference (spawn to the first `200`
//! from its `/health`), since the Go project embeds etcd and kube-apiserver and starts at
//! least as slowly as etcd alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20usize);
    let bin = common::bin();
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let scratch = tempfile::tempdir().expect("tempdir");

    println!("startup benchmark: {runs} runs each, binary {bin}");
    let mut cold = Vec::new();
    for i in 0..runs {
        let dir = scratch.path().join(format!("cold-{i}"));
        let (t, _) = start_hub(bin, &dir, &client, false, &[]);
        cold.push(t);
    }
    let warm_dir = scratch.path().join("warm");
    start_hub(bin, &warm_dir, &client, false, &[]);
    let mut warm = Vec::new();
    let mut rss = Vec::new();
    for i in 0..runs {
        let (t, r) = start_hub(bin, &warm_dir, &client, i < 3, &[]);
        warm.push(t);
        rss.extend(r);
    }
    // Warm start with a Nickel config file: the cost of evaluating the contract.
    let cfg = scratch.path().join("hub.ncl");
    std::fs::write(&cfg, "{ logging.level = 'info, storage.sync = true }").expect("config");
    let mut warm_ncl = Vec::new();
    for _ in 0..runs {
        let (t, _) = start_hub(
            bin,
            &warm_dir,
            &client,
            false,
            &["--config", cfg.to_str().expect("utf8")],
        );
        warm_ncl.push(t);
    }

    report("cold start (keys generated)", &mut cold);
    report("warm start", &mut warm);
    report("warm start with a .ncl config", &mut warm_ncl);
    let mean = |f: fn(&(f64, f64)) -> f64| rss.iter().map(f).sum::<f64>() / rss.len().max(1) as f64;
    let (rss_mb, anon_mb) = (mean(|r| r.0), mean(|r| r.1));
    println!("{:<34} {rss_mb:>8.1} MB", "idle RSS (1 s after ready)");
    println!(
        "{:<34} {anon_mb:>8.1} MB own memory (RssAnon), {:.1} MB mapped code and libraries (RssFile)",
        "  of which",
        rss_mb - anon_mb
    );

    if let Some((mut etcd_times, etcd_rss)) = etcd_reference(scratch.path(), runs) {
        println!("\nreference: etcd (one member, fresh data dir), same machine, same invocation");
        report("etcd cold start", &mut etcd_times);
        println!("{:<34} {etcd_rss:>8.1} MB", "etcd idle RSS");
        let ratio = median(&etcd_times) / median(&cold).max(1e-9);
        println!(
            "ratio: our cold start is {ratio:.1}x faster than etcd's; idle RSS {:.1}x smaller",
            etcd_rss / rss_mb.max(1e-9)
        );
    } else {
        println!("\nreference: etcd not found on PATH, no reference run");
    }
}

/// Starts a hub, returns ms to the first 200 from /readyz and (optionally) its idle RSS
/// and the anonymous part of it (MB).
fn start_hub(
    bin: &str,
    dir: &Path,
    client: &reqwest::blocking::Client,
    measure_rss: bool,
    extra: &[&str],
) -> (f64, Option<(f64, f64)>) {
    let port = common::free_port().to_string();
    let mut cmd = Command::new(bin);
    cmd.args([
        "server",
        "--data-dir",
        dir.to_str().expect("utf8"),
        "--port",
        &port,
        "--bind-address",
        "127.0.0.1",
    ])
    .args(extra)
    .env("RUST_LOG", "error")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let url = format!("https://127.0.0.1:{port}/readyz");
    let elapsed = wait_200(&mut child, client, &url, started);
    let rss = measure_rss.then(|| {
        std::thread::sleep(Duration::from_secs(1));
        let pid = child.id();
        (common::rss_mb(pid), common::status_mb(pid, "RssAnon"))
    });
    stop(child);
    (elapsed, rss)
}

fn wait_200(
    child: &mut Child,
    client: &reqwest::blocking::Client,
    url: &str,
    started: Instant,
) -> f64 {
    loop {
        if let Ok(r) = client.get(url).send()
            && r.status() == 200
        {
            return started.elapsed().as_secs_f64() * 1000.0;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("process exited with {status} before becoming ready");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ready within 120 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

fn report(name: &str, v: &mut [f64]) {
    v.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<34} median {:>7.1} ms   p90 {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms",
        p(0.5),
        p(0.9),
        v[0],
        v[v.len() - 1]
    );
}

/// Cold starts of a one-member etcd to its first healthy `/health`, and its idle RSS.
fn etcd_reference(scratch: &Path, runs: usize) -> Option<(Vec<f64>, f64)> {
    Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let mut times = Vec::new();
    let mut rss = 0.0;
    for i in 0..runs {
        let dir = scratch.join(format!("etcd-{i}"));
        let (client_port, peer_port) = (common::free_port(), common::free_port());
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let started = Instant::now();
        let mut child = Command::new("etcd")
            .args([
                "--name",
                "bench",
                "--data-dir",
                dir.to_str()?,
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("bench={peer_url}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let health = format!("{client_url}/health");
        loop {
            if let Ok(r) = plain.get(&health).send()
                && r.status() == 200
                && r.text().map(|t| t.contains("true")).unwrap_or(false)
            {
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if i == 0 {
            std::thread::sleep(Duration::from_secs(1));
            rss = common::rss_mb(child.id());
        }
        stop(child);
    }
    Some((times, rss))
}
