//! The authentication and authorization filter in front of every route: who is asking
//! (`auth::authn`), as whom (`auth::impersonation`), and whether RBAC allows it
//! (`auth::authz`). A 401 for credentials that do not authenticate, a 403 in kube's
//! words for everything RBAC denies; the user travels on as a [`RequestUser`].

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::tls::PeerIdentity;
use crate::api::status::{Details, Status};
use crate::api::user::UserInfo;
use crate::auth::authn::Authenticator;
use crate::auth::authz::Authorizer;
use crate::auth::impersonation::{Refused, effective_user};
use crate::auth::request::{Attributes, attributes};

/// Everything the filter needs.
#[derive(Clone)]
pub struct AuthServices {
    pub authn: Authenticator,
    pub authz: Authorizer,
}

/// The user a request is served as.
#[derive(Debug, Clone)]
pub struct RequestUser(pub UserInfo);

/// kube's 403 for denied attributes.
pub fn forbidden(attrs: &Attributes, reason: &str) -> Status {
    let detail = crate::auth::rbac::forbidden_message(attrs, reason);
    if !attrs.resource_request {
        return Status::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("forbidden: {detail}"),
        );
    }
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    let subject = if attrs.name.is_empty() {
        qualified
    } else {
        format!("{qualified} \"{}\"", attrs.name)
    };
    let mut status = Status::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("{subject} is forbidden: {detail}"),
    );
    status.details = Some(Box::new(Details {
        name: attrs.name.clone(),
        group: attrs.api_group.clone(),
        kind: attrs.resource.clone(),
        ..Details::default()
    }));
    status
}

/// The filter (axum middleware).
pub async fn guard(State(auth): State<AuthServices>, mut request: Request, next: Next) -> Response {
    // Latency counts from here, authentication and authorization included, as kube's does.
    let started = std::time::Instant::now();
    let peer = request
        .extensions()
        .get::<PeerIdentity>()
        .cloned()
        .unwrap_or_default();
    let requester = match auth.authn.authenticate(&peer.cert, request.headers()).await {
        Ok(user) => user,
        Err(e) => {
            tracing::debug!(path = %request.uri().path(), reason = %e, "authentication failed");
            return Status::unauthorized().into_response();
        }
    };
    let user = match effective_user(&auth.authz, requester.clone(), request.headers()) {
        Ok(user) => user,
        Err(Refused::Forbidden(attrs)) => {
            tracing::debug!(user = %requester.name, resource = %attrs.resource, name = %attrs.name, "impersonation denied");
            return forbidden(&attrs, "").into_response();
        }
        Err(Refused::BadRequest(message)) => {
            return Status::bad_request(message).into_response();
        }
    };
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let mut attrs = attributes(request.method(), request.uri().path(), &query);
    attrs.user = user;
    let decision = auth.authz.authorize(&attrs);
    tracing::debug!(
        user = %attrs.user.name,
        verb = %attrs.verb,
        resource = %attrs.resource,
        namespace = %attrs.namespace,
        path = %attrs.path,
        allowed = decision.allowed,
        "authorization"
    );
    if !decision.allowed {
        return forbidden(&attrs, &decision.reason).into_response();
    }
    request
        .extensions_mut()
        .insert(RequestUser(attrs.user.clone()));
    let response = next.run(request).await;
    record(&attrs, response.status(), started.elapsed());
    response
}

/// Counts an authorized request in `apiserver_request_total` and its latency, with
/// kube-apiserver's verbs (`LIST` and `WATCH` for collection reads, else the HTTP method).
fn record(attrs: &Attributes, code: axum::http::StatusCode, elapsed: std::time::Duration) {
    let verb = match attrs.verb.as_str() {
        "list" => "LIST".to_string(),
        "watch" => "WATCH".to_string(),
        _ => match attrs.verb.as_str() {
            "get" => "GET",
            "create" => "POST",
            "update" => "PUT",
            "patch" => "PATCH",
            "delete" | "deletecollection" => "DELETE",
            other => other,
        }
        .to_string(),
    };
    crate::metrics::get().request(
        crate::metrics::RequestLabels {
            verb,
            group: attrs.api_group.clone(),
            resource: attrs.resource.clone(),
            subresource: attrs.subresource.clone(),
            code: code.as_u16().to_string(),
        },
        elapsed,
    );
}
