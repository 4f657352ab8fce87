//! The Kubernetes REST surface over the registry: discovery documents and the resource
//! paths `/api/v1/...` and `/apis/<group>/<version>/...` for every kind, namespaced and
//! cluster-scoped, with the `status` subresource.
//!
//! Path parsing follows kube-apiserver's request-info rules (`namespaces/<ns>/...`, with
//! `status` and `finalize` as subresources of a namespace). Query parameters this server
//! does not implement yet are refused with 400 rather than ignored, so no client gets a
//! silently wrong answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::AuthServices;
use super::table::Representation;
use crate::api::status::Status;
use crate::api::user::UserInfo;
use crate::api::{Catalog, Kind};
use crate::registry::selector::{FieldSelector, LabelSelector};
use crate::registry::{
    DeleteOptions, Deletion, Filter, Op, Patch, Propagation, Registry, ScaleWrite, Target,
    WriteGuard, WriteOptions, parse_field_validation,
};
use crate::storage::ListOptions;

/// Largest request body accepted, as kube-apiserver (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Where a resource request points.
#[derive(Debug)]
struct ResourcePath {
    kind: Arc<Kind>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

/// Parses the part of a path after `/api/v1/` or `/apis/<g>/<v>/`.
fn parse(
    catalog: &Catalog,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<ResourcePath, Status> {
    let mut parts = rest.to_vec();
    let mut namespace = None;
    if parts.first() == Some(&"namespaces") && parts.len() > 1 {
        namespace = Some(parts[1].to_string());
        if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
            parts.drain(..2);
        } else {
            // The namespace object itself (or its subresource).
            namespace = None;
        }
    }
    let not_found = || Status::not_found_path(&format!("/{}", rest.join("/")));
    // Paths under /apis that no handler serves get the mux's plain 404: a group or
    // version not served, and in a group of custom resources (apiextensions' handler) an
    // unknown resource or a cluster-scoped one under a namespace. /api and the built-in
    // groups answer a NotFound Status.
    let served = catalog
        .group_versions()
        .iter()
        .any(|(g, v)| g == group && v == version);
    if !served && !group.is_empty() {
        return Err(Status::page_not_found());
    }
    let custom_group = catalog.kinds().iter().any(|k| k.group == group && k.custom);
    let unknown = || {
        if custom_group {
            Status::page_not_found()
        } else {
            not_found()
        }
    };
    let plural = parts.first().ok_or_else(unknown)?;
    let kind = catalog.find(group, version, plural).ok_or_else(unknown)?;
    if namespace.is_some() && !kind.namespaced() {
        return Err(unknown());
    }
    let target = ResourcePath {
        kind,
        namespace,
        name: parts.get(1).map(|s| s.to_string()),
        subresource: parts.get(2).map(|s| s.to_string()),
    };
    if parts.len() > 3 {
        // apiextensions answers for the object the path names.
        return Err(match (&target.name, target.kind.custom) {
            (Some(name), true) => Status::not_found(&target.kind, name),
            _ => not_found(),
        });
    }
    if let (Some(name), Some(sub)) = (&target.name, target.subresource.as_deref())
        && !target.kind.has_subresource(sub)
    {
        // kube: custom resources answer for the object; built-in kinds have no route.
        return Err(if target.kind.custom {
            Status::not_found(&target.kind, name)
        } else {
            let mut status = Status::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
            status.details = Some(Box::default());
            status
        });
    }
    Ok(target)
}

/// Handles every request under `/api/` and `/apis/`.
pub async fn handle(
    State(registry): State<Registry>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    use futures::FutureExt;
    // A bug must cost one request a 500, not the connection (and never the server).
    let guarded = std::panic::AssertUnwindSafe(dispatch(&registry, &query, request));
    match guarded.catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(status)) => status.into_response(),
        Err(_) => {
            tracing::error!("a request handler panicked; answered 500");
            Status::internal("the server hit a bug while handling this request").into_response()
        }
    }
}

async fn dispatch(
    registry: &Registry,
    query: &HashMap<String, String>,
    request: Request,
) -> Result<Response, Status> {
    let path = request.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return super::discovery::serve(registry.catalog(), &segments, request.headers()),
    };
    let target = parse(registry.catalog(), group, version, rest)?;
    let options = write_options(query, request.method())?;
    let filter = Filter {
        labels: LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(Status::bad_request)?,
        fields: FieldSelector::parse_for(
            query.get("fieldSelector").map(String::as_str).unwrap_or(""),
            &target.kind,
        )
        .map_err(Status::bad_request)?,
    };
    let method = request.method().clone();
    let representation = super::table::negotiate(request.headers());
    if !acceptable(request.headers()) {
        let mut status = Status::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch",
        );
        status.details = Some(Box::default());
        return Err(status);
    }
    let patch_type = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    if method == Method::PATCH {
        check_patch_type(&target.kind, &patch_type)?;
        let apply = patch_type == "application/apply-patch+yaml";
        if apply && query.get("fieldManager").is_none_or(String::is_empty) {
            return Err(options_invalid(
                "PatchOptions",
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch".into(),
            ));
        }
        if !apply && query.contains_key("force") {
            return Err(options_invalid(
                "PatchOptions",
                "force",
                "FieldValueForbidden",
                "Forbidden: may not be specified for non-apply patch".into(),
            ));
        }
    }
    let mut options = options;
    options.field_manager = field_manager(query, request.headers());
    let media = if method == Method::PATCH {
        String::new()
    } else {
        patch_type.clone()
    };
    let user = request
        .extensions()
        .get::<super::auth::RequestUser>()
        .map(|u| u.0.clone())
        .unwrap_or_else(UserInfo::anonymous);
    let auth = request.extensions().get::<AuthServices>().cloned();
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            Status::too_large(format!("the request body exceeds {MAX_BODY_BYTES} bytes"))
        })?;
    let kind = &*target.kind;
    let ns = target.namespace.as_deref();
    let sub = match target.subresource.as_deref() {
        None => Target::Main,
        Some("approval") => Target::Approval,
        Some("finalize") => Target::Finalize,
        Some("scale") => {
            let name = target.name.as_deref().unwrap_or("");
            let media = if method == Method::PATCH {
                patch_type.as_str()
            } else {
                media.as_str()
            };
            return serve_scale(
                registry,
                kind,
                ns,
                name,
                &method,
                (media, &body),
                query,
                &options,
            )
            .await;
        }
        Some(_) => Target::Status,
    };
    if kind.create_only() || target.subresource.as_deref() == Some("token") {
        let auth = auth.ok_or_else(|| Status::internal("authentication is not set up"))?;
        return match (
            &method,
            target.name.as_deref(),
            target.subresource.as_deref(),
        ) {
            (&Method::POST, None, None) => {
                super::review::review(
                    kind,
                    ns,
                    decode_body(&media, &body)?,
                    &user,
                    &auth,
                    options.field_manager.as_deref(),
                )
                .await
            }
            (&Method::POST, Some(name), Some("token")) => {
                let request = decode_body(&media, &body)?;
                super::review::token_request(registry, kind, ns.unwrap_or(""), name, request, &auth)
                    .await
            }
            _ => Err(method_not_allowed(&method)),
        };
    }
    let rbac = auth
        .as_ref()
        .filter(|_| kind.group == "rbac.authorization.k8s.io");
    if let Some(auth) = rbac {
        // Escalation prevention runs in the registry, on the object actually stored.
        let (auth, user, namespace) = (auth.clone(), user.clone(), ns.map(str::to_string));
        options.guard = Some(WriteGuard(std::sync::Arc::new(move |kind, new, old| {
            check_rbac_write(&auth, kind, namespace.as_deref(), new, old, &user)
        })));
    }
    if auth.is_some() {
        options.user = Some(user.clone());
    }
    // Across namespaces a namespaced resource is only read (list, watch).
    if kind.namespaced() && ns.is_none() && method != Method::GET {
        return Err(method_not_allowed(&method));
    }
    match (method, target.name.as_deref()) {
        (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            validate_list_options(query, true)?;
            super::watch::serve(
                registry,
                target.kind.clone(),
                ns,
                query,
                filter,
                representation,
            )
            .await
        }
        (Method::GET, None) => {
            validate_list_options(query, false)?;
            let options = list_options(query)?;
            if let Some(rv) = not_older_than(query)? {
                registry.wait_for_revision(rv).await?;
            }
            let unfiltered = filter.labels.is_empty() && filter.fields.is_empty();
            if unfiltered && representation == Representation::Full {
                let bytes = registry.list_json(kind, ns, options).await?;
                return Ok((
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
                    .into_response());
            }
            let mut list = registry.list_filtered(kind, ns, options, &filter).await?;
            if representation != Representation::Full
                && list.pointer("/metadata/continue") == Some(&json!(""))
                && let Some(m) = list["metadata"].as_object_mut()
            {
                // Only unstructured lists carry an empty continue.
                m.remove("continue");
            }
            Ok(Json(match representation {
                Representation::Table => {
                    let items = list["items"].as_array().cloned().unwrap_or_default();
                    super::table::table(
                        kind,
                        &items,
                        list["metadata"].clone(),
                        super::table::include(query),
                    )
                }
                Representation::Metadata => super::table::partial_list(&list),
                Representation::Full | Representation::Discovery => typed_items(kind, list),
            })
            .into_response())
        }
        (Method::POST, None) => {
            let object = decode_object(kind, &media, &body)?;
            let duplicates = duplicate_warnings(kind, &media, &body, &options)?;
            let created = registry.create_with(kind, ns, object, &options).await?;
            observe_rbac(rbac, kind, &created.object, false, &options);
            Ok(with_warnings(
                (StatusCode::CREATED, Json(created.object)).into_response(),
                &[duplicates, created.warnings].concat(),
            ))
        }
        (Method::GET, Some(name)) => {
            let object = registry.get(kind, ns, name).await?;
            Ok(Json(match representation {
                Representation::Table => {
                    let metadata =
                        json!({"resourceVersion": object.pointer("/metadata/resourceVersion")});
                    super::table::table(
                        kind,
                        std::slice::from_ref(&object),
                        metadata,
                        super::table::include(query),
                    )
                }
                Representation::Metadata => super::table::partial(&object),
                Representation::Full | Representation::Discovery => object,
            })
            .into_response())
        }
        (Method::PUT, Some(name)) => {
            let object = decode_object(kind, &media, &body)?;
            let duplicates = duplicate_warnings(kind, &media, &body, &options)?;
            let updated = registry
                .update_with(kind, ns, name, object, sub, &options, Op::Body)
                .await?;
            observe_rbac(rbac, kind, &updated.object, false, &options);
            let code = if updated.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(with_warnings(
                (code, Json(updated.object)).into_response(),
                &[duplicates, updated.warnings].concat(),
            ))
        }
        (Method::PATCH, Some(name)) => {
            let patch = patch_body(&patch_type, &body, query)?;
            let patched = registry
                .patch_with(kind, ns, name, &patch, sub, &options)
                .await?;
            observe_rbac(rbac, kind, &patched.object, false, &options);
            let code = if patched.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(with_warnings(
                (code, Json(patched.object)).into_response(),
                &patched.warnings,
            ))
        }
        (Method::DELETE, None) => {
            // deletecollection: every matching object, each through the normal delete.
            let delete_options = delete_options(&media, &body)?;
            let list = registry
                .list_filtered(kind, ns, ListOptions::default(), &filter)
                .await?;
            let mut deleted = Vec::new();
            for item in list["items"].as_array().cloned().unwrap_or_default() {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let item_ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
                let item_options = DeleteOptions {
                    dry_run: options.dry_run,
                    ..delete_options.clone()
                };
                match registry
                    .delete_with(kind, item_ns, name, &item_options)
                    .await
                {
                    Ok(Deletion::Deleted(o) | Deletion::Pending(o)) => deleted.push(o),
                    Err(status) if status.reason == "NotFound" => {}
                    Err(status) => return Err(status),
                }
            }
            // The deleted objects, under the metadata of the list they were found in.
            let list = json!({"apiVersion": kind.api_version(), "kind": kind.list_kind(), "metadata": list["metadata"], "items": deleted});
            Ok(Json(typed_items(kind, list)).into_response())
        }
        (Method::DELETE, Some(name)) if target.subresource.is_none() => {
            let mut delete_options = delete_options(&media, &body)?;
            delete_options.dry_run = options.dry_run;
            let deletion = registry
                .delete_with(kind, ns, name, &delete_options)
                .await?;
            if let Deletion::Deleted(last) = &deletion {
                observe_rbac(rbac, kind, last, true, &options);
            }
            match deletion {
                // 200 with the object, as kube (202 only for orphanDependents=false).
                Deletion::Pending(object) => Ok(Json(object).into_response()),
                // ServiceAccounts answer with the deleted object (ReturnDeletedObject).
                Deletion::Deleted(last)
                    if kind.group.is_empty() && kind.kind == "ServiceAccount" =>
                {
                    Ok(Json(last).into_response())
                }
                Deletion::Deleted(last) => {
                    let mut details = json!({"name": name, "group": kind.group, "kind": kind.plural, "uid": last.pointer("/metadata/uid")});
                    if kind.group.is_empty() {
                        details.as_object_mut().map(|d| d.remove("group"));
                    }
                    Ok(Json(json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": details,
                    }))
                    .into_response())
                }
            }
        }
        // Custom resources route a POST by its verb alone: on an object's path it is a
        // create of the body (whose own name counts), as on the collection.
        (Method::POST, Some(_)) if kind.custom && target.subresource.is_none() => {
            let object = decode_body(&media, &body)?;
            let created = registry.create_with(kind, ns, object, &options).await?;
            Ok(with_warnings(
                (StatusCode::CREATED, Json(created.object)).into_response(),
                &created.warnings,
            ))
        }
        // Custom resources route writes of a collection to the item handlers.
        (Method::PUT | Method::PATCH, None) if kind.custom => {
            Err(Status::bad_request("name must be provided"))
        }
        (method, _) => Err(method_not_allowed(&method)),
    }
}

fn method_not_allowed(method: &Method) -> Status {
    tracing::debug!("{method} is not allowed here");
    let mut status = Status::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    );
    status.details = Some(Box::default());
    status
}

/// RBAC's escalation prevention on role and binding writes.
fn check_rbac_write(
    auth: &AuthServices,
    kind: &Kind,
    namespace: Option<&str>,
    new: &Value,
    old: Option<&Value>,
    user: &UserInfo,
) -> Result<(), Status> {
    let index = auth.authz.index();
    let ns = namespace.unwrap_or("");
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let result = match kind.kind.as_str() {
        "Role" | "ClusterRole" => index.check_role_write(user, &kind.plural, ns, new, old),
        _ => {
            let Some(role_ref) = new
                .get("roleRef")
                .and_then(crate::auth::rbac::RoleRef::from_value)
            else {
                return Ok(()); // schema validation reports the missing roleRef
            };
            let gc_only =
                old.is_some_and(|o| crate::auth::rbac::is_only_mutating_gc_fields(new, o));
            index.check_binding_write(user, &role_ref, ns, gc_only)
        }
    };
    result.map_err(|e| {
        let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::FORBIDDEN);
        let reason = match e.status_code() {
            403 => "Forbidden",
            404 => "NotFound",
            _ => "BadRequest",
        };
        let mut status = Status::new(code, reason, e.message_for(&kind.plural, name));
        if code == StatusCode::FORBIDDEN {
            // kube's NewForbidden names the object.
            status.details = Some(Box::new(crate::api::status::Details {
                name: name.to_string(),
                group: kind.group.clone(),
                kind: kind.plural.clone(),
                ..Default::default()
            }));
        }
        status
    })
}

/// Applies an RBAC write to the authorizer at once (its watch follows too).
fn observe_rbac(
    rbac: Option<&AuthServices>,
    kind: &Kind,
    object: &Value,
    deleted: bool,
    options: &WriteOptions,
) {
    if let Some(auth) = rbac
        && !options.dry_run
    {
        auth.authz.observe(&kind.kind, object, deleted);
    }
}

/// The patch types a kind accepts: strategic merge only for built-in kinds, as kube.
fn check_patch_type(kind: &Kind, patch_type: &str) -> Result<(), Status> {
    // Custom resources, their /scale too, take no strategic merge patches.
    let strategic = !kind.custom;
    let ok = match patch_type {
        "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/apply-patch+yaml" => true,
        "application/strategic-merge-patch+json" => strategic,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    if !kind.custom && patch_type != "application/strategic-merge-patch+json" {
        // Built-in kinds: the generic answer of the routing layer.
        let mut status = Status::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "415: Unsupported Media Type",
        );
        status.details = Some(Box::default());
        return Err(status);
    }
    let mut accepted = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if strategic {
        accepted.push("application/strategic-merge-patch+json");
    }
    Err(Status::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    ))
}

/// The writer recorded in managedFields: `fieldManager`, else the User-Agent's product
/// name, as kube-apiserver derives it.
fn field_manager(
    query: &HashMap<String, String>,
    headers: &axum::http::HeaderMap,
) -> Option<String> {
    if let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return Some(manager.clone());
    }
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    Some(
        agent
            .split('/')
            .next()
            .unwrap_or(agent)
            .chars()
            .take(128)
            .collect(),
    )
}

/// A 422 about the request's options rather than its object, as kube words it:
/// `CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ...`.
fn options_invalid(options: &str, field: &str, reason: &'static str, message: String) -> Status {
    let mut status = Status::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{options}.meta.k8s.io \"\" is invalid: {field}: {message}"),
    );
    status.details = Some(Box::new(crate::api::status::Details {
        group: "meta.k8s.io".into(),
        kind: options.into(),
        causes: vec![crate::api::status::Cause {
            reason,
            message,
            field: field.into(),
        }],
        ..Default::default()
    }));
    status
}

/// The options kind a write's query parameters are decoded into.
fn options_kind(method: &Method) -> &'static str {
    match *method {
        Method::POST => "CreateOptions",
        Method::PUT => "UpdateOptions",
        Method::PATCH => "PatchOptions",
        Method::DELETE => "DeleteOptions",
        _ => "ListOptions",
    }
}

/// `dryRun` and `fieldValidation`, as kube-apiserver parses them.
fn write_options(query: &HashMap<String, String>, method: &Method) -> Result<WriteOptions, Status> {
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(options_invalid(
                options_kind(method),
                "dryRun",
                "FieldValueNotSupported",
                format!("Unsupported value: [\"{other}\"]: supported values: \"All\""),
            ));
        }
    };
    let validation = query
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("");
    if !matches!(validation, "" | "Ignore" | "Strict" | "Warn") && method != Method::GET {
        return Err(options_invalid(
            options_kind(method),
            "fieldValidation",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: \"{validation}\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
            ),
        ));
    }
    let field_validation = parse_field_validation(validation)?;
    Ok(WriteOptions {
        field_validation,
        dry_run,
        ..WriteOptions::default()
    })
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as kube-apiserver does.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response
                .headers_mut()
                .append(axum::http::header::WARNING, value);
        }
    }
    response
}

/// The object in a POST or PUT body, by its media type: JSON (also when none is given),
/// YAML, or Kubernetes protobuf for built-in kinds.
fn decode_body(media: &str, body: &Bytes) -> Result<Value, Status> {
    match media {
        "" | "application/json" => parse_body(body),
        "application/yaml" => crate::api::yaml::from_slice(body)
            .map_err(|e| Status::bad_request(format!("the request body is not valid YAML: {e}"))),
        "application/vnd.kubernetes.protobuf" => {
            super::protobuf::decode_object(body).map_err(|e| {
                Status::bad_request(format!(
                    "the request body is not a valid protobuf object: {e}"
                ))
            })
        }
        _ => Err(Status::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )),
    }
}

/// An object body for `kind`: JSON that does not decode as an object is refused in kube's
/// words, `null` reads as an empty object.
fn decode_object(kind: &Kind, media: &str, body: &Bytes) -> Result<Value, Status> {
    if media == "application/yaml" {
        return crate::api::yaml::from_slice(body).map_err(|e| {
            Status::bad_request(super::gojson::unrecognized_because(
                &kind.kind,
                &e.go_yaml(body),
                body,
            ))
        });
    }
    if matches!(media, "" | "application/json") {
        if let Some(message) = super::gojson::unrecognized(&kind.kind, body) {
            return Err(Status::bad_request(message));
        }
        if serde_json::from_slice::<Value>(body).is_ok_and(|v| v.is_null()) {
            return Ok(serde_json::json!({}));
        }
    }
    decode_body(media, body)
}

/// Fields a JSON body sets twice: refused under `fieldValidation=Strict` (kube's strict
/// decoding error), warned about under `Warn`.
fn duplicate_warnings(
    kind: &Kind,
    media: &str,
    body: &Bytes,
    options: &WriteOptions,
) -> Result<Vec<String>, Status> {
    use crate::api::schema::FieldValidation;
    if !matches!(media, "" | "application/json")
        || options.field_validation == FieldValidation::Ignore
    {
        return Ok(Vec::new());
    }
    let duplicates: Vec<String> = super::gojson::duplicate_fields(body)
        .into_iter()
        .map(|f| format!("duplicate field \"{f}\""))
        .collect();
    if options.field_validation == FieldValidation::Strict && !duplicates.is_empty() {
        return Err(Status::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            kind.kind,
            kind.version,
            kind.kind,
            duplicates.join(", ")
        )));
    }
    Ok(duplicates)
}

/// A PATCH body by its content type (checked before).
fn patch_body(
    patch_type: &str,
    body: &Bytes,
    query: &HashMap<String, String>,
) -> Result<Patch, Status> {
    Ok(match patch_type {
        "application/json-patch+json" => Patch::Json(json_patch_body(body)?),
        "application/strategic-merge-patch+json" => Patch::Strategic(parse_body(body)?),
        "application/apply-patch+yaml" => Patch::Apply {
            config: decode_body("application/yaml", body)?,
            force: query.get("force").is_some_and(|f| f == "true"),
        },
        _ => Patch::Merge(
            serde_json::from_slice(body).map_err(|_| Status::bad_request("invalid JSON patch"))?,
        ),
    })
}

/// `<object>/scale` of a custom resource: read, replaced or patched as a Scale.
#[allow(clippy::too_many_arguments)]
async fn serve_scale(
    registry: &Registry,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    method: &Method,
    (patch_type, body): (&str, &Bytes),
    query: &HashMap<String, String>,
    options: &WriteOptions,
) -> Result<Response, Status> {
    let patch;
    let write = match *method {
        Method::GET => {
            return Ok(Json(registry.scale(kind, namespace, name).await?).into_response());
        }
        Method::PUT => {
            if let Some(message) = super::gojson::unrecognized("Scale", body) {
                return Err(Status::bad_request(message));
            }
            ScaleWrite::Replace(decode_body(patch_type, body)?)
        }
        Method::PATCH => {
            patch = patch_body(patch_type, body, query)?;
            ScaleWrite::Patch(&patch)
        }
        _ => return Err(method_not_allowed(method)),
    };
    let written = registry
        .write_scale(kind, namespace, name, write, options)
        .await?;
    Ok(with_warnings(
        Json(written.object).into_response(),
        &written.warnings,
    ))
}

/// An RFC 6902 patch: a JSON array of operations (kube's decoder words the common error).
fn json_patch_body(body: &Bytes) -> Result<json_patch::Patch, Status> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")))?;
    let found = match &value {
        Value::Array(_) => {
            return serde_json::from_value(value)
                .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")));
        }
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    };
    Err(Status::bad_request(format!(
        "error decoding patch: json: cannot unmarshal {found} into Go value of type []handlers.jsonPatchOp"
    )))
}

fn parse_body(body: &Bytes) -> Result<Value, Status> {
    serde_json::from_slice(body)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// The `DeleteOptions` body, when one is sent: the resourceVersion precondition and the
/// propagation policy.
fn delete_options(media: &str, body: &Bytes) -> Result<DeleteOptions, Status> {
    if body.is_empty() {
        return Ok(DeleteOptions::default());
    }
    let options = decode_body(media, body)?;
    let precondition = match options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv) => Some(rv.parse().map_err(|_| {
            Status::bad_request(format!("invalid precondition resourceVersion {rv:?}"))
        })?),
        None => None,
    };
    if let Some(policy) = options.get("propagationPolicy").and_then(Value::as_str)
        && !matches!(policy, "Foreground" | "Background" | "Orphan")
    {
        return Err(options_invalid(
            "DeleteOptions",
            "propagationPolicy",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ),
        ));
    }
    let propagation = Propagation::from_options(&options)
        .map_err(|m| Status::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m))?;
    let uid = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(DeleteOptions {
        precondition,
        uid,
        propagation,
        dry_run: false,
    })
}

/// kube's `ValidateListOptions`: the resourceVersion/resourceVersionMatch and
/// sendInitialEvents combinations a list or watch may use (one 422 on the `ListOptions`
/// kind with every problem), and resourceVersion with `continue` (400).
pub fn validate_list_options(query: &HashMap<String, String>, watch: bool) -> Result<(), Status> {
    use crate::api::status::Cause;
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let (rv, rv_match, continued) = (
        get("resourceVersion"),
        get("resourceVersionMatch"),
        get("continue"),
    );
    let send_initial = query.contains_key("sendInitialEvents");
    let forbidden = |field: &str, message: &str| Cause {
        reason: "FieldValueForbidden",
        message: format!("Forbidden: {message}"),
        field: field.into(),
    };
    let not_supported = |supported: &str| Cause {
        reason: "FieldValueNotSupported",
        message: format!("Unsupported value: \"{rv_match}\": supported values: {supported}"),
        field: "resourceVersionMatch".into(),
    };
    let mut causes = Vec::new();
    if watch {
        if send_initial && rv_match != "NotOlderThan" {
            causes.push(forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !rv_match.is_empty() {
            if !send_initial {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if rv_match != "NotOlderThan" {
                causes.push(not_supported("\"NotOlderThan\""));
            }
            if !continued.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !rv_match.is_empty() {
            if rv.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !continued.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if !matches!(rv_match, "Exact" | "NotOlderThan") {
                causes.push(not_supported("\"Exact\", \"NotOlderThan\", \"\""));
            }
            if rv_match == "Exact" && rv == "0" {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if send_initial {
            causes.push(forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
    }
    if !causes.is_empty() {
        let lines: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let summary = match lines.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut status = Status::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("ListOptions.meta.k8s.io \"\" is invalid: {summary}"),
        );
        status.details = Some(Box::new(crate::api::status::Details {
            group: "meta.k8s.io".into(),
            kind: "ListOptions".into(),
            causes,
            ..Default::default()
        }));
        return Err(status);
    }
    if !watch && !continued.is_empty() && !rv.is_empty() && rv != "0" {
        return Err(Status::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    Ok(())
}

/// The revision a list must not be older than (an explicit resourceVersion other than
/// "0" without `Exact`).
fn not_older_than(query: &HashMap<String, String>) -> Result<Option<u64>, Status> {
    match (
        query.get("resourceVersion").map(String::as_str),
        query.get("resourceVersionMatch").map(String::as_str),
    ) {
        (None | Some("") | Some("0"), _) | (_, Some("Exact")) => Ok(None),
        (Some(_), _) if query.get("continue").is_some_and(|c| !c.is_empty()) => Ok(None),
        (Some(rv), _) => rv
            .parse::<u64>()
            .map(Some)
            .map_err(|_| list_resource_version_error(rv)),
    }
}

/// A list's resourceVersion that is not a number: kube's list handler wraps the storage
/// error in a BadRequest.
fn list_resource_version_error(rv: &str) -> Status {
    Status::bad_request(format!(
        "invalid resource version: {}",
        Status::unparsable_resource_version(rv).message
    ))
}

fn list_options(query: &HashMap<String, String>) -> Result<ListOptions, Status> {
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        // kube reads an int64; zero or less means no limit.
        Some(l) => match l.parse::<i64>().map_err(|_| {
            Status::bad_request(format!("strconv.ParseInt: parsing {l:?}: invalid syntax"))
        })? {
            n if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => None,
        },
        None => None,
    };
    let continue_token = query.get("continue").filter(|c| !c.is_empty()).cloned();
    let revision = match (
        query.get("resourceVersion").map(String::as_str),
        query.get("resourceVersionMatch").map(String::as_str),
    ) {
        (None | Some("") | Some("0"), _) => None,
        (Some(rv), Some("Exact")) => Some(
            rv.parse::<u64>()
                .map_err(|_| list_resource_version_error(rv))?,
        ),
        // NotOlderThan (the default for a set resourceVersion): the latest state qualifies.
        (Some(rv), _) => {
            rv.parse::<u64>()
                .map_err(|_| list_resource_version_error(rv))?;
            None
        }
    };
    Ok(ListOptions {
        revision,
        limit,
        continue_token,
    })
}

/// Whether `Accept` (when given) names a media type the server can answer with.
fn acceptable(headers: &axum::http::HeaderMap) -> bool {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    accept.split(',').any(|entry| {
        let media = entry.split(';').next().unwrap_or("").trim();
        matches!(
            media,
            "" | "*/*"
                | "application/*"
                | "application/json"
                | "application/yaml"
                | "application/vnd.kubernetes.protobuf"
                | "application/json-patch+json"
                | "application/merge-patch+json"
        )
    })
}

/// A list as kube-apiserver encodes it: the items of built-in kinds' typed lists have no
/// `apiVersion` and `kind` (custom resources' unstructured lists keep them).
fn typed_items(kind: &Kind, mut list: Value) -> Value {
    if !kind.custom {
        for item in list["items"].as_array_mut().into_iter().flatten() {
            crate::registry::as_typed_item(item);
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_kube_apiserver() {
        let c = Catalog::builtin();
        let parse = |g: &str, v: &str, rest: &[&str]| parse(&c, g, v, rest);
        let t = parse("", "v1", &["namespaces", "ns1", "configmaps", "a"]).expect("cm");
        assert_eq!(
            (
                t.kind.plural.as_str(),
                t.namespace.as_deref(),
                t.name.as_deref()
            ),
            ("configmaps", Some("ns1"), Some("a"))
        );
        let t = parse("", "v1", &["namespaces", "ns1"]).expect("ns");
        assert_eq!(
            (t.kind.plural.as_str(), t.namespace, t.name.as_deref()),
            ("namespaces", None, Some("ns1"))
        );
        let t = parse("", "v1", &["namespaces", "ns1", "status"]).expect("ns status");
        assert_eq!(
            (
                t.kind.plural.as_str(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("namespaces", Some("ns1"), Some("status"))
        );
        let t = parse(
            "cluster.open-cluster-management.io",
            "v1",
            &["managedclusters", "c1", "status"],
        )
        .expect("mc status");
        assert_eq!(t.subresource.as_deref(), Some("status"));
        assert!(
            parse("", "v1", &["configmaps", "a", "status"]).is_err(),
            "configmaps have no status subresource"
        );
        assert!(
            parse("", "v1", &["namespaces", "ns1", "namespaces"]).is_err(),
            "cluster kind under a namespace"
        );
        assert!(parse("", "v1", &["nosuch"]).is_err());
    }
}
