//! Pruning, null removal, embedded `ObjectMeta` pruning and defaulting (apiextensions
//! `schema/pruning/algorithm.go`, `schema/defaulting/{algorithm,prunenulls}.go`,
//! `schema/objectmeta/coerce.go`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{DATA_DEPTH_LIMIT, Node, child, index, key};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn is_meta(k: &str) -> bool {
    META_FIELDS.contains(&k)
}

/// Everything decoding does to a resource: schema pruning (the root is a resource, so its
/// `apiVersion`, `kind` and `metadata` stay), non-nullable null removal, and pruning of
/// embedded resources' `metadata`. Returns the unknown field paths.
pub(super) fn prune_object(root: &Node, object: &mut Value) -> Vec<String> {
    let mut unknown = prune_value(root, object, true);
    drop_nulls(Some(root), object, 0);
    let mut meta_unknown = Vec::new();
    coerce_embedded(root, object, "", &mut meta_unknown);
    meta_unknown.sort();
    unknown.extend(meta_unknown);
    unknown
}

/// Schema pruning of `value` against `node`; `as_resource` treats the top as an embedded
/// resource (meta fields kept). Returns the sorted unknown field paths.
pub(super) fn prune_value(node: &Node, value: &mut Value, as_resource: bool) -> Vec<String> {
    let mut p = Pruner {
        path: String::new(),
        unknown: Vec::new(),
    };
    p.prune(value, Some(node), as_resource || node.embedded, 0);
    p.unknown.sort();
    p.unknown
}

struct Pruner {
    /// The current path in kube's unknown-field form (`a.b[0].c`).
    path: String,
    unknown: Vec<String>,
}

impl Pruner {
    fn push_key(&mut self, k: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(k);
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        let _ = write!(self.path, "[{i}]");
        len
    }

    fn record(&mut self, k: &str) {
        let len = self.push_key(k);
        self.unknown.push(self.path.clone());
        self.path.truncate(len);
    }

    /// `embedded` is the node's `x-kubernetes-embedded-resource` (forced at the root).
    fn prune(&mut self, x: &mut Value, s: Option<&Node>, embedded: bool, depth: usize) {
        if depth > DATA_DEPTH_LIMIT {
            return;
        }
        if let Some(s) = s.filter(|s| s.preserve_unknown) {
            self.skip_prune(x, s, embedded, depth);
            return;
        }
        match x {
            Value::Object(map) => {
                let Some(s) = s else {
                    for k in map.keys() {
                        self.record(k);
                    }
                    map.clear();
                    return;
                };
                // Unknown fields are removed after the walk, in the order they were met.
                let mut unknown = Vec::new();
                for (k, v) in map.iter_mut() {
                    if embedded && is_meta(k) {
                        continue;
                    }
                    let target = match (s.properties.get(k), &s.additional) {
                        (Some(prop), _) => Some(Some(prop)),
                        (None, Some(_)) => Some(s.additional_schema()),
                        (None, None) => None,
                    };
                    match target {
                        Some(sub) => {
                            let len = self.push_key(k);
                            self.prune(v, sub, sub.is_some_and(|n| n.embedded), depth + 1);
                            self.path.truncate(len);
                        }
                        None => {
                            if !is_meta(k) || !self.path.is_empty() {
                                self.record(k);
                            }
                            unknown.push(k.clone());
                        }
                    }
                }
                for k in unknown {
                    map.remove(&k);
                }
            }
            Value::Array(items) => {
                let item_schema = s.and_then(|s| s.items.as_deref());
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.push_index(i);
                    self.prune(
                        v,
                        item_schema,
                        item_schema.is_some_and(|n| n.embedded),
                        depth + 1,
                    );
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, declared ones
    /// are still pruned inside.
    fn skip_prune(&mut self, x: &mut Value, s: &Node, embedded: bool, depth: usize) {
        if depth > DATA_DEPTH_LIMIT {
            return;
        }
        match x {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if embedded && is_meta(k) {
                        continue;
                    }
                    let sub = match s.properties.get(k) {
                        Some(prop) => Some(prop),
                        None if s.additional.is_some() => s.additional_schema(),
                        None => continue,
                    };
                    let len = self.push_key(k);
                    self.prune(v, sub, sub.is_some_and(|n| n.embedded), depth + 1);
                    self.path.truncate(len);
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = s.items.as_deref() else {
                    return;
                };
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.push_index(i);
                    self.skip_prune(v, item_schema, item_schema.embedded, depth + 1);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }
}

/// Removes `null` map values whose schema is neither nullable nor defaulted.
fn drop_nulls(s: Option<&Node>, x: &mut Value, depth: usize) {
    if depth > DATA_DEPTH_LIMIT {
        return;
    }
    match x {
        Value::Object(map) => {
            map.retain(|k, v| {
                let schema = s.and_then(|s| s.field(k));
                let drop =
                    v.is_null() && schema.is_some_and(|n| !n.nullable && n.default.is_none());
                if !drop {
                    drop_nulls(schema, v, depth + 1);
                }
                !drop
            });
        }
        Value::Array(items) => {
            let schema = s.and_then(|s| s.items.as_deref());
            for v in items {
                drop_nulls(schema, v, depth + 1);
            }
        }
        _ => {}
    }
}

/// `ObjectMeta`'s JSON fields, and the fields of its list items that are objects.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const OWNER_REFERENCE_FIELDS: [&str; 6] = [
    "apiVersion",
    "kind",
    "name",
    "uid",
    "controller",
    "blockOwnerDeletion",
];
const MANAGED_FIELDS_FIELDS: [&str; 7] = [
    "manager",
    "operation",
    "apiVersion",
    "time",
    "fieldsType",
    "fieldsV1",
    "subresource",
];

/// Prunes `metadata` of embedded resources to `ObjectMeta` (a strict decode in kube),
/// recording `<path>.metadata.<field>` (paths in `field.Path` form: `a[key]`, `a[0]`).
fn coerce_embedded(s: &Node, x: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if !s.below.embedded {
        return;
    }
    match x {
        Value::Object(map) => {
            if let Some(Value::Object(meta)) = map.get_mut("metadata").filter(|_| s.embedded) {
                prune_object_meta(meta, &child(path, "metadata"), unknown);
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    coerce_embedded(prop, v, &child(path, k), unknown);
                } else if let Some(a) = s.additional_schema() {
                    coerce_embedded(a, v, &key(path, k), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    coerce_embedded(item_schema, v, &index(path, i), unknown);
                }
            }
        }
        _ => {}
    }
}

fn prune_object_meta(meta: &mut Map<String, Value>, prefix: &str, unknown: &mut Vec<String>) {
    meta.retain(|k, _| {
        let known = OBJECT_META_FIELDS.contains(&k.as_str());
        if !known {
            unknown.push(format!("{prefix}.{k}"));
        }
        known
    });
    if meta.get("creationTimestamp").is_some_and(Value::is_null) {
        meta.remove("creationTimestamp");
    }
    for (list, fields) in [
        ("ownerReferences", &OWNER_REFERENCE_FIELDS[..]),
        ("managedFields", &MANAGED_FIELDS_FIELDS[..]),
    ] {
        if let Some(Value::Array(items)) = meta.get_mut(list) {
            for (i, item) in items.iter_mut().enumerate() {
                if let Value::Object(entry) = item {
                    entry.retain(|k, _| {
                        let known = fields.contains(&k.as_str());
                        if !known {
                            unknown.push(format!("{prefix}.{list}[{i}].{k}"));
                        }
                        known
                    });
                }
            }
        }
    }
}

/// kube's structural defaulting: absent fields (and non-nullable `null`s) get a copy of
/// their default; the walk then continues into every value, defaulted ones included.
pub(super) fn default(s: &Node, x: &mut Value) {
    match x {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = match map.get(k) {
                    None => true,
                    Some(v) => v.is_null() && !prop.nullable,
                };
                if missing {
                    map.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    default(prop, v);
                } else if let Some(a) = s.additional_schema() {
                    if v.is_null() && !a.nullable {
                        *v = a.default.clone().unwrap_or(Value::Null);
                    }
                    default(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for v in items {
                    if v.is_null() && !item_schema.nullable {
                        *v = item_schema.default.clone().unwrap_or(Value::Null);
                    }
                    default(item_schema, v);
                }
            }
        }
        _ => {}
    }
}
