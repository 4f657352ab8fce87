//! The HTTPS front door: TLS with optional client certificates, routing, and the
//! endpoints that need no storage (health, readiness, version).
//!
//! Requests flow `tls` (handshake, peer identity) → `auth` (authentication, impersonation,
//! RBAC) → `router` (axum) → handlers.

pub mod api;
pub mod auth;
pub mod discovery;
pub mod gojson;
pub mod health;
pub mod openapi;
pub mod printers;
pub mod protobuf;
pub mod review;
pub mod status;
pub mod table;
pub mod tls;
pub mod version;
pub mod watch;

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use tls::PeerIdentity;

/// The routes served on the API port, every one behind authentication and RBAC
/// (`/healthz`, `/livez`, `/readyz` and `/version` are open to anonymous users through
/// the default `system:public-info-viewer` binding, as on kube-apiserver).
pub fn router(
    readiness: health::Readiness,
    registry: crate::registry::Registry,
    auth: auth::AuthServices,
) -> Router {
    let resources = Router::new()
        .route("/api", axum::routing::any(api::handle))
        .route("/api/{*rest}", axum::routing::any(api::handle))
        .route("/apis", axum::routing::any(api::handle))
        .route("/apis/{*rest}", axum::routing::any(api::handle))
        .route("/openapi/v3", get(openapi::index))
        .route("/openapi/v3/{*gv}", get(openapi::document))
        .route("/openapi/v2", get(openapi::v2))
        .with_state(registry);
    Router::new()
        .route("/version", get(version::handler))
        .route("/version/", get(version::handler))
        .route("/metrics", get(metrics))
        .merge(health::routes(readiness))
        .merge(resources)
        .fallback(not_found)
        .layer(axum::Extension(auth.clone()))
        .layer(middleware::from_fn_with_state(auth, auth::guard))
}

/// `/metrics`: the hub's Prometheus metrics (RBAC decides who reads them, as for any
/// non-resource URL; the default `system:monitoring` role may).
async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        crate::metrics::get().hub_text(),
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    crate::api::status::Status::not_found_path(request.uri().path()).into_response()
}
