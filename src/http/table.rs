//! `meta.k8s.io/v1` Table responses: what `kubectl get` asks for (`Accept:
//! application/json;as=Table;g=meta.k8s.io;v=v1`), built from each kind's printer columns.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::api::Kind;
use crate::api::jsonpath::JsonPath;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

/// How the client wants objects represented (the first acceptable `Accept` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The objects themselves.
    Full,
    /// A `meta.k8s.io` Table (`kubectl get`).
    Table,
    /// `PartialObjectMetadata` (client-go metadata informers, kube-rs `metadata_watcher`).
    Metadata,
    /// Aggregated discovery, `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` (only
    /// meaningful on `/api` and `/apis`).
    Discovery,
}

/// Negotiates the representation from `Accept`; protobuf entries are skipped.
pub fn negotiate(headers: &HeaderMap) -> Representation {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if media != "application/json" && media != "*/*" {
            continue;
        }
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let get = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        let meta_group =
            get("g") == Some("meta.k8s.io") && matches!(get("v"), Some("v1" | "v1beta1"));
        return match get("as") {
            Some("Table") if meta_group => Representation::Table,
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") if meta_group => {
                Representation::Metadata
            }
            Some("APIGroupDiscoveryList")
                if get("g") == Some("apidiscovery.k8s.io") && get("v") == Some("v2") =>
            {
                Representation::Discovery
            }
            // Older aggregated-discovery versions: skip to the client's next choice.
            Some("APIGroupDiscoveryList") => continue,
            _ => Representation::Full,
        };
    }
    Representation::Full
}

/// An object reduced to `PartialObjectMetadata`.
pub fn partial(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object.get("metadata").cloned().unwrap_or(Value::Null)})
}

/// A list reduced to `PartialObjectMetadataList`.
pub fn partial_list(list: &Value) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .map(|items| items.iter().map(partial).collect())
        .unwrap_or_default();
    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list["metadata"].clone(), "items": items})
}

pub fn include(query: &std::collections::HashMap<String, String>) -> Include {
    match query.get("includeObject").map(String::as_str) {
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        _ => Include::Metadata,
    }
}

use super::printers::{CREATED_DESCRIPTION, NAME_DESCRIPTION};

/// A column's definition as kube-apiserver describes it: custom resources as
/// apiextensions' table convertor does (the CRD's type and description, else "Custom
/// resource definition column (in JSONPath format): <path>"); built-in kinds as their
/// printers (ages are strings, creation columns carry ObjectMeta's documentation).
fn definition(kind: &Kind, c: &crate::api::PrinterColumn) -> Value {
    let created = c.json_path == ".metadata.creationTimestamp";
    let (type_, description) = if kind.custom {
        let description = if c.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                c.json_path
            )
        } else {
            c.description.clone()
        };
        (c.type_.clone(), description)
    } else if created {
        let type_ = if c.name == "Age" { "string" } else { "date" };
        (type_.to_string(), CREATED_DESCRIPTION.to_string())
    } else {
        let type_ = if c.type_ == "date" {
            "string"
        } else {
            &c.type_
        };
        (type_.to_string(), c.description.clone())
    };
    json!({"name": c.name, "type": type_, "format": "", "description": description, "priority": c.priority})
}

/// A Table of `objects`, carrying the list's metadata (resourceVersion, continue).
pub fn table(kind: &Kind, objects: &[Value], list_metadata: Value, include: Include) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let row = |cells: Vec<Value>, object: &Value| {
        let mut row = json!({"cells": cells});
        match include {
            Include::None => row["object"] = Value::Null,
            Include::Metadata => row["object"] = partial(object),
            Include::Object => row["object"] = object.clone(),
        }
        row
    };
    if let Some(printer) = super::printers::builtin(kind) {
        let definitions: Vec<Value> = printer.columns.iter().map(|c| c.definition()).collect();
        let rows: Vec<Value> = objects
            .iter()
            .map(|o| row((printer.cells)(o, now), o))
            .collect();
        return json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata, "columnDefinitions": definitions, "rows": rows});
    }
    let age = crate::api::PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        json_path: ".metadata.creationTimestamp".into(),
        priority: 0,
        description: String::new(),
    };
    let default_columns = [age];
    let columns: &[crate::api::PrinterColumn] = if kind.printer_columns.is_empty() {
        &default_columns
    } else {
        &kind.printer_columns
    };
    let mut definitions = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}),
    ];
    for c in columns {
        let mut d = definition(kind, c);
        if kind.custom && kind.printer_columns.is_empty() {
            // apiextensions' default column: ObjectMeta's own documentation.
            d["description"] = json!(CREATED_DESCRIPTION);
        }
        definitions.push(d);
    }
    let paths: Vec<Option<JsonPath>> = columns
        .iter()
        .map(|c| JsonPath::parse(&c.json_path).ok())
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![
                object
                    .pointer("/metadata/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            ];
            for (c, path) in columns.iter().zip(&paths) {
                let found: Vec<&Value> = path.as_ref().map(|p| p.find(object)).unwrap_or_default();
                let cell = match (c.type_.as_str(), found.as_slice()) {
                    (_, []) => Value::Null,
                    // Built-in printers show "Created At" as the timestamp itself.
                    ("date", [Value::String(ts), ..]) if kind.custom || c.name == "Age" => {
                        Value::String(age_since(ts, now))
                    }
                    (_, [single]) => (*single).clone(),
                    (_, many) => Value::String(
                        many.iter()
                            .map(|v| {
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                };
                cells.push(cell);
            }
            row(cells, object)
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata, "columnDefinitions": definitions, "rows": rows})
}

/// The age of a timestamp, as kube prints it.
fn age_since(timestamp: &str, now: time::OffsetDateTime) -> String {
    super::printers::since(timestamp, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert("accept", accept.parse().expect("hv"));
            negotiate(&h)
        };
        assert_eq!(
            with(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Representation::Table
        );
        assert_eq!(with("application/json"), Representation::Full);
        assert_eq!(
            with(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
            ),
            Representation::Full
        );
        assert_eq!(
            with(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            Representation::Metadata
        );
    }

    #[test]
    fn ages() {
        let now = time::OffsetDateTime::parse(
            "2026-01-10T00:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .expect("now");
        assert_eq!(age_since("2026-01-09T23:59:15Z", now), "45s");
        assert_eq!(age_since("2026-01-09T23:54:30Z", now), "5m30s");
        assert_eq!(age_since("2026-01-09T21:00:00Z", now), "3h");
        assert_eq!(age_since("2026-01-07T20:00:00Z", now), "2d4h");
    }

    #[test]
    fn managed_cluster_columns() {
        let kind = crate::api::Catalog::builtin()
            .find_resource("cluster.open-cluster-management.io", "managedclusters")
            .expect("kind");
        let o = json!({"metadata": {"name": "c1", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"hubAcceptsClient": true},
            "status": {"conditions": [{"type": "ManagedClusterConditionAvailable", "status": "True"}]}});
        let t = table(
            &kind,
            &[o],
            json!({"resourceVersion": "5"}),
            Include::Metadata,
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .expect("defs")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Hub Accepted",
                "Managed Cluster URLs",
                "Joined",
                "Available",
                "Age"
            ]
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(
            (
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[4].clone()
            ),
            (json!("c1"), json!(true), Value::Null, json!("True"))
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
