//! `GET /version`: a Kubernetes-shaped version object.
//!
//! kubectl warns when the server's minor version is more than one away from its own, and
//! helm compares `gitVersion` as semver, so we report the Kubernetes API level we serve
//! (`KUBE_MINOR`) and carry our own version in the semver build metadata.

use axum::Json;
use serde::Serialize;

/// The Kubernetes minor version whose API surface we follow.
pub const KUBE_MINOR: &str = "36";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub major: &'static str,
    pub minor: &'static str,
    pub git_version: String,
    pub git_commit: &'static str,
    pub git_tree_state: &'static str,
    pub build_date: &'static str,
    pub go_version: &'static str,
    pub compiler: &'static str,
    pub platform: String,
}

/// The version object of this build.
pub fn info() -> VersionInfo {
    VersionInfo {
        major: "1",
        minor: KUBE_MINOR,
        git_version: format!("v1.{KUBE_MINOR}.0+mcp.{}", env!("CARGO_PKG_VERSION")),
        git_commit: option_env!("MCP_GIT_COMMIT").unwrap_or("unknown"),
        git_tree_state: "clean",
        build_date: option_env!("MCP_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
        go_version: "n/a",
        compiler: "rustc",
        platform: format!("{}/{}", std::env::consts::OS, go_arch()),
    }
}

/// Architecture names as Go (and so kubectl) spells them.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn handler() -> Json<VersionInfo> {
    Json(info())
}
