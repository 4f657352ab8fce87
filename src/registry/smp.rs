//! Strategic merge patch (`application/strategic-merge-patch+json`) as kube-apiserver
//! applies it to built-in kinds.
//!
//! The merge rules come from the kind's compiled schema (`api::schema`, the model
//! validation and server-side apply read too) and the markers it carries:
//! `x-kubernetes-patch-strategy` (`merge`, `replace`, `retainKeys`, `merge,retainKeys`) and
//! `x-kubernetes-patch-merge-key`; when a list has no merge key but is
//! `x-kubernetes-list-type: map` with exactly one `x-kubernetes-list-map-keys` entry, that
//! key is the merge key. The list type alone never turns merging on: kube
//! takes the strategy from the Go struct tags only, so a `listType=map` list without
//! `patchStrategy=merge` (CSR `status.conditions`) is replaced, as in kube. (kube has no
//! such fallback; it only shows where a patch puts `$setElementOrder` or `$patch: delete`
//! on such a list, which kube refuses and this accepts.)
//!
//! Semantics follow apimachinery's `strategicpatch` on the server side (parallel lists are
//! merged, unmatched `null`s ignored), including its quirks, because clients (kubectl
//! `apply`/`edit`/`label`, client-go event recorders, the Python client) rely on them:
//!
//! * objects merge key by key; `null` removes a key;
//! * lists replace, unless the field's strategy is `merge`: lists of objects then merge
//!   item by item on the merge key (new items appended), lists of scalars become a union;
//!   the result keeps the patch's relative order and slots the server-only items in by
//!   their live order;
//! * `$patch: replace` / `$patch: delete` in an object; `$patch: delete` (by merge key) and
//!   `$patch: replace` as list items; `$patch: merge` is refused, as kube does;
//! * `$retainKeys: [...]` clears the keys not listed; `$deleteFromPrimitiveList/<f>`
//!   removes scalars from list `f`; `$setElementOrder/<f>` reorders list `f`;
//! * values the patch adds where the live object has nothing (or something of another
//!   type) are taken with their `null` members dropped and `$patch` objects removed.
//!   Like kube, other directive keys inside such new subtrees, and `null`s inside newly
//!   appended list items or under a `replace` strategy, are left in the result: kube
//!   discards them when it decodes the result into the Go type, so the caller's schema
//!   step (pruning, unknown-field handling per `fieldValidation`) is what removes them.
//!
//! kube visits the patch's keys in random order; that only matters for a contradictory
//! patch adding and deleting the same scalar, where deletions are applied last here.
//!
//! A `null` patch body is a no-op (kube decodes it into an empty map); any other
//! non-object patch is an error. Patches nested deeper than [`MAX_DEPTH`] are refused.
//! Nothing here panics on any input.

use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::api::schema::golang::{
    self, GoType, MAP_TYPE as GO_MAP, SLICE_TYPE as GO_SLICE, go_type, type_name as go_type_name,
};
use crate::api::schema::{ListType, Node, Structural, Type};

/// How deeply a patch may nest (objects and arrays) before it is refused.
pub const MAX_DEPTH: usize = 64;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

type Obj = Map<String, Value>;

/// Why a strategic merge patch could not be applied. Each variant carries the dotted
/// path (`metadata.ownerReferences[0]`; empty at the top) where it went wrong; the
/// message after the path is kube's text where kube's is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The patch body is JSON but not an object.
    #[error("json: cannot unmarshal {found} into Go value of type map[string]interface {{}}")]
    NotAnObject { found: &'static str },
    /// The object being patched is not a JSON object (a caller bug).
    #[error("the object to patch is not a JSON object")]
    OriginalNotAnObject,
    /// The patch nests deeper than [`MAX_DEPTH`].
    #[error("{}patch nests deeper than {max} levels", at(.path))]
    TooDeep { path: String, max: usize },
    /// A `$deleteFromPrimitiveList` key without `/<field>`.
    #[error("{}invalid patch format of primitive list", at(.path))]
    BadPrimitiveListFormat { path: String },
    /// `$retainKeys` is not a list, or the patch sets a key it does not retain.
    #[error("{}invalid patch format of retainKeys", at(.path))]
    BadRetainKeysFormat { path: String },
    /// A `$setElementOrder` key without `/<field>`.
    #[error("{}invalid patch format of setElementOrder list", at(.path))]
    BadSetElementOrderFormat { path: String },
    /// A merging list whose items are lists.
    #[error("{}lists of lists are not supported", at(.path))]
    ListOfLists { path: String },
    /// A `$patch` value other than the ones allowed where it appears.
    #[error("{}unknown patch type: {value} in map: {map}", at(.path))]
    UnknownPatchType {
        path: String,
        value: String,
        map: String,
    },
    /// `$patch: merge` as a list item.
    #[error("{}merging lists cannot yet be specified in the patch", at(.path))]
    MergeDirectiveInList { path: String },
    /// An item of a list merged by key lacks the key.
    #[error("{}map: {item} does not contain declared merge key: {key}", at(.path))]
    MissingMergeKey {
        path: String,
        item: String,
        key: String,
    },
    /// A value of the wrong JSON type (Go type names, as kube reports them).
    #[error("{}expected a {expected}, but received a {actual}", at(.path))]
    WrongType {
        path: String,
        expected: &'static str,
        actual: &'static str,
    },
    /// A list of objects with merge strategy but no merge key.
    #[error("{}cannot merge lists without merge key", at(.path))]
    NoMergeKey { path: String },
    /// A merging list whose items are not all of one JSON type.
    #[error("{}list element types are not identical", at(.path))]
    MixedElementTypes { path: String },
    /// `$setElementOrder` applied where neither side has any item.
    #[error("{}no elements in any of the given slices", at(.path))]
    NoElements { path: String },
    /// A `$setElementOrder` list that contradicts the order of the patch list.
    #[error("{}The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n", at(.path))]
    OrderMismatch {
        path: String,
        patch: String,
        order: String,
    },
    /// A `$setElementOrder` list of a list of objects holding a non-object.
    #[error("{}value for key {index} is not a map", at(.path))]
    NotAMap { path: String, index: usize },
    /// `$setElementOrder` names a field the kind does not have.
    #[error("{}unable to find api field \"{field}\"", at(.path))]
    UnknownField { path: String, field: String },
    /// `$setElementOrder` names a field that is not a list.
    #[error("{}expected slice or array type, but got: {kind}", at(.path))]
    NotAList { path: String, kind: String },
    /// A schema `x-kubernetes-patch-strategy` kube would not accept.
    #[error("{}unexpected patch strategy: {strategy}", at(.path))]
    BadPatchStrategy { path: String, strategy: String },
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl SmpError {
    /// The HTTP status kube-apiserver answers with: 400 for undecodable patches and
    /// malformed directive keys, 422 for lists of lists, 500 (reason `Unknown`, the
    /// message as is) for everything kube does not classify.
    pub fn status_code(&self) -> u16 {
        match self {
            SmpError::NotAnObject { .. }
            | SmpError::TooDeep { .. }
            | SmpError::BadPrimitiveListFormat { .. }
            | SmpError::BadRetainKeysFormat { .. }
            | SmpError::BadSetElementOrderFormat { .. } => 400,
            SmpError::ListOfLists { .. } => 422,
            _ => 500,
        }
    }

    /// Where in the object the error arose (dotted path; empty at the top level).
    pub fn path(&self) -> &str {
        match self {
            SmpError::NotAnObject { .. } | SmpError::OriginalNotAnObject => "",
            SmpError::TooDeep { path, .. }
            | SmpError::BadPrimitiveListFormat { path }
            | SmpError::BadRetainKeysFormat { path }
            | SmpError::BadSetElementOrderFormat { path }
            | SmpError::ListOfLists { path }
            | SmpError::UnknownPatchType { path, .. }
            | SmpError::MergeDirectiveInList { path }
            | SmpError::MissingMergeKey { path, .. }
            | SmpError::WrongType { path, .. }
            | SmpError::NoMergeKey { path }
            | SmpError::MixedElementTypes { path }
            | SmpError::NoElements { path }
            | SmpError::OrderMismatch { path, .. }
            | SmpError::NotAMap { path, .. }
            | SmpError::UnknownField { path, .. }
            | SmpError::NotAList { path, .. }
            | SmpError::BadPatchStrategy { path, .. } => path,
        }
    }
}

/// [`apply_typed`] with a schema given as JSON (a kind's OpenAPI v3 schema, inlined),
/// compiled here ([`Structural::compile_memoized`]): for tests and tools. The server
/// passes the kind's compiled schema ([`crate::api::Kind::merge_schema`]).
pub fn apply(original: &Value, patch: &Value, schema: &Value) -> Result<Value, SmpError> {
    apply_typed(original, patch, &Structural::compile_memoized(schema))
}

/// Applies the strategic merge patch `patch` to `original` (an object), driven by the
/// kind's compiled schema and its list-merge markers.
pub fn apply_typed(
    original: &Value,
    patch: &Value,
    schema: &Structural,
) -> Result<Value, SmpError> {
    let patch = match patch {
        Value::Object(m) => m,
        Value::Null => return Ok(original.clone()),
        other => {
            return Err(SmpError::NotAnObject {
                found: json_kind(other),
            });
        }
    };
    check_depth(patch)?;
    let Value::Object(original) = original else {
        return Err(SmpError::OriginalNotAnObject);
    };
    let merged = merge_map(original.clone(), patch.clone(), Some(schema.root()), "", 0)?;
    Ok(Value::Object(merged))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Refuses patches nesting deeper than [`MAX_DEPTH`], without recursing.
fn check_depth(patch: &Obj) -> Result<(), SmpError> {
    let mut stack: Vec<(&Value, usize)> = patch.values().map(|v| (v, 1)).collect();
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        if d >= MAX_DEPTH {
            return Err(SmpError::TooDeep {
                path: String::new(),
                max: MAX_DEPTH,
            });
        }
        stack.extend(children.map(|c| (c, d + 1)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Paths and Go type names (for kube's error texts)

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

// ---------------------------------------------------------------------------------------
// Schema lookup

/// What the schema says about one field: the sub-schema to descend into (the field's
/// schema for objects, its `items` for lists), the patch strategies and the merge key.
struct FieldMeta<'s> {
    schema: Option<&'s Node>,
    strategies: &'s [String],
    merge_key: &'s str,
}

/// The schema of `key` inside object schema `schema`: a declared property (a built-in
/// kind's `metadata` included), else the `additionalProperties` schema (maps such as
/// `labels`). Unknown fields carry no metadata (they merge as maps and replace as lists).
fn field_schema<'s>(schema: Option<&'s Node>, key: &str) -> Option<&'s Node> {
    schema?.member(key)
}

fn field_meta<'s>(schema: Option<&'s Node>, key: &str, list: bool) -> FieldMeta<'s> {
    let node = field_schema(schema, key);
    let merge_key = node
        .and_then(|n| {
            n.patch_merge_key
                .as_deref()
                .or(match n.list_map_keys.as_slice() {
                    [k] if n.list_type == Some(ListType::Map) => Some(k.as_str()),
                    _ => None,
                })
        })
        .unwrap_or_default();
    let schema = if list {
        // A list field without `items` (not structural) describes its items itself.
        node.map(|n| n.items.as_deref().unwrap_or(n))
    } else {
        node
    };
    FieldMeta {
        schema,
        strategies: node
            .map(|n| n.patch_strategy.as_slice())
            .unwrap_or_default(),
        merge_key,
    }
}

/// The strategy other than `retainKeys` (which only matters to patch generation): kube
/// accepts one strategy, or two of which one is `retainKeys`.
fn merge_strategy(strategies: &[String], path: &str) -> Result<String, SmpError> {
    let bad = || SmpError::BadPatchStrategy {
        path: path.to_string(),
        strategy: format!("[{}]", strategies.join(" ")),
    };
    match strategies {
        [] => Ok(String::new()),
        [one] if one == "retainKeys" => Ok(String::new()),
        [one] => Ok(one.clone()),
        [a, b] if a == "retainKeys" => Ok(b.clone()),
        [a, b] if b == "retainKeys" => Ok(a.clone()),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------
// Maps

fn merge_map(
    mut orig: Obj,
    mut patch: Obj,
    schema: Option<&Node>,
    path: &str,
    depth: usize,
) -> Result<Obj, SmpError> {
    if depth > MAX_DEPTH {
        return Err(SmpError::TooDeep {
            path: path.to_string(),
            max: MAX_DEPTH,
        });
    }
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(SmpError::UnknownPatchType {
                path: path.to_string(),
                value: golang::value(directive),
                map: golang::value(&Value::Object(patch.clone())),
            }),
        };
    }

    apply_retain_keys(&mut orig, &mut patch, path)?;
    apply_set_element_order(&mut orig, &mut patch, schema, path, depth)?;

    // Deletions from primitive lists go after everything else, so that when a patch both
    // adds and deletes a scalar the deletion wins whatever the key order (kube's order
    // is random; with `$setElementOrder` it also adds first).
    let (deletions, others): (Vec<_>, Vec<_>) = patch
        .into_iter()
        .partition(|(k, _)| k.starts_with(DELETE_FROM_PRIMITIVE_LIST));
    for (key, patch_value) in others.into_iter().chain(deletions) {
        let is_delete_list = key.starts_with(DELETE_FROM_PRIMITIVE_LIST);
        let field = if is_delete_list {
            match strip_directive(&key, DELETE_FROM_PRIMITIVE_LIST) {
                Some("") => key.clone(),
                Some(f) => f.to_string(),
                None => {
                    return Err(SmpError::BadPrimitiveListFormat {
                        path: path.to_string(),
                    });
                }
            }
        } else {
            key
        };

        if patch_value.is_null() {
            orig.remove(&field);
            continue;
        }
        let child_path = join(path, &field);
        let Some(current) = orig.get_mut(&field) else {
            if !is_delete_list {
                insert_new(&mut orig, field, patch_value);
            }
            continue;
        };
        if go_type(current) != go_type(&patch_value) {
            if !is_delete_list {
                insert_new(&mut orig, field, patch_value);
            }
            continue;
        }
        match (current, patch_value) {
            (Value::Object(cur), Value::Object(p)) => {
                let meta = field_meta(schema, &field, false);
                let strategy = merge_strategy(meta.strategies, &child_path)?;
                let merged = if strategy == "replace" {
                    p
                } else {
                    merge_map(std::mem::take(cur), p, meta.schema, &child_path, depth + 1)?
                };
                *cur = merged;
            }
            (Value::Array(cur), Value::Array(p)) => {
                let meta = field_meta(schema, &field, true);
                let strategy = merge_strategy(meta.strategies, &child_path)?;
                let merged = merge_list_field(
                    std::mem::take(cur),
                    p,
                    &ListMeta {
                        schema: meta.schema,
                        strategy: &strategy,
                        merge_key: meta.merge_key,
                    },
                    is_delete_list,
                    &child_path,
                    depth + 1,
                )?;
                *cur = merged.merged;
            }
            (current, p) => *current = p,
        }
    }
    Ok(orig)
}

/// Takes a patch value for a key the live object lacks (or holds with another type):
/// `null` members go, `$patch` objects go (a `$patch` object itself removes the key).
fn insert_new(orig: &mut Obj, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            orig.insert(key, v);
        }
        None => {
            orig.remove(&key);
        }
    }
}

fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every object carrying `$patch` (returns `None` when `v` itself is one).
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let kept = m
                .into_iter()
                .filter_map(|(k, x)| remove_directives(x).map(|x| (k, x)))
                .collect();
            Some(Value::Object(kept))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// The field name after `<prefix>/`, or `None` when the key is not `<prefix>/...`.
fn strip_directive<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let (head, rest) = key.split_once('/')?;
    (head == prefix).then_some(rest)
}

fn apply_retain_keys(orig: &mut Obj, patch: &mut Obj, path: &str) -> Result<(), SmpError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || SmpError::BadRetainKeysFormat {
        path: path.to_string(),
    };
    let Value::Array(retain) = retain else {
        return Err(bad());
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(bad());
        }
    }
    orig.retain(|k, _| retained(k));
    Ok(())
}

/// Handles every `$setElementOrder/<field>` of this object: merges `<field>` (removing
/// it from the patch) and orders the result as the directive says, the server-only
/// items slotted in by their live order.
fn apply_set_element_order(
    orig: &mut Obj,
    patch: &mut Obj,
    schema: Option<&Node>,
    path: &str,
    depth: usize,
) -> Result<(), SmpError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let order = patch.remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(SmpError::WrongType {
                path: path.to_string(),
                expected: GO_SLICE,
                actual: go_type_name(&order),
            });
        };
        let Some(field) = strip_directive(&key, SET_ELEMENT_ORDER) else {
            return Err(SmpError::BadSetElementOrderFormat {
                path: path.to_string(),
            });
        };
        let field = field.to_string();
        let child_path = join(path, &field);
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>, SmpError> {
            match v {
                None => Ok(None),
                Some(Value::Array(a)) => Ok(Some(a.clone())),
                Some(other) => Err(SmpError::WrongType {
                    path: child_path.clone(),
                    expected: GO_SLICE,
                    actual: go_type_name(other),
                }),
            }
        };
        let orig_list = as_list(orig.get(&field))?;
        let patch_list = as_list(patch.get(&field))?;
        // kube looks the field up in the Go type and fails on fields it does not have.
        if schema.is_some_and(Node::has_properties) && field_schema(schema, &field).is_none() {
            return Err(SmpError::UnknownField {
                path: path.to_string(),
                field,
            });
        }
        if let Some(kind) = field_schema(schema, &field)
            .and_then(|f| f.ty)
            .filter(|t| *t != Type::Array)
        {
            return Err(SmpError::NotAList {
                path: child_path,
                kind: kind.name().to_string(),
            });
        }
        let meta = field_meta(schema, &field, true);
        let strategy = merge_strategy(meta.strategies, &child_path)?;
        let merge_key = meta.merge_key;
        validate_order(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            merge_key,
            &child_path,
        )?;

        let (merged, live_view) = match (&orig_list, &patch_list) {
            (Some(o), None) => (o.clone(), o.clone()),
            (None, Some(p)) => (
                p.iter().cloned().filter_map(remove_directives).collect(),
                Vec::new(),
            ),
            (Some(o), Some(p)) => {
                let r = merge_list_field(
                    o.clone(),
                    p.clone(),
                    &ListMeta {
                        schema: meta.schema,
                        strategy: &strategy,
                        merge_key,
                    },
                    false,
                    &child_path,
                    depth + 1,
                )?;
                (r.merged, r.live_view)
            }
            (None, None) => continue,
        };

        let (in_order, server_only) = if merge_key.is_empty() {
            partition_scalars(merged, &order)
        } else {
            partition_maps(merged, &order, merge_key, &child_path)?
        };
        let elem = element_type(
            &[&live_view, patch_list.as_deref().unwrap_or(&[])],
            &child_path,
        )?;
        let ordered = normalize_element_order(
            in_order,
            server_only,
            &order,
            &live_view,
            merge_key,
            elem == GoType::Map,
            &child_path,
        )?;
        orig.insert(field.clone(), Value::Array(ordered));
        patch.remove(&field);
    }
    Ok(())
}

/// Checks that the patch list's items (deletions and directives aside) appear in the
/// `$setElementOrder` list in the same relative order.
fn validate_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<(), SmpError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::with_capacity(patch_list.len());
        for item in patch_list {
            let Value::Object(m) = item else {
                return Err(SmpError::WrongType {
                    path: path.to_string(),
                    expected: GO_MAP,
                    actual: go_type_name(item),
                });
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                kept.push(item);
            }
        }
        kept
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < kept.len() && oi < order.len() {
        if kept[pi].get(DIRECTIVE).is_some() && kept[pi].is_object() {
            pi += 1;
            continue;
        }
        if merge_key_equal(kept[pi], &order[oi], merge_key, path)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < kept.len() && oi >= order.len() {
        return Err(SmpError::OrderMismatch {
            path: path.to_string(),
            patch: golang::values(patch_list),
            order: golang::values(order),
        });
    }
    Ok(())
}

fn merge_key_equal(a: &Value, b: &Value, merge_key: &str, path: &str) -> Result<bool, SmpError> {
    if merge_key.is_empty() {
        return Ok(a == b);
    }
    let key_of = |v: &Value| -> Result<Value, SmpError> {
        let Value::Object(m) = v else {
            return Err(SmpError::WrongType {
                path: path.to_string(),
                expected: GO_MAP,
                actual: go_type_name(v),
            });
        };
        m.get(merge_key)
            .cloned()
            .ok_or_else(|| missing_key(path, v, merge_key))
    };
    let ka = key_of(a)?;
    let kb = key_of(b)?;
    Ok(ka == kb)
}

fn missing_key(path: &str, item: &Value, key: &str) -> SmpError {
    SmpError::MissingMergeKey {
        path: path.to_string(),
        item: golang::value(item),
        key: key.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Lists

struct ListMeta<'a, 's> {
    schema: Option<&'s Node>,
    strategy: &'a str,
    merge_key: &'a str,
}

/// A merged list, and the live list as kube's `$setElementOrder` step then sees it.
///
/// kube removes `$patch: delete` items from the live list in place and appends new
/// items to the shortened list, which writes them into the live list's tail; the
/// `$setElementOrder` step orders server-only items against that altered live list, so
/// the same view is reproduced here to order items exactly as kube does.
struct ListMerge {
    merged: Vec<Value>,
    live_view: Vec<Value>,
}

fn merge_list_field(
    orig: Vec<Value>,
    patch: Vec<Value>,
    meta: &ListMeta<'_, '_>,
    is_delete_list: bool,
    path: &str,
    depth: usize,
) -> Result<ListMerge, SmpError> {
    if meta.strategy == "merge" || is_delete_list {
        merge_list(orig, patch, meta, is_delete_list, path, depth)
    } else {
        Ok(ListMerge {
            merged: patch,
            live_view: orig,
        })
    }
}

/// The one JSON type of every item of `lists` (an error when mixed, nested lists, or
/// all empty).
fn element_type(lists: &[&[Value]], path: &str) -> Result<GoType, SmpError> {
    let mut found: Option<GoType> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let t = go_type(item);
        match found {
            None => {
                match t {
                    GoType::Slice => {
                        return Err(SmpError::ListOfLists {
                            path: path.to_string(),
                        });
                    }
                    // kube cannot even type a list starting with null
                    GoType::Nil => {
                        return Err(SmpError::MixedElementTypes {
                            path: path.to_string(),
                        });
                    }
                    _ => {}
                }
                found = Some(t);
            }
            Some(f) if f != t => {
                return Err(SmpError::MixedElementTypes {
                    path: path.to_string(),
                });
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| SmpError::NoElements {
        path: path.to_string(),
    })
}

fn merge_list(
    orig: Vec<Value>,
    patch: Vec<Value>,
    meta: &ListMeta<'_, '_>,
    is_delete_list: bool,
    path: &str,
    depth: usize,
) -> Result<ListMerge, SmpError> {
    if orig.is_empty() && patch.is_empty() {
        return Ok(ListMerge {
            merged: orig,
            live_view: Vec::new(),
        });
    }
    let merge_key = meta.merge_key;
    let elem = element_type(&[&orig, &patch], path)?;
    if elem != GoType::Map {
        if is_delete_list {
            let merged = delete_scalars(&orig, &patch);
            return Ok(ListMerge {
                merged,
                live_view: orig,
            });
        }
        let mut all = orig.clone();
        all.extend(patch.iter().cloned());
        let merged = dedup_scalars(all);
        let (in_patch, server_only) = if merge_key.is_empty() {
            partition_scalars(merged, &patch)
        } else {
            partition_maps(merged, &patch, merge_key, path)?
        };
        let merged =
            normalize_element_order(in_patch, server_only, &patch, &orig, merge_key, false, path)?;
        return Ok(ListMerge {
            merged,
            live_view: orig,
        });
    }
    if merge_key.is_empty() {
        return Err(SmpError::NoMergeKey {
            path: path.to_string(),
        });
    }

    // Special items first: deletions (in place, as kube does), replace, refusals.
    let mut live = LiveList::new(orig);
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key) = item.get(merge_key) else {
                    return Err(missing_key(path, &item, merge_key));
                };
                while let Some(i) = live.find(merge_key, key) {
                    live.remove(i);
                }
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(SmpError::MergeDirectiveInList {
                    path: path.to_string(),
                });
            }
            _ => {
                return Err(SmpError::UnknownPatchType {
                    path: path.to_string(),
                    value: golang::value(directive),
                    map: golang::value(&item),
                });
            }
        }
    }

    let (merged, server_order, patch_order, live_view) = if replace {
        // The remaining patch items are the new list.
        let view = live.view();
        (rest.clone(), rest, Vec::new(), view)
    } else {
        for (i, item) in rest.iter().enumerate() {
            let Some(key) = item.get(merge_key) else {
                return Err(missing_key(path, item, merge_key));
            };
            match live.find(merge_key, key) {
                Some(at) => {
                    let current = std::mem::take(&mut live.items[at]);
                    let (Value::Object(cur), Value::Object(p)) = (current, item.clone()) else {
                        // element_type guarantees objects on both sides
                        continue;
                    };
                    let merged = merge_map(cur, p, meta.schema, &index_path(path, i), depth + 1)?;
                    live.items[at] = Value::Object(merged);
                }
                None => live.push(item.clone()),
            }
        }
        let server_order = live.items[..live.len_after_deletes].to_vec();
        let view = live.view();
        let merged = live.current();
        (merged, server_order, rest, view)
    };

    let (in_patch, server_only) = partition_maps(merged, &patch_order, merge_key, path)?;
    let merged = normalize_element_order(
        in_patch,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        true,
        path,
    )?;
    Ok(ListMerge { merged, live_view })
}

/// The live list of a merge, laid out like kube's Go slice: `items[..len]` is the
/// current list; removal shifts left in place (the old last item stays behind in the
/// tail) and appends reuse the tail before growing.
struct LiveList {
    items: Vec<Value>,
    original_len: usize,
    len: usize,
    len_after_deletes: usize,
}

impl LiveList {
    fn new(items: Vec<Value>) -> Self {
        let n = items.len();
        LiveList {
            items,
            original_len: n,
            len: n,
            len_after_deletes: n,
        }
    }

    fn find(&self, merge_key: &str, key: &Value) -> Option<usize> {
        self.items[..self.len]
            .iter()
            .position(|it| it.get(merge_key) == Some(key) && it.is_object())
    }

    fn remove(&mut self, i: usize) {
        let last = self.len.saturating_sub(1);
        if i < last {
            // shift left; the slot after the new end keeps a copy of the old last item
            self.items[i..self.len].rotate_left(1);
            self.items[last] = self.items[last - 1].clone();
        }
        self.len = last;
        self.len_after_deletes = self.len;
    }

    fn push(&mut self, v: Value) {
        if self.len < self.items.len() {
            self.items[self.len] = v;
        } else {
            self.items.push(v);
        }
        self.len += 1;
    }

    fn current(&self) -> Vec<Value> {
        self.items[..self.len].to_vec()
    }

    fn view(&self) -> Vec<Value> {
        self.items[..self.original_len].to_vec()
    }
}

fn delete_scalars(current: &[Value], to_delete: &[Value]) -> Vec<Value> {
    let gone = ValueIndex::new(to_delete.iter().map(Some));
    current
        .iter()
        .filter(|v| gone.position(Some(v)).is_none())
        .cloned()
        .collect()
}

fn dedup_scalars(all: Vec<Value>) -> Vec<Value> {
    let mut seen = ValueIndex::new(std::iter::empty());
    let mut out = Vec::with_capacity(all.len());
    for v in all {
        if seen.position(Some(&v)).is_none() {
            seen.add(Some(&v), out.len());
            out.push(v);
        }
    }
    out
}

/// Splits `items` into those present in `by` and the rest (scalar equality).
fn partition_scalars(items: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let index = ValueIndex::new(by.iter().map(Some));
    items
        .into_iter()
        .partition(|v| index.position(Some(v)).is_some())
}

/// Splits `items` into those whose merge key appears in `by` and the rest.
fn partition_maps(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut present = Vec::with_capacity(items.len());
    let mut rest = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = &item else {
            return Err(SmpError::WrongType {
                path: path.to_string(),
                expected: GO_MAP,
                actual: go_type_name(&item),
            });
        };
        let Some(key) = m.get(merge_key) else {
            return Err(missing_key(path, &item, merge_key));
        };
        let mut found = false;
        for (i, candidate) in by.iter().enumerate() {
            let Value::Object(c) = candidate else {
                return Err(SmpError::NotAMap {
                    path: path.to_string(),
                    index: i,
                });
            };
            if c.get(merge_key) == Some(key) {
                found = true;
                break;
            }
        }
        if found {
            present.push(item);
        } else {
            rest.push(item);
        }
    }
    Ok((present, rest))
}

// ---------------------------------------------------------------------------------------
// Ordering

/// The identity of an item when ordering: its merge-key value for lists of objects
/// (`None` when absent), the item itself otherwise.
fn order_key<'v>(v: &'v Value, merge_key: &str, maps: bool) -> Option<&'v Value> {
    if maps {
        v.as_object().and_then(|m| m.get(merge_key))
    } else {
        Some(v)
    }
}

/// First positions of keys in a list; scalars by hash, composite keys by scan.
struct ValueIndex {
    scalars: HashMap<ScalarKey, usize>,
    composite: Vec<(Value, usize)>,
    none: Option<usize>,
}

#[derive(Hash, PartialEq, Eq)]
enum ScalarKey {
    Null,
    Bool(bool),
    Number(String),
    String(String),
}

fn scalar_key(v: &Value) -> Option<ScalarKey> {
    Some(match v {
        Value::Null => ScalarKey::Null,
        Value::Bool(b) => ScalarKey::Bool(*b),
        Value::Number(n) => ScalarKey::Number(n.to_string()),
        Value::String(s) => ScalarKey::String(s.clone()),
        _ => return None,
    })
}

impl ValueIndex {
    fn new<'v>(keys: impl Iterator<Item = Option<&'v Value>>) -> Self {
        let mut index = ValueIndex {
            scalars: HashMap::new(),
            composite: Vec::new(),
            none: None,
        };
        for (i, k) in keys.enumerate() {
            index.add(k, i);
        }
        index
    }

    fn add(&mut self, key: Option<&Value>, i: usize) {
        match key {
            None => {
                self.none.get_or_insert(i);
            }
            Some(v) => match scalar_key(v) {
                Some(s) => {
                    self.scalars.entry(s).or_insert(i);
                }
                None => {
                    if !self.composite.iter().any(|(c, _)| c == v) {
                        self.composite.push((v.clone(), i));
                    }
                }
            },
        }
    }

    fn position(&self, key: Option<&Value>) -> Option<usize> {
        match key {
            None => self.none,
            Some(v) => match scalar_key(v) {
                Some(s) => self.scalars.get(&s).copied(),
                None => self.composite.iter().find(|(c, _)| c == v).map(|(_, i)| *i),
            },
        }
    }
}

/// Orders the patch items by `patch_order` and the server-only items by `server_order`,
/// then interleaves them: a server-only item goes before a patch item when the live
/// list has it earlier; otherwise patch items come first.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    maps: bool,
    path: &str,
) -> Result<Vec<Value>, SmpError> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key, maps, path)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, maps, path)?;

    let index = ValueIndex::new(server_order.iter().map(|v| order_key(v, merge_key, maps)));
    let pos = |v: &Value| index.position(order_key(v, merge_key, maps));
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((pos(l), pos(r)), (Some(a), Some(b)) if a < b),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// Sorts `items` by their position in `order` with kube's comparator (an item missing
/// from `order` compares as "less" either way) through Go's stable sort, so even that
/// inconsistent case lands where kube puts it. For lists of objects, items marked
/// `$patch: delete` go last, and every item on both sides needs the merge key.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    maps: bool,
    path: &str,
) -> Result<Vec<Value>, SmpError> {
    let (mut items, deleted) = if maps {
        for v in items.iter().chain(order.iter()) {
            let Value::Object(m) = v else {
                return Err(SmpError::WrongType {
                    path: path.to_string(),
                    expected: GO_MAP,
                    actual: go_type_name(v),
                });
            };
            if !m.contains_key(merge_key) {
                return Err(missing_key(path, v, merge_key));
            }
        }
        items
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
    } else {
        (items, Vec::new())
    };
    let index = ValueIndex::new(order.iter().map(|v| order_key(v, merge_key, maps)));
    let mut keyed: Vec<(Option<usize>, Value)> = items
        .drain(..)
        .map(|v| (index.position(order_key(&v, merge_key, maps)), v))
        .collect();
    go_stable_sort(&mut keyed, |a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x < y,
        _ => true,
    });
    let mut out: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    out.extend(deleted);
    Ok(out)
}

/// Go's `sort.SliceStable`: insertion sort over blocks of 20, then in-place SymMerge.
/// With a consistent comparator this is just a stable sort; reproducing the algorithm
/// keeps kube's placement when the comparator is not consistent.
fn go_stable_sort<T>(data: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, &less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, &less);
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(data, a, a + block, b, &less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, &less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &impl Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Merges the sorted runs `data[a..m]` and `data[m..b]` in place (SymMerge, Kim and
/// Kutzner 2004), making the same comparisons in the same order as Go.
fn sym_merge<T>(data: &mut [T], a: usize, m: usize, b: usize, less: &impl Fn(&T, &T) -> bool) {
    if m - a == 1 {
        // Binary-search the first element of data[m..b] not less than data[a].
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        // Binary-search the first element of data[a..m] greater than data[m].
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

/// Swaps the blocks `data[a..m]` and `data[m..b]` with Go's sequence of block swaps.
fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A compact schema with the shapes the built-in kinds use: ObjectMeta's lists and
    /// maps, a list merged by name, an atomic list, scalars, a nested struct.
    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                        "finalizers": {
                            "type": "array", "items": {"type": "string"},
                            "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"
                        },
                        "ownerReferences": {
                            "type": "array",
                            "items": {"type": "object", "properties": {
                                "uid": {"type": "string"}, "name": {"type": "string"},
                                "kind": {"type": "string"}, "controller": {"type": "boolean"}
                            }},
                            "x-kubernetes-patch-strategy": "merge",
                            "x-kubernetes-patch-merge-key": "uid"
                        }
                    }
                },
                "secrets": {
                    "type": "array",
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "namespace": {"type": "string"}
                    }},
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": "name"
                },
                "imagePullSecrets": {
                    "type": "array", "x-kubernetes-list-type": "atomic",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}
                },
                "conditions": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"type": {"type": "string"}}},
                    "x-kubernetes-patch-strategy": "merge,retainKeys",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"]
                },
                "spec": {
                    "type": "object",
                    "x-kubernetes-patch-strategy": "replace",
                    "properties": {"a": {"type": "string"}, "b": {"type": "string"}}
                },
                "count": {"type": "integer"},
                "lastTimestamp": {"type": "string"},
                "message": {"type": "string"},
                "series": {"type": "object", "properties": {
                    "count": {"type": "integer"}, "lastObservedTime": {"type": "string"}
                }},
                "broken": {"type": "array", "x-kubernetes-patch-strategy": "merge,replace,retainKeys"}
            }
        })
    }

    fn ok(original: Value, patch: Value) -> Value {
        apply(&original, &patch, &schema()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(original: Value, patch: Value) -> SmpError {
        match apply(&original, &patch, &schema()) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn labels_and_annotations_merge_and_null_deletes() {
        let live = json!({"metadata": {"name": "a", "labels": {"app": "x", "tier": "db"},
            "annotations": {"note": "1"}}});
        let out = ok(
            live.clone(),
            json!({"metadata": {"labels": {"tier": null, "env": "prod"}, "annotations": {"gone": null}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "a", "labels": {"app": "x", "env": "prod"},
                "annotations": {"note": "1"}}})
        );
        // kubectl label with an empty patch, and a JSON null body, change nothing
        assert_eq!(ok(live.clone(), json!({})), live);
        assert_eq!(ok(live.clone(), Value::Null), live);
        // deleting a whole map
        assert_eq!(
            ok(live, json!({"metadata": {"annotations": null}}))["metadata"],
            json!({"name": "a", "labels": {"app": "x", "tier": "db"}})
        );
    }

    #[test]
    fn core_event_recorder_patch() {
        // client-go tools/record: count, lastTimestamp and message of an existing Event
        let live = json!({
            "metadata": {"name": "pod.17a", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p"},
            "reason": "BackOff", "message": "Back-off 10s", "count": 3,
            "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:01:00Z"
        });
        let patch = json!({"count": 4, "lastTimestamp": "2024-05-01T10:02:00Z",
            "message": "Back-off 20s"});
        let out = ok(live.clone(), patch);
        let mut want = live;
        want["count"] = json!(4);
        want["lastTimestamp"] = json!("2024-05-01T10:02:00Z");
        want["message"] = json!("Back-off 20s");
        assert_eq!(out, want);

        // client-go tools/events: series grows, nested map merges
        let live = json!({"series": {"count": 2, "lastObservedTime": "2024-05-01T10:00:00.000000Z"},
            "note": "n"});
        let out = ok(
            live,
            json!({"series": {"count": 3, "lastObservedTime": "2024-05-01T10:05:00.123456Z"}}),
        );
        assert_eq!(
            out,
            json!({"series": {"count": 3, "lastObservedTime": "2024-05-01T10:05:00.123456Z"}, "note": "n"})
        );
    }

    #[test]
    fn service_account_secrets_merge_by_name() {
        let live = json!({"secrets": [{"name": "token-a"}, {"name": "dockercfg"}]});
        // update one in place, add one: patch items lead, server-only items keep their slot
        let out = ok(
            live.clone(),
            json!({"secrets": [{"name": "dockercfg", "namespace": "ns"}, {"name": "token-b"}]}),
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "token-a"}, {"name": "dockercfg", "namespace": "ns"}, {"name": "token-b"}])
        );
        // delete by merge key
        let out = ok(
            live.clone(),
            json!({"secrets": [{"name": "token-a", "$patch": "delete"}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "dockercfg"}]));
        // replace the whole list from inside it
        let out = ok(
            live,
            json!({"secrets": [{"$patch": "replace"}, {"name": "only"}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "only"}]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let live = json!({"metadata": {"ownerReferences": [
            {"uid": "u1", "kind": "ManagedCluster", "name": "c1", "controller": true},
            {"uid": "u2", "kind": "ConfigMap", "name": "cm"}
        ]}});
        let out = ok(
            live.clone(),
            json!({"metadata": {"ownerReferences": [
                {"uid": "u2", "$patch": "delete"},
                {"uid": "u3", "kind": "Secret", "name": "s"}
            ]}}),
        );
        // the new owner leads: it is in the patch, u1 is server-only (kube's order)
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
                {"uid": "u3", "kind": "Secret", "name": "s"},
                {"uid": "u1", "kind": "ManagedCluster", "name": "c1", "controller": true}
            ])
        );
        let e = err(
            live,
            json!({"metadata": {"ownerReferences": [{"name": "no-uid"}]}}),
        );
        assert_eq!(e.path(), "metadata.ownerReferences");
        assert_eq!(e.status_code(), 500);
        assert_eq!(
            e.to_string(),
            "metadata.ownerReferences: map: map[name:no-uid] does not contain declared merge key: uid"
        );
    }

    #[test]
    fn finalizers_union_delete_and_order() {
        let live = json!({"metadata": {"finalizers": ["a/one", "b/two"]}});
        // union, duplicates collapse; new items first (kube's order)
        let out = ok(
            live.clone(),
            json!({"metadata": {"finalizers": ["c/three", "a/one"]}}),
        );
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["c/three", "a/one", "b/two"])
        );
        // the parallel deletion list
        let out = ok(
            live.clone(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one", "zz"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b/two"]));
        // deleting from an absent list adds nothing
        let out = ok(
            json!({"metadata": {}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one"]}}),
        );
        assert_eq!(out["metadata"], json!({}));
        // kubectl apply: add c, drop a, order [b, c]
        let out = ok(
            live,
            json!({"metadata": {
                "$setElementOrder/finalizers": ["b/two", "c/three"],
                "$deleteFromPrimitiveList/finalizers": ["a/one"],
                "finalizers": ["c/three"]
            }}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b/two", "c/three"]));
    }

    #[test]
    fn set_element_order_from_kubectl_apply() {
        // live has a server-only item (x) between applied ones; the manifest reorders
        // them and adds c. Server-only x goes before b, which the live list has after it
        // (the expected orders here were checked against apimachinery).
        let live = json!({"secrets": [{"name": "a"}, {"name": "x"}, {"name": "b"}]});
        let out = ok(
            live.clone(),
            json!({"$setElementOrder/secrets": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                "secrets": [{"name": "c"}]}),
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "x"}, {"name": "b"}, {"name": "a"}, {"name": "c"}])
        );
        // order only, no content change
        let out = ok(
            live,
            json!({"$setElementOrder/secrets": [{"name": "b"}, {"name": "a"}]}),
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "x"}, {"name": "b"}, {"name": "a"}])
        );
        // kube slots server-only items against the live list as its in-place delete and
        // append left it: removing `a` and adding `d` puts `x` first
        let out = ok(
            json!({"secrets": [{"name": "a"}, {"name": "x"}]}),
            json!({"$setElementOrder/secrets": [{"name": "d"}],
                "secrets": [{"name": "d"}, {"name": "a", "$patch": "delete"}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "x"}, {"name": "d"}]));
        // a list the live object lacks
        let out = ok(
            json!({}),
            json!({"$setElementOrder/secrets": [{"name": "q"}, {"name": "p"}],
                "secrets": [{"name": "q"}, {"name": "p", "$patch": "delete"}, {"name": "p"}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "q"}, {"name": "p"}]));
    }

    #[test]
    fn set_element_order_errors() {
        let live = json!({"metadata": {"finalizers": ["a", "b"]}});
        let e = err(
            live.clone(),
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["a", "b"]}}),
        );
        assert!(matches!(e, SmpError::OrderMismatch { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("doesn't match $setElementOrder list")
        );
        let e = err(
            live.clone(),
            json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
        );
        assert_eq!(
            e.to_string(),
            "metadata: expected a []interface {}, but received a string"
        );
        let e = err(
            live.clone(),
            json!({"metadata": {"$setElementOrderX/finalizers": []}}),
        );
        assert_eq!(
            e,
            SmpError::BadSetElementOrderFormat {
                path: "metadata".into()
            }
        );
        assert_eq!(e.status_code(), 400);
        let e = err(live, json!({"metadata": {"$setElementOrder/nope": ["a"]}}));
        assert!(matches!(e, SmpError::UnknownField { .. }), "{e}");
        let e = err(json!({}), json!({"$setElementOrder/metadata": ["a"]}));
        assert!(matches!(e, SmpError::NotAList { .. }), "{e}");
    }

    #[test]
    fn lists_without_merge_strategy_are_replaced() {
        let live = json!({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]});
        let out = ok(live, json!({"imagePullSecrets": [{"name": "c"}]}));
        assert_eq!(out["imagePullSecrets"], json!([{"name": "c"}]));
        // unknown fields carry no metadata: lists replace, maps merge
        let out = ok(
            json!({"other": [1, 2], "obj": {"a": 1}}),
            json!({"other": [3], "obj": {"b": 2}}),
        );
        assert_eq!(out, json!({"other": [3], "obj": {"a": 1, "b": 2}}));
    }

    #[test]
    fn patch_directive_in_maps() {
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
        let out = ok(
            live.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"},
                "annotations": {"$patch": "delete"}}}),
        );
        assert_eq!(
            out["metadata"],
            json!({"labels": {"c": "3"}, "annotations": {}})
        );
        // top level
        assert_eq!(
            ok(live.clone(), json!({"$patch": "replace", "kind": "X"})),
            json!({"kind": "X"})
        );
        assert_eq!(ok(live.clone(), json!({"$patch": "delete"})), json!({}));
        // merge is not a map directive in kube
        let e = err(live.clone(), json!({"metadata": {"$patch": "merge"}}));
        assert_eq!(
            e.to_string(),
            "metadata: unknown patch type: merge in map: map[$patch:merge]"
        );
        let e = err(live, json!({"$patch": "bogus", "a": 1}));
        assert_eq!(
            e.to_string(),
            "unknown patch type: bogus in map: map[$patch:bogus a:1]"
        );
    }

    #[test]
    fn patch_directive_in_list_items() {
        let live = json!({"secrets": [{"name": "a"}]});
        let e = err(live.clone(), json!({"secrets": [{"$patch": "merge"}]}));
        assert_eq!(
            e,
            SmpError::MergeDirectiveInList {
                path: "secrets".into()
            }
        );
        let e = err(live.clone(), json!({"secrets": [{"$patch": "nope"}]}));
        assert!(matches!(e, SmpError::UnknownPatchType { .. }));
        let e = err(live, json!({"secrets": [{"$patch": "delete"}]}));
        assert!(matches!(e, SmpError::MissingMergeKey { .. }));
    }

    #[test]
    fn retain_keys() {
        let live = json!({"spec": {"a": "1", "b": "2"}, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Up", "message": "m"}
        ]});
        let out = ok(
            live.clone(),
            json!({"conditions": [{"type": "Ready", "$retainKeys": ["type", "status"], "status": "False"}]}),
        );
        assert_eq!(
            out["conditions"],
            json!([{"type": "Ready", "status": "False"}])
        );
        // a patched key missing from the list is refused
        let e = err(
            live.clone(),
            json!({"conditions": [{"type": "Ready", "$retainKeys": ["type"], "status": "False"}]}),
        );
        assert_eq!(
            e,
            SmpError::BadRetainKeysFormat {
                path: "conditions[0]".into()
            }
        );
        assert_eq!(e.status_code(), 400);
        let e = err(live.clone(), json!({"$retainKeys": "spec"}));
        assert_eq!(e.to_string(), "invalid patch format of retainKeys");
        // null values and directive keys need not be listed
        let out = ok(live, json!({"$retainKeys": ["conditions"], "spec": null}));
        assert_eq!(out.as_object().map(|m| m.len()), Some(1));
    }

    #[test]
    fn field_strategies() {
        // `replace` on a map field takes the patch as is
        let out = ok(
            json!({"spec": {"a": "1", "b": "2"}}),
            json!({"spec": {"b": "3"}}),
        );
        assert_eq!(out["spec"], json!({"b": "3"}));
        // the list-map key stands in for a missing merge key; `merge,retainKeys` merges
        let out = ok(
            json!({"conditions": [{"type": "A", "s": 1}, {"type": "B", "s": 1}]}),
            json!({"conditions": [{"type": "B", "s": 2}]}),
        );
        assert_eq!(
            out["conditions"],
            json!([{"type": "A", "s": 1}, {"type": "B", "s": 2}])
        );
        let e = err(json!({"broken": [1]}), json!({"broken": [2]}));
        assert_eq!(
            e.to_string(),
            "broken: unexpected patch strategy: [merge replace retainKeys]"
        );
    }

    #[test]
    fn new_values_lose_nulls_and_directives() {
        let out = ok(
            json!({"metadata": {}}),
            json!({"metadata": {"labels": {"a": "1", "b": null}},
                "extra": {"keep": [1, {"x": null, "y": 2}], "gone": {"$patch": "delete"}},
                "dropped": {"$patch": "replace"}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "1"}},
                "extra": {"keep": [1, {"y": 2}]}})
        );
        // a different type replaces
        let out = ok(
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": "x"}}),
        );
        assert_eq!(out["metadata"]["labels"], "x");
    }

    #[test]
    fn malformed_patches() {
        let live = json!({"metadata": {"finalizers": ["a"]}});
        for (patch, found) in [
            (json!([1]), "array"),
            (json!("s"), "string"),
            (json!(3), "number"),
            (json!(true), "bool"),
        ] {
            let e = err(live.clone(), patch);
            assert_eq!(e, SmpError::NotAnObject { found });
            assert_eq!(e.status_code(), 400);
        }
        assert_eq!(
            err(live.clone(), json!([])).to_string(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        let e = err(
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"finalizers": [["x"]]}}),
        );
        assert_eq!(
            e,
            SmpError::ListOfLists {
                path: "metadata.finalizers".into()
            }
        );
        assert_eq!(e.status_code(), 422);
        let e = err(live.clone(), json!({"metadata": {"finalizers": [1]}}));
        assert_eq!(
            e,
            SmpError::MixedElementTypes {
                path: "metadata.finalizers".into()
            }
        );
        let e = err(
            live.clone(),
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
        );
        assert_eq!(
            e.to_string(),
            "metadata: invalid patch format of primitive list"
        );
        let e = err(
            json!({"secrets": [{"name": "a"}]}),
            json!({"secrets": ["a"]}),
        );
        assert!(matches!(e, SmpError::MixedElementTypes { .. }));
        assert_eq!(
            apply(&json!([]), &json!({}), &schema()),
            Err(SmpError::OriginalNotAnObject)
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!("leaf");
        for _ in 0..200 {
            deep = json!({ "n": deep });
        }
        let e = err(json!({}), json!({ "x": deep }));
        assert!(matches!(e, SmpError::TooDeep { .. }));
        let mut fine = json!("leaf");
        for _ in 0..50 {
            fine = json!({ "n": fine });
        }
        let out = ok(json!({}), json!({ "x": fine.clone() }));
        assert_eq!(out["x"], fine);
    }

    #[test]
    fn go_stable_sort_matches_go() {
        let less = |a: &Option<usize>, b: &Option<usize>| match (a, b) {
            (Some(x), Some(y)) => x < y,
            _ => true,
        };
        let run = |pos: Vec<Option<usize>>| -> Vec<usize> {
            let mut v: Vec<(usize, Option<usize>)> = pos.into_iter().enumerate().collect();
            go_stable_sort(&mut v, |a, b| less(&a.1, &b.1));
            v.into_iter().map(|(i, _)| i).collect()
        };
        // expectations from Go's sort.SliceStable with the same comparator
        assert_eq!(
            run(vec![None, Some(2), Some(0), None, Some(1)]),
            vec![3, 2, 4, 1, 0]
        );
        let pos: Vec<Option<usize>> = (0..45)
            .map(|i| (i % 7 != 3).then_some((i * 17) % 45))
            .collect();
        assert_eq!(
            run(pos),
            vec![
                38, 17, 10, 3, 0, 8, 16, 32, 40, 31, 11, 19, 27, 35, 43, 24, 6, 14, 22, 30, 1, 9,
                25, 33, 41, 4, 12, 20, 28, 36, 44, 7, 15, 23, 39, 2, 18, 26, 34, 42, 5, 13, 21, 29,
                37
            ]
        );
        // with a consistent comparator it is a plain stable sort
        let mut seed = 7u64;
        for n in [0usize, 1, 19, 20, 21, 63, 200] {
            let mut v: Vec<(u64, usize)> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % 10, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|x| x.0);
            go_stable_sort(&mut v, |a, b| a.0 < b.0);
            assert_eq!(v, want, "n={n}");
        }
    }

    /// Random patches full of directives never panic.
    #[test]
    fn random_patches_never_panic() {
        let mut seed = 42u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let keys = [
            "metadata",
            "labels",
            "finalizers",
            "ownerReferences",
            "secrets",
            "conditions",
            "spec",
            "uid",
            "name",
            "type",
            "$patch",
            "$retainKeys",
            "$setElementOrder/secrets",
            "$setElementOrder/finalizers",
            "$deleteFromPrimitiveList/finalizers",
            "$deleteFromPrimitiveList",
            "imagePullSecrets",
            "broken",
        ];
        fn random_value(next: &mut dyn FnMut(u64) -> u64, keys: &[&str], depth: u32) -> Value {
            match next(if depth > 4 { 6 } else { 9 }) {
                0 => Value::Null,
                1 => json!(next(3)),
                2 => json!(["a", "b", "replace", "delete", "merge"][next(5) as usize]),
                3 => json!(next(2) == 0),
                4 => json!(1.5),
                5 => json!("u1"),
                6 | 7 => {
                    let mut m = Map::new();
                    for _ in 0..next(5) {
                        let k = keys[next(keys.len() as u64) as usize];
                        m.insert(k.to_string(), random_value(next, keys, depth + 1));
                    }
                    Value::Object(m)
                }
                _ => Value::Array(
                    (0..next(4))
                        .map(|_| random_value(next, keys, depth + 1))
                        .collect(),
                ),
            }
        }
        let live = json!({
            "metadata": {"labels": {"a": "1"}, "finalizers": ["a", "b"],
                "ownerReferences": [{"uid": "u1"}, {"uid": "u2"}]},
            "secrets": [{"name": "a"}, {"name": "b"}], "conditions": [{"type": "A"}],
            "spec": {"a": "1"}, "imagePullSecrets": [{"name": "x"}]
        });
        let s = schema();
        for _ in 0..3000 {
            let patch = random_value(&mut next, &keys, 0);
            let _ = apply(&live, &patch, &s);
        }
    }
}

/// Strategic merge patches over the built-in kinds' schemas as `api::list_semantics`
/// annotates them (kube's list markers).
#[cfg(test)]
mod builtin_markers {
    use crate::api::list_semantics::annotate_builtin;
    use crate::api::openapi_schema::builtin;
    use crate::registry::smp;
    use serde_json::{Value, json};

    const RBAC: &str = "rbac.authorization.k8s.io";

    fn annotated(group: &str, kind: &str) -> Value {
        let mut schema = builtin(group, kind).expect("built-in kind");
        annotate_builtin(group, kind, &mut schema);
        schema
    }

    #[test]
    fn smp_over_an_annotated_service_account() {
        let schema = annotated("", "ServiceAccount");
        let live = json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {
                "name": "klusterlet", "namespace": "open-cluster-management-agent",
                "labels": {"app": "klusterlet", "tier": "agent"},
                "finalizers": ["a/one"],
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u1"},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "y", "uid": "u2"}
                ]
            },
            "secrets": [{"name": "token-a"}, {"name": "dockercfg"}],
            "imagePullSecrets": [{"name": "pull-a"}]
        });
        let patch = json!({
            "metadata": {
                "labels": {"tier": null, "new": "yes"},
                "finalizers": ["b/two"],
                "ownerReferences": [
                    {"uid": "u2", "name": "y2"},
                    {"uid": "u3", "apiVersion": "v1", "kind": "Secret", "name": "z"}
                ]
            },
            "secrets": [{"name": "token-b"}, {"name": "token-a", "namespace": "ns"}],
            "imagePullSecrets": [{"name": "pull-b"}]
        });
        let out = smp::apply(&live, &patch, &schema).expect("applies");
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "klusterlet", "new": "yes"})
        );
        // patch items lead unless the live order places a server-only item first
        assert_eq!(out["metadata"]["finalizers"], json!(["b/two", "a/one"]));
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u1"},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "y2", "uid": "u2"},
                {"apiVersion": "v1", "kind": "Secret", "name": "z", "uid": "u3"}
            ])
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "token-b"}, {"name": "token-a", "namespace": "ns"}, {"name": "dockercfg"}])
        );
        assert_eq!(
            out["imagePullSecrets"],
            json!([{"name": "pull-b"}]),
            "atomic"
        );
    }

    #[test]
    fn smp_removes_an_owner_and_a_finalizer_as_kubectl_does() {
        let schema = annotated("", "ConfigMap");
        let live = json!({
            "metadata": {
                "name": "c",
                "finalizers": ["keep", "drop"],
                "ownerReferences": [{"uid": "u1", "name": "a"}, {"uid": "u2", "name": "b"}]
            },
            "data": {"k": "v"}
        });
        let patch = json!({
            "metadata": {
                "$setElementOrder/finalizers": ["keep"],
                "$deleteFromPrimitiveList/finalizers": ["drop"],
                "ownerReferences": [{"uid": "u1", "$patch": "delete"}]
            }
        });
        let out = smp::apply(&live, &patch, &schema).expect("applies");
        assert_eq!(out["metadata"]["finalizers"], json!(["keep"]));
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "u2", "name": "b"}])
        );
        assert_eq!(out["data"], json!({"k": "v"}));
    }

    #[test]
    fn smp_replaces_csr_conditions_and_rbac_rules() {
        let csr = annotated("certificates.k8s.io", "CertificateSigningRequest");
        let live = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        let patch = json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        let out = smp::apply(&live, &patch, &csr).expect("applies");
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Failed", "status": "True"}])
        );

        let role = annotated(RBAC, "Role");
        let live = json!({"rules": [{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]}]});
        let patch =
            json!({"rules": [{"verbs": ["list"], "resources": ["secrets"], "apiGroups": [""]}]});
        let out = smp::apply(&live, &patch, &role).expect("applies");
        assert_eq!(out["rules"], patch["rules"]);
    }

    #[test]
    fn smp_merges_namespace_conditions_by_type() {
        let ns = annotated("", "Namespace");
        let live = json!({
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False"},
                {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain"}
            ]}
        });
        let patch = json!({"status": {"conditions": [
            {"type": "NamespaceContentRemaining", "status": "False", "reason": "ContentRemoved"},
            {"type": "NamespaceFinalizersRemaining", "status": "False"}
        ]}});
        let out = smp::apply(&live, &patch, &ns).expect("applies");
        assert_eq!(
            out["status"]["conditions"],
            json!([
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False"},
                {"type": "NamespaceContentRemaining", "status": "False", "reason": "ContentRemoved"},
                {"type": "NamespaceFinalizersRemaining", "status": "False"}
            ])
        );
        assert_eq!(out["spec"]["finalizers"], json!(["kubernetes"]));
    }
}
