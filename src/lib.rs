//! multicluster-controlplane: a lightweight Open Cluster Management hub and agent.
//!
//! Start reading at `ARCHITECTURE.md`: it maps the layers (checked by `tests/layers.rs`).

pub mod admin;
pub mod agent;
pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod hosting;
pub mod http;
pub mod hub;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod registry;
pub mod server;
pub mod storage;
