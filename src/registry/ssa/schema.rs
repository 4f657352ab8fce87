//! How a structural schema node shapes merging: which fields are named, which
//! maps and lists are atomic, how list items are identified.
//!
//! A node is `Some(schema)` or `None` for "deduced": a subtree the schema does
//! not describe (`x-kubernetes-preserve-unknown-fields`, or no schema at all).
//! Deduced objects are granular maps, deduced lists atomic, like kube's
//! `__untyped_deduced_` type.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::fieldset::PathElement;
use crate::api::schema::{self, ListType, MapType, Structural, Type};

pub(crate) type Node<'s> = Option<&'s schema::Node>;

/// How a list's items relate to each other.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ListKind<'s> {
    Atomic,
    Set,
    Map(&'s [String]),
}

/// What a value is, by its JSON type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    Null,
    Scalar,
    Object,
    Array,
}

pub(crate) fn shape(v: &Value) -> Shape {
    match v {
        Value::Null => Shape::Null,
        Value::Object(_) => Shape::Object,
        Value::Array(_) => Shape::Array,
        _ => Shape::Scalar,
    }
}

/// The schema of `metadata` in every resource and embedded resource: what
/// kube's ObjectMeta type says about merging, compiled once.
static OBJECT_META: LazyLock<Structural> = LazyLock::new(|| {
    let meta = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "generateName": {"type": "string"},
            "namespace": {"type": "string"},
            "selfLink": {"type": "string"},
            "uid": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "generation": {"type": "integer"},
            "creationTimestamp": {"type": "string"},
            "deletionTimestamp": {"type": "string"},
            "deletionGracePeriodSeconds": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-list-type": "set"
            },
            "ownerReferences": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["uid"],
                "items": {
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "uid": {"type": "string"},
                        "controller": {"type": "boolean"},
                        "blockOwnerDeletion": {"type": "boolean"}
                    }
                }
            },
            "managedFields": {
                "type": "array",
                "x-kubernetes-list-type": "atomic",
                "items": {"type": "object"}
            }
        }
    });
    Structural::compile_lenient(&meta, Default::default()).0
});

/// Schema lookups, remembering which node is the resource root.
pub(crate) struct Typer<'s> {
    root: &'s schema::Node,
}

impl<'s> Typer<'s> {
    pub(crate) fn new(schema: &'s Structural) -> Typer<'s> {
        Typer {
            root: schema.root(),
        }
    }

    pub(crate) fn root(&self) -> Node<'s> {
        Some(self.root)
    }

    fn is_resource(&self, node: &schema::Node) -> bool {
        std::ptr::eq(node, self.root) || node.embedded
    }

    /// The schema of field `key` of an object described by `node`, and
    /// whether `key` is a named (declared) field rather than a map key.
    pub(crate) fn field(&self, node: Node<'s>, key: &str) -> (Node<'s>, bool) {
        let Some(node) = node else {
            return (None, false);
        };
        if self.is_resource(node) {
            match key {
                "metadata" => return (Some(OBJECT_META.root()), true),
                "apiVersion" | "kind" => return (node.properties.get(key), true),
                _ => {}
            }
        }
        if let Some(p) = node.properties.get(key) {
            return (Some(p), true);
        }
        (node.additional_schema(), false)
    }

    /// The schema of a list's items.
    pub(crate) fn items(&self, node: Node<'s>) -> Node<'s> {
        node.and_then(|n| n.items.as_deref())
    }
}

/// Whether an object at `node` is merged as one value.
pub(crate) fn map_is_atomic(node: Node<'_>) -> bool {
    let Some(node) = node else {
        return false;
    };
    // An object where the schema expects a scalar is a single value.
    node.map_type == Some(MapType::Atomic)
        || matches!(
            node.ty,
            Some(Type::String | Type::Integer | Type::Number | Type::Boolean | Type::Array)
        )
        || node.int_or_string
}

/// How a list at `node` merges. Deduced lists are atomic.
pub(crate) fn list_kind(node: Node<'_>) -> ListKind<'_> {
    let Some(node) = node else {
        return ListKind::Atomic;
    };
    match node.list_type {
        Some(ListType::Set) => return ListKind::Set,
        Some(ListType::Map) if node.list_map_keys.is_empty() => return ListKind::Atomic,
        Some(ListType::Map) => return ListKind::Map(&node.list_map_keys),
        Some(ListType::Atomic) => return ListKind::Atomic,
        None => {}
    }
    // Built-in schemas may only carry the strategic-merge-patch markers.
    let merge = node.patch_strategy.iter().any(|p| p.trim() == "merge");
    if !merge {
        return ListKind::Atomic;
    }
    if let Some(key) = &node.patch_merge_key {
        return ListKind::Map(std::slice::from_ref(key));
    }
    let scalar_items = node.items.as_deref().is_some_and(|i| {
        matches!(
            i.ty,
            Some(Type::String | Type::Integer | Type::Number | Type::Boolean)
        )
    });
    if scalar_items {
        ListKind::Set
    } else {
        ListKind::Atomic
    }
}

/// The path element naming one item of a set or associative list.
pub(crate) fn item_element(
    kind: &ListKind<'_>,
    items: Node<'_>,
    item: &Value,
) -> Result<PathElement, String> {
    match kind {
        ListKind::Atomic => Err("invalid indexing of non-associative list".to_string()),
        ListKind::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".to_string())
            }
            Value::Array(_) => {
                Err("not supported: associative list with lists as elements".to_string())
            }
            Value::Null => Err(
                "associative list without keys has an element that's an explicit null".to_string(),
            ),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListKind::Map(keys) => {
            let map = match item {
                Value::Null => {
                    return Err(
                        "associative list with keys may not have a null element".to_string()
                    );
                }
                Value::Object(map) => map,
                _ => {
                    return Err(
                        "associative list with keys may not have non-map elements".to_string()
                    );
                }
            };
            let mut fields: Vec<(String, Value)> = Vec::new();
            for key in keys.iter() {
                if let Some(v) = map.get(key) {
                    fields.push((key.clone(), v.clone()));
                } else if let Some(default) = items
                    .and_then(|i| i.properties.get(key))
                    .and_then(|k| k.default.as_ref())
                {
                    fields.push((key.clone(), default.clone()));
                }
            }
            if fields.is_empty() {
                let quoted: Vec<String> = keys.iter().map(|k| schema::golang::quote(k)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
    }
}
