//! OpenAPI: `/openapi/v3` (the index and one document per group-version) and
//! `/openapi/v2` (one Swagger 2.0 document, JSON only).
//!
//! kubectl and helm look for the PATCH operation with the `fieldValidation` parameter of
//! every kind (their signal that the server validates fields itself), and `kubectl
//! explain` walks the schemas, found through `x-kubernetes-group-version-kind`. Each kind's
//! schema is its structural schema (`Kind::openapi_schema`); `metadata` is the full
//! ObjectMeta schema, as kube-apiserver publishes it for custom resources too.
//!
//! `/openapi/v2` is requested by client-go as gnostic protobuf only; such a request gets
//! 404, which client-go takes as "no v2" (every current client uses v3 first).

use std::sync::OnceLock;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::api::Kind;
use crate::api::status::Status;
use crate::registry::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Schema name as kube-openapi writes it: `io.k8s.api.core.v1.ConfigMap` for built-in
/// kinds, reverse-DNS of the group for custom resources.
fn schema_name(kind: &Kind) -> String {
    let group = if kind.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else if !kind.custom {
        let short = kind.group.split('.').next().unwrap_or_default();
        format!("io.k8s.api.{short}")
    } else {
        kind.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", kind.version, kind.kind)
}

/// The ObjectMeta schema, generated once.
fn object_meta() -> &'static Value {
    static META: OnceLock<Value> = OnceLock::new();
    META.get_or_init(|| {
        crate::api::openapi_schema::structural::<
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        >()
    })
}

/// A kind's published schema: its own, with the full ObjectMeta and the GVK extension.
fn published_schema(kind: &Kind) -> Value {
    let mut schema = match kind.openapi_schema() {
        Some(s) => (*s).clone(),
        None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    };
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": kind.group, "version": kind.version, "kind": kind.kind}]),
        );
        let props = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(props) = props.as_object_mut() {
            props.insert("metadata".into(), object_meta().clone());
            for (field, what) in [
                (
                    "apiVersion",
                    "APIVersion defines the versioned schema of this representation of an object.",
                ),
                (
                    "kind",
                    "Kind is a string value representing the REST resource this object represents.",
                ),
            ] {
                props
                    .entry(field)
                    .or_insert_with(|| json!({"type": "string", "description": what}));
            }
        }
    }
    schema
}

/// The operations kubectl and helm look for on one kind: (path, method → operation).
fn operations(kind: &Kind, reference: &Value) -> Vec<(String, Value)> {
    let gvk = json!({"group": kind.group, "version": kind.version, "kind": kind.kind});
    let operation = |verb: &str| {
        json!({
            "operationId": format!("{verb}{}", kind.kind),
            "x-kubernetes-action": verb,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}, "type": "string"},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}, "type": "string"},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}, "type": "string"},
            ],
            "requestBody": {"content": {"application/json": {"schema": reference}}},
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
        })
    };
    let base = format!("/{}", gv_path(&kind.group, &kind.version));
    let collection = if kind.namespaced() {
        format!("{base}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{base}/{}", kind.plural)
    };
    vec![
        (collection.clone(), json!({"post": operation("post")})),
        (
            format!("{collection}/{{name}}"),
            json!({"put": operation("put"), "patch": operation("patch")}),
        ),
    ]
}

/// `GET /openapi/v3`: each group-version's document, its URL carrying the hash of its
/// content as kube-apiserver's does (clients cache documents by it).
pub async fn index(State(registry): State<Registry>) -> Response {
    use sha2::Digest as _;
    let all = registry.catalog().kinds();
    let mut paths = Map::new();
    for k in all.iter() {
        let path = gv_path(&k.group, &k.version);
        if paths.contains_key(&path) {
            continue;
        }
        let url = match gv_document(&all, &path) {
            Some(doc) => {
                let digest = sha2::Sha512::digest(doc.to_string().as_bytes());
                let hash: String = digest.iter().map(|b| format!("{b:02X}")).collect();
                format!("/openapi/v3/{path}?hash={hash}")
            }
            None => format!("/openapi/v3/{path}"),
        };
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    // kube-apiserver serves the index as text/plain (it sets no type; Go sniffs one).
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        json!({"paths": paths}).to_string(),
    )
        .into_response()
}

/// The OpenAPI v3 document of one group-version path (`api/v1`, `apis/<g>/<v>`).
fn gv_document(all: &[std::sync::Arc<Kind>], gv: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = all
        .iter()
        .map(|k| &**k)
        .filter(|k| gv_path(&k.group, &k.version) == gv)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for k in kinds {
        let name = schema_name(k);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        paths.extend(operations(k, &reference));
        schemas.insert(name, published_schema(k));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "multicluster-controlplane", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `GET /openapi/v3/{*gv}`.
pub async fn document(State(registry): State<Registry>, Path(gv): Path<String>) -> Response {
    match gv_document(&registry.catalog().kinds(), &gv) {
        Some(doc) => Json(doc).into_response(),
        None => Status::not_found_path(&format!("/openapi/v3/{gv}")).into_response(),
    }
}

/// `GET /openapi/v2`: every kind in one Swagger 2.0 document, for clients that read JSON.
pub async fn v2(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json_ok = accept.is_empty()
        || accept.split(',').any(|m| {
            matches!(
                m.split(';').next().map(str::trim),
                Some("application/json" | "*/*")
            )
        });
    if !json_ok {
        return Status::not_found_path("/openapi/v2").into_response();
    }
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for k in registry.catalog().kinds().iter() {
        let name = schema_name(k);
        let reference = json!({"$ref": format!("#/definitions/{name}")});
        paths.extend(operations(k, &reference));
        definitions.insert(name, published_schema(k));
    }
    Json(json!({
        "swagger": "2.0",
        "info": {"title": "multicluster-controlplane", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "definitions": definitions,
    }))
    .into_response()
}
