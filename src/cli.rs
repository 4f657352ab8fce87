//! The command line (clap): every subcommand, its flags and their help text.
//!
//! Flags given here override the configuration file; `apply_overrides` is the one place
//! where that happens.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// One binary for a whole Open Cluster Management hub and its agent.
#[derive(Debug, Parser)]
#[command(
    name = "multicluster-controlplane",
    version,
    about = "A lightweight Open Cluster Management hub: Kubernetes-compatible API server, \
             embedded storage, PKI and hub controllers in one process",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: HTTPS API server, storage, PKI and hub controllers.
    ///
    /// On first start it creates a CA, a serving certificate and an admin kubeconfig under
    /// `<dataDirectory>/cert`; later starts reuse them. It prints how to reach it once
    /// `/readyz` is ready, and stops cleanly on SIGINT or SIGTERM.
    Server(ConfigArgs),
    /// Print the admin kubeconfig written by the server (`<dataDirectory>/cert/kube-aggregator.kubeconfig`).
    Kubeconfig(KubeconfigArgs),
    /// Back up the embedded store and the PKI into a new directory, while the server runs.
    ///
    /// Writes DIR/db (a consistent RocksDB checkpoint) and DIR/cert. To restore, stop the
    /// server and put both back as `<dataDirectory>/db` and `<dataDirectory>/cert`.
    Backup(BackupArgs),
    /// Bootstrap tokens that managed clusters join with (through the running hub's API).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Accept managed clusters: approve their pending join CSRs and set `hubAcceptsClient`
    /// (what `clusteradm accept --clusters` does).
    Accept(AcceptArgs),
    /// Run the managed-cluster agent: join a hub, then keep the cluster's status and lease
    /// current and its certificate fresh.
    Agent(AgentArgs),
    /// Validate, evaluate or print the configuration contract.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print version information.
    Version(VersionArgs),
    /// Internal: `del(EXPRESSION)` in jq on the JSON object read from stdin, the result on
    /// stdout. The agent runs its `ignoreFields.jqPathExpressions` through this, in a child
    /// process it can stop.
    #[command(hide = true)]
    JqDelete {
        /// A jq path expression.
        expression: String,
    },
}

/// Where the configuration comes from, and the flags that override it.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file: Nickel (.ncl, imports allowed), JSON or YAML, such as the Go
    /// project's ocmconfig.yaml. Without it, every setting has its default.
    #[arg(long, short = 'c', value_name = "FILE", env = "MCP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `dataDirectory`): certificates, kubeconfigs, the store.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS port (overrides `apiserver.port`).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Listen address (overrides `apiserver.bindAddress`), e.g. 127.0.0.1, 0.0.0.0 or ::.
    #[arg(long, value_name = "ADDR")]
    pub bind_address: Option<String>,
    /// Serve the API only, without the OCM hub controllers (sets `controllers.enabled`
    /// to false), e.g. as a stand-in for a managed cluster's API server.
    #[arg(long)]
    pub no_controllers: bool,
}

impl ConfigArgs {
    /// Applies the command-line overrides on top of a loaded configuration.
    pub fn apply_overrides(&self, config: &mut Config) {
        if let Some(dir) = &self.data_dir {
            config.data_directory = dir.clone();
            config.resolve_relative_paths();
        }
        if let Some(port) = self.port {
            config.apiserver.port = port;
        }
        if let Some(addr) = &self.bind_address {
            config.apiserver.bind_address = addr.clone();
        }
        if self.no_controllers {
            config.controllers.enabled = false;
        }
    }
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Replace the server URL in the printed kubeconfig, e.g. https://hub.example.com:9443.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Directory to write the backup into; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file against the contract. Exits 0 when it is valid; otherwise
    /// prints the Nickel diagnostic (file, line, field) and exits 1.
    Check {
        /// The file to check (.ncl, .json, .yaml or .yml).
        file: PathBuf,
    },
    /// Print the fully evaluated configuration, every default filled in, as JSON.
    Export {
        /// The file to evaluate; without it, the defaults are printed.
        file: Option<PathBuf>,
    },
    /// Print the Nickel contract (`config/schema.ncl`) that every configuration must satisfy.
    Schema,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: VersionFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VersionFormat {
    /// `multicluster-controlplane <version> (Kubernetes API v1.x)`.
    Text,
    /// The same object `GET /version` returns.
    Json,
}

/// How an admin command reaches the hub.
#[derive(Debug, Args, Clone)]
pub struct HubAccess {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Admin kubeconfig of the hub; default: the one the server wrote in its data directory.
    #[arg(long, value_name = "FILE", env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token and print it with ready-to-run join commands.
    Create(TokenCreateArgs),
    /// List bootstrap tokens.
    List(HubAccess),
    /// Delete a bootstrap token by id.
    Delete {
        #[command(flatten)]
        access: HubAccess,
        /// The token id (the part before the dot), or the whole token.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub access: HubAccess,
    /// The token to create, `[a-z0-9]{6}.[a-z0-9]{16}`; random when omitted.
    #[arg(value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Read the token to create from this file (`-`: standard input), so it never
    /// appears in a process list.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Lifetime, such as 24h, 90m or 7d; 0 never expires. Expired tokens are deleted.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub ttl: String,
    /// A note stored with the token.
    #[arg(long, default_value = "joins managed clusters to this hub")]
    pub description: String,
    /// Hub URL to print in the join commands, when agents reach the hub by another name
    /// than the admin kubeconfig uses.
    #[arg(long, value_name = "URL")]
    pub hub_url: Option<String>,
    /// Print only the token.
    #[arg(long)]
    pub print_token_only: bool,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    #[command(flatten)]
    pub access: HubAccess,
    /// Names of the clusters to accept.
    #[arg(required = true, value_name = "CLUSTER")]
    pub clusters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Configuration file (its `agent` section; flags override it).
    #[arg(long, short = 'c', value_name = "FILE", env = "MCP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Name of the managed cluster (overrides `agent.clusterName`).
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Bootstrap kubeconfig holding the hub URL, CA and a bootstrap token.
    #[arg(long, value_name = "FILE", conflicts_with = "hub_url")]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// Hub URL (instead of a bootstrap kubeconfig; needs a token and the CA).
    #[arg(long, value_name = "URL")]
    pub hub_url: Option<String>,
    /// Bootstrap token `<id>.<secret>`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MCP_BOOTSTRAP_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// File holding the bootstrap token.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The hub CA certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub hub_ca_file: Option<PathBuf>,
    /// Pin of the hub CA public key, `sha256:<hex>` (printed by `token create`); the CA is
    /// then read from the hub's `kube-public/cluster-info` and checked against it.
    #[arg(long, value_name = "HASH")]
    pub hub_ca_hash: Option<String>,
    /// Kubeconfig of the managed cluster (overrides `agent.managedKubeconfig`); without
    /// it, the in-cluster configuration or `KUBECONFIG`.
    #[arg(long, value_name = "FILE")]
    pub managed_kubeconfig: Option<PathBuf>,
    /// Directory for the agent's key, certificate and hub kubeconfig (overrides
    /// `agent.hubKubeconfigDir`).
    #[arg(long, value_name = "DIR")]
    pub hub_kubeconfig_dir: Option<PathBuf>,
    /// Lease renewal period in seconds (overrides `agent.leaseDurationSeconds`).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_duration_seconds: Option<u64>,
    /// Status resync period in seconds (overrides `agent.statusSyncSeconds`).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub status_sync_seconds: Option<u64>,
    /// Requested lifetime of the client certificate (at least 600; the hub may cap it).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(600..))]
    pub client_cert_expiration_seconds: Option<u64>,
    /// How long resources of a ManifestWork that disappeared from the hub are kept before
    /// they are removed (protects workloads while a hub is replaced).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub appliedmanifestwork_eviction_grace_seconds: u64,
    /// Serve the agent's Prometheus metrics on `http://ADDRESS/metrics` (e.g.
    /// 127.0.0.1:8080); off when not given.
    #[arg(long, value_name = "ADDRESS")]
    pub metrics_bind_address: Option<std::net::SocketAddr>,
}
