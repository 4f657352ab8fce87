//! Kubernetes `Status` error bodies (`meta.k8s.io/v1`), the shape every client parses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A `Status` object with `status: Failure`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    message: String,
    reason: &'static str,
    code: u16,
}

impl Status {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Status {
            api_version: "v1",
            kind: "Status",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message: message.into(),
            reason,
            code: code.as_u16(),
        }
    }

    pub fn unauthorized() -> Self {
        Status::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    pub fn not_found_path(path: &str) -> Self {
        Status::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource (path {path})"),
        )
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self)).into_response()
    }
}
