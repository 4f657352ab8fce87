//! The typed mirror of `config/schema.ncl`.
//!
//! Field names, nesting and types follow the contract exactly; defaults are *not* repeated
//! here (the contract fills every field before deserialisation). Keep the two in step:
//! `config::tests::defaults_are_complete` fails when they drift.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration of a hub or agent process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub data_directory: PathBuf,
    pub apiserver: ApiServer,
    pub etcd: Etcd,
    pub aggregator: Aggregator,
    pub logging: Logging,
    pub pki: Pki,
    pub storage: Storage,
    pub controllers: Controllers,
    pub agent: Agent,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    pub external_hostname: String,
    /// The port behind `external_hostname` (0: `port`).
    pub external_port: u16,
    pub port: u16,
    pub bind_address: String,
    pub ca_file: String,
    pub ca_key_file: String,
    pub service_account_key_file: String,
    pub delegating_authentication: DelegatingAuthentication,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DelegatingAuthentication {
    pub enabled: bool,
    pub kubeconfig: String,
    #[serde(rename = "cacheTTLSeconds")]
    pub cache_ttl_seconds: u64,
    pub cache_size: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EtcdMode {
    Embed,
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Etcd {
    pub mode: EtcdMode,
    pub prefix: String,
    pub servers: Vec<String>,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Aggregator {
    pub proxy_client_cert_file: String,
    pub proxy_client_key_file: String,
    #[serde(rename = "requestheaderClientCAFile")]
    pub requestheader_client_ca_file: String,
    pub requestheader_username_headers: Vec<String>,
    pub requestheader_group_headers: Vec<String>,
    pub requestheader_extra_headers_prefix: Vec<String>,
    pub requestheader_allowed_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pki {
    pub ca_validity_seconds: u64,
    pub serving_cert_validity_seconds: u64,
    pub client_cert_validity_seconds: u64,
    pub renew_before_expiry_percent: u8,
    pub renew_check_interval_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    pub sync: bool,
    pub compaction_interval_seconds: u64,
    pub history_retention_seconds: u64,
    pub event_ttl_seconds: u64,
    pub watch_queue_length: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Controllers {
    pub enabled: bool,
    pub feature_gates: FeatureGates,
    pub auto_approval_bootstrap_users: Vec<String>,
    pub max_cert_expiration_seconds: u64,
    pub max_manifest_work_bytes: u64,
    pub leader_election: LeaderElection,
    pub self_management: SelfManagement,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElection {
    pub enabled: bool,
    pub lease_duration_seconds: u64,
    pub renew_deadline_seconds: u64,
    pub retry_period_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SelfManagement {
    pub enabled: bool,
    pub cluster_name: String,
    pub kubeconfig: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureGates {
    #[serde(rename = "ManagedClusterAutoApproval")]
    pub managed_cluster_auto_approval: bool,
    #[serde(rename = "DefaultClusterSet")]
    pub default_cluster_set: bool,
    #[serde(rename = "ClusterProfile")]
    pub cluster_profile: bool,
    #[serde(rename = "ManifestWorkReplicaSet")]
    pub manifest_work_replica_set: bool,
    #[serde(rename = "CleanUpCompletedManifestWork")]
    pub clean_up_completed_manifest_work: bool,
    #[serde(rename = "AddonManagement")]
    pub addon_management: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub cluster_name: String,
    pub bootstrap_kubeconfig: String,
    pub hub_kubeconfig_dir: String,
    pub managed_kubeconfig: String,
    pub lease_duration_seconds: u64,
    pub status_sync_seconds: u64,
}

impl Config {
    /// Makes `dataDirectory` absolute against the working directory, so that log lines,
    /// kubeconfig paths and error messages always name a full path.
    pub fn resolve_relative_paths(&mut self) {
        if self.data_directory.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            self.data_directory = cwd.join(&self.data_directory);
        }
    }
}
