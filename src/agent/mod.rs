//! The `agent` command: the combined OCM agent (registration here, work in `work`,
//! add-ons in `addon`).
//!
//! It joins its managed cluster to a hub (ManagedCluster, then a CSR for a client
//! certificate whose key never leaves this process), and once accepted keeps the cluster's
//! status and lease current, rotates its certificate at 80 % of its lifetime, and goes
//! back to bootstrap when the hub rejects its credentials. Every hub call is retried after
//! an outage; nothing needs an operator after a hub or agent restart.
//!
//! Start reading at [`run`]; `register` is the join (and the CSR helpers add-ons share),
//! `status` the reporting, `hubconfig` the credentials on disk.

pub mod addon;
pub mod crds;
pub mod hubconfig;
pub mod quantity;
pub mod register;
pub mod status;
pub mod work;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::ocm::ManagedCluster;
use hubconfig::{CredDir, Credential, Endpoint, Issued};

/// Why the agent cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A setting or file is wrong; retrying does not help.
    #[error("configuration: {0}")]
    Config(String),
    /// The hub said no or could not be used; the agent retries.
    #[error("hub: {0}")]
    Hub(String),
    /// The hub denied the CSR, or failed to sign it; a new CSR is the only way on.
    #[error("hub: {0}")]
    Refused(String),
    /// The hub rejected the credentials (401).
    #[error("the hub rejected the agent's credentials")]
    Unauthorized,
}

impl AgentError {
    fn from_kube(e: kube::Error) -> AgentError {
        if api_code(&e) == Some(401) {
            AgentError::Unauthorized
        } else {
            AgentError::Hub(work::apply::describe(e))
        }
    }
}

/// The HTTP code of an API error (`None` for transport failures): the agent tells
/// rejected credentials (401), missing permission (403), absence (404) and conflicts
/// (409) from outages.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Where the hub is, for bootstrap.
#[derive(Debug, Clone)]
pub enum Bootstrap {
    /// A bootstrap kubeconfig (server, CA, token).
    Kubeconfig(PathBuf),
    /// A hub URL, a token, and the CA from a file or pinned by hash.
    Url {
        server: String,
        token: String,
        ca_file: Option<PathBuf>,
        ca_hash: Option<String>,
    },
}

/// Everything the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub cluster_name: String,
    pub bootstrap: Bootstrap,
    /// The managed cluster's kubeconfig; `None`: in-cluster or `KUBECONFIG`.
    pub managed_kubeconfig: Option<PathBuf>,
    pub hub_kubeconfig_dir: PathBuf,
    pub lease_duration_seconds: u64,
    pub status_sync_seconds: u64,
    /// Requested lifetime of the client certificate (the hub may cap it).
    pub client_cert_expiration_seconds: Option<u64>,
    /// Rotate the certificate once this fraction of its lifetime has passed.
    pub rotate_fraction: f64,
    /// How long an AppliedManifestWork whose ManifestWork is gone is kept.
    pub eviction_grace: Duration,
    /// Where to serve the agent's Prometheus metrics (plain HTTP), if anywhere.
    pub metrics_address: Option<std::net::SocketAddr>,
}

/// How a connected session ended.
enum Exit {
    /// The credentials were rejected: bootstrap again.
    Rejected,
}

/// Runs the agent until the process is stopped.
pub async fn run(options: AgentOptions) -> Result<(), AgentError> {
    if !crate::api::meta::is_dns_label(&options.cluster_name) {
        return Err(AgentError::Config(format!(
            "cluster name {:?} must be a lowercase RFC 1123 label (it names a namespace on the hub)",
            options.cluster_name
        )));
    }
    if let Some(address) = options.metrics_address {
        serve_metrics(address).await?;
    }
    let managed = managed_client(options.managed_kubeconfig.as_deref()).await?;
    install_crds(&managed).await;
    let creds = CredDir::new(options.hub_kubeconfig_dir.clone());
    let agent = creds.agent_id()?;
    let cluster = options.cluster_name.clone();
    let identity = register::identity(&cluster, &agent);
    let (endpoint, token) = bootstrap_endpoint(&options.bootstrap).await?;
    tracing::info!(cluster, agent, hub = endpoint.server, "agent starting");
    let mut backoff = Backoff::default();
    loop {
        let issued = match creds.load(&endpoint, &identity) {
            Some(issued) => issued,
            None => match join(&options, &endpoint, &token, &creds, &agent).await {
                Ok(issued) => issued,
                Err(AgentError::Config(e)) => return Err(AgentError::Config(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "joining the hub failed; retrying");
                    backoff.wait().await;
                    continue;
                }
            },
        };
        backoff.reset();
        match connected(&options, &endpoint, &creds, &agent, issued, &managed).await? {
            Exit::Rejected => {
                tracing::warn!("the hub rejected the agent's certificate; bootstrapping again");
                creds.clear();
            }
        }
    }
}

/// Serves `GET /metrics` (the agent's Prometheus metrics) on `address` in the background.
async fn serve_metrics(address: std::net::SocketAddr) -> Result<(), AgentError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| AgentError::Config(format!("metrics address {address}: {e}")))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
                crate::metrics::get().agent_text(),
            )
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(%address, "serving metrics on /metrics");
    Ok(())
}

/// Installs the managed-side CRDs, retrying (with a warning each time) until it succeeds:
/// neither the work half nor claim reporting can run without them.
async fn install_crds(managed: &kube::Client) {
    let mut backoff = Backoff::default();
    while let Err(e) = crds::ensure(managed).await {
        tracing::warn!(error = %e, "cannot install the agent's CRDs on the managed cluster; retrying");
        backoff.wait().await;
    }
}

/// The bootstrap endpoint and token.
async fn bootstrap_endpoint(bootstrap: &Bootstrap) -> Result<(Endpoint, String), AgentError> {
    match bootstrap {
        Bootstrap::Kubeconfig(path) => hubconfig::from_kubeconfig(path),
        Bootstrap::Url {
            server,
            token,
            ca_file,
            ca_hash,
        } => {
            let mut backoff = Backoff::default();
            loop {
                match hubconfig::discover_ca(server, ca_file.as_deref(), ca_hash.as_deref()).await {
                    Ok(ca_pem) => {
                        return Ok((
                            Endpoint {
                                server: server.clone(),
                                ca_pem,
                            },
                            token.clone(),
                        ));
                    }
                    Err(AgentError::Hub(e)) => {
                        tracing::warn!(error = %e, "cannot read the hub CA yet; retrying");
                        backoff.wait().await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// The managed cluster's client: a kubeconfig path, else in-cluster or `KUBECONFIG`.
async fn managed_client(path: Option<&std::path::Path>) -> Result<kube::Client, AgentError> {
    let config = match path {
        Some(p) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(p).map_err(|e| {
                AgentError::Config(format!("managed cluster kubeconfig {}: {e}", p.display()))
            })?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| {
                AgentError::Config(format!("managed cluster kubeconfig {}: {e}", p.display()))
            })?
        }
        None => kube::Config::infer().await.map_err(|e| {
            AgentError::Config(format!(
                "no managed cluster configuration (in-cluster or KUBECONFIG): {e}"
            ))
        })?,
    };
    kube::Client::try_from(config)
        .map_err(|e| AgentError::Config(format!("managed cluster client: {e}")))
}

/// Bootstrap: ensure the ManagedCluster, then obtain and store a certificate.
async fn join(
    options: &AgentOptions,
    endpoint: &Endpoint,
    token: &str,
    creds: &CredDir,
    agent: &str,
) -> Result<Issued, AgentError> {
    let cluster = &options.cluster_name;
    let hub = hubconfig::client(endpoint, &Credential::Token(token.to_string()))?;
    register::ensure_cluster(&hub, cluster, options.lease_duration_seconds, &[])
        .await
        .map_err(AgentError::from_kube)?;
    let (key, request) = register::new_request(cluster, agent)?;
    let template = register::CsrTemplate::cluster(cluster, options.client_cert_expiration_seconds);
    let chain = register::request_certificate(&hub, &template, &request).await?;
    creds.store(endpoint, cluster, agent, &chain, &key.serialize_pem())?;
    creds
        .load(endpoint, &register::identity(cluster, agent))
        .ok_or_else(|| AgentError::Hub("the issued certificate does not match the request".into()))
}

/// Rotation with the current certificate: the hub approves renewals by the cluster's own
/// identity automatically.
async fn rotate(
    hub: &kube::Client,
    options: &AgentOptions,
    endpoint: &Endpoint,
    creds: &CredDir,
    agent: &str,
) -> Result<Issued, AgentError> {
    let cluster = &options.cluster_name;
    let (key, request) = register::new_request(cluster, agent)?;
    let template = register::CsrTemplate::cluster(cluster, options.client_cert_expiration_seconds);
    let chain = register::request_certificate(hub, &template, &request).await?;
    creds.store(endpoint, cluster, agent, &chain, &key.serialize_pem())?;
    let issued = creds
        .load(endpoint, &register::identity(cluster, agent))
        .ok_or_else(|| {
            AgentError::Hub("the rotated certificate does not match the request".into())
        })?;
    let message = format!(
        "client certificate rotated starting from {} to {}",
        rfc3339(issued.not_before),
        rfc3339(issued.not_after)
    );
    let rotated: Api<ManagedCluster> = Api::all(hubconfig::client(endpoint, &issued.credential())?);
    if let Ok(mut current) = rotated.get(cluster).await {
        crate::api::meta::set_status_condition(
            &mut current.status.get_or_insert_default().conditions,
            "ClusterCertificateRotated",
            "True",
            "ClientCertificateUpdated",
            &message,
            None,
        );
        if let Err(e) = rotated
            .replace_status(cluster, &PostParams::default(), &current)
            .await
        {
            tracing::debug!(error = %e, "recording the rotation");
        }
    }
    tracing::info!(%message, "certificate rotated");
    Ok(issued)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The agent's life with a certificate: lease, status, rotation, until rejected.
async fn connected(
    options: &AgentOptions,
    endpoint: &Endpoint,
    creds: &CredDir,
    agent: &str,
    mut issued: Issued,
    managed: &kube::Client,
) -> Result<Exit, AgentError> {
    let cluster = options.cluster_name.clone();
    let mut hub = hubconfig::client(endpoint, &issued.credential())?;
    let (changed_tx, mut changed) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = tokio::spawn(watch_cluster(
        hub.clone(),
        cluster.clone(),
        changed_tx.clone(),
    ));
    let start_work = |hub: &kube::Client| {
        let agent = work::WorkAgent::new(
            hub.clone(),
            managed.clone(),
            cluster.clone(),
            agent.to_string(),
            &endpoint.server,
            Duration::from_secs(options.status_sync_seconds.max(1)),
            options.eviction_grace,
        );
        work::AbortOnDrop(tokio::spawn(agent.run()))
    };
    let mut work_agent = start_work(&hub);
    let start_addons = |hub: &kube::Client| {
        let agent = addon::AddonAgent::new(
            hub.clone(),
            managed.clone(),
            cluster.clone(),
            agent.to_string(),
            endpoint.clone(),
            options.client_cert_expiration_seconds,
        );
        work::AbortOnDrop(tokio::spawn(agent.run()))
    };
    let mut addon_agent = start_addons(&hub);
    let status_period = Duration::from_secs(options.status_sync_seconds.max(1));
    let mut lease_period = Duration::from_secs(options.lease_duration_seconds.max(1));
    let mut next_status = tokio::time::Instant::now();
    let mut next_lease = tokio::time::Instant::now();
    let mut accepted = false;
    let mut rejections = 0u32;
    let outcome = loop {
        let rotate_at = issued.rotate_at(options.rotate_fraction);
        let until_rotation = (rotate_at - time::OffsetDateTime::now_utc())
            .max(time::Duration::ZERO)
            .unsigned_abs();
        tokio::select! {
            _ = tokio::time::sleep_until(next_status) => {}
            _ = tokio::time::sleep_until(next_lease), if accepted => {}
            Some(()) = changed.recv() => {}
            _ = tokio::time::sleep(until_rotation) => {
                match rotate(&hub, options, endpoint, creds, agent).await {
                    Ok(new) => {
                        issued = new;
                        hub = hubconfig::client(endpoint, &issued.credential())?;
                        watcher.abort();
                        watcher = tokio::spawn(watch_cluster(hub.clone(), cluster.clone(), changed_tx.clone()));
                        work_agent = start_work(&hub);
                        addon_agent = start_addons(&hub);
                    }
                    Err(AgentError::Unauthorized) => break Exit::Rejected,
                    Err(AgentError::Config(e)) => return Err(AgentError::Config(e)),
                    Err(e) => {
                        tracing::warn!(error = %e, "certificate rotation failed; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
                continue;
            }
        }
        let now = tokio::time::Instant::now();
        // Status: on schedule and whenever the ManagedCluster changed.
        let observed = status::observe(managed).await;
        match status::report(&hub, &cluster, &observed).await {
            Ok(current) => {
                rejections = 0;
                accepted = current.status.as_ref().is_some_and(|s| {
                    crate::api::meta::is_condition_true(
                        &s.conditions,
                        crate::api::ocm::cluster_conditions::HUB_ACCEPTED,
                    )
                });
                let seconds = current
                    .spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0)
                    .unwrap_or(crate::api::ocm::DEFAULT_LEASE_SECONDS);
                lease_period = Duration::from_secs(seconds);
            }
            Err(e) if api_code(&e) == Some(401) => {
                rejections += 1;
                if rejections >= 3 {
                    break Exit::Rejected;
                }
            }
            Err(e) if api_code(&e) == Some(403) => {
                if accepted {
                    tracing::warn!("the hub denied this cluster; waiting to be accepted again");
                }
                accepted = false;
            }
            Err(e) if api_code(&e) == Some(409) => {
                let _ = changed_tx.try_send(());
            }
            Err(e) => {
                tracing::debug!(error = %e, "status report failed; the hub may be unreachable")
            }
        }
        if now >= next_status {
            next_status = now + status_period;
        }
        if accepted && now >= next_lease {
            let renewed = status::renew_lease(&hub, &cluster).await;
            let result = if renewed.is_ok() { "ok" } else { "error" };
            crate::metrics::get()
                .lease_renewals
                .get_or_create(&crate::metrics::ResultLabels {
                    result: result.into(),
                })
                .inc();
            match renewed {
                Ok(()) => tracing::debug!(cluster, "lease renewed"),
                Err(e) if api_code(&e) == Some(401) => {
                    rejections += 1;
                }
                Err(e) => tracing::debug!(error = %e, "lease renewal failed"),
            }
            next_lease = now + jitter(lease_period);
        }
    };
    watcher.abort();
    drop(work_agent);
    drop(addon_agent);
    Ok(outcome)
}

/// The lease period with ±10 % jitter, so many agents do not renew in lockstep.
fn jitter(period: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    period.mul_f64(factor)
}

/// Signals `changed` on every change of the cluster's ManagedCluster (a watcher that
/// relists and backs off by itself after outages).
async fn watch_cluster(hub: kube::Client, cluster: String, changed: tokio::sync::mpsc::Sender<()>) {
    let api: Api<ManagedCluster> = Api::all(hub);
    let config = watcher::Config::default().fields(&format!("metadata.name={cluster}"));
    let mut events = Box::pin(watcher(api, config).default_backoff().touched_objects());
    while let Some(event) = events.next().await {
        match event {
            Ok(_) => {
                let _ = changed.try_send(());
            }
            Err(e) => tracing::debug!(error = %e, "watching the ManagedCluster"),
        }
    }
}

/// Exponential backoff from 0.5 s to 30 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
    /// The next delay (for callers that wait on something else at the same time).
    fn next_delay(&mut self) -> Duration {
        let delay = Duration::from_millis(500u64 << self.0.min(6)).min(Duration::from_secs(30));
        self.0 = self.0.saturating_add(1);
        delay
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
}
