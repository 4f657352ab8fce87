//! Entry point: parse the command line and dispatch to a subcommand.

use std::process::ExitCode;

use clap::Parser;
use multicluster_controlplane::cli::{
    AgentArgs, Cli, Command, ConfigArgs, ConfigCommand, HubAccess, TokenCommand, VersionFormat,
};
use multicluster_controlplane::config::{self, Config};
use multicluster_controlplane::{admin, agent, backup, http, logging, pki, server};

/// mimalloc instead of glibc's malloc: the hub allocates and frees many small values
/// (JSON trees, map nodes) on every write and watch event; see BENCHMARKS.md. The feature
/// `system-allocator` keeps glibc's, for heap profilers that interpose malloc (heaptrack).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options as its C API numbers them (`mi_option_t`); the test below checks
/// the number against the option's default, so a mimalloc that renumbers fails it.
#[cfg(not(feature = "system-allocator"))]
mod mimalloc_options {
    use std::ffi::{c_int, c_long};

    /// `mi_option_purge_delay`: how long freed pages stay committed before they are
    /// returned to the system, in milliseconds (default 1,000).
    pub const PURGE_DELAY: c_int = 15;

    unsafe extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
        #[cfg(test)]
        fn mi_option_get(option: c_int) -> c_long;
    }

    /// Freed pages go back to the system at once. With the default delay they are
    /// returned only when the thread that freed them allocates again after the delay, so
    /// what start-up, a burst of joins or a large list freed stays resident on threads
    /// that then sleep: an idle hub held 4–5 MB more, a hub with 10,000 clusters 40–50 MB
    /// more (BENCHMARKS.md); the API and registration benchmarks showed no cost beyond
    /// their run-to-run spread.
    pub fn return_freed_pages_at_once() {
        // SAFETY: sets one integer option of the allocator linked into this binary; called
        // first thing in `main`, before any other thread exists (mimalloc's setter is not
        // thread safe).
        unsafe { mi_option_set(PURGE_DELAY, 0) }
    }

    #[cfg(test)]
    #[test]
    fn purge_delay_is_the_option_numbered_here() {
        // SAFETY: reads an option; no other test sets options.
        let default = unsafe { mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                default, 1000,
                "mimalloc's option {PURGE_DELAY} is not purge_delay"
            );
        }
    }
}

fn main() -> ExitCode {
    #[cfg(not(feature = "system-allocator"))]
    mimalloc_options::return_freed_pages_at_once();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => run_server(&args),
        Command::Kubeconfig(args) => {
            let config = match load(&args.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let path = pki::Layout::new(&config.data_directory).admin_kubeconfig();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    print!("{}", replace_server(&text, args.server.as_deref()));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot read the admin kubeconfig {}: {e}\n\
                         hint: start the server once with the same data directory",
                        path.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Backup(args) => {
            let (config, runtime) = match prepare(&args.config, false) {
                Ok(pair) => pair,
                Err(code) => return code,
            };
            match runtime.block_on(backup::run(&config.data_directory, &args.to)) {
                Ok(()) => {
                    println!("backup written to {}", args.to.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token(cmd) => run_token(cmd),
        Command::Accept(args) => admin_command(&args.access, async |hub| {
            for cluster in &args.clusters {
                let outcome = admin::accept(&hub, cluster).await?;
                for csr in &outcome.approved_csrs {
                    println!("CSR {csr} approved");
                }
                if !outcome.csr_approved {
                    // As `clusteradm accept`: nothing can join until its CSR is approved.
                    return Err(admin::AdminError::Invalid(format!(
                        "no CSR of cluster {cluster:?} is approved yet (hubAcceptsClient is set); run accept again once its agent has created its CSR"
                    )));
                }
                if outcome.accepted {
                    println!("managed cluster {cluster} accepted (hubAcceptsClient: true)");
                } else {
                    println!(
                        "managed cluster {cluster}: CSR approved; the cluster will be accepted once its agent creates it (run accept again)"
                    );
                }
            }
            Ok(())
        }),
        Command::Agent(args) => run_agent(&args),
        Command::Config(ConfigCommand::Check { file }) => match config::load(Some(&file)) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Config(ConfigCommand::Export { file }) => {
            match config::export_json(file.as_deref()) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(ConfigCommand::Schema) => {
            print!("{}", config::SCHEMA);
            ExitCode::SUCCESS
        }
        Command::JqDelete { expression } => agent::work::ignore::jq_delete_command(&expression),
        Command::Version(args) => {
            let info = http::version::info();
            match args.output {
                VersionFormat::Text => println!(
                    "multicluster-controlplane {} (Kubernetes API {})",
                    env!("CARGO_PKG_VERSION"),
                    info.git_version
                ),
                VersionFormat::Json => match serde_json::to_string_pretty(&info) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            ExitCode::SUCCESS
        }
    }
}

/// Loads the configuration and applies command-line overrides; prints the error otherwise.
fn load(args: &ConfigArgs) -> Result<Config, ExitCode> {
    let mut config = config::load(args.config.as_deref()).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })?;
    args.apply_overrides(&mut config);
    Ok(config)
}

/// Loads the configuration, starts logging and builds the async runtime.
fn prepare(
    args: &ConfigArgs,
    multi_thread: bool,
) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let config = load(args)?;
    logging::init(config.logging.level, config.logging.format);
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.max_blocking_threads(blocking_threads());
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    Ok((config, runtime))
}

/// Threads of the runtime's blocking pool, at most: storage reads (lists, watch replay,
/// point reads the cache cannot answer), the store's open and checkpoints run there. The
/// pool's default is 512, and it starts a thread for every task that finds none idle and
/// keeps it ten seconds: the controllers' first lists made 30-50 threads at every start,
/// each holding its stack and allocator state while the hub then idled. Reads are mostly
/// CPU work; four per core still overlap those that wait for the disk.
fn blocking_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 4
}

fn run_server(args: &ConfigArgs) -> ExitCode {
    let (config, runtime) = match prepare(args, true) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Replaces every `server:` line of a kubeconfig.
fn replace_server(kubeconfig: &str, server: Option<&str>) -> String {
    let Some(server) = server else {
        return kubeconfig.to_string();
    };
    kubeconfig
        .lines()
        .map(|line| match line.split_once("server:") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}server: {server}"),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Runs an admin command against the hub the admin kubeconfig points at.
fn admin_command(
    access: &HubAccess,
    body: impl AsyncFnOnce(kube::Client) -> Result<(), admin::AdminError>,
) -> ExitCode {
    let (config, runtime) = match prepare(&access.config, false) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    let kubeconfig = access
        .kubeconfig
        .clone()
        .unwrap_or_else(|| pki::Layout::new(&config.data_directory).admin_kubeconfig());
    let outcome = runtime.block_on(async {
        let hub = admin::connect(&kubeconfig).await?;
        body(hub).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_token(cmd: TokenCommand) -> ExitCode {
    match cmd {
        TokenCommand::Create(args) => {
            let ttl = match admin::parse_ttl(&args.ttl) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --ttl: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let given = match (&args.token, &args.token_file) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(file)) => {
                    let text = if file.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())
                    } else {
                        std::fs::read_to_string(file)
                    };
                    match text {
                        Ok(t) => Some(t.trim().to_string()),
                        Err(e) => {
                            eprintln!("error: --token-file {}: {e}", file.display());
                            return ExitCode::FAILURE;
                        }
                    }
                }
                (None, None) => None,
            };
            admin_command(&args.access, async |hub| {
                let created =
                    admin::create_token(&hub, given.as_deref(), ttl, &args.description).await?;
                if args.print_token_only {
                    println!("{}", created.token);
                    return Ok(());
                }
                let (server, ca) = hub_endpoint(&hub, args.hub_url.as_deref()).await?;
                let ca_hash = agent::hubconfig::ca_hash(&ca)
                    .map_err(|e| admin::AdminError::Invalid(e.to_string()))?;
                let (ours, clusteradm) = admin::join_commands(&server, &created.token, &ca_hash);
                println!("token: {}", created.token);
                println!(
                    "expires: {}",
                    created.expiration.as_deref().unwrap_or("never")
                );
                println!("\njoin a cluster with this agent:\n  {ours}");
                println!("\nor with the Go agent:\n  {clusteradm}");
                Ok(())
            })
        }
        TokenCommand::List(access) => admin_command(&access, async |hub| {
            let rows = admin::list_tokens(&hub).await?;
            println!("{:<8} {:<22} {:<40} DESCRIPTION", "ID", "EXPIRES", "GROUPS");
            for r in rows {
                println!(
                    "{:<8} {:<22} {:<40} {}",
                    r.id, r.expires, r.groups, r.description
                );
            }
            Ok(())
        }),
        TokenCommand::Delete { access, id } => admin_command(&access, async |hub| {
            admin::delete_token(&hub, &id).await?;
            println!("bootstrap token {id} deleted");
            Ok(())
        }),
    }
}

/// The hub URL and CA agents should use: from `kube-public/cluster-info` (the URL given
/// instead when there is one). A hub whose controllers run on an elected leader serves
/// before the leader has published `cluster-info`: wait for it, a bounded time.
async fn hub_endpoint(
    hub: &kube::Client,
    url: Option<&str>,
) -> Result<(String, String), admin::AdminError> {
    const PUBLISH_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
    let api =
        kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(hub.clone(), "kube-public");
    if api.get_opt("cluster-info").await?.is_none() {
        eprintln!("waiting for the hub's controllers to publish kube-public/cluster-info ...");
        let exists = |o: Option<&k8s_openapi::api::core::v1::ConfigMap>| o.is_some();
        let waited = kube::runtime::wait::await_condition(api, "cluster-info", exists);
        match tokio::time::timeout(PUBLISH_WAIT, waited).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(admin::AdminError::Invalid(format!(
                    "waiting for kube-public/cluster-info: {e}"
                )));
            }
            Err(_) => {
                return Err(admin::AdminError::Invalid(format!(
                    "kube-public/cluster-info was not published within {}s: are the hub's \
                     controllers enabled and has a replica been elected leader?",
                    PUBLISH_WAIT.as_secs()
                )));
            }
        }
    }
    let (server, ca) = agent::hubconfig::cluster_info(hub)
        .await
        .map_err(admin::AdminError::Invalid)?;
    Ok((url.map_or(server, str::to_string), ca))
}

fn run_agent(args: &AgentArgs) -> ExitCode {
    let config_args = ConfigArgs {
        config: args.config.clone(),
        ..ConfigArgs::default()
    };
    let (config, runtime) = match prepare(&config_args, true) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    let options = match agent_options(args, &config.agent) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(agent::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "agent failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The agent's options: flags over the configuration's `agent` section.
fn agent_options(args: &AgentArgs, file: &config::Agent) -> Result<agent::AgentOptions, String> {
    let path = |p: &str| (!p.is_empty()).then(|| std::path::PathBuf::from(p));
    let cluster_name = args
        .cluster_name
        .clone()
        .or_else(|| (!file.cluster_name.is_empty()).then(|| file.cluster_name.clone()))
        .ok_or("--cluster-name (or agent.clusterName) is required")?;
    let bootstrap = match (&args.bootstrap_kubeconfig, &args.hub_url) {
        (Some(k), _) => agent::Bootstrap::Kubeconfig(k.clone()),
        (None, Some(server)) => {
            let token = match (&args.token, &args.token_file) {
                (Some(t), _) => t.clone(),
                (None, Some(f)) => std::fs::read_to_string(f)
                    .map_err(|e| format!("--token-file {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
                _ => return Err("--hub-url needs --token or --token-file".into()),
            };
            agent::Bootstrap::Url {
                server: server.clone(),
                token,
                ca_file: args.hub_ca_file.clone(),
                ca_hash: args.hub_ca_hash.clone(),
            }
        }
        (None, None) => match path(&file.bootstrap_kubeconfig) {
            Some(k) => agent::Bootstrap::Kubeconfig(k),
            None => {
                return Err(
                    "give --bootstrap-kubeconfig (or agent.bootstrapKubeconfig), or --hub-url with a token"
                        .into(),
                );
            }
        },
    };
    let hub_kubeconfig_dir = args
        .hub_kubeconfig_dir
        .clone()
        .or_else(|| path(&file.hub_kubeconfig_dir))
        .ok_or("--hub-kubeconfig-dir (or agent.hubKubeconfigDir) is required")?;
    Ok(agent::AgentOptions {
        cluster_name,
        bootstrap,
        managed_kubeconfig: args
            .managed_kubeconfig
            .clone()
            .or_else(|| path(&file.managed_kubeconfig)),
        hub_kubeconfig_dir,
        lease_duration_seconds: args
            .lease_duration_seconds
            .unwrap_or(file.lease_duration_seconds),
        status_sync_seconds: args.status_sync_seconds.unwrap_or(file.status_sync_seconds),
        client_cert_expiration_seconds: args.client_cert_expiration_seconds,
        rotate_fraction: 0.8,
        eviction_grace: std::time::Duration::from_secs(
            args.appliedmanifestwork_eviction_grace_seconds,
        ),
        metrics_address: args.metrics_bind_address,
    })
}
