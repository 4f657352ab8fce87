//! `/openapi/v3`: the index and one document per group-version, so kubectl and helm find
//! the PATCH operation with the `fieldValidation` parameter for every kind (their signal
//! that the server validates fields itself) instead of failing to download OpenAPI.
//!
//! Schemas are permissive (`x-kubernetes-preserve-unknown-fields`) until the kinds carry
//! their structural schemas; `kubectl explain` needs those and is not served yet.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::status::Status;
use crate::api::Kind;
use crate::registry::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Reverse-DNS schema name, as kube-openapi writes it (`io.k8s.api.core.v1.ConfigMap`).
fn schema_name(kind: &Kind) -> String {
    let group = if kind.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        kind.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", kind.version, kind.kind)
}

/// `GET /openapi/v3`.
pub async fn index(State(registry): State<Registry>) -> Json<Value> {
    let mut paths = Map::new();
    for k in registry.catalog().kinds().iter() {
        let path = gv_path(&k.group, &k.version);
        paths
            .entry(path.clone())
            .or_insert_with(|| json!({"serverRelativeURL": format!("/openapi/v3/{path}")}));
    }
    Json(json!({"paths": paths}))
}

/// `GET /openapi/v3/{*gv}`.
pub async fn document(State(registry): State<Registry>, Path(gv): Path<String>) -> Response {
    let all = registry.catalog().kinds();
    let kinds: Vec<&Kind> = all
        .iter()
        .map(|k| &**k)
        .filter(|k| gv_path(&k.group, &k.version) == gv)
        .collect();
    if kinds.is_empty() {
        return Status::not_found_path(&format!("/openapi/v3/{gv}")).into_response();
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for k in kinds {
        let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
        let name = schema_name(k);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let operation = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", k.kind),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
                "requestBody": {"content": {"application/json": {"schema": reference}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
            })
        };
        let base = format!("/{}", gv_path(&k.group, &k.version));
        let collection = if k.namespaced() {
            format!("{base}/namespaces/{{namespace}}/{}", k.plural)
        } else {
            format!("{base}/{}", k.plural)
        };
        paths.insert(collection.clone(), json!({"post": operation("post")}));
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"put": operation("put"), "patch": operation("patch")}),
        );
        schemas.insert(
            name,
            json!({
                "type": "object",
                "x-kubernetes-group-version-kind": [gvk],
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
            }),
        );
    }
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "multicluster-controlplane", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
    .into_response()
}
