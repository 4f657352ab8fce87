//! The `server` command: loads the PKI, opens the data directory, serves HTTPS, reports
//! readiness (`/readyz`, systemd `READY=1`), renews its serving certificate in place, and
//! shuts down cleanly on SIGINT/SIGTERM.
//!
//! Storage and controllers plug in here as they are built: each registers a readiness
//! check and flips it once it is up.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::{Config, EtcdMode};
use crate::http::health::{Check, Readiness};
use crate::http::{self, PeerIdentity, tls};
use crate::pki::{Pki, PkiError};
use crate::storage::etcd::{EtcdOptions, EtcdStore};
use crate::storage::rocks::{MaintenanceConfig, RocksOptions, RocksStore};
use crate::storage::{Store, StoreError, compactor};

/// How long open connections (watches included) get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Slow or stuck TLS handshakes are dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is in use by another multicluster-controlplane process \
         (lock file {lock})"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid bind address {0:?}: expected an IP address such as 0.0.0.0, 127.0.0.1 or ::")]
    BadBindAddress(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("creating start-up objects failed: {0}")]
    Bootstrap(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the control socket in {path}: {source}")]
    Control {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the hub until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), ServerError> {
    // Handlers first: a signal that arrives during start-up must not kill the process
    // with the default action.
    let signals = Signals::install().map_err(ServerError::Signals)?;
    let max_connections = connection_limit(raise_open_files_limit());
    let data_dir = config.data_directory.clone();
    let _lock = lock_data_dir(&data_dir)?;
    let readiness = Readiness::default();
    let data_check = readiness.register("data-directory");
    data_check.set(true);
    let storage_check = readiness.register("storage");
    // Controllers register here and flip their check once up.
    let controllers = readiness.register("poststarthook/start-controllers");
    // Fails as soon as a stop signal arrives, so load balancers drain first.
    let shutdown_check = readiness.register("shutdown");
    shutdown_check.set(true);

    let (store, rocks) = open_store(&config).await?;
    let embedded = rocks.is_some();
    let authz = crate::auth::authz::Authorizer::new();
    let registry = crate::registry::Registry::with_stored_crds(store.clone())
        .with_event_ttl(Duration::from_secs(config.storage.event_ttl_seconds))
        .with_mutator(crate::hub::mutator(&config))
        .with_validator(crate::hub::validator(authz.clone()));
    ensure_namespaces(&registry).await?;
    let crds_revision = converge(|| registry.ensure_builtin_crds()).await?;
    // Stored and in the catalog now; the parsed copy is not needed again.
    crate::api::ocm::release();
    converge(|| crate::auth::authz::seed_policy(&registry)).await?;
    converge(|| crate::hosting::ensure_delegation_objects(&registry, &config)).await?;
    crate::auth::authz::start_sync(&registry, &authz)
        .await
        .map_err(|e| ServerError::Bootstrap(e.message))?;
    registry.spawn_crd_follower(crds_revision);
    storage_check.set(true);
    if !embedded {
        spawn_storage_probe(store.clone(), storage_check);
    }
    crate::backup::serve(&data_dir, rocks).map_err(|source| ServerError::Control {
        path: data_dir.clone(),
        source,
    })?;

    let pki = Arc::new(tokio::task::block_in_place(|| Pki::ensure(&config))?);
    if !embedded {
        check_shared_ca(&registry, &pki, &config).await?;
    }
    let serving = pki.ensure_serving()?;
    let cert = Arc::new(tls::SwappableCert::new(&serving)?);
    let delegate = crate::hosting::delegate(&config)
        .await
        .map_err(|e| ServerError::Bootstrap(e.to_string()))?;
    let (tls_config, client_certs) = tls::server_config(
        cert.clone(),
        pki.ca.cert_der(),
        delegate.as_ref().map(|(_, ca)| ca.as_str()),
    )?;
    let acceptor = TlsAcceptor::from(Arc::new(tls_config));

    let ip: std::net::IpAddr = config
        .apiserver
        .bind_address
        .parse()
        .map_err(|_| ServerError::BadBindAddress(config.apiserver.bind_address.clone()))?;
    let addr = SocketAddr::new(ip, config.apiserver.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    tracing::info!(address = %local, "serving HTTPS");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    spawn_renewal(pki.clone(), cert, &config, shutdown_rx.clone());

    let leading = Leading {
        registry: registry.clone(),
        authz: authz.clone(),
        pki: pki.clone(),
        config: config.clone(),
        own_url: format!("https://{}", loopback_address(local)),
    };
    let elect = config.controllers.enabled
        && config.controllers.leader_election.enabled
        && config.etcd.mode == crate::config::EtcdMode::External;
    let election = if elect {
        Some(spawn_election(leading, shutdown_rx.clone()))
    } else {
        registry.spawn_garbage_collector();
        if config.controllers.enabled {
            leading.lead().await.map_err(ServerError::Bootstrap)?;
        }
        None
    };
    controllers.set(true);
    let sa_key = &config.apiserver.service_account_key_file;
    let signer = if sa_key.is_empty() {
        crate::auth::token::TokenSigner::load_or_create(&data_dir.join("cert"))
    } else {
        crate::auth::token::TokenSigner::load(Path::new(sa_key))
    }
    .map_err(|e| ServerError::Bootstrap(e.to_string()))?;
    let mut authn = crate::auth::authn::Authenticator::new(registry.clone(), Arc::new(signer));
    if let Some((delegate, _)) = delegate {
        authn = authn.with_delegate(delegate);
    }
    let auth = http::auth::AuthServices { authn, authz };
    crate::hosting::publish_kubeconfigs(&pki).await;
    let router = http::router(readiness.clone(), registry.clone(), auth);
    let signals = tokio::spawn(signals.wait(shutdown_tx, shutdown_check));
    announce_ready(&pki, local);
    serve(
        listener,
        acceptor,
        client_certs,
        router,
        max_connections,
        shutdown_rx,
    )
    .await;
    let _ = signals.await;
    if let Some(election) = election {
        // The leader releases its lease before the process goes.
        let _ = tokio::time::timeout(Duration::from_secs(5), election).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Opens the configured backend and starts its compaction (and, embedded, TTL expiry).
/// Returns the embedded store separately, for backups.
pub async fn open_store(
    config: &Config,
) -> Result<(Arc<dyn Store>, Option<Arc<RocksStore>>), ServerError> {
    let storage = &config.storage;
    let interval = Duration::from_secs(storage.compaction_interval_seconds);
    let retention = Duration::from_secs(storage.history_retention_seconds);
    match config.etcd.mode {
        EtcdMode::Embed => {
            let path = crate::backup::db_path(&config.data_directory);
            let options = RocksOptions {
                sync: storage.sync,
                watch_queue_length: usize::try_from(storage.watch_queue_length)
                    .unwrap_or(usize::MAX),
                ..RocksOptions::default()
            };
            let store = tokio::task::spawn_blocking(move || RocksStore::open(&path, &options))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            store.start_maintenance(MaintenanceConfig {
                compaction_interval: interval,
                history_retention: retention,
                ttl_check_interval: Duration::from_secs(1),
            });
            Ok((store.clone(), Some(store)))
        }
        EtcdMode::External => {
            let etcd = &config.etcd;
            let read = |file: &str| -> Result<Option<Vec<u8>>, ServerError> {
                if file.is_empty() {
                    return Ok(None);
                }
                std::fs::read(file)
                    .map(Some)
                    .map_err(|source| ServerError::ReadFile {
                        path: PathBuf::from(file),
                        source,
                    })
            };
            let options = EtcdOptions {
                endpoints: etcd.servers.clone(),
                prefix: etcd.prefix.clone(),
                ca_pem: read(&etcd.ca_file)?,
                cert_pem: read(&etcd.cert_file)?,
                key_pem: read(&etcd.key_file)?,
            };
            let store = Arc::new(EtcdStore::connect(&options).await?);
            compactor::spawn(&store, interval, retention);
            Ok((store, None))
        }
    }
}

/// The namespaces every Kubernetes API server has.
/// Runs an idempotent start-up step until it succeeds without losing a race: replicas
/// starting together on one etcd prefix create and update the same objects, and the loser
/// of a create (AlreadyExists) or an update (Conflict) only has to look again.
async fn converge<T, F, Fut>(step: F) -> Result<T, ServerError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::api::status::Status>>,
{
    const ATTEMPTS: usize = 10;
    let mut attempt = 1;
    loop {
        match step().await {
            Err(e) if attempt < ATTEMPTS && matches!(e.reason, "AlreadyExists" | "Conflict") => {
                tracing::debug!(error = %e.message, "start-up write lost a race; again");
                attempt += 1;
            }
            result => return result.map_err(|e| ServerError::Bootstrap(e.message)),
        }
    }
}

async fn ensure_namespaces(registry: &crate::registry::Registry) -> Result<(), ServerError> {
    let Some(kind) = registry.catalog().find_resource("", "namespaces") else {
        return Ok(());
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        // Read first: a create that finds the namespace there runs admission for nothing
        // (at every start but the first).
        if registry.get(&kind, None, name).await.is_ok() {
            continue;
        }
        let object = serde_json::json!({"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        match registry.create(&kind, None, object).await {
            Ok(_) => tracing::debug!(namespace = name, "created namespace"),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => return Err(ServerError::Bootstrap(e.to_string())),
        }
    }
    Ok(())
}

/// Replicas on one etcd prefix must share one CA, or the agents and kubeconfigs one of
/// them signs are refused by the others. The prefix's CA is the one in
/// `kube-public/cluster-info` (written by the leader); a replica with another refuses to
/// start rather than serve half a hub.
async fn check_shared_ca(
    registry: &crate::registry::Registry,
    pki: &Pki,
    config: &Config,
) -> Result<(), ServerError> {
    use base64::Engine;
    let Some(kind) = registry.catalog().find_resource("", "configmaps") else {
        return Ok(());
    };
    let info = match registry
        .get(&kind, Some("kube-public"), "cluster-info")
        .await
    {
        Ok(info) => info,
        Err(e) if e.code == 404 => return Ok(()),
        Err(e) => return Err(ServerError::Bootstrap(e.message)),
    };
    let stored = info
        .pointer("/data/kubeconfig")
        .and_then(serde_json::Value::as_str)
        .and_then(|text| crate::api::yaml::from_str(text).ok())
        .and_then(|doc| {
            let data = doc
                .pointer("/clusters/0/cluster/certificate-authority-data")?
                .as_str()?
                .to_string();
            base64::engine::general_purpose::STANDARD.decode(data).ok()
        })
        .and_then(|pem| crate::pki::keys::first_cert_der(&String::from_utf8_lossy(&pem)).ok());
    match stored {
        Some(der) if der != pki.ca.cert_der() => Err(ServerError::Bootstrap(format!(
            "etcd prefix {:?} belongs to a hub with another CA than this replica's ({}); \
             replicas sharing a prefix need the same apiserver.caFile and apiserver.caKeyFile",
            config.etcd.prefix,
            pki.ca.cert_path.display()
        ))),
        _ => Ok(()),
    }
}

/// Keeps the `storage` readiness check true only while external etcd answers a
/// linearizable read (a quorum read): a replica cut off from etcd, or on an etcd that lost
/// its quorum, leaves load balancers' rotation instead of answering from a stale cache.
fn spawn_storage_probe(store: Arc<dyn Store>, check: Check) {
    const PERIOD: Duration = Duration::from_secs(2);
    tokio::spawn(async move {
        loop {
            let ok = matches!(
                tokio::time::timeout(PERIOD, store.current_revision()).await,
                Ok(Ok(_))
            );
            if ok != check.is_ok() {
                if ok {
                    tracing::info!("storage reachable again; ready");
                } else {
                    tracing::warn!("storage unreachable; not ready");
                }
                check.set(ok);
            }
            tokio::time::sleep(PERIOD).await;
        }
    });
}

/// What the hub's leader runs: the garbage collector (with elections), the hub
/// controllers, and self-management.
#[derive(Clone)]
struct Leading {
    registry: crate::registry::Registry,
    authz: crate::auth::authz::Authorizer,
    pki: Arc<Pki>,
    config: Config,
    own_url: String,
}

impl Leading {
    async fn lead(self) -> Result<(), String> {
        let mut hub_config = self.config.clone();
        let self_managed = crate::hosting::prepare_self_management(&self.registry, &mut hub_config)
            .await
            .map_err(|e| e.to_string())?;
        crate::hub::start(&self.registry, &self.authz, &self.pki, &hub_config)
            .await
            .map_err(|e| e.message)?;
        if let Some(self_managed) = self_managed {
            crate::hosting::start_self_management(
                &self.registry,
                &self.config,
                self_managed,
                &self.own_url,
                &self.pki.layout.ca_cert(),
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The controllers of one term of leadership, on a runtime of their own: when the term
/// ends, every task they spawned stops with it.
struct Term(Option<tokio::runtime::Runtime>);

impl Drop for Term {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Campaigns for leadership among the replicas on the same etcd; the leader runs
/// [`Leading::lead`] (and the garbage collector) until it loses or releases the lease.
fn spawn_election(
    leading: Leading,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let e = &leading.config.controllers.leader_election;
    let timings = crate::hub::election::Timings {
        lease_duration: Duration::from_secs(e.lease_duration_seconds),
        // The configuration contract keeps retry < renew deadline < lease duration.
        renew_deadline: Duration::from_secs(e.renew_deadline_seconds),
        retry_period: Duration::from_secs(e.retry_period_seconds),
    };
    let identity = format!(
        "{}_{}",
        gethostname::gethostname().to_string_lossy(),
        uuid::Uuid::new_v4()
    );
    let objects = crate::hub::objects::Objects::new(leading.registry.clone());
    let elector = crate::hub::election::Elector::new(objects, identity, timings);
    tracing::info!(
        identity = elector.identity(),
        "campaigning for leadership of the hub controllers"
    );
    tokio::spawn(elector.run(
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("hub-controllers")
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    let leading = leading.clone();
                    runtime.spawn(async move {
                        leading.registry.spawn_garbage_collector();
                        if let Err(e) = leading.lead().await {
                            tracing::error!(error = %e, "the hub controllers did not start");
                        }
                    });
                    Term(Some(runtime))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the hub controllers' runtime");
                    Term(None)
                }
            }
        },
        shutdown,
    ))
}

/// How this process reaches its own listener: a wildcard bind address is reached on
/// loopback (which the serving certificate names).
fn loopback_address(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], local.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, local.port()))
        }
        _ => local,
    }
}

/// Takes an exclusive lock on `<data>/lock` so two servers never share a data directory.
fn lock_data_dir(dir: &Path) -> Result<File, ServerError> {
    std::fs::create_dir_all(dir).map_err(|source| ServerError::DataDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let lock = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| ServerError::DataDir {
            path: lock.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Locked {
            path: dir.to_path_buf(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(source)) => {
            Err(ServerError::DataDir { path: lock, source })
        }
    }
}

/// Tells the user (stdout) and systemd (`READY=1`) that the hub is ready.
fn announce_ready(pki: &Pki, local: SocketAddr) {
    let kubeconfig = pki.layout.admin_kubeconfig();
    println!(
        "multicluster-controlplane is ready: listening on {local}, clients use {}\n  \
         export KUBECONFIG={}\n  kubectl get --raw /readyz",
        pki.server_url,
        kubeconfig.display()
    );
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready])
    {
        tracing::warn!(error = %e, "systemd readiness notification failed");
    }
}

/// SIGTERM and SIGINT, registered before anything else starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for either signal, then tells systemd and the server to stop.
    async fn wait(mut self, shutdown: watch::Sender<bool>, ready: Check) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = self.int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
        ready.set(false);
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        }
        let _ = shutdown.send(true);
    }
}

/// Accepts connections until shutdown, then waits (bounded) for open ones to finish.
async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    client_certs: Arc<tls::ClientCerts>,
    router: axum::Router,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut warned_full = false;
    loop {
        // At the cap, new connections wait in the listen backlog until one closes: the
        // descriptors left are the storage's (see `connection_limit`).
        if slots.available_permits() == 0 && !warned_full {
            warned_full = true;
            tracing::warn!(
                max_connections,
                "connection limit reached (open-files limit less a reserve for storage); new connections wait until one closes"
            );
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let client_certs = client_certs.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer = PeerIdentity {
                cert: client_certs.verify(tls.get_ref().1.peer_certificates()),
                remote: Some(remote),
            };
            let service =
                tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(service),
            );
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}

/// Periodically renews the serving certificate once it enters its renewal window, and swaps
/// it into the TLS acceptor without a restart.
fn spawn_renewal(
    pki: Arc<Pki>,
    cert: Arc<tls::SwappableCert>,
    config: &Config,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = Duration::from_secs(config.pki.renew_check_interval_seconds.max(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => return,
            }
            if !pki.serving_due() {
                continue;
            }
            let renewed = tokio::task::spawn_blocking({
                let pki = pki.clone();
                move || pki.renew_serving()
            })
            .await;
            match renewed {
                Ok(Ok(pair)) => match cert.swap(&pair) {
                    Ok(()) => tracing::info!("serving certificate renewed"),
                    Err(e) => tracing::error!(error = %e, "renewed serving certificate unusable"),
                },
                Ok(Err(e)) => tracing::error!(error = %e, "serving certificate renewal failed"),
                Err(e) => tracing::error!(error = %e, "serving certificate renewal panicked"),
            }
        }
    });
}

/// Lifts the soft limit on open files to the hard limit: every agent holds a connection
/// (and its watches) open, so a hub with tens of thousands of clusters needs that many
/// descriptors, and the soft default (often 1,024) is far below. Go servers, kube-apiserver
/// among them, do the same at start. Returns the soft limit in force.
fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if limit.current == limit.maximum {
        return soft;
    }
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::debug!(from = ?limit.current, to = ?limit.maximum, "open files limit raised");
            limit.maximum.unwrap_or(u64::MAX)
        }
        Err(e) => {
            tracing::warn!(error = %e, soft = ?limit.current, "cannot raise the open files limit");
            soft
        }
    }
}

/// Descriptors kept out of reach of client connections: RocksDB's open tables (capped by
/// [`crate::storage::rocks::MAX_OPEN_FILES`]) and logs, the WAL, listeners, the etcd and
/// hosting-cluster clients. When connections took the last descriptors, a RocksDB
/// compaction failed to open a table, which stops every later write until a restart (seen
/// at 35,000 simulated clusters under a 20,000 limit).
pub const RESERVED_FILES: u64 = 1024;

/// How many client connections the hub holds at once under an open-files limit of
/// `open_files`.
fn connection_limit(open_files: u64) -> usize {
    let limit = open_files.saturating_sub(RESERVED_FILES).max(64);
    usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(tokio::sync::Semaphore::MAX_PERMITS)
}
