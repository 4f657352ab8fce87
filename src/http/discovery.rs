//! API discovery: the legacy documents (`/api`, `/apis`, `/apis/<group>`, and the
//! `APIResourceList` of each group-version) and aggregated discovery
//! (`apidiscovery.k8s.io/v2`), which kubectl, client-go and kube-rs ask for first.
//!
//! Aggregated discovery is recognised by clients from the response `Content-Type`, not the
//! body, and cached by kubectl through `ETag`/`If-None-Match`. Everything is computed from
//! the catalog on each request, so a kind added at run time is discoverable at once.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::table::{Representation, negotiate};
use crate::api::status::Status;
use crate::api::{Catalog, Kind};

/// The media type clients match to recognise an aggregated answer.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Answers a discovery path (`segments` of `/api`, `/apis`, `/apis/<g>`, `/api/<v>`,
/// `/apis/<g>/<v>`); anything else is 404.
pub fn serve(
    catalog: &Catalog,
    segments: &[&str],
    headers: &HeaderMap,
) -> Result<Response, Status> {
    let aggregated = negotiate(headers) == Representation::Discovery;
    let not_found = || Status::not_found_path(&format!("/{}", segments.join("/")));
    let body = match segments {
        ["api"] if aggregated => {
            return Ok(aggregated_response(aggregated_list(catalog, true), headers));
        }
        ["apis"] if aggregated => {
            return Ok(aggregated_response(
                aggregated_list(catalog, false),
                headers,
            ));
        }
        ["api"] => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }),
        ["apis"] => groups(catalog),
        ["apis", group] => api_group(catalog, group).ok_or_else(not_found)?,
        ["api", version] => resource_list(catalog, "", version).ok_or_else(not_found)?,
        ["apis", group, version] => resource_list(catalog, group, version).ok_or_else(not_found)?,
        _ => return Err(not_found()),
    };
    Ok(Json(body).into_response())
}

fn gv_string(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// kube-apiserver's order of its built-in groups (their APIService priorities); groups
/// it does not know (custom resources' groups) follow, by name.
const GROUP_ORDER: &[&str] = &[
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "resource.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "storagemigration.k8s.io",
];

/// Named groups in discovery order.
fn group_names(catalog: &Catalog) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (group, _) in catalog.group_versions() {
        if !group.is_empty() && !names.contains(&group) {
            names.push(group);
        }
    }
    let rank = |g: &String| {
        GROUP_ORDER
            .iter()
            .position(|known| known == g)
            .unwrap_or(GROUP_ORDER.len())
    };
    // Groups kube does not know are ordered as the aggregator orders their APIServices,
    // by name (`<version>.<group>`): a group where its first APIService sorts.
    let first_service = |g: &String| {
        catalog
            .group_versions()
            .into_iter()
            .filter(|(group, _)| group == g)
            .map(|(group, v)| format!("{v}.{group}"))
            .min()
            .unwrap_or_default()
    };
    names.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| first_service(a).cmp(&first_service(b)))
    });
    names
}

/// kube's `CompareKubeAwareVersionStrings` as a sort key: GA before beta before alpha,
/// higher numbers first; other strings last, by name.
fn version_key(version: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    let parsed = version.strip_prefix('v').and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        let (level, minor) = if tail.is_empty() {
            (0, "0")
        } else if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (2, n)
        } else {
            return None;
        };
        let minor: u64 = if minor.is_empty() {
            0
        } else {
            minor.parse().ok()?
        };
        Some((level, major, minor))
    });
    match parsed {
        Some((level, major, minor)) => (
            level,
            std::cmp::Reverse(major),
            std::cmp::Reverse(minor),
            String::new(),
        ),
        None => (
            3,
            std::cmp::Reverse(0),
            std::cmp::Reverse(0),
            version.to_string(),
        ),
    }
}

/// The versions of a group, in kube's order (the first is preferred).
fn versions_of(catalog: &Catalog, group: &str) -> Vec<String> {
    let mut versions: Vec<String> = catalog
        .group_versions()
        .into_iter()
        .filter(|(g, _)| g == group)
        .map(|(_, v)| v)
        .collect();
    versions.sort_by_key(|v| version_key(v));
    versions
}

/// kube's `StorageVersionHash`: base64 of the first 8 bytes of the SHA-256 of
/// `<group>/<version>/<kind>` of the stored form.
fn storage_version_hash(kind: &Kind) -> String {
    use base64::Engine as _;
    let (group, version) = if kind.group == "events.k8s.io" && kind.kind == "Event" {
        // events.k8s.io Events are stored as core Events.
        ("", "v1")
    } else if kind.group == "apiextensions.k8s.io" {
        // CRDs are still stored as v1beta1.
        ("apiextensions.k8s.io", "v1beta1")
    } else {
        (kind.group.as_str(), kind.storage_version.as_str())
    };
    let digest = Sha256::digest(format!("{group}/{version}/{}", kind.kind).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// `GET /apis`: every named group with its versions.
fn groups(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = group_names(catalog)
        .iter()
        .filter_map(|g| api_group(catalog, g))
        .map(|mut g| {
            // Items of an APIGroupList carry no kind/apiVersion of their own.
            if let Some(map) = g.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            g
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The `APIGroup` document of one named group, or `None` if it is not served.
fn api_group(catalog: &Catalog, group: &str) -> Option<Value> {
    let versions: Vec<Value> = versions_of(catalog, group)
        .into_iter()
        .map(|v| json!({"groupVersion": gv_string(group, &v), "version": v}))
        .collect();
    let preferred = versions.first()?.clone();
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions, "preferredVersion": preferred}),
    )
}

/// The verbs of a kind's main resource.
fn verbs(kind: &Kind) -> &'static [&'static str] {
    if kind.create_only() {
        &["create"]
    } else if kind.group.is_empty() && kind.kind == "Namespace" {
        // Namespaces have no deletecollection.
        &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
    } else if kind.custom {
        // apiextensions lists a custom resource's verbs in its own order.
        &[
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ]
    } else {
        &VERBS
    }
}

/// Subresources of a kind with their verbs, as discovery lists them.
fn subresources(kind: &Kind) -> Vec<(&'static str, &'static [&'static str])> {
    const GET_UPDATE: &[&str] = &["get", "patch", "update"];
    [
        ("status", GET_UPDATE),
        ("scale", GET_UPDATE),
        ("approval", GET_UPDATE),
        ("finalize", &["update"][..]),
        ("token", &["create"][..]),
    ]
    .into_iter()
    .filter(|(name, _)| kind.has_subresource(name))
    .collect()
}

/// The group, version and kind a subresource answers with when that is not its
/// resource's own kind.
fn foreign_kind(subresource: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match subresource {
        "token" => Some(("authentication.k8s.io", "v1", "TokenRequest")),
        "scale" => Some(("autoscaling", "v1", "Scale")),
        _ => None,
    }
}

fn kinds_of(catalog: &Catalog, group: &str, version: &str) -> Vec<Arc<Kind>> {
    catalog
        .kinds()
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .cloned()
        .collect()
}

/// `GET /api/v1` and `GET /apis/<group>/<version>`: the resources of one group-version.
fn resource_list(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let kinds = kinds_of(catalog, group, version);
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for k in &kinds {
        let mut resource = json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced(),
            "kind": k.kind,
            "verbs": verbs(k),
        });
        if !k.short_names.is_empty() {
            resource["shortNames"] = json!(k.short_names);
        }
        if k.group == "apiextensions.k8s.io" {
            resource["categories"] = json!(["api-extensions"]);
        }
        if !k.create_only() {
            resource["storageVersionHash"] = json!(storage_version_hash(k));
        }
        resources.push(resource);
        for (sub, verbs) in subresources(k) {
            let mut entry = json!({
                "name": format!("{}/{sub}", k.plural),
                "singularName": "",
                "namespaced": k.namespaced(),
                "kind": k.kind,
                "verbs": verbs,
            });
            if let Some((group, version, kind)) = foreign_kind(sub) {
                entry["group"] = json!(group);
                entry["version"] = json!(version);
                entry["kind"] = json!(kind);
            }
            resources.push(entry);
        }
    }
    // Built-in resources by name; apiextensions lists custom resources as it holds them.
    if kinds.iter().all(|k| !k.custom) {
        resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    }
    let mut list = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv_string(group, version), "resources": resources});
    if group.is_empty()
        && let Some(o) = list.as_object_mut()
    {
        // The legacy /api/v1 list has no apiVersion.
        o.remove("apiVersion");
    }
    Some(list)
}

/// The aggregated document: the core group alone (`/api`) or every named group (`/apis`).
fn aggregated_list(catalog: &Catalog, core: bool) -> Value {
    let names = if core {
        vec![String::new()]
    } else {
        // The aggregated list orders groups kube does not know by name.
        let mut names = group_names(catalog);
        let known = |g: &String| GROUP_ORDER.iter().position(|k| k == g);
        names.sort_by(|a, b| match (known(a), known(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(b),
        });
        names
    };
    let items: Vec<Value> = names
        .iter()
        .map(|group| {
            let versions: Vec<Value> = versions_of(catalog, group)
                .into_iter()
                .map(|v| {
                    let g = group.clone();
                    let kinds = kinds_of(catalog, &g, &v);
                    let mut resources: Vec<Value> =
                        kinds.iter().map(|k| aggregated_resource(k)).collect();
                    if kinds.iter().all(|k| !k.custom) {
                        resources
                            .sort_by(|a, b| a["resource"].as_str().cmp(&b["resource"].as_str()));
                    }
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            // The core group's entry has no name at all.
            let metadata = if group.is_empty() {
                json!({})
            } else {
                json!({"name": group})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_resource(kind: &Kind) -> Value {
    // Built-in resources leave group and version empty (those of their list).
    let response_kind = if kind.custom {
        json!({"group": kind.group, "version": kind.version, "kind": kind.kind})
    } else {
        json!({"group": "", "version": "", "kind": kind.kind})
    };
    let mut subresources = subresources(kind);
    if !kind.custom {
        // Built-in kinds list them by name; a CRD's come status first, then scale.
        subresources.sort_by_key(|(name, _)| *name);
    }
    let subresources: Vec<Value> = subresources
        .into_iter()
        .map(|(sub, verbs)| {
            let kind = if let Some((group, version, kind)) = foreign_kind(sub) {
                json!({"group": group, "version": version, "kind": kind})
            } else {
                response_kind.clone()
            };
            json!({"subresource": sub, "responseKind": kind, "verbs": verbs})
        })
        .collect();
    let mut resource = json!({
        "resource": kind.plural,
        "responseKind": response_kind,
        "scope": if kind.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": kind.singular,
        "verbs": verbs(kind),
    });
    if !kind.short_names.is_empty() {
        resource["shortNames"] = json!(kind.short_names);
    }
    if kind.group == "apiextensions.k8s.io" {
        resource["categories"] = json!(["api-extensions"]);
    }
    if !subresources.is_empty() {
        resource["subresources"] = Value::Array(subresources);
    }
    resource
}

/// The aggregated body with its media type, an `ETag` of its content, and `304` when the
/// client already holds it.
fn aggregated_response(body: Value, headers: &HeaderMap) -> Response {
    let bytes = body.to_string();
    let etag = format!("\"{:X}\"", Sha256::digest(bytes.as_bytes()));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let status = if cached {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if cached {
        status.into_response()
    } else {
        (status, bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AGGREGATED));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn aggregated_documents_split_core_and_groups() {
        let c = Catalog::builtin();
        let core = aggregated_list(&c, true);
        assert_eq!(core["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(core["items"][0]["metadata"], json!({}));
        let groups = aggregated_list(&c, false);
        let mc = groups["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i["metadata"]["name"] == "cluster.open-cluster-management.io")
            })
            .expect("cluster group");
        let resources = mc["versions"][0]["resources"]
            .as_array()
            .expect("resources");
        let managed = resources
            .iter()
            .find(|r| r["resource"] == "managedclusters")
            .expect("managedclusters");
        assert_eq!(managed["scope"], "Cluster");
        assert_eq!(managed["subresources"][0]["subresource"], "status");
    }

    #[test]
    fn media_type_and_etag() {
        let c = Catalog::builtin();
        let h = accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        );
        let r = serve(&c, &["apis"], &h).expect("apis");
        assert_eq!(r.headers()[header::CONTENT_TYPE], AGGREGATED);
        let etag = r.headers()[header::ETAG].clone();
        let mut h2 = h.clone();
        h2.insert(header::IF_NONE_MATCH, etag);
        let r2 = serve(&c, &["apis"], &h2).expect("apis again");
        assert_eq!(r2.status(), StatusCode::NOT_MODIFIED);
        // v2beta1 alone is skipped: the legacy document answers.
        let old = accept(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        let r3 = serve(&c, &["apis"], &old).expect("legacy");
        assert_eq!(r3.headers()[header::CONTENT_TYPE], "application/json");
    }
}
