//! The HTTPS front door: TLS with optional client certificates, routing, and the
//! endpoints that need no storage (health, readiness, version).
//!
//! Requests flow `tls` (handshake, peer identity) → `router` (axum) → handlers. The
//! API handlers of later layers plug into [`router`]. This module does not touch storage.

pub mod api;
pub mod discovery;
pub mod health;
pub mod openapi;
pub mod protobuf;
pub mod status;
pub mod table;
pub mod tls;
pub mod version;
pub mod watch;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use tls::PeerIdentity;

/// The routes served on the API port.
pub fn router(readiness: health::Readiness, registry: crate::registry::Registry) -> Router {
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
        .merge(health::routes(readiness))
        .merge(resources)
        .fallback(not_found)
        .layer(middleware::from_fn(require_identity))
}

/// Paths every client may read, authenticated or not (kube's `system:public-info-viewer`).
fn is_public(path: &str) -> bool {
    let base = path.trim_end_matches('/');
    ["/healthz", "/livez", "/readyz", "/version"]
        .iter()
        .any(|p| base == *p || base.starts_with(&format!("{p}/")))
}

/// Until RBAC lands, every non-public request must carry a client certificate signed by
/// the hub CA (the TLS layer has already verified the chain).
async fn require_identity(request: Request, next: Next) -> Response {
    let authenticated = request
        .extensions()
        .get::<PeerIdentity>()
        .is_some_and(|p| matches!(p.cert, tls::CertStatus::Valid(_)));
    if authenticated || is_public(request.uri().path()) {
        next.run(request).await
    } else {
        tracing::debug!(path = %request.uri().path(), "rejecting unauthenticated request");
        status::Status::unauthorized().into_response()
    }
}

async fn not_found(request: Request) -> Response {
    status::Status::not_found_path(request.uri().path()).into_response()
}
