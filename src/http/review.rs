//! The review APIs and token requests, answered from the request itself and never stored:
//! TokenReview and SelfSubjectReview (`kubectl auth whoami`), SubjectAccessReview,
//! LocalSubjectAccessReview, SelfSubjectAccessReview and SelfSubjectRulesReview
//! (`kubectl auth can-i`, also `--list`), and `serviceaccounts/<name>/token`.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::AuthServices;
use crate::api::Kind;
use crate::api::status::{Cause, Status};
use crate::api::user::UserInfo;
use crate::auth::request::Attributes;
use crate::auth::token::{DEFAULT_EXPIRATION_SECONDS, ISSUER, MIN_EXPIRATION_SECONDS};
use crate::auth::user::CertStatus;
use crate::registry::Registry;

fn user_json(user: &UserInfo) -> Value {
    let mut out = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        out["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        out["extra"] = json!(user.extra);
    }
    out
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Attributes from a review's `spec.resourceAttributes` / `spec.nonResourceAttributes`.
fn review_attributes(spec: &Value, user: UserInfo) -> Attributes {
    let text = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        Attributes {
            user,
            verb: text(r, "verb"),
            namespace: text(r, "namespace"),
            api_group: text(r, "group"),
            api_version: text(r, "version"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            name: text(r, "name"),
            resource_request: true,
            path: String::new(),
        }
    } else {
        let n = spec
            .get("nonResourceAttributes")
            .cloned()
            .unwrap_or(json!({}));
        Attributes {
            user,
            verb: text(&n, "verb"),
            path: text(&n, "path"),
            ..Attributes::default()
        }
    }
}

fn created(kind: &Kind, namespace: Option<&str>, spec: Value, status: Value) -> Response {
    created_by(kind, namespace, spec, status, None)
}

/// A review's answer; access reviews record their writer's fields as any create does.
fn created_by(
    kind: &Kind,
    namespace: Option<&str>,
    spec: Value,
    status: Value,
    manager: Option<&str>,
) -> Response {
    let mut metadata = json!({});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    if manager.is_some() {
        let object = json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": {}, "spec": spec});
        if let Some(fields) = crate::registry::created_fields(kind, &object, manager) {
            metadata["managedFields"] = fields;
        }
    }
    (
        StatusCode::CREATED,
        Json(json!({"apiVersion": kind.api_version(), "kind": kind.kind, "metadata": metadata, "spec": spec, "status": status})),
    )
        .into_response()
}

/// POST on a review kind.
pub async fn review(
    kind: &Kind,
    namespace: Option<&str>,
    body: Value,
    requester: &UserInfo,
    auth: &AuthServices,
    manager: Option<&str>,
) -> Result<Response, Status> {
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let status = match kind.kind.as_str() {
        "SelfSubjectReview" => json!({"userInfo": user_json(requester)}),
        "TokenReview" => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            let mut headers = HeaderMap::new();
            match HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(v) if !token.is_empty() => {
                    headers.insert(header::AUTHORIZATION, v);
                }
                _ => {
                    return Ok(created(
                        kind,
                        None,
                        json!({"token": ""}),
                        json!({"authenticated": false, "error": "invalid bearer token", "user": {}}),
                    ));
                }
            }
            // The spec echoed back without the token, as kube-apiserver does not either.
            let status = match auth.authn.authenticate(&CertStatus::None, &headers).await {
                Ok(user) => {
                    json!({"authenticated": true, "user": user_json(&user), "audiences": [ISSUER]})
                }
                Err(e) => json!({"authenticated": false, "error": e.to_string(), "user": {}}),
            };
            return Ok(created(kind, None, spec, status));
        }
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let user = if kind.kind == "SelfSubjectAccessReview" {
                requester.clone()
            } else {
                let mut extra = std::collections::BTreeMap::new();
                if let Some(map) = spec.get("extra").and_then(Value::as_object) {
                    for (k, v) in map {
                        extra.insert(k.clone(), strings(Some(v)));
                    }
                }
                UserInfo {
                    name: spec
                        .get("user")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").into(),
                    groups: strings(spec.get("groups")),
                    extra,
                }
            };
            let mut attrs = review_attributes(&spec, user);
            if kind.kind == "LocalSubjectAccessReview" {
                let ns = namespace.unwrap_or("");
                if !attrs.namespace.is_empty() && attrs.namespace != ns {
                    return Err(Status::invalid(
                        kind,
                        "",
                        vec![Cause::invalid(
                            "spec.resourceAttributes.namespace",
                            format!(
                                "Invalid value: \"{}\": must match metadata.namespace",
                                attrs.namespace
                            ),
                        )],
                    ));
                }
                attrs.namespace = ns.to_string();
            }
            let mut causes = Vec::new();
            let given = |f: &str| spec.get(f).is_some_and(Value::is_object);
            if !given("resourceAttributes") && !given("nonResourceAttributes") {
                causes.push(Cause::invalid(
                    "spec",
                    "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                ));
            }
            if attrs.user.name.is_empty() && attrs.user.groups.is_empty() {
                causes.push(Cause::invalid(
                    "spec.user",
                    "Invalid value: \"\": at least one of user or group must be specified",
                ));
            }
            if !causes.is_empty() {
                // kube's review validation names no kind: ".authorization.k8s.io" "".
                let mut status = Status::invalid(kind, "", causes);
                status.message = status.message.replacen(&kind.kind, "", 1);
                if let Some(d) = status.details.as_mut() {
                    d.kind.clear();
                }
                return Err(status);
            }
            let decision = auth.authz.authorize(&attrs);
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = json!(decision.reason);
            }
            status
        }
        "SelfSubjectRulesReview" => {
            let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            if crate::auth::rbac::is_privileged(requester) {
                json!({"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                       "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": false})
            } else {
                serde_json::to_value(auth.authz.index().rules_for(requester, ns))
                    .map_err(|e| Status::internal(e.to_string()))?
            }
        }
        other => return Err(Status::internal(format!("{other} is not a review kind"))),
    };
    let access_review = matches!(
        kind.kind.as_str(),
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview"
    );
    Ok(created_by(
        kind,
        namespace,
        spec,
        status,
        manager.filter(|_| access_review),
    ))
}

/// `POST .../serviceaccounts/<name>/token`: a TokenRequest answered with a signed token.
pub async fn token_request(
    registry: &Registry,
    kind: &Kind,
    namespace: &str,
    name: &str,
    body: Value,
    auth: &AuthServices,
) -> Result<Response, Status> {
    let account = registry.get(kind, Some(namespace), name).await?;
    let uid = account
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut spec = body.get("spec").cloned().unwrap_or(json!({}));
    let seconds = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(Status::invalid(
            kind,
            name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let audiences = strings(spec.get("audiences"));
    let now = time::OffsetDateTime::now_utc();
    let token = auth
        .authn
        .signer()
        .issue(
            namespace,
            name,
            uid,
            audiences.clone(),
            now.unix_timestamp(),
            seconds,
        )
        .map_err(|e| Status::internal(e.to_string()))?;
    let expires = (now + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    spec["expirationSeconds"] = json!(seconds);
    spec["audiences"] = json!(if audiences.is_empty() {
        vec![ISSUER.to_string()]
    } else {
        audiences
    });
    tracing::debug!(
        namespace,
        account = name,
        seconds,
        "issued a service-account token"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": expires},
        })),
    )
        .into_response())
}
